"""Poison messages: on every subject a service consumes, a body that is not JSON and an envelope whose data does
not match the event's schema each end in that service's dead-letter table with the reason, and a valid event
published right after them on the same subject is still applied (the flow did not stop)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from harness import declare_streams, eventually, publish_raw, running, wait_ready
from sqlalchemy import select

from contracts import EVENTS, Envelope, new_envelope
from contracts.events.markets import LotClauseSized, LotClosed, LotInvoiced, LotState
from examples import lot_progress
from reporting.reporting_world import generate  # tests/ is on the path: the other folders' helpers, by folder
from services.hours.app import create_app as hours_app
from services.matching.app import create_app as matching_app
from services.reporting.app import create_app as reporting_app

CONSUMERS = {"matching": matching_app, "hours": hours_app, "reporting": reporting_app}
NOT_JSON = b"{ceci n'est pas du JSON"
INVALID = "message invalide"


def valid_events() -> dict[str, Envelope]:
    """One valid event of every subject of the registry, as its producer would publish it."""
    world = generate(seed=3, people=12, markets=2, erasure_rate=0.5)
    data: dict[str, Any] = {}
    for envelope in world.events:
        data.setdefault(envelope.event_type, envelope.data)
    lot = next(iter(world.lots.values()))
    data |= {
        "lot.clause_sized": LotClauseSized(lot=lot, formula="montant × part de main-d'œuvre × taux ÷ coût horaire",
                                           parameters={"insertion_rate": "0.05"}),
        "lot.invoiced": LotInvoiced(lot=lot.model_copy(update={"version": 9, "invoiced_eur": Decimal("1000")}),
                                    invoice_amount_eur=Decimal("1000"), invoiced_on=dt.date(2026, 6, 30)),
        "lot.closed": LotClosed(lot=LotState.model_validate({**lot.model_dump(), "version": 10, "status": "closed"}),
                                closed_on=dt.date(2026, 7, 1)),
        "lot.progressed": lot_progress(),
        "lot.target_reached": lot_progress(),
    }
    events = {}
    for spec in EVENTS.values():
        payload = data[spec.event_type]
        model = spec.model.model_validate(payload if isinstance(payload, dict) else payload.model_dump(mode="json"))
        events[spec.subject] = new_envelope(spec.event_type, spec.version, spec.producer, model)
    return events


def with_invalid_data(envelope: Envelope) -> bytes:
    """A well-formed envelope whose data misses every field its event requires."""
    return envelope.model_copy(update={"event_id": uuid.uuid4(), "data": {"inattendu": True}}).model_dump_json().encode()


def test_every_subject_of_the_registry_is_consumed_by_a_service_under_test() -> None:
    apps = [create() for create in CONSUMERS.values()]  # not started: only their event handlers are read
    consumed = {s for app in apps for c in app.state.ctx.bus.consumers.values() for s in c.handlers}
    assert consumed == {spec.subject for spec in EVENTS.values()}


@pytest.mark.parametrize("service", sorted(CONSUMERS))
async def test_malformed_messages_go_to_dead_letters_and_the_flow_goes_on(service, database_url, nats_url):
    await declare_streams(nats_url)  # the producers are not part of this test
    events = valid_events()
    async with running(CONSUMERS[service], database_url=database_url(service), nats_url=nats_url) as client:
        await wait_ready(client)
        ctx = client.ctx
        subjects = sorted(s for c in ctx.bus.consumers.values() for s in c.handlers)
        assert subjects, f"{service} ne consomme rien"
        for subject in subjects:
            good = events[subject]
            await publish_raw(nats_url, subject, NOT_JSON, msg_id=str(uuid.uuid4()))
            await publish_raw(nats_url, subject, with_invalid_data(good), msg_id=str(uuid.uuid4()))
            await publish_raw(nats_url, subject, good.model_dump_json().encode(), msg_id=str(good.event_id))

        async def outcome() -> dict[str, tuple[int, bool]]:
            """{subject: (dead letters with the reason, valid event applied)}"""
            dl, ib = ctx.tables.dead_letters, ctx.tables.inbox
            async with ctx.db.session() as session:
                letters = (await session.execute(select(dl.c.subject, dl.c.error, dl.c.consumer))).all()
                applied = set((await session.scalars(select(ib.c.event_id).where(ib.c.consumer == service))).all())
            return {s: (sum(1 for subject, error, consumer in letters
                            if (subject, consumer) == (s, service) and error.startswith(INVALID)),
                        events[s].event_id in applied)
                    for s in subjects}

        expected = dict.fromkeys(subjects, (2, True))

        async def settled() -> bool:
            return await outcome() == expected

        try:
            await eventually(settled, timeout=30, interval=0.2)
        except AssertionError:
            assert await outcome() == expected  # names the subjects that went wrong
        assert await ctx.bus.pending_dead_letters() == 2 * len(subjects)
        assert ctx.bus.ready
