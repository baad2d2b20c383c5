"""Consumers of reporting: every event becomes rows of the read model (idempotent, order-insensitive).

The bus applies a batch of events inside one transaction together with their inbox records; handlers never commit.
Every handler is `Batched`: a run of consecutive events of one type is applied by one call, with bulk statements
(hour entries by COPY / one executemany of plain tuples, grouped into cube cells in memory), so a rebuild or a
backlog goes at the speed of the database, not of one round trip per event (decisions 8 and 9).
Order-insensitivity, event by event:
- lots: versioned upsert (newest `LotState.version` wins);
- hour entries: keyed by `entry_id`; a correction inserts its new entry and marks the corrected one `superseded`
  (a `hour_supersessions` row remembers it, so an original arriving after its correction is born superseded);
  the counted hours are also added to (and, when superseded, taken from) the cubes the reports read
  (`hours_cube`, `person_months`, `lot_months`) and each person's first month (`person_firsts`), exactly once per
  entry since only a real insert or a real flip counts. During a rebuild the cubes are added up in memory and
  written once at the end (`DeferredCubes`, `flush_cubes`);
- people, placements: keyed upserts that only touch the columns their event owns (an erasure or an end may arrive
  before the enrolment or the start);
- lot progress and follow-ups: the newest by date wins.
"""

from __future__ import annotations

import uuid
from typing import Any

from asyncpg.exceptions import UniqueViolationError

from sqlalchemy import Table, Uuid, any_, bindparam, delete, func, literal, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, spec_for
from contracts.codes import HourKind, Modality, StructureKind
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
    PersonFirst,
    PersonMonth,
    PersonView,
    PlacementView,
    StructureView,
    Supersession,
)
from shared.db import bulk_insert, upsert_insert
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
# the cubes' keys, in the order of their primary keys (sorted cells are then in primary-key order)
CUBE_KEYS = ("month", "buyer_id", "market_id", "lot_id", "modality", "structure_kind")
PERSON_KEYS = ("month", "buyer_id", "beneficiary_id", "structure_id", "structure_kind")
LOT_KEYS = ("lot_id", "month")
FIRST_KEYS = ("buyer_id", "beneficiary_id")

# hour_facts' columns, in the order of the row tuples built below
FACT_COLUMNS = ("entry_id", "placement_id", "beneficiary_id", "lot_id", "market_id", "buyer_id", "employer_siret",
                "structure_id", "structure_kind", "modality", "month", "hours", "kind", "centi", "recorded_at",
                "superseded")
_BENEFICIARY, _LOT, _MARKET, _BUYER, _STRUCTURE, _KIND, _MODALITY, _MONTH, _CENTI, _RECORDED_AT, _SUPERSEDED = (
    2, 3, 4, 5, 7, 8, 9, 10, 13, 14, 15)

DEFER_CUBES = "reporting.defer_cubes"  # session.info key of a rebuild's DeferredCubes


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


# StrEnum members as plain strings (a dict lookup: `.value` costs a descriptor call per entry)
_PLAIN = {m: m.value for enum in (StructureKind, Modality, HourKind) for m in enum}


def _fact_row(entry: HourEntry, recorded_at: Any, superseded: bool = False) -> tuple[Any, ...]:
    """One `hour_facts` row (FACT_COLUMNS), built without a dict: this runs once per hour entry."""
    kind = entry.structure_kind
    hours = entry.hours
    return (entry.entry_id, entry.placement_id, entry.beneficiary_id, entry.lot_id, entry.market_id, entry.buyer_id,
            entry.employer_siret, entry.structure_id, None if kind is None else _PLAIN[kind], _PLAIN[entry.modality],
            entry.month, hours, _PLAIN[entry.kind], int((hours * 100).to_integral_value()), recorded_at, superseded)


LOCK_BUCKETS = 256  # advisory locks per transaction, at most (PostgreSQL's lock table is small)
LOCK_SPACE = 0x6E7472 << 16  # keeps these keys apart from other advisory locks


async def _lock_entries(session: AsyncSession, ids: list[uuid.UUID]) -> None:
    """Serialize transactions touching the same entries (an entry and its correction may be applied concurrently:
    without this, on PostgreSQL each would miss the other's uncommitted row and the original would stay counted).
    An entry maps to one of LOCK_BUCKETS locks, so a batch of 100,000 entries takes 256 locks, not 100,000.
    SQLite transactions are already serial (BEGIN IMMEDIATE), and so is a session flagged `serialized` (the rebuild
    holds the inbox exclusively). Keys are taken in order, so no deadlock."""
    if _dialect(session) != "postgresql" or session.info.get("serialized"):
        return
    keys = sorted({LOCK_SPACE + i.int % LOCK_BUCKETS for i in ids})
    await session.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) s"),
        {"keys": keys},
    )


CUBES = ((_table(HoursCube), CUBE_KEYS), (_table(PersonMonth), PERSON_KEYS), (_table(LotMonth), LOT_KEYS))
Cells = tuple[dict[tuple[Any, ...], int], dict[tuple[Any, ...], int], dict[tuple[Any, ...], int]]
UUID_KEYS = frozenset({"buyer_id", "market_id", "lot_id", "beneficiary_id", "structure_id"})


def _cells(rows: list[tuple[Any, ...]], sign: int = 1, into: Cells | None = None) -> Cells:
    """Hours × 100 per cell of each cube (CUBES' order, keys as CUBE_KEYS, PERSON_KEYS, LOT_KEYS) of fact rows
    (FACT_COLUMNS), times `sign`, added to `into` when given. '' and the nil UUID stand for no structure. The UUIDs
    of a key are kept as their integers (hashed and compared in C: uuid.UUID's are Python code); `_uuid_cell`
    turns them back."""
    cube, people, lots = into if into is not None else ({}, {}, {})
    for r in rows:
        kind = r[_KIND] or ""
        structure = r[_STRUCTURE]
        month, buyer, lot, centi = r[_MONTH], r[_BUYER].int, r[_LOT].int, sign * r[_CENTI]
        key = (month, buyer, r[_MARKET].int, lot, r[_MODALITY], kind)
        cube[key] = cube.get(key, 0) + centi
        key = (month, buyer, r[_BENEFICIARY].int, 0 if structure is None else structure.int, kind)
        people[key] = people.get(key, 0) + centi
        key = (lot, month)
        lots[key] = lots.get(key, 0) + centi
    return cube, people, lots


class _Uuids(dict[int, Any]):
    """int → uuid.UUID, each built once; `hex=True`: → its 32 hex digits (how SQLAlchemy stores a UUID in SQLite)."""

    def __init__(self, *, hex: bool = False) -> None:  # noqa: A002 - as uuid.UUID(hex=...)
        super().__init__()
        self.hex = hex

    def __missing__(self, i: int) -> Any:
        u = self[i] = f"{i:032x}" if self.hex else uuid.UUID(int=i)
        return u


def _uuid_cell(cell: tuple[Any, ...], flags: tuple[bool, ...], uuids: _Uuids) -> tuple[Any, ...]:
    return tuple(uuids[v] if f else v for v, f in zip(cell, flags, strict=True))


def _firsts(people: dict[tuple[Any, ...], int]) -> dict[tuple[int, int], str]:
    """(buyer or 0 for all buyers, person) as integers → the first month with a `person_months` cell > 0 among
    `people` cells."""
    firsts: dict[tuple[int, int], str] = {}
    for (month, buyer, person, _structure, _kind), centi in people.items():
        if centi > 0:
            for key in ((buyer, person), (0, person)):
                known = firsts.get(key)
                if known is None or month < known:
                    firsts[key] = month
    return firsts


async def _add_to_cubes(session: AsyncSession, rows: list[tuple[Any, ...]], sign: int = 1) -> None:
    """Add (+1) or take away (−1) the hours of fact rows to the cubes the reports read: grouped here, then one bulk
    upsert per cube; then the first months of these people (lowered where hours were added, recomputed where some
    were taken away). During a rebuild (DEFER_CUBES), only added up in memory."""
    if not rows:
        return
    deferred: DeferredCubes | None = session.info.get(DEFER_CUBES)
    if deferred is not None:
        _cells(rows, sign, deferred.cells)
        return
    postgres = _dialect(session) == "postgresql"
    # concurrent writers on PostgreSQL take the cells in one order, so they do not deadlock
    ordered = postgres and not session.info.get("serialized")
    cells = _cells(rows, sign)
    uuids = _Uuids(hex=not postgres)  # values as the driver takes them (see shared.db.bulk_insert)
    for (table, keys), cube in zip(CUBES, cells, strict=True):
        flags = (*(k in UUID_KEYS for k in keys), False)
        items = sorted(cube.items()) if ordered else cube.items()
        await _bulk_upsert(session, table, (*keys, "centi"), keys, f"centi = {table.name}.centi + excluded.centi",
                           [_uuid_cell((*cell, centi), flags, uuids) for cell, centi in items])
    if sign < 0:
        persons = {person for _month, _buyer, person, *_ in cells[1]}
        await _refresh_firsts(session, sorted(uuid.UUID(int=p) for p in persons))
        return
    firsts = _firsts(cells[1])  # hours are never negative: those cells are > 0 now
    table = _table(PersonFirst)
    items = sorted(firsts.items()) if ordered else firsts.items()
    await _bulk_upsert(session, table, (*FIRST_KEYS, "first_month"), FIRST_KEYS,
                       f"first_month = excluded.first_month WHERE {table.name}.first_month > excluded.first_month",
                       [(uuids[b], uuids[p], m) for (b, p), m in items])


STAGED_UPSERT_ROWS = 1000  # from this many rows, PostgreSQL upserts go through COPY into a staging table


async def _bulk_upsert(session: AsyncSession, table: Table, columns: tuple[str, ...], keys: tuple[str, ...],
                       update_sql: str, rows: list[tuple[Any, ...]]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET `update_sql` for many rows of driver values (UUIDs on PostgreSQL,
    their hex digits on SQLite), in key order. SQLite: one executemany of the driver. PostgreSQL: an executemany
    for a few rows; for many (a bulk import's batch is as many person-month cells as entries), COPY into a
    temporary staging table and one INSERT … SELECT, about three times cheaper than an executemany row by row."""
    if not rows:
        return
    conn = await session.connection()
    on_conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {update_sql}"
    names = ", ".join(columns)
    if conn.dialect.name != "postgresql":
        await conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))}) "
                                   f"{on_conflict}", rows)
        return
    raw = (await conn.get_raw_connection()).driver_connection
    if len(rows) < STAGED_UPSERT_ROWS:
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        await raw.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks}) {on_conflict}", rows)
        return
    staging = f"staging_{table.name}"
    await raw.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} (LIKE {table.name}) ON COMMIT DELETE ROWS")
    await raw.execute(f"TRUNCATE {staging}")  # a transaction may stage twice (hours taken away, then added)
    await raw.copy_records_to_table(staging, records=rows, columns=list(columns))
    # the order of the Python keys (UUIDs as integers, text by code point): concurrent writers lock cells in one order
    order = ", ".join(k if k in UUID_KEYS else f'{k} COLLATE "C"' for k in keys)
    await raw.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staging} ORDER BY {order} "
                      f"{on_conflict}")


def _firsts_select(pm: Table, where: list[Any], *, all_buyers: bool) -> Any:
    buyer = literal(NIL, type_=Uuid).label("buyer_id") if all_buyers else pm.c.buyer_id
    group = [pm.c.beneficiary_id] if all_buyers else [pm.c.buyer_id, pm.c.beneficiary_id]
    return (select(buyer, pm.c.beneficiary_id, func.min(pm.c.month).label("first_month"))
            .where(pm.c.centi > 0, *where).group_by(*group).order_by(*group))


async def _refresh_firsts(session: AsyncSession, persons: list[uuid.UUID]) -> None:
    """Recompute the first months of `persons` from `person_months` (after hours were taken away: the first month
    may move later, or the person be reached no more)."""
    firsts, pm = _table(PersonFirst), _table(PersonMonth)
    for i in range(0, len(persons), IN_CHUNK):
        chunk = persons[i:i + IN_CHUNK]
        await session.execute(firsts.delete().where(firsts.c.beneficiary_id.in_(chunk)))
        for all_buyers in (False, True):
            await session.execute(firsts.insert().from_select(
                ["buyer_id", "beneficiary_id", "first_month"],
                _firsts_select(pm, [pm.c.beneficiary_id.in_(chunk)], all_buyers=all_buyers)))


async def _fact_rows(session: AsyncSession, where: Any) -> list[tuple[Any, ...]]:
    facts = _table(HourFact)
    return [tuple(r) for r in (await session.execute(select(*(facts.c[c] for c in FACT_COLUMNS)).where(where)))]


def _leading(item: tuple[tuple[Any, ...], int]) -> Any:
    return item[0][0]


class DeferredCubes:
    """The rebuild's cube cells, added up in memory (session.info[DEFER_CUBES]) and written once by `flush_cubes`:
    no million small upserts, no dead row versions, rows in primary-key order."""

    def __init__(self) -> None:
        self.cells: Cells = ({}, {}, {})


async def flush_cubes(session: AsyncSession) -> None:
    """End of a rebuild: take away the entries whose correction came first (born superseded), then write the cubes
    and the first months accumulated by DeferredCubes."""
    deferred: DeferredCubes = session.info.pop(DEFER_CUBES)
    facts, sup = _table(HourFact), _table(Supersession)
    flipped = await session.execute(
        update(facts).where(facts.c.entry_id.in_(select(sup.c.corrected_entry_id)), facts.c.superseded.is_(False))
        .values(superseded=True).returning(*(facts.c[c] for c in FACT_COLUMNS)))
    _cells([tuple(r) for r in flipped], -1, deferred.cells)
    # written as stored: UUIDs for COPY on PostgreSQL, hex strings on SQLite (no bind processing per value)
    uuids = _Uuids(hex=_dialect(session) != "postgresql")
    # grouped by the first column of their primary key (the month, the lot): a period's or a lot's rows then sit on
    # few pages of PostgreSQL's heap; a full sort of the tuples would cost seconds
    cube, people, lots = (sorted(cells.items(), key=_leading) for cells in deferred.cells)
    u = uuids
    for table, rows in (
        (_table(HoursCube), [(m, u[b], u[mk], u[lot], mo, k, c) for (m, b, mk, lot, mo, k), c in cube]),
        (_table(PersonMonth), [(m, u[b], u[p], u[st], k, c) for (m, b, p, st, k), c in people]),
        (_table(LotMonth), [(u[lot], m, c) for (lot, m), c in lots]),
    ):
        await session.execute(delete(table))
        await bulk_insert(session, table, (*(c.name for c in table.primary_key.columns), "centi"), rows, encoded=True)
    firsts = _table(PersonFirst)
    await session.execute(delete(firsts))
    await bulk_insert(session, firsts, ("buyer_id", "beneficiary_id", "first_month"), [
        (uuids[b], uuids[p], m) for (b, p), m in sorted(_firsts(deferred.cells[1]).items())], encoded=True)


IN_CHUNK = 5000  # ids per IN (...) list (SQLite binds at most 32,766 parameters per statement)


async def _present(session: AsyncSession, column: Any, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `ids` found in `column` (a primary key), in bulk: one array parameter on PostgreSQL, plain IN lists
    of hex strings (SQLAlchemy's storage of UUIDs) on SQLite."""
    if not ids:
        return set()
    if _dialect(session) == "postgresql":
        ids_param = bindparam("ids", ids, type_=postgresql.ARRAY(Uuid()))
        return set((await session.execute(select(column).where(column == any_(ids_param)))).scalars())
    conn = await session.connection()
    found: set[uuid.UUID] = set()
    for i in range(0, len(ids), IN_CHUNK):
        chunk = tuple(u.hex for u in ids[i:i + IN_CHUNK])
        sql = f"SELECT {column.name} FROM {column.table.name} WHERE {column.name} IN ({', '.join('?' * len(chunk))})"
        found.update(uuid.UUID(hex=h) for (h,) in (await conn.exec_driver_sql(sql, chunk)).all())
    return found


async def _add_facts(session: AsyncSession, entries: list[tuple[HourEntry, Envelope]]) -> None:
    """Insert the entries not seen before (the same entry twice: the first wins), then count their hours. An entry
    whose correction arrived first is born superseded, and never counted (in a rebuild, `flush_cubes` sees to it)."""
    by_id: dict[uuid.UUID, tuple[HourEntry, Any]] = {}
    for entry, envelope in entries:
        if entry.entry_id not in by_id:
            by_id[entry.entry_id] = (entry, envelope.occurred_at)
    ids = list(by_id)
    deferred = session.info.get(DEFER_CUBES) is not None
    if deferred:  # a rebuild: the entries are new unless a stream repeats one (rare), so first try them all at once
        rows = [_fact_row(*by_id[i]) for i in ids]
        try:
            async with session.begin_nested():
                await bulk_insert(session, _table(HourFact), FACT_COLUMNS, rows, repeated=("recorded_at",))
        except (IntegrityError, UniqueViolationError):
            pass  # one was there already: sort them out below
        else:
            await _add_to_cubes(session, rows)
            return
    seen = await _present(session, _table(HourFact).c.entry_id, ids)
    new = [i for i in ids if i not in seen] if seen else ids
    if not new:
        return  # all already there: a replay
    corrected = set() if deferred else await _present(session, _table(Supersession).c.corrected_entry_id, new)
    rows = [_fact_row(*by_id[i], i in corrected) for i in new]
    await bulk_insert(session, _table(HourFact), FACT_COLUMNS, rows, repeated=("recorded_at",))
    await _add_to_cubes(session, [r for r in rows if not r[_SUPERSEDED]] if corrected else rows)


async def _supersede(session: AsyncSession, entry_id: uuid.UUID) -> None:
    facts = _table(HourFact)
    flipped = await session.execute(
        update(facts).where(facts.c.entry_id == entry_id, facts.c.superseded.is_(False))
        .values(superseded=True).returning(*(facts.c[c] for c in FACT_COLUMNS)))
    await _add_to_cubes(session, [tuple(r) for r in flipped], -1)


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
    current = await _fact_rows(session, facts.c.entry_id == entry.entry_id)
    if not current:
        await _add_facts(session, [(entry, envelope)])
        return
    old = current[0]
    if old[_RECORDED_AT] >= envelope.occurred_at:
        return
    new = _fact_row(entry, envelope.occurred_at, old[_SUPERSEDED])
    await session.execute(update(facts).where(facts.c.entry_id == entry.entry_id)
                          .values(dict(zip(FACT_COLUMNS[1:_SUPERSEDED], new[1:_SUPERSEDED], strict=True))))
    if not old[_SUPERSEDED]:
        await _add_to_cubes(session, [old], -1)
        await _add_to_cubes(session, [new], +1)


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
