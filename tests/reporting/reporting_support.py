"""Helpers of the reporting tests: feed events to the projection directly or through the real NATS server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import nats

from contracts import Envelope, spec_for


def spec_of(envelope: Envelope) -> Any:
    return spec_for(envelope.event_type, producer=envelope.producer)


async def apply_directly(ctx: Any, envelopes: Iterable[Envelope], chunk: int = 500) -> None:
    """Run the service's own handlers on `envelopes`, a chunk per transaction (no inbox: handlers must be idempotent)."""
    handlers = ctx.extras["handlers"]
    items = list(envelopes)
    for i in range(0, len(items), chunk):
        async with ctx.db.session() as session, session.begin():
            for envelope in items[i:i + chunk]:
                spec = spec_of(envelope)
                await handlers[spec](session, spec.model.model_validate(envelope.data), envelope)


async def publish_all(url: str, envelopes: Iterable[Envelope], window: int = 200, msg_id_suffix: str = "") -> int:
    """Publish as the producers' relays do (JetStream, `Nats-Msg-Id` = event id), a window of acks at a time.
    A `msg_id_suffix` defeats the server's de-duplication: the same events are then stored and delivered again."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    published = 0
    try:
        items = list(envelopes)
        for i in range(0, len(items), window):
            acks = await asyncio.gather(*(
                js.publish(spec_of(e).subject, e.model_dump_json().encode(), headers={"Nats-Msg-Id": f"{e.event_id}{msg_id_suffix}"})
                for e in items[i:i + window]
            ))
            published += sum(1 for a in acks if not a.duplicate)
    finally:
        await nc.close()
    return published


async def consumers_drained(url: str, bus: Any) -> bool:
    """True when every durable consumer of the service has nothing pending nor unacknowledged."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for consumer in bus.consumers.values():
            info = await js.consumer_info(consumer.stream.name, consumer.durable)
            if info.num_pending or info.num_ack_pending:
                return False
        return True
    finally:
        await nc.close()
