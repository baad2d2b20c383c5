"""Consumers of reporting: every event becomes rows of the read model (idempotent, order-insensitive).

The bus runs each handler inside one transaction together with its inbox record; handlers never commit.
Order-insensitivity, event by event:
- lots: versioned upsert (newest `LotState.version` wins);
- hour entries: keyed by `entry_id`; a correction inserts its new entry and marks the corrected one `superseded`
  (a `hour_supersessions` row remembers it, so an original arriving after its correction is born superseded);
  the counted hours are also added to (and, when superseded, taken from) two cubes the reports read
  (`hours_cube`, `person_months`, `lot_months`), exactly once per entry since only a real insert or a real flip counts;
- people, placements: keyed upserts that only touch the columns their event owns (an erasure or an end may arrive
  before the enrolment or the start);
- lot progress and follow-ups: the newest by date wins.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Table, Uuid, func, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, spec_for
from contracts.events.hours import HourEntry, HoursCorrected, HoursRecorded, LotProgress
from contracts.events.markets import MarketSubmitted
from contracts.events.matching import (
    BeneficiaryEnrolled,
    BeneficiaryErased,
    BeneficiaryFollowedUp,
    StructureRegistered,
)
from services.reporting.models import (
    FollowUpView,
    HourFact,
    HoursCube,
    LotMonth,
    LotProgressView,
    LotView,
    MarketView,
    PersonCategory,
    PersonMonth,
    PersonView,
    PlacementView,
    StructureView,
    Supersession,
)
from shared.messaging import Handler
from shared.projection import lot_state_handlers, placement_handlers, upsert_columns, upsert_newer

_LOTS = lot_state_handlers(LotView.__table__)
MARKET_SUBMITTED = spec_for("market.submitted")
NIL = uuid.UUID(int=0)


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _table(model: Any) -> Table:
    return model.__table__


# ---- MARKETS ------------------------------------------------------------------------------------------------------
async def on_market_submitted(session: AsyncSession, event: MarketSubmitted, envelope: Envelope) -> None:
    values = {k: v for k, v in event.model_dump().items() if k in MarketView.model_fields}
    values["submitted_at"] = envelope.occurred_at
    await session.execute(_insert(session)(_table(MarketView)).values(values).on_conflict_do_nothing())
    await _LOTS[MARKET_SUBMITTED](session, event, envelope)


# ---- HOURS --------------------------------------------------------------------------------------------------------
CUBE_KEYS = ("buyer_id", "market_id", "lot_id", "modality", "structure_kind", "month")
PERSON_KEYS = ("beneficiary_id", "month", "buyer_id", "structure_id", "structure_kind")
LOT_KEYS = ("lot_id", "month")


def _fact(entry: HourEntry, envelope: Envelope) -> dict[str, Any]:
    values = {k: v for k, v in entry.model_dump().items() if k in HourFact.model_fields}
    values["structure_kind"] = entry.structure_kind.value if entry.structure_kind else None
    values["centi"] = int((entry.hours * 100).to_integral_value())
    values["recorded_at"] = envelope.occurred_at
    values["superseded"] = False
    return values


async def _lock_entries(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    """Serialize transactions touching the same entries (an entry and its correction may be applied concurrently:
    without this, on PostgreSQL each would miss the other's uncommitted row and the original would stay counted).
    SQLite transactions are already serial (BEGIN IMMEDIATE). Keys are taken in order, so no deadlock."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    keys = sorted({int.from_bytes(i.bytes[:8], "big", signed=True) for i in ids})
    await session.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) s"),
        {"keys": keys},
    )


async def _accumulate(session: AsyncSession, ids: list[uuid.UUID], sign: int) -> None:
    """Add (+1) or take away (−1) the hours of entries `ids` to the cubes the reports read."""
    if not ids:
        return
    facts = _table(HourFact)
    insert = _insert(session)
    for table, keys in ((_table(HoursCube), CUBE_KEYS), (_table(PersonMonth), PERSON_KEYS),
                        (_table(LotMonth), LOT_KEYS)):
        columns = []
        for k in keys:
            if k == "structure_kind":
                columns.append(func.coalesce(facts.c.structure_kind, literal("")).label(k))
            elif k == "structure_id":
                columns.append(func.coalesce(facts.c.structure_id, literal(NIL, type_=Uuid)).label(k))
            else:
                columns.append(facts.c[k])
        grouped = (
            select(*columns, (sign * func.sum(facts.c.centi)).label("centi"))
            .where(facts.c.entry_id.in_(ids))
            .group_by(*columns)
            .order_by(*columns)  # the same lock order in every transaction: concurrent batches do not deadlock
        )
        stmt = insert(table).from_select([*keys, "centi"], grouped)
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={"centi": table.c.centi + stmt.excluded.centi})
        await session.execute(stmt)


async def _add_facts(session: AsyncSession, entries: list[HourEntry], envelope: Envelope) -> None:
    facts = _table(HourFact)
    rows = [_fact(e, envelope) for e in entries]
    # executemany ("insertmanyvalues"): one cached statement, whatever the batch size
    inserted = list((await session.execute(
        _insert(session)(facts).on_conflict_do_nothing().returning(facts.c.entry_id), rows
    )).scalars())
    if not inserted:
        return  # all already there: a replay
    # An entry whose correction arrived first is born superseded, and never counted.
    sup = _table(Supersession)
    born_superseded = set((await session.execute(
        update(facts)
        .where(facts.c.entry_id.in_(inserted), facts.c.entry_id.in_(select(sup.c.corrected_entry_id)))
        .values(superseded=True)
        .returning(facts.c.entry_id)
    )).scalars())
    await _accumulate(session, [i for i in inserted if i not in born_superseded], +1)


async def _supersede(session: AsyncSession, entry_id: uuid.UUID) -> None:
    facts = _table(HourFact)
    flipped = list((await session.execute(
        update(facts).where(facts.c.entry_id == entry_id, facts.c.superseded.is_(False))
        .values(superseded=True).returning(facts.c.entry_id)
    )).scalars())
    await _accumulate(session, flipped, -1)


async def on_hours_recorded(session: AsyncSession, event: HoursRecorded, envelope: Envelope) -> None:
    await _lock_entries(session, [e.entry_id for e in event.entries])
    await _add_facts(session, event.entries, envelope)


async def on_hours_corrected(session: AsyncSession, event: HoursCorrected, envelope: Envelope) -> None:
    await _lock_entries(session, [event.corrects_entry_id, event.entry.entry_id])
    if event.corrects_entry_id == event.entry.entry_id:
        await _replace_in_place(session, event.entry, envelope)
        return
    await session.execute(
        _insert(session)(_table(Supersession))
        .values(corrected_entry_id=event.corrects_entry_id, by_entry_id=event.entry.entry_id,
                corrected_at=envelope.occurred_at)
        .on_conflict_do_nothing()
    )
    await _supersede(session, event.corrects_entry_id)
    await _add_facts(session, [event.entry], envelope)


async def _replace_in_place(session: AsyncSession, entry: HourEntry, envelope: Envelope) -> None:
    """A correction keeping the entry's id: the newest recording wins."""
    facts = _table(HourFact)
    current = (await session.execute(
        select(facts.c.recorded_at, facts.c.superseded).where(facts.c.entry_id == entry.entry_id)
    )).first()
    if current is None:
        await _add_facts(session, [entry], envelope)
        return
    if current.recorded_at >= envelope.occurred_at:
        return
    if not current.superseded:
        await _accumulate(session, [entry.entry_id], -1)
    values = _fact(entry, envelope)
    values.pop("superseded")
    await session.execute(update(facts).where(facts.c.entry_id == entry.entry_id).values(values))
    if not current.superseded:
        await _accumulate(session, [entry.entry_id], +1)


async def on_lot_progress(session: AsyncSession, event: LotProgress, envelope: Envelope) -> None:
    values = event.model_dump()
    values["occurred_at"] = envelope.occurred_at
    await upsert_newer(session, _table(LotProgressView), values, version="occurred_at")


# ---- MATCHING -----------------------------------------------------------------------------------------------------
async def on_structure_registered(session: AsyncSession, event: StructureRegistered, _: Envelope) -> None:
    values = {"structure_id": event.structure_id, "siret": event.siret, "name": event.name, "kind": event.kind.value}
    await upsert_columns(session, _table(StructureView), values, {"siret", "name", "kind"})


PROFILE = {"gender", "birth_year", "commune_insee", "qpv", "education_level", "enrolled_on"}


async def on_beneficiary_enrolled(session: AsyncSession, event: BeneficiaryEnrolled, _: Envelope) -> None:
    values: dict[str, Any] = {k: getattr(event, k) for k in PROFILE}
    values["gender"] = event.gender.value
    values.update(beneficiary_id=event.beneficiary_id, erased=False)
    await upsert_columns(session, _table(PersonView), values, PROFILE)
    categories = _table(PersonCategory)
    await session.execute(categories.delete().where(categories.c.beneficiary_id == event.beneficiary_id))
    codes = sorted({c.value for c in event.categories})
    if codes:
        await session.execute(
            categories.insert().values([{"beneficiary_id": event.beneficiary_id, "code": c} for c in codes])
        )


async def on_beneficiary_erased(session: AsyncSession, event: BeneficiaryErased, _: Envelope) -> None:
    """Identity is gone upstream; the pseudonymous profile and its facts stay (aggregates survive erasure)."""
    values = {"beneficiary_id": event.beneficiary_id, "erased": True, "erased_on": event.erased_on}
    await upsert_columns(session, _table(PersonView), values, {"erased", "erased_on"})


async def on_beneficiary_followed_up(session: AsyncSession, event: BeneficiaryFollowedUp, _: Envelope) -> None:
    values = {
        "beneficiary_id": event.beneficiary_id,
        "placement_key": event.placement_id or NIL,
        "placement_id": event.placement_id,
        "followed_up_on": event.followed_up_on,
        "situation": event.situation.value,
    }
    await upsert_newer(session, _table(FollowUpView), values, version="followed_up_on")


HANDLERS: dict[EventSpec, Handler] = {
    **_LOTS,
    MARKET_SUBMITTED: on_market_submitted,
    spec_for("hours.recorded"): on_hours_recorded,
    spec_for("hours.corrected"): on_hours_corrected,
    spec_for("lot.progressed", producer="hours"): on_lot_progress,
    spec_for("lot.at_risk", producer="hours"): on_lot_progress,
    spec_for("lot.target_reached", producer="hours"): on_lot_progress,
    spec_for("structure.registered"): on_structure_registered,
    spec_for("beneficiary.enrolled"): on_beneficiary_enrolled,
    spec_for("beneficiary.erased"): on_beneficiary_erased,
    **placement_handlers(_table(PlacementView)),
    spec_for("beneficiary.followed_up"): on_beneficiary_followed_up,
}
