"""Consumers of reporting: every event becomes rows of the read model (idempotent, order-insensitive).

The bus applies a batch of events inside one transaction together with their inbox records; handlers never commit.
Every handler is `Batched`: a run of consecutive events of one type is applied by one call, with bulk statements
(executemany upserts; hour entries grouped into cube cells in memory), so a rebuild or a backlog goes at the speed
of the database, not of one round trip per event.
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
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, Uuid, func, literal, select, text, update
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
from shared.db import upsert_insert
from shared.messaging import Batched, Handler
from shared.projection import lot_state_handlers, placement_handlers, upsert_columns, upsert_newer

_LOTS = lot_state_handlers(LotView.__table__)
MARKET_SUBMITTED = spec_for("market.submitted")
NIL = uuid.UUID(int=0)


def _table(model: Any) -> Table:
    return model.__table__


# ---- MARKETS ------------------------------------------------------------------------------------------------------
async def _on_market_submitted(session: AsyncSession, events: list[tuple[MarketSubmitted, Envelope]]) -> None:
    rows = [{k: v for k, v in event.model_dump().items() if k in MarketView.model_fields}
            | {"submitted_at": envelope.occurred_at} for event, envelope in events]
    await session.execute(upsert_insert(session)(_table(MarketView)).on_conflict_do_nothing(), rows)
    await _LOTS[MARKET_SUBMITTED].many(session, events)


on_market_submitted = Batched(_on_market_submitted, any_order=True)


# ---- HOURS --------------------------------------------------------------------------------------------------------
CUBE_KEYS = ("buyer_id", "market_id", "lot_id", "modality", "structure_kind", "month")
PERSON_KEYS = ("beneficiary_id", "month", "buyer_id", "structure_id", "structure_kind")
LOT_KEYS = ("lot_id", "month")


FACT_FIELDS = tuple(k for k in HourEntry.model_fields if k in HourFact.model_fields)


def _fact(entry: HourEntry, envelope: Envelope) -> dict[str, Any]:
    values = {k: getattr(entry, k) for k in FACT_FIELDS}
    values["structure_kind"] = entry.structure_kind.value if entry.structure_kind else None
    values["centi"] = int((entry.hours * 100).to_integral_value())
    values["recorded_at"] = envelope.occurred_at
    values["superseded"] = False
    return values


LOCK_BUCKETS = 256  # advisory locks per transaction, at most (PostgreSQL's lock table is small)
LOCK_SPACE = 0x6E7472 << 16  # keeps these keys apart from other advisory locks


async def _lock_entries(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    """Serialize transactions touching the same entries (an entry and its correction may be applied concurrently:
    without this, on PostgreSQL each would miss the other's uncommitted row and the original would stay counted).
    An entry maps to one of LOCK_BUCKETS locks, so a batch of 100,000 entries takes 256 locks, not 100,000.
    SQLite transactions are already serial (BEGIN IMMEDIATE), and so is a session flagged `serialized` (the rebuild
    holds the inbox exclusively). Keys are taken in order, so no deadlock."""
    if session.bind is None or session.bind.dialect.name != "postgresql" or session.info.get("serialized"):
        return
    keys = sorted({LOCK_SPACE + i.int % LOCK_BUCKETS for i in ids})
    await session.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) s"),
        {"keys": keys},
    )


async def _accumulate(session: AsyncSession, ids: list[uuid.UUID], sign: int) -> None:
    """Add (+1) or take away (−1) the hours of entries `ids` to the cubes the reports read."""
    if not ids:
        return
    facts = _table(HourFact)
    insert = upsert_insert(session)
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


def _cells(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[Any, ...], int]:
    """Hours × 100 per cube cell of fact rows, grouped as `_accumulate` does ('' and the nil UUID without a
    structure)."""
    raw: dict[tuple[Any, ...], int] = {}
    key_of = itemgetter(*keys)
    for row in rows:
        cell = key_of(row)
        raw[cell] = raw.get(cell, 0) + row["centi"]
    fill = [("" if k == "structure_kind" else NIL) if k in ("structure_kind", "structure_id") else None for k in keys]
    cells: dict[tuple[Any, ...], int] = {}
    for cell, centi in raw.items():
        if None in cell:
            cell = tuple(f if v is None and f is not None else v for v, f in zip(cell, fill, strict=True))
        cells[cell] = cells.get(cell, 0) + centi
    return cells


async def _add_to_cubes(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """`_accumulate(+1)` for fact rows still in memory: grouped here, then one bulk upsert per cube."""
    if not rows:
        return
    insert = upsert_insert(session)
    # concurrent writers on PostgreSQL take the cells in one order, so they do not deadlock
    ordered = session.bind is not None and session.bind.dialect.name == "postgresql" and not session.info.get("serialized")
    for table, keys in ((_table(HoursCube), CUBE_KEYS), (_table(PersonMonth), PERSON_KEYS),
                        (_table(LotMonth), LOT_KEYS)):
        cells = _cells(rows, keys)
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={"centi": table.c.centi + stmt.excluded.centi})
        items = sorted(cells.items()) if ordered else cells.items()
        # RETURNING makes it "insertmanyvalues": a few hundred cells per statement (their keys are distinct)
        await session.execute(stmt.returning(table.c.centi),
                              [dict(zip(keys, cell, strict=True), centi=centi) for cell, centi in items])


IN_CHUNK = 5000  # ids per IN (...) list (SQLite binds at most 32,766 parameters per statement)


async def _add_facts(session: AsyncSession, entries: list[tuple[HourEntry, Envelope]]) -> None:
    facts = _table(HourFact)
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    for entry, envelope in entries:
        rows.setdefault(entry.entry_id, _fact(entry, envelope))  # the same entry twice in a batch: the first wins
    # executemany ("insertmanyvalues"): one cached statement, a few thousand rows at a time
    inserted = list((await session.execute(
        upsert_insert(session)(facts).on_conflict_do_nothing().returning(facts.c.entry_id), list(rows.values())
    )).scalars())
    if not inserted:
        return  # all already there: a replay
    # An entry whose correction arrived first is born superseded, and never counted.
    sup = _table(Supersession)
    born_superseded: set[uuid.UUID] = set()
    for i in range(0, len(inserted), IN_CHUNK):
        chunk = inserted[i:i + IN_CHUNK]
        corrected = list((await session.execute(
            select(sup.c.corrected_entry_id).where(sup.c.corrected_entry_id.in_(chunk))
        )).scalars())
        if corrected:
            await session.execute(update(facts).where(facts.c.entry_id.in_(corrected)).values(superseded=True))
            born_superseded.update(corrected)
    await _add_to_cubes(session, [rows[i] for i in inserted if i not in born_superseded])


async def _supersede(session: AsyncSession, entry_id: uuid.UUID) -> None:
    facts = _table(HourFact)
    flipped = list((await session.execute(
        update(facts).where(facts.c.entry_id == entry_id, facts.c.superseded.is_(False))
        .values(superseded=True).returning(facts.c.entry_id)
    )).scalars())
    await _accumulate(session, flipped, -1)


async def _on_hours_recorded(session: AsyncSession, events: list[tuple[HoursRecorded, Envelope]]) -> None:
    """A run of consecutive `hours.recorded` events, all entries at once (bulk statements)."""
    entries = [(entry, envelope) for event, envelope in events for entry in event.entries]
    await _lock_entries(session, [e.entry_id for e, _ in entries])
    await _add_facts(session, entries)


on_hours_recorded = Batched(_on_hours_recorded, any_order=True)


async def on_hours_corrected(session: AsyncSession, event: HoursCorrected, envelope: Envelope) -> None:
    await _lock_entries(session, [event.corrects_entry_id, event.entry.entry_id])
    if event.corrects_entry_id == event.entry.entry_id:
        await _replace_in_place(session, event.entry, envelope)
        return
    await session.execute(
        upsert_insert(session)(_table(Supersession))
        .values(corrected_entry_id=event.corrects_entry_id, by_entry_id=event.entry.entry_id,
                corrected_at=envelope.occurred_at)
        .on_conflict_do_nothing()
    )
    await _supersede(session, event.corrects_entry_id)
    await _add_facts(session, [(event.entry, envelope)])


async def _replace_in_place(session: AsyncSession, entry: HourEntry, envelope: Envelope) -> None:
    """A correction keeping the entry's id: the newest recording wins."""
    facts = _table(HourFact)
    current = (await session.execute(
        select(facts.c.recorded_at, facts.c.superseded).where(facts.c.entry_id == entry.entry_id)
    )).first()
    if current is None:
        await _add_facts(session, [(entry, envelope)])
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


async def _on_lot_progress(session: AsyncSession, events: list[tuple[LotProgress, Envelope]]) -> None:
    rows = [event.model_dump() | {"occurred_at": envelope.occurred_at} for event, envelope in events]
    await upsert_newer(session, _table(LotProgressView), rows, version="occurred_at")


on_lot_progress = Batched(_on_lot_progress, any_order=True)


# ---- MATCHING -----------------------------------------------------------------------------------------------------
async def _on_structure_registered(session: AsyncSession, events: list[tuple[StructureRegistered, Envelope]]) -> None:
    rows = [{"structure_id": e.structure_id, "siret": e.siret, "name": e.name, "kind": e.kind.value} for e, _ in events]
    await upsert_columns(session, _table(StructureView), rows, {"siret", "name", "kind"})


on_structure_registered = Batched(_on_structure_registered, any_order=True)
PROFILE = {"gender", "birth_year", "commune_insee", "qpv", "education_level", "enrolled_on"}


async def _on_beneficiary_enrolled(session: AsyncSession, events: list[tuple[BeneficiaryEnrolled, Envelope]]) -> None:
    """The profile, never the erasure flag: an enrolment re-sent after `beneficiary.erased` leaves the person erased
    (a new row starts not erased; only the erasure event sets the flag)."""
    rows = [{k: getattr(e, k) for k in PROFILE} | {"gender": e.gender.value, "beneficiary_id": e.beneficiary_id,
                                                    "erased": False} for e, _ in events]
    await upsert_columns(session, _table(PersonView), rows, PROFILE)
    latest = {e.beneficiary_id: sorted({c.value for c in e.categories}) for e, _ in events}  # the last one wins
    categories = _table(PersonCategory)
    await session.execute(categories.delete().where(categories.c.beneficiary_id.in_(list(latest))))
    codes = [{"beneficiary_id": person, "code": c} for person, cs in latest.items() for c in cs]
    if codes:
        await session.execute(categories.insert(), codes)


on_beneficiary_enrolled = Batched(_on_beneficiary_enrolled, any_order=True)


async def _on_beneficiary_erased(session: AsyncSession, events: list[tuple[BeneficiaryErased, Envelope]]) -> None:
    """Identity is gone upstream; the pseudonymous profile and its facts stay (aggregates survive erasure)."""
    rows = [{"beneficiary_id": e.beneficiary_id, "erased": True, "erased_on": e.erased_on} for e, _ in events]
    await upsert_columns(session, _table(PersonView), rows, {"erased", "erased_on"})


on_beneficiary_erased = Batched(_on_beneficiary_erased, any_order=True)


async def _on_beneficiary_followed_up(session: AsyncSession, events: list[tuple[BeneficiaryFollowedUp, Envelope]]
                                      ) -> None:
    rows = [{
        "beneficiary_id": e.beneficiary_id,
        "placement_key": e.placement_id or NIL,
        "placement_id": e.placement_id,
        "followed_up_on": e.followed_up_on,
        "situation": e.situation.value,
    } for e, _ in events]
    await upsert_newer(session, _table(FollowUpView), rows, version="followed_up_on")


on_beneficiary_followed_up = Batched(_on_beneficiary_followed_up, any_order=True)


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
