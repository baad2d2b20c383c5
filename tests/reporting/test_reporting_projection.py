"""The projection is idempotent and order-insensitive: replaying every event twice, in any order, changes nothing."""

from __future__ import annotations

import datetime as dt
import random
import uuid

from harness import running
from reporting_support import apply_directly
from reporting_world import generate
from sqlalchemy import select

from contracts import new_envelope
from contracts.events.matching import BeneficiaryErased
from services.reporting.app import create_app
from services.reporting.models import HourFact, PersonCategory, PersonView, PlacementView


async def _reports(client, year: int) -> list[dict]:
    out = [(await client.get("/reports/annual", params={"year": year})).json()]
    for q in (1, 2, 3, 4):
        out.append((await client.get("/reports/quarterly", params={"year": year, "quarter": q})).json())
    return out


async def test_replaying_everything_twice_in_any_order_gives_the_same_reports(database_url, nats_url):
    w = generate(seed=11, year=2026, people=80, markets=6, batch=40)
    shuffled = list(w.events)
    random.Random(3).shuffle(shuffled)
    async with running(create_app, database_url=database_url("reporting_a"), nats_url=nats_url) as a:
        await apply_directly(a.ctx, w.events)
        expected = await _reports(a, 2026)
    async with running(create_app, database_url=database_url("reporting_b"), nats_url=nats_url) as b:
        await apply_directly(b.ctx, shuffled, chunk=7)
        await apply_directly(b.ctx, list(reversed(shuffled)), chunk=13)
        assert await _reports(b, 2026) == expected
    assert expected[0]["totals"]["hours"] > 0


async def test_erasure_keeps_the_pseudonymous_profile_and_its_hours(database_url, nats_url):
    w = generate(seed=5, year=2026, people=40, markets=3, erasure_rate=0.0)
    someone = next(iter(w.people))
    erased = new_envelope("beneficiary.erased", 1, "matching",
                          BeneficiaryErased(beneficiary_id=someone, erased_on=dt.date(2026, 12, 31)))
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        await apply_directly(client.ctx, [erased, *w.events])  # the erasure may even come first
        before = (await client.get("/reports/annual", params={"year": 2026})).json()
        async with client.ctx.db.session() as s:
            person = await s.get(PersonView, someone)
            assert person is not None and person.erased and person.gender in ("F", "M")
            codes = (await s.execute(select(PersonCategory.code).where(PersonCategory.beneficiary_id == someone)))
            assert sorted(codes.scalars()) == w.categories[someone]
            assert (await s.execute(select(HourFact.entry_id).where(HourFact.beneficiary_id == someone))).first()
        assert before["totals"]["people"] == len(w.people_in("2026-01", "2026-12"))
        assert before["totals"]["hours"] == float(w.hours("2026-01", "2026-12"))


async def test_an_enrolment_re_sent_after_the_erasure_does_not_undo_it(database_url, nats_url):
    w = generate(seed=6, year=2026, people=3, markets=1, erasure_rate=0.0)
    enrolled = next(e for e in w.events if e.event_type == "beneficiary.enrolled")
    someone = uuid.UUID(enrolled.data["beneficiary_id"])
    erased = new_envelope("beneficiary.erased", 1, "matching",
                          BeneficiaryErased(beneficiary_id=someone, erased_on=dt.date(2026, 12, 31)))
    re_sent = new_envelope("beneficiary.enrolled", 1, "matching", w.people[someone])  # same facts, new event id
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        await apply_directly(client.ctx, [enrolled, erased])
        await apply_directly(client.ctx, [re_sent])  # on its own, later
        await apply_directly(client.ctx, [erased, re_sent, enrolled], chunk=1)
        await apply_directly(client.ctx, [re_sent, erased, enrolled])  # all in one transaction
        async with client.ctx.db.session() as s:
            person = await s.get(PersonView, someone)
        assert person is not None and person.erased and person.erased_on == dt.date(2026, 12, 31)


async def test_a_placement_end_arriving_before_its_start_is_kept(database_url, nats_url):
    w = generate(seed=8, year=2026, people=30, markets=3)
    ends = [e for e in w.events if e.event_type == "placement.ended"]
    starts = [e for e in w.events if e.event_type == "placement.started"]
    assert ends
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        await apply_directly(client.ctx, ends + starts)
        async with client.ctx.db.session() as s:
            rows = (await s.execute(select(PlacementView))).scalars().all()
        by_id = {p.placement_id: p for p in rows}
        for e in ends:
            placement = by_id[uuid.UUID(e.data["placement_id"])]
            assert placement.exit_category == e.data["exit_category"]
            assert placement.contract_type is not None and placement.start_date is not None


async def test_as_of_answers_the_report_as_the_history_stood_at_that_date(database_url, nats_url):
    from decimal import Decimal

    from contracts.events.hours import HoursCorrected, HoursRecorded

    w = generate(seed=2, year=2026, people=5, markets=2, correction_rate=0.0)
    entry = next(iter(w.entries.values()))
    at = lambda day: dt.datetime(2026, day[0], day[1], 12, tzinfo=dt.UTC)  # noqa: E731
    recorded = new_envelope("hours.recorded", 1, "hours", HoursRecorded(entries=[entry]), occurred_at=at((3, 10)))
    fixed = entry.model_copy(update={"entry_id": uuid.uuid4(), "hours": entry.hours + Decimal("10.25")})
    corrected = new_envelope("hours.corrected", 1, "hours",
                             HoursCorrected(entry=fixed, corrects_entry_id=entry.entry_id, reason="relevé rectifié"),
                             occurred_at=at((5, 10)))
    setup = [e for e in w.events if not e.event_type.startswith("hours.")]
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        await apply_directly(client.ctx, [*setup, corrected, recorded])

        async def hours(**params) -> float:
            report = (await client.get("/reports/annual", params={"year": 2026, **params})).json()
            return report["totals"]["hours"]

        assert await hours(as_of="2026-03-01") == 0
        assert await hours(as_of="2026-04-01") == float(entry.hours)
        assert await hours(as_of="2026-05-10") == float(fixed.hours)
        assert await hours() == float(fixed.hours)
        as_of = (await client.get("/reports/annual", params={"year": 2026, "as_of": "2026-04-01"})).json()
        assert as_of["as_of"] == "2026-04-01" and as_of["totals"]["people"] == (1 if entry.hours > 0 else 0)
