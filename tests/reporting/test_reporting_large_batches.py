"""Large batches, as a bulk import sends them: their cube cells are written by COPY into a staging table and one
INSERT … SELECT on PostgreSQL (an executemany on SQLite), and the cubes still equal the sums of the facts, also when
one transaction adds to the same cells twice."""

from __future__ import annotations

import uuid
from decimal import Decimal

from harness import running
from sqlalchemy import func, select

from contracts import new_envelope
from contracts.events.hours import HourEntry, HoursRecorded
from services.reporting import handlers
from services.reporting.app import create_app
from services.reporting.models import HourFact, HoursCube, LotMonth, PersonFirst, PersonMonth

PEOPLE = 1500  # more person-month cells than handlers.STAGED_UPSERT_ROWS
LOT, MARKET, BUYER = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _entry(person: uuid.UUID, month: str, hours: str) -> HourEntry:
    return HourEntry(entry_id=uuid.uuid4(), placement_id=uuid.uuid4(), beneficiary_id=person, lot_id=LOT,
                     market_id=MARKET, buyer_id=BUYER, employer_siret="12345678900011", modality="direct_hire",
                     month=month, hours=Decimal(hours), kind="work")


def _events(entries: list[HourEntry]) -> list[tuple[HoursRecorded, object]]:
    out = []
    for start in range(0, len(entries), 1000):
        data = HoursRecorded(entries=entries[start:start + 1000])
        out.append((data, new_envelope("hours.recorded", 1, "hours", data)))
    return out


async def test_large_batches_in_one_transaction_add_up_exactly_in_every_cube(database_url, nats_url):
    assert PEOPLE > handlers.STAGED_UPSERT_ROWS
    people = [uuid.uuid4() for _ in range(PEOPLE)]
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        ctx = client.ctx
        async with ctx.db.session() as session, session.begin():
            # the same person-month cells twice in one transaction: the second staging must not see the first rows
            await handlers.on_hours_recorded.many(session, _events([_entry(p, "2026-03", "7.50") for p in people]))
            await handlers.on_hours_recorded.many(session, _events([_entry(p, "2026-03", "2.25") for p in people]))
        async with ctx.db.session() as session, session.begin():  # a later batch: a later month for half of them
            await handlers.on_hours_recorded.many(
                session, _events([_entry(p, "2026-04", "1") for p in people[:PEOPLE // 2]] +
                                 [_entry(p, "2026-02", "3") for p in people[PEOPLE // 2:]]))

        async with ctx.db.session() as s:
            facts = (await s.execute(select(func.count(), func.sum(HourFact.centi)))).one()
            assert facts == (3 * PEOPLE, PEOPLE * 975 + (PEOPLE // 2) * 100 + (PEOPLE - PEOPLE // 2) * 300)
            for cube in (HoursCube, PersonMonth, LotMonth):
                assert (await s.execute(select(func.sum(cube.centi)))).scalar_one() == facts[1]
            by_person = dict((await s.execute(
                select(PersonMonth.beneficiary_id, func.sum(PersonMonth.centi)).group_by(PersonMonth.beneficiary_id)
            )).all())
            assert by_person == {p: 975 + (100 if i < PEOPLE // 2 else 300) for i, p in enumerate(people)}
            assert (await s.execute(select(func.count()).select_from(PersonMonth))).scalar_one() == 2 * PEOPLE
            lots = dict((await s.execute(select(LotMonth.month, LotMonth.centi))).all())
            assert lots == {"2026-02": (PEOPLE - PEOPLE // 2) * 300, "2026-03": PEOPLE * 975,
                            "2026-04": (PEOPLE // 2) * 100}
            firsts = (await s.execute(select(PersonFirst.beneficiary_id, PersonFirst.first_month)
                                      .where(PersonFirst.buyer_id == BUYER))).all()
            # the first month moved earlier for the people whose February came later
            assert dict(firsts) == {p: "2026-03" if i < PEOPLE // 2 else "2026-02" for i, p in enumerate(people)}
