"""Single entries (`POST /hours`) written together: group commit.

An entry waits in a queue; one task writes the waiting entries in ONE transaction (each checked as if alone, in
arrival order, against the database and the entries before it in the same batch), and the entries that arrive while
it writes go in the next one. The transaction holds the entries, one `hours.recorded` event for the batch, the
lots' monthly totals and one `lot.progressed` per lot (with `lot.target_reached` / `lot.at_risk` on change): the
cost of a transaction, of a progress refresh and of an event is paid once per batch instead of once per entry.
An entry refused by a rule gets its own French error and leaves the others untouched. If the database refuses the
batch on a uniqueness constraint (another process wrote one of its keys meanwhile), each entry of the batch is
written again alone, so only the one that collided gets its 409. Decision 0007.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts.codes import HourKind
from contracts.events.hours import MAX_ENTRIES_PER_EVENT, HoursRecorded
from services.hours import rules
from services.hours.models import LotRef, Placement
from services.hours.schemas import EntryOut, HoursIn
from services.hours.service import (
    HOURS_RECORDED,
    IS_CURRENT,
    E,
    add_to_lot_months,
    hour_entry,
    known_placement,
    month_totals,
    placement_view,
    policy,
    refresh_progress,
    refusal,
    today,
    writing,
)
from shared.errors import Conflict, DomainError
from shared.service import ServiceContext

log = logging.getLogger(__name__)
MAX_BATCH = 256
CONCURRENT = "des heures viennent d'être saisies pour ce placement, ce mois et ce type"


class Current(NamedTuple):
    """A current entry of a (placement, month), as the checks need it."""

    id: uuid.UUID
    kind: str
    hundredths: int


def checked_entry(body: HoursIn, placement: Placement | None, lot: LotRef | None, month_entries: Sequence[Current],
                  pol: rules.Policy, current_month: str) -> tuple[HourKind, int]:
    """The kind and hundredths a new entry would record, or the refusal (DomainError, Conflict) naming its field.
    Pure."""
    placement, lot = known_placement(placement, lot)
    try:
        rules.check_month(body.month, current_month)
        rules.check_placement(placement_view(placement, lot), body.month)
        kind = rules.entry_kind(body.kind, placement.modality)
        if body.amount_eur is not None:
            if not rules.counts_by_amount(placement.modality):
                raise rules.RuleError("amount_eur", "le montant ne se convertit en heures qu'en sous-traitance ou cotraitance")
            cost = rules.subcontracting_hourly_cost(lot.sizing_hourly_cost_eur, lot.sector, pol)
            hours = rules.hours_from_subcontracted_amount(body.amount_eur, cost)
        else:
            assert body.hours is not None
            hours = body.hours
        hundredths = rules.hours_to_hundredths(hours)
        same = next((e for e in month_entries if e.kind == kind), None)
        if same is not None:
            raise Conflict(f"des heures sont déjà saisies pour ce placement, ce mois et ce type (entrée {same.id}) : "
                           "faites une correction", field="month")
        rules.check_caps(kind, hundredths, *month_totals(month_entries, kind, hundredths), pol)
    except rules.RuleError as exc:
        raise refusal(exc) from exc
    return kind, hundredths


async def record_batch(session: AsyncSession, ctx: ServiceContext, items: Sequence[tuple[HoursIn, str]]
                       ) -> list[EntryOut | DomainError]:
    """Write the acceptable entries of `items` (body, author) in the caller's transaction; one outcome per item."""
    pol, current_month, now = policy(ctx), rules.month_of(today()), dt.datetime.now(dt.UTC)
    placement_ids = {body.placement_id for body, _ in items}
    placements = {p.placement_id: p for p in
                  (await session.scalars(select(Placement).where(Placement.placement_id.in_(placement_ids)))).all()}
    lot_ids = {p.lot_id for p in placements.values()}
    lots = {lot.lot_id: lot for lot in (await session.scalars(select(LotRef).where(LotRef.lot_id.in_(lot_ids)))).all()}
    month_entries: dict[tuple[uuid.UUID, str], list[Current]] = {}
    found = await session.execute(
        select(E.c.id, E.c.placement_id, E.c.month, E.c.kind, E.c.hundredths)
        .where(E.c.placement_id.in_(placement_ids), E.c.month.in_({body.month for body, _ in items}), IS_CURRENT))
    for entry_id, placement_id, month, kind, hundredths in found.all():
        month_entries.setdefault((placement_id, month), []).append(Current(entry_id, kind, hundredths))

    outcomes: list[EntryOut | DomainError] = []
    rows, events, deltas = [], [], {}
    for body, author in items:
        placement = placements.get(body.placement_id)
        lot = lots.get(placement.lot_id) if placement is not None else None
        key = (body.placement_id, body.month)
        try:
            kind, hundredths = checked_entry(body, placement, lot, month_entries.get(key, ()), pol, current_month)
        except DomainError as exc:
            outcomes.append(exc)
            continue
        assert placement is not None and lot is not None
        entry_id = uuid.uuid4()
        month_entries.setdefault(key, []).append(Current(entry_id, kind, hundredths))
        rows.append({"id": entry_id, "placement_id": placement.placement_id, "lot_id": lot.lot_id, "month": body.month,
                     "kind": kind.value, "hundredths": hundredths, "version": 1, "corrects_id": None,
                     "reason": None, "author": author, "source": "manual", "import_id": None, "import_row": None,
                     "created_at": now})
        events.append(hour_entry(entry_id, placement, lot, body.month, kind, hundredths))
        deltas[(lot.lot_id, body.month)] = deltas.get((lot.lot_id, body.month), 0) + hundredths
        outcomes.append(EntryOut(
            id=entry_id, placement_id=placement.placement_id, lot_id=lot.lot_id, month=body.month, kind=kind,
            hours=rules.from_hundredths(hundredths), version=1, corrects_id=None, corrected_by=None, current=True,
            reason=None, author=author, source="manual", import_id=None, import_row=None, created_at=now))
    if rows:
        await session.execute(insert(E), rows)
        await ctx.outbox.emit_many(session, HOURS_RECORDED, [
            HoursRecorded.model_construct(entries=events[i:i + MAX_ENTRIES_PER_EVENT])
            for i in range(0, len(events), MAX_ENTRIES_PER_EVENT)])
        await add_to_lot_months(session, deltas)
        await refresh_progress(session, ctx, {lot_id for lot_id, _ in deltas})
    return outcomes


@dataclass
class _Waiting:
    body: HoursIn
    author: str
    future: asyncio.Future[EntryOut]


class EntryWriter:
    """The queue of single entries of one service; `record` returns once its entry is committed (or refused)."""

    def __init__(self, ctx: ServiceContext, max_batch: int = MAX_BATCH) -> None:
        self.ctx, self.max_batch = ctx, max_batch
        self.waiting: list[_Waiting] = []
        self.draining: asyncio.Task[None] | None = None

    async def record(self, body: HoursIn, author: str) -> EntryOut:
        future: asyncio.Future[EntryOut] = asyncio.get_running_loop().create_future()
        self.waiting.append(_Waiting(body, author, future))
        if self.draining is None or self.draining.done():
            self.draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self.waiting:
            batch = [w for w in self.waiting[:self.max_batch] if not w.future.cancelled()]
            del self.waiting[:self.max_batch]
            try:
                if batch:
                    await self._write(batch)
            except BaseException as exc:  # never leave a request waiting for an answer
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    async def _write(self, batch: list[_Waiting]) -> None:
        try:
            outcomes: Sequence[EntryOut | BaseException] = await self._transaction(batch)
        except IntegrityError:
            if len(batch) > 1:  # a writer elsewhere took one of the keys: find which, one entry at a time
                for waiting in batch:
                    await self._write([waiting])
                return
            outcomes = [Conflict(CONCURRENT)]
        except Exception as exc:  # the database is unreachable...: every waiting request fails with it
            log.warning("lot de %d saisies non écrit : %r", len(batch), exc)
            outcomes = [exc] * len(batch)
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if waiting.future.done():
                continue
            if isinstance(outcome, BaseException):
                waiting.future.set_exception(outcome)
            else:
                waiting.future.set_result(outcome)

    async def _transaction(self, batch: list[_Waiting]) -> list[EntryOut | DomainError]:
        async with self.ctx.db.session() as session, writing(session, self.ctx):
            outcomes = await record_batch(session, self.ctx, [(w.body, w.author) for w in batch])
            await session.commit()
        return outcomes


def entry_writer(ctx: ServiceContext) -> EntryWriter:
    writer = ctx.extras.get("entry_writer")
    if writer is None:
        writer = ctx.extras["entry_writer"] = EntryWriter(ctx)
    return writer
