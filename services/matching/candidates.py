"""Candidates for one lot: load what the ranking needs in a few set-based queries (Core rows, no ORM objects), rank
with the pure functions of domain/ranking.py, keep the best `limit` of each list (totals given).

Speed matters here (10,000 people and 1,000 structures per call, issue #4: < 200 ms). The database does what it can
without changing the ranking's results:
- it drops whom the ranking would drop anyway: erased people, people placed full time on the day, people with
  neither a check nor a clause contract started by the day, people whose clause window has closed by the day
  (`ClauseDay`), inactive or full structures;
- it answers the yes/no questions of the ranking on JSON lists (does the person wish the lot's sector? which of
  the lot's communes does the structure serve?) instead of sending every list back;
- it gathers each person's checks and first clause start in the same query (grouped once, no query per person).
Dates are read raw (`_raw`) and converted only where needed; people are keyed by their id as text (`_key`) until
the ranking has chosen the few it returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, String, cast, exists, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import Function

from services.matching.domain.eligibility import ClauseDay, Criterion, EligibilityPolicy
from services.matching.domain.placements import Span
from services.matching.domain.ranking import (
    BeneficiaryView,
    LotView,
    StructureView,
    lot_communes,
    rank_structures,
    shortlist_beneficiaries,
)
from services.matching.models import Beneficiary, CriterionCheck, LotRef, MarketRef, Placement, Structure
from services.matching.schemas import BeneficiaryCandidate, CandidatesOut, StructureCandidate
from shared.errors import DomainError, NotFound
from shared.service import ServiceContext

SEPARATOR = ","  # between the items of a list gathered by the database (codes, INSEE codes, dates: never a comma)


async def for_lot(
    session: AsyncSession,
    ctx: ServiceContext,
    lot_id: uuid.UUID,
    *,
    modality: str | None = None,
    on: dt.date | None = None,
    limit: int | None = None,
    qpv_priority: bool | None = None,
) -> CandidatesOut:
    """Ranked structures and people for a lot, judged on `on` (default: today, or the lot's start if later).
    `qpv_priority` overrides the territory's setting for this lot."""
    lot = await session.get(LotRef, lot_id)
    if lot is None:
        raise NotFound("lot inconnu de l'appariement")
    day = on or max(dt.datetime.now(dt.UTC).date(), lot.start_date)
    if day > lot.end_date:
        raise DomainError(f"date après la fin du lot ({lot.end_date})", field="on")
    view = await lot_view(session, lot)
    territory, weights, n = ctx.extras["territory"], ctx.extras["weights"], limit or ctx.extras["candidates_limit"]
    policy = ctx.extras["policy"]
    if qpv_priority is not None:
        weights = dataclasses.replace(weights, qpv_priority=qpv_priority)
    near = lot_communes(view, territory)
    with _collector_paused():
        structures = rank_structures(view, await structure_views(session, view, near, day), territory, weights,
                                     modality)
        people = shortlist_beneficiaries(view, await beneficiary_views(session, view, day, policy), territory, policy,
                                         weights, day, n, modality)
    return CandidatesOut(
        lot_id=lot.lot_id,
        on=day,
        modality=modality,
        qpv_priority=weights.qpv_priority,
        structures_total=len(structures),
        beneficiaries_total=people.total,
        structures=[StructureCandidate(id=c.id, score=c.score, reasons=c.reasons, **c.extra) for c in structures[:n]],
        beneficiaries=[
            BeneficiaryCandidate(id=public_id(c.id), score=c.score, reasons=c.reasons, eligible=c.eligible,
                                 status=c.status)
            for c in people.best
        ],
    )


async def lot_view(session: AsyncSession, lot: LotRef) -> LotView:
    market = await session.get(MarketRef, lot.market_id)
    return LotView(lot.lot_id, lot.sector, lot.start_date, lot.end_date, market.commune_insee if market else None)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the views of 10,000 people are built and ranked: they hold no cycle (freed
    as soon as the answer is built), yet their number would trigger full passes over the whole heap (≈ 100 ms)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ---- SQL helpers ----------------------------------------------------------------------------------------------------
def _raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The column as the driver gives it (SQLite: text; PostgreSQL: native date objects)."""
    return type_coerce(column, String)


def _key(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A uuid column as text: cheap to hash, and sorted as the ranking's tie-break `str(id)` (hex digits and
    dashes at fixed places: SQLite's 32 digits and PostgreSQL's 36 characters sort like the UUIDs)."""
    return cast(column, String)


def _day(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def public_id(key: str) -> uuid.UUID:
    return uuid.UUID(key)


def _items(column: ColumnElement[Any], dialect: str) -> Any:
    """The string items of a JSON list column, as a table with one column `value` (SQLite and PostgreSQL)."""
    items: Function[Any] = func.json_each(column) if dialect == "sqlite" else func.json_array_elements_text(column)
    return items.table_valued("value")


def _has_item(column: ColumnElement[Any], value: str, dialect: str) -> ColumnElement[bool]:
    items = _items(column, dialect)
    return exists().select_from(items).where(items.c.value == value)


def _split(gathered: str | None) -> list[str]:
    return gathered.split(SEPARATOR) if gathered else []


# ---- structures -----------------------------------------------------------------------------------------------------
async def structure_views(session: AsyncSession, lot: LotView, near: frozenset[str], on: dt.date) -> list[StructureView]:
    """Active structures with a free place on `on` (people carried by placements still running that day).
    Only what the ranking looks at is loaded: `sectors` holds the lot's sector when the structure works in it, else
    nothing; `served` holds the communes it serves among `near` (the lot's commune and the others of its EPCI)."""
    dialect = session.bind.dialect.name
    p, s = Placement.__table__.c, Structure.__table__.c
    running = (p.ended_on.is_(None) | (p.ended_on >= on)) & (p.end_date.is_(None) | (p.end_date >= on))
    carried = (select(p.structure_id, func.count().label("n")).where(p.structure_id.is_not(None), running)
               .group_by(p.structure_id).subquery())
    in_use = func.coalesce(carried.c.n, 0)
    served = _items(s.served, dialect)
    near_served = (select(func.aggregate_strings(served.c.value, SEPARATOR)).select_from(served)
                   .where(served.c.value.in_(sorted(near))).scalar_subquery())
    rows = (await session.execute(
        select(s.id, s.name, s.kind, _has_item(s.sectors, lot.sector, dialect), s.modalities, near_served,
               s.capacity, in_use)
        .outerjoin(carried, carried.c.structure_id == s.id)
        .where(s.active.is_(True), s.capacity > in_use)
    )).all()
    return [
        StructureView(id_, name, kind, frozenset({lot.sector}) if in_sector else frozenset(), frozenset(modalities),
                      frozenset(_split(communes)), capacity, used)
        for id_, name, kind, in_sector, modalities, communes, capacity, used in rows
    ]


# ---- people ---------------------------------------------------------------------------------------------------------
async def beneficiary_views(
    session: AsyncSession, lot: LotView, on: dt.date, policy: EligibilityPolicy
) -> list[BeneficiaryView]:
    """The people the ranking may keep on `on`, with their checks known that day, the start of their first clause
    contract and the full-time placements that would overlap the lot from `on` to its end.
    `sectors` holds the lot's sector when the person wishes it (all the ranking looks at), else nothing.
    The views' ids are text keys (`_key`): turn the ones you keep into UUIDs with `public_id`."""
    dialect = session.bind.dialect.name
    b, c, p = Beneficiary.__table__.c, CriterionCheck.__table__.c, Placement.__table__.c
    span_end = func.coalesce(p.ended_on, p.end_date)
    # Per person, computed once over the whole table (hash or merge joins, no subquery per person).
    firsts = select(p.beneficiary_id, func.min(p.start_date).label("day")).group_by(p.beneficiary_id).subquery()
    known = (select(c.beneficiary_id,
                    func.aggregate_strings(c.code + " " + cast(c.checked_on, String), SEPARATOR).label("checks"))
             .where(c.checked_on <= on).group_by(c.beneficiary_id).subquery())
    busy = select(p.beneficiary_id).where(p.full_time.is_(True), p.start_date <= on,
                                          or_(span_end.is_(None), span_end >= on))
    first_start = firsts.c.day
    rows = (await session.execute(
        select(_key(b.id), b.commune_insee, b.qpv, _has_item(b.sectors, lot.sector, dialect), known.c.checks,
               _raw(first_start))
        .outerjoin(firsts, firsts.c.beneficiary_id == b.id)
        .outerjoin(known, known.c.beneficiary_id == b.id)
        .where(
            b.erased_on.is_(None),
            b.id.not_in(busy),
            or_(first_start.is_(None), first_start >= ClauseDay.of(on, policy).window_open_from),
            or_(first_start <= on, known.c.checks.is_not(None)),
        )
    )).all()
    later = await _full_time_spans(session, on, lot.end_date)
    wished, no_wish = frozenset({lot.sector}), frozenset()
    views = []
    for key, commune, qpv, wishes, gathered, first in rows:
        criteria = []
        for item in _split(gathered):
            code, checked = item.split(" ")
            criteria.append(Criterion(code, dt.date.fromisoformat(checked)))
        views.append(BeneficiaryView(key, wished if wishes else no_wish, commune, qpv, tuple(criteria), _day(first),
                                     tuple(later.get(key, ()))))
    return views


async def _full_time_spans(session: AsyncSession, start: dt.date, end: dt.date) -> dict[str, list[Span]]:
    """Person key (`_key`) -> their full-time placements overlapping [start, end]."""
    p = Placement.__table__.c
    span_end = func.coalesce(p.ended_on, p.end_date)
    spans: dict[str, list[Span]] = defaultdict(list)
    for key, first, last in (await session.execute(
        select(_key(p.beneficiary_id), _raw(p.start_date), _raw(span_end))
        .where(p.full_time.is_(True), p.start_date <= end, or_(span_end.is_(None), span_end >= start))
    )).all():
        spans[key].append(Span(_day(first), _day(last), True))
    return spans
