"""Use cases of hours: each one changes state and writes its events in ONE transaction (outbox)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
import weakref
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from contracts import spec_for
from contracts.codes import HourKind, LotStatus, Modality, StructureKind
from contracts.events.hours import HourEntry, HoursCorrected, HoursRecorded, LotProgress
from services.hours import rules
from services.hours.models import HourEntryRow, LotProgressState, LotRef, Placement
from services.hours.schemas import CorrectionIn, EntryOut, HoursIn, MonthPoint, ProgressOut
from shared.db import Database, upsert_insert
from shared.errors import Conflict, DomainError, NotFound
from shared.service import ServiceContext

HOURS_RECORDED = spec_for("hours.recorded")
HOURS_CORRECTED = spec_for("hours.corrected")
LOT_PROGRESSED = spec_for("lot.progressed", producer="hours")
LOT_TARGET_REACHED = spec_for("lot.target_reached", producer="hours")
LOT_AT_RISK = spec_for("lot.at_risk", producer="hours")

E = HourEntryRow.__table__
_corrector = E.alias("corrector")
# An entry is current when no other entry corrects it.
IS_CURRENT = ~exists(select(_corrector.c.id).where(_corrector.c.corrects_id == E.c.id))


def policy(ctx: ServiceContext) -> rules.Policy:
    s = ctx.settings
    return rules.Policy(
        monthly_cap_hours=s.monthly_cap_hours,  # type: ignore[attr-defined]
        training_allowed=s.training_allowed,  # type: ignore[attr-defined]
        training_monthly_cap_hours=s.training_monthly_cap_hours,  # type: ignore[attr-defined]
        at_risk_margin=s.at_risk_margin,  # type: ignore[attr-defined]
        subcontracting_hourly_cost_eur=s.subcontracting_hourly_cost_eur,  # type: ignore[attr-defined]
    )


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def placement_view(p: Placement | None) -> rules.PlacementView | None:
    if p is None:
        return None
    return rules.PlacementView(p.start_date, p.ended_on or p.planned_end_date, p.modality)


def hour_entry(entry_id: uuid.UUID, placement: Placement, lot: LotRef, month: str, kind: str, hundredths: int) -> HourEntry:
    """The event form of an entry: everything reporting needs, the person as a pseudonymous id only."""
    return HourEntry.model_construct(
        entry_id=entry_id,
        placement_id=placement.placement_id,
        beneficiary_id=placement.beneficiary_id,
        lot_id=lot.lot_id,
        market_id=lot.market_id,
        buyer_id=lot.buyer_id,
        employer_siret=placement.employer_siret or "",
        structure_id=placement.structure_id,
        structure_kind=StructureKind(placement.structure_kind) if placement.structure_kind else None,
        modality=Modality(placement.modality),
        month=month,
        hours=rules.from_hundredths(hundredths),
        kind=HourKind(kind),
    )


def entry_out(row: HourEntryRow, corrected_by: uuid.UUID | None) -> EntryOut:
    return EntryOut(
        id=row.id, placement_id=row.placement_id, lot_id=row.lot_id, month=row.month, kind=HourKind(row.kind),
        hours=rules.from_hundredths(row.hundredths), version=row.version, corrects_id=row.corrects_id,
        corrected_by=corrected_by, current=corrected_by is None, reason=row.reason, author=row.author,
        source=row.source, import_id=row.import_id, import_row=row.import_row, created_at=row.created_at,
    )


async def current_month_entries(session: AsyncSession, placement_id: uuid.UUID, month: str) -> list[HourEntryRow]:
    query = select(HourEntryRow).where(
        HourEntryRow.placement_id == placement_id, HourEntryRow.month == month, IS_CURRENT
    )
    return list((await session.scalars(query)).all())


def _totals(entries: Iterable[HourEntryRow], kind: HourKind, hundredths: int) -> tuple[int, int]:
    """The placement's month total and training total once an entry of `kind` has `hundredths`."""
    others = [e for e in entries if e.kind != kind]
    month_total = sum(e.hundredths for e in others) + hundredths
    training = hundredths if kind == HourKind.TRAINING else sum(e.hundredths for e in others if e.kind == HourKind.TRAINING)
    return month_total, training


def _refuse(exc: rules.RuleError, status: int = 422) -> DomainError:
    return DomainError(exc.message, field=exc.field, status=status)


async def _placement_and_lot(session: AsyncSession, placement_id: uuid.UUID) -> tuple[Placement, LotRef]:
    placement = await session.get(Placement, placement_id)
    if placement is None or placement.start_date is None:
        raise DomainError(rules.PLACEMENT_UNKNOWN, field="placement_id")
    lot = await session.get(LotRef, placement.lot_id)
    if lot is None:
        raise DomainError(rules.LOT_UNKNOWN, field="placement_id")
    return placement, lot


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def _writing(session: AsyncSession, ctx: ServiceContext) -> AsyncIterator[None]:
    """One use case's write transaction; ends committed by the use case, or rolled back here on any error.
    SQLite has one writer at a time: concurrent entries queue on an asyncio lock, first come first served, instead
    of polling the database lock (SQLite's busy handler sleeps up to 100 ms between tries: p99 of seconds under load)."""
    lock = _SQLITE_WRITERS.setdefault(ctx.db, asyncio.Lock()) if ctx.db.is_sqlite else contextlib.nullcontext()
    async with lock:
        try:
            yield
        except BaseException:
            await session.rollback()
            raise


async def record(session: AsyncSession, ctx: ServiceContext, body: HoursIn, author: str) -> EntryOut:
    async with _writing(session, ctx):
        return await _record(session, ctx, body, author)


async def _record(session: AsyncSession, ctx: ServiceContext, body: HoursIn, author: str) -> EntryOut:
    pol = policy(ctx)
    placement, lot = await _placement_and_lot(session, body.placement_id)
    try:
        rules.check_month(body.month, rules.month_of(today()))
        rules.check_placement(placement_view(placement), body.month)
        if body.amount_eur is not None:
            if not rules.counts_by_amount(placement.modality):
                raise rules.RuleError("amount_eur", "le montant ne se convertit en heures qu'en sous-traitance ou cotraitance")
            hours = rules.hours_from_subcontracted_amount(body.amount_eur, pol)
        else:
            assert body.hours is not None
            hours = body.hours
        hundredths = rules.hours_to_hundredths(hours)
        existing = await current_month_entries(session, placement.placement_id, body.month)
        same = next((e for e in existing if e.kind == body.kind), None)
        if same is not None:
            raise Conflict(f"des heures sont déjà saisies pour ce placement, ce mois et ce type (entrée {same.id}) : "
                           "faites une correction", field="month")
        rules.check_caps(body.kind, hundredths, *_totals(existing, body.kind, hundredths), pol)
    except rules.RuleError as exc:
        raise _refuse(exc) from exc
    row = HourEntryRow(placement_id=placement.placement_id, lot_id=lot.lot_id, month=body.month, kind=body.kind,
                       hundredths=hundredths, author=author, source="manual")
    session.add(row)
    await _flush(session, "des heures viennent d'être saisies pour ce placement, ce mois et ce type")
    await ctx.outbox.emit(session, HOURS_RECORDED, HoursRecorded.model_construct(
        entries=[hour_entry(row.id, placement, lot, row.month, row.kind, hundredths)]))
    await refresh_progress(session, ctx, [lot.lot_id])
    await _commit(session, "des heures viennent d'être saisies pour ce placement, ce mois et ce type")
    return entry_out(row, None)


async def correct(session: AsyncSession, ctx: ServiceContext, entry_id: uuid.UUID, body: CorrectionIn,
                  author: str) -> EntryOut:
    async with _writing(session, ctx):
        return await _correct(session, ctx, entry_id, body, author)


async def _correct(session: AsyncSession, ctx: ServiceContext, entry_id: uuid.UUID, body: CorrectionIn,
                   author: str) -> EntryOut:
    original = await session.get(HourEntryRow, entry_id)
    if original is None:
        raise NotFound("entrée d'heures introuvable")
    later = (await session.scalars(select(HourEntryRow.id).where(HourEntryRow.corrects_id == entry_id))).first()
    if later is not None:
        raise Conflict(f"cette entrée a déjà été corrigée (entrée {later}) : corrigez la dernière version", field="id")
    placement, lot = await _placement_and_lot(session, original.placement_id)
    kind = HourKind(original.kind)
    try:
        hundredths = rules.hours_to_hundredths(body.hours, allow_zero=True)
        existing = [e for e in await current_month_entries(session, original.placement_id, original.month)]
        rules.check_caps(kind, hundredths, *_totals(existing, kind, hundredths), policy(ctx))
    except rules.RuleError as exc:
        raise _refuse(exc) from exc
    row = HourEntryRow(placement_id=original.placement_id, lot_id=original.lot_id, month=original.month,
                       kind=original.kind, hundredths=hundredths, version=original.version + 1,
                       corrects_id=original.id, reason=body.reason, author=author, source="manual")
    session.add(row)
    await _flush(session, "cette entrée vient d'être corrigée par quelqu'un d'autre : corrigez la dernière version")
    await ctx.outbox.emit(session, HOURS_CORRECTED, HoursCorrected.model_construct(
        entry=hour_entry(row.id, placement, lot, row.month, row.kind, hundredths),
        corrects_entry_id=original.id, reason=body.reason))
    await refresh_progress(session, ctx, [lot.lot_id])
    await _commit(session, "cette entrée vient d'être corrigée par quelqu'un d'autre : corrigez la dernière version")
    return entry_out(row, None)


async def _commit(session: AsyncSession, conflict: str) -> None:
    try:
        await session.commit()
    except IntegrityError as exc:  # a concurrent writer won the unique constraint
        raise Conflict(conflict) from exc


async def _flush(session: AsyncSession, conflict: str) -> None:
    """Write the new entry now: on PostgreSQL a concurrent writer of the same key makes it wait, then fail here."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(conflict) from exc


async def history(session: AsyncSession, placement_id: uuid.UUID) -> list[EntryOut]:
    corrector = aliased(HourEntryRow)
    query = (
        select(HourEntryRow, corrector.id)
        .outerjoin(corrector, corrector.corrects_id == HourEntryRow.id)
        .where(HourEntryRow.placement_id == placement_id)
        .order_by(HourEntryRow.month, HourEntryRow.kind, HourEntryRow.version)
    )
    return [entry_out(row, by) for row, by in (await session.execute(query)).all()]


# ---- progress -------------------------------------------------------------------------------------------------------
async def compute_progress(session: AsyncSession, ctx: ServiceContext, lot: LotRef) -> rules.Progress:
    monthly = dict((await session.execute(
        select(E.c.month, func.sum(E.c.hundredths)).where(E.c.lot_id == lot.lot_id, IS_CURRENT).group_by(E.c.month)
    )).all())
    awarded = lot.status not in (LotStatus.DRAFT, LotStatus.SUBMITTED)
    return rules.progress(lot.owed_hours, lot.start_date, lot.end_date, {m: int(h) for m, h in monthly.items()},
                          today(), policy(ctx).at_risk_margin, awarded=awarded)


async def hours_by_modality(session: AsyncSession, lot_id: uuid.UUID) -> dict[str, Decimal]:
    """For the progress page only: the events do not carry it, so a new entry does not pay for it."""
    P = Placement.__table__
    by_modality = dict((await session.execute(
        select(P.c.modality, func.sum(E.c.hundredths))
        .join(P, P.c.placement_id == E.c.placement_id)
        .where(E.c.lot_id == lot_id, IS_CURRENT)
        .group_by(P.c.modality)
    )).all())
    return {str(m): rules.from_hundredths(int(h)) for m, h in by_modality.items()}


def progress_out(lot: LotRef, result: rules.Progress, by_modality: dict[str, Decimal]) -> ProgressOut:
    points, running = [], Decimal(0)
    for month, hours in result.monthly.items():
        running += hours
        points.append(MonthPoint(month=month, hours=hours, cumulated=running))
    return ProgressOut(
        lot_id=lot.lot_id, owed_hours=result.owed, realised_hours=result.realised, percent=result.percent,
        forecast_hours=result.forecast, at_risk=result.at_risk, target_reached=result.target_reached,
        start_date=lot.start_date, end_date=lot.end_date, as_of=today(), monthly=points, by_modality=by_modality,
    )


async def _lock_progress_state(session: AsyncSession, lot_id: uuid.UUID) -> LotProgressState:
    """The lot's last published flags, created if need be and locked until commit (PostgreSQL; SQLite's write
    transactions are serial already): concurrent entries of one lot refresh its progress one after the other, each
    seeing the hours committed before it, and a flag change is announced once."""
    insert = upsert_insert(session)
    await session.execute(insert(LotProgressState.__table__)
                          .values(lot_id=lot_id, target_reached=False, at_risk=False).on_conflict_do_nothing())
    query = select(LotProgressState).where(LotProgressState.lot_id == lot_id)
    return (await session.scalars(query.with_for_update().execution_options(populate_existing=True))).one()


async def refresh_progress(session: AsyncSession, ctx: ServiceContext, lot_ids: Iterable[uuid.UUID]) -> None:
    """Emit `lot.progressed` for each lot, and `lot.target_reached` / `lot.at_risk` when that flag changed."""
    await session.flush()
    for lot_id in sorted(set(lot_ids)):
        lot = await session.get(LotRef, lot_id)
        if lot is None:
            continue
        state = await _lock_progress_state(session, lot_id)
        result = await compute_progress(session, ctx, lot)
        event = LotProgress(lot_id=lot_id, owed_hours=result.owed, realised_hours=result.realised,
                            percent=result.percent, forecast_hours=result.forecast, at_risk=result.at_risk,
                            as_of=today())
        await ctx.outbox.emit(session, LOT_PROGRESSED, event)
        if result.target_reached and not state.target_reached:
            await ctx.outbox.emit(session, LOT_TARGET_REACHED, event)
        if result.at_risk != state.at_risk:
            await ctx.outbox.emit(session, LOT_AT_RISK, event)
        state.target_reached, state.at_risk = result.target_reached, result.at_risk
