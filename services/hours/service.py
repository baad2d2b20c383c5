"""Use cases of hours: each one changes state and writes its events in ONE transaction (outbox)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
import weakref
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from typing import Protocol

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from contracts import spec_for
from contracts.codes import HourKind, LotStatus, Modality, StructureKind
from contracts.events.hours import HourEntry, HoursCorrected, HoursRecorded, LotProgress
from services.hours import rules
from services.hours.models import HourEntryRow, LotMonthHours, LotProgressState, LotRef, Placement
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
LM = LotMonthHours.__table__
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
        subcontracting_hourly_cost_cleaning_eur=s.subcontracting_hourly_cost_cleaning_eur,  # type: ignore[attr-defined]
    )


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def placement_view(p: Placement | None, lot: LotRef | None) -> rules.PlacementView | None:
    """The placement as the rules see it, with its lot's period when the lot is known."""
    if p is None:
        return None
    return rules.PlacementView(p.start_date, p.ended_on or p.planned_end_date, p.modality,
                               lot.start_date if lot is not None else None, lot.end_date if lot is not None else None,
                               p.eligible_until)


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


class Counted(Protocol):
    """What the cap checks need of an entry (a row, or the writer's lighter tuple)."""

    @property
    def kind(self) -> str: ...

    @property
    def hundredths(self) -> int: ...


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


def month_totals(entries: Iterable[Counted], kind: HourKind, hundredths: int) -> tuple[int, int]:
    """The placement's month total and training total once an entry of `kind` has `hundredths`."""
    others = [e for e in entries if e.kind != kind]
    month_total = sum(e.hundredths for e in others) + hundredths
    training = hundredths if kind == HourKind.TRAINING else sum(e.hundredths for e in others if e.kind == HourKind.TRAINING)
    return month_total, training


def refusal(exc: rules.RuleError, status: int = 422) -> DomainError:
    return DomainError(exc.message, field=exc.field, status=status)


def known_placement(placement: Placement | None, lot: LotRef | None) -> tuple[Placement, LotRef]:
    """The placement and its lot, or the refusal of hours on a placement matching or market_intake has not sent."""
    if placement is None or placement.start_date is None:
        raise DomainError(rules.PLACEMENT_UNKNOWN, field="placement_id")
    if lot is None:
        raise DomainError(rules.LOT_UNKNOWN, field="placement_id")
    return placement, lot


async def _placement_and_lot(session: AsyncSession, placement_id: uuid.UUID) -> tuple[Placement, LotRef]:
    placement = await session.get(Placement, placement_id)
    return known_placement(placement, await session.get(LotRef, placement.lot_id) if placement is not None else None)


_SQLITE_WRITERS: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def writing(session: AsyncSession, ctx: ServiceContext) -> AsyncIterator[None]:
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


async def correct(session: AsyncSession, ctx: ServiceContext, entry_id: uuid.UUID, body: CorrectionIn,
                  author: str) -> EntryOut:
    async with writing(session, ctx):
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
        if hundredths > 0:  # cancelling (0 h) only takes hours away: always possible
            rules.check_correction(original.month, kind, placement.modality, lot.start_date, lot.end_date)
            existing = [e for e in await current_month_entries(session, original.placement_id, original.month)]
            rules.check_caps(kind, hundredths, *month_totals(existing, kind, hundredths), policy(ctx))
    except rules.RuleError as exc:
        raise refusal(exc) from exc
    row = HourEntryRow(placement_id=original.placement_id, lot_id=original.lot_id, month=original.month,
                       kind=original.kind, hundredths=hundredths, version=original.version + 1,
                       corrects_id=original.id, reason=body.reason, author=author, source="manual")
    session.add(row)
    await _flush(session, "cette entrée vient d'être corrigée par quelqu'un d'autre : corrigez la dernière version")
    await ctx.outbox.emit(session, HOURS_CORRECTED, HoursCorrected.model_construct(
        entry=hour_entry(row.id, placement, lot, row.month, row.kind, hundredths),
        corrects_entry_id=original.id, reason=""))  # the reason stays here (free text: it may name a person)
    await add_to_lot_months(session, {(row.lot_id, row.month): hundredths - original.hundredths})
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
async def add_to_lot_months(session: AsyncSession, deltas: dict[tuple[uuid.UUID, str], int]) -> None:
    """Add each (lot, month)'s change of counted hours to `lot_month_hours`, in the caller's transaction. In key
    order, so concurrent writers (imports, entries, other replicas) lock the rows in one order: no deadlock.
    One statement run for many rows (compiled once, whatever their number). A decrease (a correction downwards)
    updates the row its entry was counted in: SQLite checks the row an upsert proposes before it sees the conflict,
    so a negative value would break the CHECK (hundredths >= 0)."""
    items = sorted(deltas.items())
    increases = [{"lot_id": lot_id, "month": month, "hundredths": d} for (lot_id, month), d in items if d >= 0]
    if increases:
        statement = upsert_insert(session)(LM)
        await session.execute(statement.on_conflict_do_update(
            index_elements=[LM.c.lot_id, LM.c.month], set_={"hundredths": LM.c.hundredths + statement.excluded.hundredths}),
            increases)
    for (lot_id, month), delta in items:
        if delta < 0:
            await session.execute(update(LM).where(LM.c.lot_id == lot_id, LM.c.month == month)
                                  .values(hundredths=LM.c.hundredths + delta))


def _progress(ctx: ServiceContext, lot: LotRef, monthly: dict[str, int]) -> rules.Progress:
    awarded = lot.status not in (LotStatus.DRAFT, LotStatus.SUBMITTED)
    return rules.progress(lot.owed_hours, lot.start_date, lot.end_date, monthly, today(), policy(ctx).at_risk_margin,
                          awarded=awarded)


async def compute_progress(session: AsyncSession, ctx: ServiceContext, lot: LotRef) -> rules.Progress:
    monthly = dict((await session.execute(select(LM.c.month, LM.c.hundredths).where(LM.c.lot_id == lot.lot_id))).all())
    return _progress(ctx, lot, {m: int(h) for m, h in monthly.items()})


async def hours_by_modality(session: AsyncSession, lot_id: uuid.UUID) -> dict[str, Decimal]:
    """For the progress page only: the events do not carry it, so a new entry does not pay for it."""
    P = Placement.__table__
    by_modality = dict((await session.execute(  # the lot's placements, then their entries (by placement)
        select(P.c.modality, func.sum(E.c.hundredths))
        .select_from(P).join(E, E.c.placement_id == P.c.placement_id)
        .where(P.c.lot_id == lot_id, IS_CURRENT)
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


async def _lock_progress_states(session: AsyncSession, lot_ids: list[uuid.UUID]) -> dict[uuid.UUID, LotProgressState]:
    """The lots' last published flags, created if need be and locked until commit, in lot order (PostgreSQL; SQLite's
    write transactions are serial already): concurrent writers refresh a lot's progress one after the other, each
    seeing the hours committed before it, and a flag change is announced once."""
    await session.execute(upsert_insert(session)(LotProgressState.__table__).on_conflict_do_nothing(),
                          [{"lot_id": lot_id, "target_reached": False, "at_risk": False} for lot_id in lot_ids])
    query = (select(LotProgressState).where(LotProgressState.lot_id.in_(lot_ids)).order_by(LotProgressState.lot_id)
             .with_for_update().execution_options(populate_existing=True))
    return {state.lot_id: state for state in (await session.scalars(query)).all()}


async def sweep_progress(session: AsyncSession, ctx: ServiceContext) -> int:
    """A month closing moves a lot's pace with no hour written (`rules.progress` paces the closed months): a lot
    where nothing is declared falls behind, and is exactly the one to chase. Each day the service recomputes the
    at-risk flag of every awarded lot and refreshes those whose flag changed (`lot.progressed`, `lot.at_risk`).
    Returns how many. Replicas may sweep at once: a flag change is announced once (`refresh_progress` locks it)."""
    LP = LotProgressState.__table__
    async with writing(session, ctx):
        lots = (await session.scalars(select(LotRef).where(LotRef.status == LotStatus.AWARDED))).all()
        published = dict((await session.execute(select(LP.c.lot_id, LP.c.at_risk))).all())
        monthly: dict[uuid.UUID, dict[str, int]] = {lot.lot_id: {} for lot in lots}
        for lot_id, month, hundredths in (await session.execute(select(LM.c.lot_id, LM.c.month, LM.c.hundredths))):
            if lot_id in monthly:
                monthly[lot_id][month] = int(hundredths)
        changed = [lot.lot_id for lot in lots
                   if _progress(ctx, lot, monthly[lot.lot_id]).at_risk != published.get(lot.lot_id, False)]
        if changed:
            await refresh_progress(session, ctx, changed)
        await session.commit()
    return len(changed)


async def refresh_progress(session: AsyncSession, ctx: ServiceContext, lot_ids: Iterable[uuid.UUID]) -> None:
    """Emit `lot.progressed` for each lot, and `lot.target_reached` / `lot.at_risk` when that flag changed. A few
    statements whatever the number of lots (a batch of entries, an import, an amendment)."""
    await session.flush()
    wanted = sorted(set(lot_ids))
    for start in range(0, len(wanted), 1000):
        await _refresh_lots(session, ctx, wanted[start:start + 1000])


async def _refresh_lots(session: AsyncSession, ctx: ServiceContext, lot_ids: list[uuid.UUID]) -> None:
    lots = {lot.lot_id: lot for lot in (await session.scalars(select(LotRef).where(LotRef.lot_id.in_(lot_ids)))).all()}
    known = [lot_id for lot_id in lot_ids if lot_id in lots]
    if not known:
        return
    states = await _lock_progress_states(session, known)
    monthly: dict[uuid.UUID, dict[str, int]] = {lot_id: {} for lot_id in known}
    found = await session.execute(select(LM.c.lot_id, LM.c.month, LM.c.hundredths).where(LM.c.lot_id.in_(known)))
    for lot_id, month, hundredths in found.all():
        monthly[lot_id][month] = int(hundredths)
    rows: list[dict[str, object]] = []
    for lot_id in known:
        result, state = _progress(ctx, lots[lot_id], monthly[lot_id]), states[lot_id]
        event = LotProgress.model_construct(
            lot_id=lot_id, owed_hours=result.owed, realised_hours=result.realised, percent=result.percent,
            forecast_hours=result.forecast, at_risk=result.at_risk, as_of=today())
        rows += ctx.outbox.rows(LOT_PROGRESSED, [event])
        if result.target_reached and not state.target_reached:
            rows += ctx.outbox.rows(LOT_TARGET_REACHED, [event])
        if result.at_risk != state.at_risk:
            rows += ctx.outbox.rows(LOT_AT_RISK, [event])
        state.target_reached, state.at_risk = result.target_reached, result.at_risk
    await ctx.outbox.add_rows(session, rows)
