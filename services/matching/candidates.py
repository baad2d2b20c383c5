"""Candidates for one lot: load what the ranking needs in a few set-based queries (Core rows, no ORM objects), rank
with the pure functions of domain/ranking.py, keep the best.

Speed matters here (10,000 people per call): ids and dates are read raw (`_raw`) and converted by C-level
functions only where needed; people are keyed by their raw id until the ranking has chosen the few it returns."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections import defaultdict

from typing import Any

from sqlalchemy import ColumnElement, String, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from services.matching.domain.eligibility import Criterion
from services.matching.domain.placements import Span
from services.matching.domain.ranking import (
    BeneficiaryView,
    LotView,
    StructureView,
    rank_beneficiaries,
    rank_structures,
)
from services.matching.models import Beneficiary, CriterionCheck, LotRef, MarketRef, Placement, Structure
from services.matching.schemas import BeneficiaryCandidate, CandidatesOut, StructureCandidate
from shared.errors import DomainError, NotFound
from shared.service import ServiceContext


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
    if qpv_priority is not None:
        weights = dataclasses.replace(weights, qpv_priority=qpv_priority)
    structures = rank_structures(view, await structure_views(session, day), territory, weights, modality)
    people = rank_beneficiaries(view, await beneficiary_views(session), territory, ctx.extras["policy"], weights, day)
    return CandidatesOut(
        lot_id=lot.lot_id,
        on=day,
        modality=modality,
        qpv_priority=weights.qpv_priority,
        structures=[StructureCandidate(id=c.id, score=c.score, reasons=c.reasons, **c.extra) for c in structures[:n]],
        beneficiaries=[
            BeneficiaryCandidate(id=public_id(c.id), score=c.score, reasons=c.reasons, eligible=c.eligible,
                                 status=c.status)
            for c in people[:n]
        ],
    )


async def lot_view(session: AsyncSession, lot: LotRef) -> LotView:
    market = await session.get(MarketRef, lot.market_id)
    return LotView(lot.lot_id, lot.sector, lot.start_date, lot.end_date, market.commune_insee if market else None)


async def structure_views(session: AsyncSession, on: dt.date) -> list[StructureView]:
    """Active structures with the number of people they carry in placements still running on `on`."""
    p = Placement.__table__.c
    running = (p.ended_on.is_(None) | (p.ended_on >= on)) & (p.end_date.is_(None) | (p.end_date >= on))
    in_use = dict(
        (await session.execute(
            select(p.structure_id, func.count()).where(p.structure_id.is_not(None), running).group_by(p.structure_id)
        )).all()
    )
    s = Structure.__table__.c
    rows = (await session.execute(
        select(s.id, s.name, s.kind, s.sectors, s.modalities, s.served, s.capacity).where(s.active.is_(True))
    )).all()
    return [
        StructureView(r.id, r.name, r.kind, frozenset(r.sectors), frozenset(r.modalities), frozenset(r.served),
                      r.capacity, in_use.get(r.id, 0))
        for r in rows
    ]


def _raw(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """The column as the driver gives it (SQLite: text; PostgreSQL: native uuid/date objects)."""
    return type_coerce(column, String)


def _day(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def public_id(raw: Any) -> uuid.UUID:
    return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))


async def beneficiary_views(session: AsyncSession) -> list[BeneficiaryView]:
    """Every person still on file (not erased), with their checks, first clause start and placements.
    The views' ids are raw keys: turn the ones you keep into UUIDs with `public_id`."""
    c = CriterionCheck.__table__.c
    criteria: dict[Any, list[Criterion]] = defaultdict(list)
    for key, code, checked in (await session.execute(
        select(_raw(c.beneficiary_id), c.code, _raw(c.checked_on))
    )).all():
        criteria[key].append(Criterion(code, _day(checked)))
    p = Placement.__table__.c
    spans: dict[Any, list[Span]] = defaultdict(list)
    first: dict[Any, dt.date] = {}
    for key, start, end, ended, full_time in (await session.execute(
        select(_raw(p.beneficiary_id), _raw(p.start_date), _raw(p.end_date), _raw(p.ended_on), p.full_time)
    )).all():
        start = _day(start)
        spans[key].append(Span(start, _day(ended) or _day(end), full_time))
        if key not in first or start < first[key]:
            first[key] = start
    b = Beneficiary.__table__.c
    rows = (await session.execute(
        select(_raw(b.id), b.sectors, b.commune_insee, b.qpv).where(b.erased_on.is_(None))
    )).all()
    no_checks: tuple[Criterion, ...] = ()
    return [
        BeneficiaryView(key, frozenset(sectors), commune, qpv, tuple(criteria.get(key, no_checks)), first.get(key),
                        tuple(spans.get(key, ())))
        for key, sectors, commune, qpv in rows
    ]
