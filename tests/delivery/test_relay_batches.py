"""The relay bounds each batch in bytes, always makes progress, and deletes what JetStream stored."""

from __future__ import annotations

import nats
from harness import declare_streams, running
from sqlalchemy import func, select

from contracts import spec_for
from examples import lot_progress
from services.hours.app import create_app as hours_app
from shared.outbox import OutboxRelay


async def test_batches_are_cut_by_size_and_published_rows_leave_the_outbox(database_url, nats_url):
    await declare_streams(nats_url)
    async with running(hours_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        ctx = client.ctx
        await ctx.relay.stop()
        spec = spec_for("lot.progressed")
        async with ctx.db.session() as session, session.begin():
            envelopes = await ctx.outbox.emit_many(session, spec, [lot_progress() for _ in range(10)])
        size = len(envelopes[0].model_dump_json())

        relay = OutboxRelay(ctx.db, ctx.tables, ctx.bus.publish, ctx.metrics, batch_size=500,
                            max_batch_bytes=int(size * 2.5))
        batches = []
        while published := await relay.relay_once():
            batches.append(published)
        assert batches == [2, 2, 2, 2, 2]

        tiny = OutboxRelay(ctx.db, ctx.tables, ctx.bus.publish, ctx.metrics, max_batch_bytes=10)
        async with ctx.db.session() as session, session.begin():
            await ctx.outbox.emit(session, spec, lot_progress())
        assert await tiny.relay_once() == 1  # larger than the bound: still published, alone

        async with ctx.db.session() as session:
            left = (await session.execute(select(func.count()).select_from(ctx.tables.outbox))).scalar_one()
        assert left == 0
        assert await relay.backlog() == (0, 0.0)
        nc = await nats.connect(nats_url)
        try:
            assert (await nc.jetstream().stream_info("HOURS")).state.messages == 11
        finally:
            await nc.close()
