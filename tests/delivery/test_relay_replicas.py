"""Several outbox relays on one PostgreSQL database publish every row exactly once (FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
from collections import Counter

import nats
import pytest
from harness import declare_streams, running

from contracts import spec_for
from examples import lot_progress
from services.hours.app import create_app as hours_app
from shared.outbox import OutboxRelay

ROWS = 300


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_two_relays_share_the_backlog_without_publishing_a_row_twice(backend, database_url, nats_url):
    await declare_streams(nats_url)
    async with running(hours_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        ctx = client.ctx
        await ctx.relay.stop()  # only the two replicas below relay
        spec = spec_for("lot.progressed")
        async with ctx.db.session() as session, session.begin():
            await ctx.outbox.emit_many(session, spec, [lot_progress() for _ in range(ROWS)])

        published: Counter[str] = Counter()
        by_relay: Counter[int] = Counter()

        def counting(replica: int):
            async def publish(subject: str, payload: bytes, event_id: str):
                published[event_id] += 1
                by_relay[replica] += 1
                await asyncio.sleep(0.001)  # keep each batch's row locks held a little while
                return await ctx.bus.publish(subject, payload, event_id)

            return publish

        replicas = [OutboxRelay(ctx.db, ctx.tables, counting(i), ctx.metrics, batch_size=25) for i in (1, 2)]

        async def drain(relay: OutboxRelay) -> None:
            while await relay.relay_once():
                pass

        await asyncio.gather(*(drain(r) for r in replicas))

        assert len(published) == ROWS
        assert max(published.values()) == 1  # no row was claimed by both replicas
        assert by_relay[1] > 0 and by_relay[2] > 0  # both took part
        assert (await ctx.relay.backlog())[0] == 0
        nc = await nats.connect(nats_url)
        try:
            assert (await nc.jetstream().stream_info("HOURS")).state.messages == ROWS
        finally:
            await nc.close()
