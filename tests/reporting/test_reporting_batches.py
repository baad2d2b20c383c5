"""Batched consumption on a real nats-server: a backlog is applied a batch per transaction, each event once, and a
malformed message or a failing event in a batch neither blocks nor loses the others."""

from __future__ import annotations

import uuid

from harness import declare_streams, eventually, publish_raw, running, wait_ready
from reporting_support import publish_all, spec_of
from reporting_world import generate
from sqlalchemy import event, func, select

from services.reporting.app import create_app
from services.reporting.models import PersonView, PlacementView


async def test_a_backlog_is_applied_in_batches_each_event_once_around_a_malformed_and_a_failing_one(
    database_url, nats_url
):
    w = generate(seed=4, year=2026, people=400, markets=2)
    matching = [e for e in w.events if e.producer == "matching"]
    people = [e for e in matching if e.event_type == "beneficiary.enrolled"]
    placements = [e for e in matching if e.event_type == "placement.started"]
    never_ended = [e for e in placements if uuid.UUID(e.data["placement_id"]) not in w.ended]
    failing = never_ended[-1].data["placement_id"]  # its handler is made to fail below
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url,
                       consumer_batch_size=100) as client:
        ctx = client.ctx
        claims: list[str] = []  # one inbox insert per transaction applying events

        def count_claims(_conn, _cursor, statement, *_args) -> None:
            if statement.startswith("INSERT INTO inbox"):
                claims.append(statement)

        event.listen(ctx.db.engine.sync_engine, "before_cursor_execute", count_claims)
        consumer = ctx.bus.consumers["MATCHING"]
        spec, handler = consumer.handlers[spec_of(placements[-1]).subject]

        async def fragile(session, events):
            if any(str(e.placement_id) == failing for e, _ in events):
                raise RuntimeError("règle métier violée")
            await handler.many(session, events)

        consumer.handlers[spec.subject] = (spec, type(handler)(fragile, any_order=True))
        await wait_ready(client)
        await publish_all(nats_url, matching[:300])
        await publish_raw(nats_url, spec_of(people[0]).subject, b'{"pas": "un envelope"}')  # malformed, mid-flow
        await publish_all(nats_url, matching[300:])
        await publish_all(nats_url, matching[:50], msg_id_suffix="-again")  # re-sent: same event ids, new messages

        async def settled() -> bool:
            async with ctx.db.session() as s:
                placed = (await s.execute(select(func.count()).select_from(PlacementView))).scalar_one()
            return placed == len(placements) - 1 and await ctx.bus.pending_dead_letters() == 2

        await eventually(settled, timeout=60)
        async with ctx.db.session() as s:
            enrolled = (await s.execute(select(func.count()).select_from(PersonView))).scalar_one()
            inbox = (await s.execute(select(func.count()).select_from(ctx.tables.inbox))).scalar_one()
            dead = (await s.execute(select(ctx.tables.dead_letters.c.error))).scalars().all()
    assert enrolled == len(people)
    assert inbox == len(matching) - 1  # every event once, the failing one excepted
    assert any("message invalide" in d for d in dead) and any("règle métier violée" in d for d in dead)
    # batches: a transaction per ~100 events, but for the batch holding the failing event, applied one by one
    assert len(claims) < len(matching) / 4, (len(claims), len(matching))


def test_a_batch_is_applied_by_one_call_per_any_order_handler_and_in_order_otherwise():
    from shared.messaging import Batched, Parsed, _groups

    async def plain(session, event, envelope): ...

    async def bulk(session, events): ...

    free, run = Batched(bulk, any_order=True), Batched(bulk)
    kinds = [free, plain, run, run, free, plain, run, free]
    parsed = [Parsed(spec=None, handler=h, envelope=None, event=i) for i, h in enumerate(kinds)]
    calls = [[p.event for p in group] for group in _groups(parsed)]
    assert calls == [[0, 4, 7], [1], [2, 3], [5], [6]]
