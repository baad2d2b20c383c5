"""Helpers of the hours tests: lots and placements as market_intake and matching publish them."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

from harness import published_events

from sqlalchemy import exists, func, select

from contracts import Envelope, new_envelope, spec_for
from contracts.codes import LotStatus
from contracts.events.markets import LotAwarded, MarketSubmitted
from contracts.events.matching import PlacementEnded, PlacementStarted
from examples import market_submitted
from services.hours.handlers import HANDLERS

ETTI_SIRET = "44306184100047"
COMPANY_SIRET = "55210055400013"


def placement_started(lot_id: uuid.UUID, **changes: Any) -> PlacementStarted:
    values: dict[str, Any] = {
        "placement_id": uuid.uuid4(),
        "lot_id": lot_id,
        "beneficiary_id": uuid.uuid4(),
        "employer_siret": COMPANY_SIRET,
        "structure_id": uuid.uuid4(),
        "structure_kind": "ETTI",
        "modality": "provision",
        "contract_type": "INTERIM",
        "start_date": dt.date(2026, 2, 1),
        "end_date": None,
    }
    values.update(changes)
    return PlacementStarted(**values)


def placement_ended(started: PlacementStarted, end_date: dt.date) -> PlacementEnded:
    return PlacementEnded(placement_id=started.placement_id, lot_id=started.lot_id,
                          beneficiary_id=started.beneficiary_id, end_date=end_date, exit_category="durable_job")


def envelope(event_type: str, data: Any, producer: str) -> Envelope:
    return new_envelope(event_type, 1, producer, data)


async def apply(ctx: Any, event_type: str, data: Any, producer: str) -> None:
    """Apply one event through the service's own handler, in one transaction (as the bus does)."""
    spec = spec_for(event_type, producer=producer)
    async with ctx.db.session() as session, session.begin():
        await HANDLERS[spec](session, data, envelope(event_type, data, producer))


async def seed_lot(ctx: Any, lots: int = 1, awarded: bool = True, **changes: Any) -> MarketSubmitted:
    """A market as market_intake announces it; its lots then awarded (people are placed on awarded lots only)."""
    market = market_submitted(lots)
    market.lots = [lot.model_copy(update=changes) for lot in market.lots]
    await apply(ctx, "market.submitted", market, "market_intake")
    if awarded:
        for lot in market.lots:
            state = lot.model_copy(update={"status": LotStatus.AWARDED, "version": lot.version + 1,
                                           "company_siret": "44306184100047", "company_name": "Bâtiment Rennais"})
            award = LotAwarded(lot=state, company_siret="44306184100047", company_name="Bâtiment Rennais",
                               awarded_amount_eur=lot.amount_eur)
            await apply(ctx, "lot.awarded", award, "market_intake")
        market.lots = [lot.model_copy(update={"status": LotStatus.AWARDED, "version": lot.version + 1}) for lot in market.lots]
    return market


async def seed_placements(ctx: Any, lot_id: uuid.UUID, count: int = 1, **changes: Any) -> list[PlacementStarted]:
    events = [placement_started(lot_id, **changes) for _ in range(count)]
    spec = spec_for("placement.started")
    async with ctx.db.session() as session, session.begin():
        for event in events:
            await HANDLERS[spec](session, event, envelope("placement.started", event, "matching"))
    return events


async def count_rows(ctx: Any, table_name: str) -> int:
    table = ctx.tables.outbox.metadata.tables[table_name]
    async with ctx.db.session() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def snapshot(ctx: Any) -> dict[str, int]:
    """Row counts of everything an import may write, the lots' monthly totals, and the number of events the service
    has published."""
    counts = {name: await count_rows(ctx, name)
              for name in ("hour_entries", "hour_imports", "lot_progress_state", "lot_month_hours")}
    stored, _ = await lot_month_totals(ctx)
    return {**counts, "lot_month_hundredths": sum(stored.values()), "events": len(await published_events(ctx))}


async def lot_month_totals(ctx: Any) -> tuple[dict[tuple[Any, str], int], dict[tuple[Any, str], int]]:
    """(kept, recomputed): the `lot_month_hours` the writers maintain, and the same totals summed from the current
    entries (those no other entry corrects)."""
    tables = ctx.tables.outbox.metadata.tables
    entries, totals = tables["hour_entries"], tables["lot_month_hours"]
    corrector = entries.alias("corrector")
    current = ~exists(select(corrector.c.id).where(corrector.c.corrects_id == entries.c.id))
    async with ctx.db.session() as session:
        kept = {(lot, month): h for lot, month, h in
                (await session.execute(select(totals.c.lot_id, totals.c.month, totals.c.hundredths))).all()}
        summed = {(lot, month): int(h) for lot, month, h in (await session.execute(
            select(entries.c.lot_id, entries.c.month, func.sum(entries.c.hundredths)).where(current)
            .group_by(entries.c.lot_id, entries.c.month))).all()}
    return kept, summed


def csv_bytes(rows: list[list[str]], *, sep: str = ";", bom: bool = False, encoding: str = "utf-8",
              header: list[str] | None = None) -> bytes:
    lines = [sep.join(header or ["placement", "mois", "heures", "type"])] + [sep.join(r) for r in rows]
    data = ("\r\n".join(lines) + "\r\n").encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


async def post_file(client: Any, data: bytes, filename: str = "releve.csv", accept_valid_rows: bool = False) -> Any:
    form = {"accept_valid_rows": "true"} if accept_valid_rows else {}
    return await client.post("/hours/imports", files={"file": (filename, io.BytesIO(data))}, data=form)
