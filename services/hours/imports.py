"""Bulk import of monthly statements: read and check every row, then write in chunks.

1. The file is read and every row checked (CPU work in a thread; the database is read in bulk beforehand).
2. Rejected unless every row is valid, or the caller asked to accept the valid rows: then nothing is written.
3. Writing: one transaction per chunk of rows (Core insert of the entries + `hours.recorded` events of up to
   MAX_ENTRIES_PER_EVENT entries each + the import's progress counter), then a last transaction marks the import
   done and publishes the lots' progress. An interrupted import is resumed by sending the same file again: rows
   already recorded with the same hours are skipped, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import secrets
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from contracts.events.hours import MAX_ENTRIES_PER_EVENT
from services.hours import bulk, import_rules, sheets
from services.hours.import_rules import Checked, Key, Known, ParsedRow
from services.hours.models import HourEntryRow, HourImport, LotRef, Placement
from services.hours.schemas import ImportOut, RowError
from services.hours.service import (
    HOURS_RECORDED,
    IS_CURRENT,
    add_to_lot_months,
    hour_entry,
    placement_view,
    policy,
    refresh_progress,
    today,
)
from shared.errors import Conflict, DomainError
from shared.service import ServiceContext

log = logging.getLogger(__name__)
E = HourEntryRow.__table__
IN_CHUNK = 5000  # ids per `IN (...)` query


@dataclass(frozen=True)
class Parsed:
    header: sheets.Header
    items: list[ParsedRow | import_rules.RowProblem]
    placement_ids: set[uuid.UUID]


def parse(data: bytes, filename: str) -> Parsed:
    try:
        stream = sheets.read(data, filename)
        header = next(stream)
        assert isinstance(header, sheets.Header)
        items = list(import_rules.parse_rows(header, stream))  # type: ignore[arg-type]
    except StopIteration:
        raise DomainError(sheets._missing_header_message(), field="file") from None
    except sheets.SheetError as exc:
        raise DomainError(str(exc), field="file") from exc
    ids = {i.placement_id for i in items if isinstance(i, ParsedRow)}
    return Parsed(header, items, ids)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def load_known(
    ctx: ServiceContext, placement_ids: set[uuid.UUID]
) -> tuple[Known, dict[uuid.UUID, Placement], dict[uuid.UUID, LotRef]]:
    """The placements of the file, their lots and their current entries, read in bulk."""
    placements: dict[uuid.UUID, Placement] = {}
    current: dict[Key, int] = {}
    ids = sorted(placement_ids)
    async with ctx.db.session() as session:
        for chunk in _chunks(ids, IN_CHUNK):
            for p in (await session.scalars(select(Placement).where(Placement.placement_id.in_(chunk)))).all():
                placements[p.placement_id] = p
            rows = await session.execute(
                select(E.c.placement_id, E.c.month, E.c.kind, E.c.hundredths)
                .where(E.c.placement_id.in_(chunk), IS_CURRENT)
            )
            current.update({(pid, month, kind): h for pid, month, kind, h in rows.all()})
        lot_ids = sorted({p.lot_id for p in placements.values()})
        lots: dict[uuid.UUID, LotRef] = {}
        for chunk in _chunks(lot_ids, IN_CHUNK):
            found = await session.scalars(select(LotRef).where(LotRef.lot_id.in_(chunk)))
            lots.update({lot.lot_id: lot for lot in found.all()})
    views = {pid: v for pid, p in placements.items() if (v := placement_view(p, lots.get(p.lot_id))) is not None}
    missing = frozenset(pid for pid, p in placements.items() if p.lot_id not in lots)
    return Known(views, missing, current), placements, lots


def _errors(checked: Checked, limit: int) -> tuple[list[RowError], bool]:
    problems = sorted(checked.problems, key=lambda p: p.row)
    return [RowError(row=p.row, column=p.column, message=p.message) for p in problems[:limit]], len(problems) > limit


async def import_file(
    ctx: ServiceContext, data: bytes, filename: str, author: str, accept_valid_rows: bool
) -> tuple[ImportOut, int]:
    """Returns the answer and its HTTP status."""
    settings: Any = ctx.settings
    sha256 = hashlib.sha256(data).hexdigest()
    async with ctx.db.session() as session:
        previous = (await session.scalars(select(HourImport).where(HourImport.sha256 == sha256))).first()
    if previous is not None and previous.status == "done":
        return ImportOut(import_id=previous.id, status="already_imported", accepted=0, rejected=0, errors=[],
                         detail=f"fichier déjà importé le {previous.created_at:%d/%m/%Y à %H:%M} : "
                                "rien n'est ajouté"), 200

    clock = time.perf_counter()
    parsed = await asyncio.to_thread(parse, data, filename)
    parsed_at = time.perf_counter()
    known, placements, lots = await load_known(ctx, parsed.placement_ids)
    loaded_at = time.perf_counter()
    checked = await asyncio.to_thread(import_rules.check_rows, parsed.header, parsed.items, known, policy(ctx), today())
    log.info("import %s : %d lignes lues en %.2f s, base lue en %.2f s, vérifiées en %.2f s", filename,
             len(parsed.items), parsed_at - clock, loaded_at - parsed_at, time.perf_counter() - loaded_at)
    clock = time.perf_counter()
    errors, truncated = _errors(checked, settings.import_max_errors_listed)
    rejected = checked.rejected_rows
    if rejected and not accept_valid_rows:
        return ImportOut(import_id=None, status="rejected", accepted=0, rejected=rejected,
                         already_recorded=checked.already_recorded, errors=errors, errors_truncated=truncated,
                         detail=f"fichier refusé : {rejected} ligne(s) en erreur, aucune heure enregistrée "
                                "(corrigez-les, ou importez avec accept_valid_rows=true)"), 422

    import_id = previous.id if previous is not None else uuid.uuid4()
    await _start(ctx, import_id, sha256, filename, author, len(checked.accepted), previous is not None)
    written = await _write_all(ctx, import_id, checked.accepted, Preparer(ctx, import_id, author, placements, lots))
    log.info("import %s : %d lignes écrites en %.2f s", filename, written, time.perf_counter() - clock)
    async with ctx.db.session() as session, session.begin():
        # With rejected rows the file may come back once they are fixed (e.g. a placement matching had not sent
        # yet): only a file imported whole is refused as "already imported"; rows already recorded are skipped.
        await session.execute(update(HourImport).where(HourImport.id == import_id).values(
            status="done" if rejected == 0 else "partial", accepted=written, rejected=rejected,
            already_recorded=checked.already_recorded, finished_at=dt.datetime.now(dt.UTC)))
        await refresh_progress(session, ctx, {placements[r.placement_id].lot_id for r in checked.accepted})
    detail = f"{written} ligne(s) enregistrée(s)"
    if checked.already_recorded:
        detail += f", {checked.already_recorded} déjà enregistrée(s) à l'identique"
    if rejected:
        detail += f", {rejected} ligne(s) écartée(s)"
    return ImportOut(import_id=import_id, status="accepted", accepted=written, rejected=rejected,
                     already_recorded=checked.already_recorded, errors=errors, errors_truncated=truncated,
                     detail=detail), 200


async def _write_all(ctx: ServiceContext, import_id: uuid.UUID, accepted: Sequence[ParsedRow], prepare: Preparer) -> int:
    """One transaction per chunk, in order; preparing chunk n+1 overlaps the database writing chunk n."""
    written = 0
    writing: asyncio.Task[None] | None = None
    try:
        for chunk in _chunks(accepted, ctx.settings.import_chunk_rows):  # type: ignore[attr-defined]
            prepared = await asyncio.to_thread(prepare, chunk)  # the loop keeps driving the database meanwhile
            if writing is not None:
                await writing
            writing = asyncio.create_task(_write_chunk(ctx, import_id, prepared, written))
            written += len(chunk)
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            writing.cancel()
    return written


async def _start(ctx: ServiceContext, import_id: uuid.UUID, sha256: str, filename: str, author: str, total: int,
                 resumed: bool) -> None:
    async with ctx.db.session() as session, session.begin():
        if resumed:
            await session.execute(update(HourImport).where(HourImport.id == import_id).values(
                status="running", rows_total=total, rows_written=0, author=author))
        else:
            session.add(HourImport(id=import_id, sha256=sha256, filename=filename[:300], author=author[:200],
                                   status="running", rows_total=total))
            try:
                await session.flush()
            except IntegrityError as exc:
                raise Conflict("ce fichier est déjà en cours d'import", field="file") from exc


def time_ordered_ids() -> Callable[[], str]:
    """UUIDv7-shaped ids, as text: 48-bit milliseconds, version 7, variant, random bits, then a 48-bit counter
    (random start). Unique, cheap to make by the million, and they land at the end of the primary-key B-tree."""
    millis = time.time_ns() // 1_000_000
    fixed = (millis << 80) | (0x7 << 76) | (secrets.randbits(12) << 64) | (0b10 << 62) | (secrets.randbits(14) << 48)
    text = f"{fixed:032x}"
    prefix = f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-"
    counter = itertools.count(secrets.randbits(46))
    return lambda: f"{prefix}{next(counter):012x}"


class RecordedBatch(BaseModel):
    """An `hours.recorded` payload whose entries are already in their JSON form (HourEntry's fields): a million
    entries are serialised once, without building a million models. tests/hours checks it validates as
    HoursRecorded."""

    entries: list[dict[str, str | None]]

    def model_dump(self, **_: Any) -> dict[str, Any]:  # type: ignore[override]
        """Already JSON: the envelope takes the entries as they are (pydantic would walk them again)."""
        return {"entries": self.entries}


def _event_base(placement: Placement, lot: LotRef) -> dict[str, str | None]:
    entry = hour_entry(uuid.UUID(int=0), placement, lot, "2000-01", "work", 0).model_dump(mode="json")
    return {k: v for k, v in entry.items() if k not in ("entry_id", "month", "hours", "kind")}


Prepared = tuple[Sequence[ParsedRow], Sequence[Sequence[Any]], list[dict[str, Any]], dict[tuple[uuid.UUID, str], int]]


class Preparer:
    """Turns checked rows into the database's entry rows and the outbox rows of their events (the event fields of
    each placement, once). CPU work only: the import runs it in a worker thread."""

    def __init__(self, ctx: ServiceContext, import_id: uuid.UUID, author: str, placements: dict[uuid.UUID, Placement],
                 lots: dict[uuid.UUID, LotRef]) -> None:
        self.dialect, self.outbox = ctx.db.engine.dialect, ctx.outbox
        self.import_id, self.author = import_id, author
        self.placements, self.lots = placements, lots
        self.bases: dict[uuid.UUID, tuple[uuid.UUID, dict[str, str | None]]] = {}
        self.next_id = time_ordered_ids()
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self, chunk: Sequence[ParsedRow]) -> Prepared:
        records: list[tuple[Any, ...]] = []
        entries: list[dict[str, str | None]] = []
        lot_months: dict[tuple[uuid.UUID, str], int] = {}
        bases, next_id, import_id, author, now = self.bases, self.next_id, self.import_id, self.author, self.now
        for row, placement_id, month, kind, hundredths in chunk:
            known = bases.get(placement_id)
            if known is None:
                placement = self.placements[placement_id]
                known = bases[placement_id] = (placement.lot_id, _event_base(placement, self.lots[placement.lot_id]))
            lot_id, base = known
            entry_id = next_id()
            records.append((entry_id, placement_id, lot_id, month, kind, hundredths, 1, None, None, author, "import",
                            import_id, row, now))
            entries.append({**base, "entry_id": entry_id, "month": month, "kind": kind,
                            "hours": f"{hundredths // 100}.{hundredths % 100:02d}"})
            lot_month = (lot_id, month)
            lot_months[lot_month] = lot_months.get(lot_month, 0) + hundredths
        events = [RecordedBatch.model_construct(entries=list(part)) for part in _chunks(entries, MAX_ENTRIES_PER_EVENT)]
        return chunk, bulk.encode(self.dialect, records), self.outbox.rows(HOURS_RECORDED, events), lot_months


async def _write_chunk(ctx: ServiceContext, import_id: uuid.UUID, prepared: Prepared, written_before: int) -> None:
    chunk, rows, outbox_rows, lot_months = prepared
    try:
        async with ctx.db.session() as session, session.begin():
            await bulk.insert_entries(session, rows)
            await ctx.outbox.add_rows(session, outbox_rows)
            await add_to_lot_months(session, lot_months)
            await session.execute(update(HourImport).where(HourImport.id == import_id).values(
                rows_written=written_before + len(chunk)))
    except IntegrityError as exc:
        raise Conflict(f"import interrompu à la ligne {chunk[0].row} : des heures ont été saisies en même temps pour "
                       f"les mêmes placements ; renvoyez le même fichier pour reprendre (rien ne sera compté deux fois)") from exc
