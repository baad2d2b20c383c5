"""Events trickling in a few at a time are applied at once, never held until JetStream redelivers them (ack_wait).

FastStream 0.7.8's batch pull loop caught only `nats.errors.TimeoutError`, while nats-py 2.16 raises the builtin
TimeoutError when nothing more comes: the loop died with a partial batch in hand, applied 30 s later (ack_wait).
shared/messaging.py makes the loop catch the builtin."""

from __future__ import annotations

import asyncio
import time

from faststream.nats.subscriber.usecases import stream_pull_subscriber
from harness import declare_streams, eventually, running, wait_ready
from sqlalchemy import select

import shared.messaging  # noqa: F401 - the module that mends the pull loop
from examples import market_submitted_envelope
from reporting.reporting_support import publish_all  # tests/ is on the path: the other folders' helpers, by folder
from services.hours.app import create_app

ROUNDS = 30
EVENTS_PER_ROUND = 3  # far below consumer_batch_size: every fetch is a partial batch
PROMPT = 5.0  # seconds; ack_wait stays at its 30 s default, so a dropped batch cannot make it in time


def test_the_pull_loop_catches_the_timeout_nats_py_raises() -> None:
    assert issubclass(asyncio.TimeoutError, stream_pull_subscriber.TimeoutError)


async def test_events_arriving_a_few_at_a_time_are_applied_promptly(nats_url, tmp_path):
    await declare_streams(nats_url)
    async with running(create_app, database_url=f"sqlite+aiosqlite:///{tmp_path / 'hours.db'}",
                       nats_url=nats_url) as client:
        await wait_ready(client)
        ctx = client.ctx
        assert ctx.settings.consumer_ack_wait_seconds >= 30
        inbox = ctx.tables.inbox
        delays = []
        for _ in range(ROUNDS):
            envelopes = [market_submitted_envelope()[0] for _ in range(EVENTS_PER_ROUND)]
            ids = {e.event_id for e in envelopes}
            started = time.monotonic()
            await publish_all(nats_url, envelopes)

            async def applied() -> bool:
                async with ctx.db.session() as session:
                    return ids <= set((await session.scalars(select(inbox.c.event_id))).all())

            await eventually(applied, timeout=PROMPT, interval=0.05)
            delays.append(round(time.monotonic() - started, 2))
        assert max(delays) < PROMPT, delays
