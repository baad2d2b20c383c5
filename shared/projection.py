"""Keyed, versioned upserts for read models fed by state-carrying events.

Events can arrive out of order (concurrent consumers, redeliveries): a row is replaced only by a newer version,
so applying the same events in any order gives the same table. The handlers are therefore `Batched(any_order=True)`:
all the events of one type in a consumed batch are upserted by one executemany.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, spec_for
from contracts.events.markets import LotState, MarketSubmitted
from contracts.events.matching import PlacementEnded, PlacementStarted
from shared.db import upsert_insert
from shared.messaging import Batched, Handler


Rows = dict[str, Any] | list[dict[str, Any]]  # one row, or several with the same keys (applied in order)


def _rows(values: Rows) -> list[dict[str, Any]]:
    return [values] if isinstance(values, dict) else values


async def upsert_newer(session: AsyncSession, table: Table, values: Rows, *, version: str = "version") -> None:
    """Insert `values`, or overwrite the row with the same primary key when `values[version]` is newer."""
    rows = _rows(values)
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    insert = upsert_insert(session)
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={k: stmt.excluded[k] for k in rows[0] if k not in keys},
        where=table.c[version] < stmt.excluded[version],
    )
    await session.execute(stmt, rows)  # executemany: one statement for the whole batch


LOT_EVENT_TYPES = ("lot.clause_sized", "lot.awarded", "lot.amended", "lot.invoiced", "lot.closed")


def lot_state_handlers(table: Table) -> dict[EventSpec, Handler]:
    """Handlers keeping `table` (primary key `lot_id`, a `version` column, any subset of LotState's fields)
    equal to the newest state of every lot, from `market.submitted` and every `lot.*` event of market_intake."""
    columns = {c.name for c in table.columns}

    async def keep(session: AsyncSession, lots: list[LotState]) -> None:
        await upsert_newer(session, table, [{k: v for k, v in lot.model_dump().items() if k in columns} for lot in lots])

    async def on_market_submitted(session: AsyncSession, events: list[tuple[MarketSubmitted, Envelope]]) -> None:
        await keep(session, [lot for event, _ in events for lot in event.lots])

    async def on_lot_event(session: AsyncSession, events: list[tuple[Any, Envelope]]) -> None:
        await keep(session, [event.lot for event, _ in events])

    lot_event = Batched(on_lot_event, any_order=True)
    return {
        spec_for("market.submitted"): Batched(on_market_submitted, any_order=True),
        **{spec_for(t, producer="market_intake"): lot_event for t in LOT_EVENT_TYPES},
    }


async def upsert_columns(session: AsyncSession, table: Table, values: Rows, owned: set[str]) -> None:
    """Insert `values`; on an existing key overwrite only the `owned` columns (the facts this event carries), so
    several events filling in one row may arrive in any order."""
    rows = _rows(values)
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    insert = upsert_insert(session)
    stmt = insert(table)
    await session.execute(stmt.on_conflict_do_update(index_elements=keys, set_={k: stmt.excluded[k] for k in owned}),
                          rows)


def placement_handlers(table: Table) -> dict[EventSpec, Handler]:
    """Handlers keeping `table` (primary key `placement_id`; columns lot_id, beneficiary_id, employer_siret,
    structure_id, structure_kind, modality, contract_type, start_date, planned_end_date, ended_on, exit_category;
    optionally eligible_until) filled from matching's `placement.started` and `placement.ended`, whichever arrives
    first. As `lot_state_handlers`, it writes the fields of the event the table has columns for."""
    columns = {c.name for c in table.columns}

    def started(event: PlacementStarted) -> dict[str, Any]:
        return {
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
            "eligible_until": event.eligible_until,
        }

    def ended(event: PlacementEnded) -> dict[str, Any]:
        return {
            "placement_id": event.placement_id,
            "lot_id": event.lot_id,
            "beneficiary_id": event.beneficiary_id,
            "ended_on": event.end_date,
            "exit_category": event.exit_category.value,
        }

    async def on_started(session: AsyncSession, events: list[tuple[PlacementStarted, Envelope]]) -> None:
        rows = [{k: v for k, v in started(e).items() if k in columns} for e, _ in events]
        await upsert_columns(session, table, rows, set(rows[0]) - {"placement_id"})

    async def on_ended(session: AsyncSession, events: list[tuple[PlacementEnded, Envelope]]) -> None:
        await upsert_columns(session, table, [ended(e) for e, _ in events], {"ended_on", "exit_category"})

    return {spec_for("placement.started"): Batched(on_started, any_order=True),
            spec_for("placement.ended"): Batched(on_ended, any_order=True)}
