"""Keyed, versioned upserts for read models fed by state-carrying events.

Events can arrive out of order (concurrent consumers, redeliveries): a row is replaced only by a newer version,
so applying the same events in any order gives the same table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, spec_for
from contracts.events.markets import LotState, MarketSubmitted
from contracts.events.matching import PlacementEnded, PlacementStarted
from shared.messaging import Handler


async def upsert_newer(session: AsyncSession, table: Table, values: dict[str, Any], *, version: str = "version") -> None:
    """Insert `values`, or overwrite the row with the same primary key when `values[version]` is newer."""
    keys = [c.name for c in table.primary_key.columns]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={k: stmt.excluded[k] for k in values if k not in keys},
        where=table.c[version] < stmt.excluded[version],
    )
    await session.execute(stmt)


LOT_EVENT_TYPES = ("lot.clause_sized", "lot.awarded", "lot.amended", "lot.invoiced", "lot.closed")


def lot_state_handlers(table: Table) -> dict[EventSpec, Handler]:
    """Handlers keeping `table` (primary key `lot_id`, a `version` column, any subset of LotState's fields)
    equal to the newest state of every lot, from `market.submitted` and every `lot.*` event of market_intake."""
    columns = {c.name for c in table.columns}

    async def keep(session: AsyncSession, lot: LotState) -> None:
        await upsert_newer(session, table, {k: v for k, v in lot.model_dump().items() if k in columns})

    async def on_market_submitted(session: AsyncSession, event: MarketSubmitted, _: Envelope) -> None:
        for lot in event.lots:
            await keep(session, lot)

    async def on_lot_event(session: AsyncSession, event: Any, _: Envelope) -> None:
        await keep(session, event.lot)

    return {
        spec_for("market.submitted"): on_market_submitted,
        **{spec_for(t, producer="market_intake"): on_lot_event for t in LOT_EVENT_TYPES},
    }


async def upsert_columns(session: AsyncSession, table: Table, values: dict[str, Any], owned: set[str]) -> None:
    """Insert `values`; on an existing key overwrite only the `owned` columns (the facts this event carries), so
    several events filling in one row may arrive in any order."""
    keys = [c.name for c in table.primary_key.columns]
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(values)
    await session.execute(stmt.on_conflict_do_update(index_elements=keys, set_={k: stmt.excluded[k] for k in owned}))


def placement_handlers(table: Table) -> dict[EventSpec, Handler]:
    """Handlers keeping `table` (primary key `placement_id`; columns lot_id, beneficiary_id, employer_siret,
    structure_id, structure_kind, modality, contract_type, start_date, planned_end_date, ended_on, exit_category)
    filled from matching's `placement.started` and `placement.ended`, whichever arrives first."""

    async def on_started(session: AsyncSession, event: PlacementStarted, _: Envelope) -> None:
        values = {
            "placement_id": event.placement_id,
            "lot_id": event.lot_id,
            "beneficiary_id": event.beneficiary_id,
            "employer_siret": event.employer_siret,
            "structure_id": event.structure_id,
            "structure_kind": event.structure_kind.value if event.structure_kind else None,
            "modality": event.modality.value,
            "contract_type": event.contract_type.value,
            "start_date": event.start_date,
            "planned_end_date": event.end_date,
        }
        await upsert_columns(session, table, values, set(values) - {"placement_id"})

    async def on_ended(session: AsyncSession, event: PlacementEnded, _: Envelope) -> None:
        values = {
            "placement_id": event.placement_id,
            "lot_id": event.lot_id,
            "beneficiary_id": event.beneficiary_id,
            "ended_on": event.end_date,
            "exit_category": event.exit_category.value,
        }
        await upsert_columns(session, table, values, {"ended_on", "exit_category"})

    return {spec_for("placement.started"): on_started, spec_for("placement.ended"): on_ended}
