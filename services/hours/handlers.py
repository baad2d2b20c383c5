"""Events hours consumes: the lots and their obligations (market_intake), the placements (matching).

`placement.started` and `placement.ended` each write their own columns of the placement row (insert or update),
so they commute: an end received before its start is kept and completed when the start arrives.
`beneficiary.erased` needs nothing here: hours only ever hold the pseudonymous id, and aggregates must survive.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, spec_for
from contracts.events.markets import MarketSubmitted
from contracts.events.matching import PlacementEnded, PlacementStarted
from services.hours.models import LotProgressState, LotRef, Placement
from services.hours.service import refresh_progress
from shared.messaging import Handler
from shared.projection import lot_state_handlers
from shared.service import ServiceContext

PLACEMENTS = Placement.__table__


async def _upsert(session: AsyncSession, values: dict[str, Any], owned: list[str]) -> None:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(PLACEMENTS).values(values)
    stmt = stmt.on_conflict_do_update(index_elements=["placement_id"], set_={k: stmt.excluded[k] for k in owned})
    await session.execute(stmt)


async def on_placement_started(session: AsyncSession, event: PlacementStarted, _: Envelope) -> None:
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
    await _upsert(session, values, [k for k in values if k != "placement_id"])


async def on_placement_ended(session: AsyncSession, event: PlacementEnded, _: Envelope) -> None:
    values = {
        "placement_id": event.placement_id,
        "lot_id": event.lot_id,
        "beneficiary_id": event.beneficiary_id,
        "ended_on": event.end_date,
        "exit_category": event.exit_category.value,
    }
    await _upsert(session, values, ["ended_on", "exit_category"])


def progress_refreshing_lot_handlers(ctx: ServiceContext) -> dict[EventSpec, Handler]:
    """The lot handlers, followed by a progress refresh when the lot already has hours: an amendment or an invoice
    changes the obligation, hence the percent and maybe the alerts (`lot.at_risk`, `lot.target_reached`)."""
    def refreshing(handler: Handler) -> Handler:
        async def handle(session: AsyncSession, event: Any, envelope: Envelope) -> None:
            await handler(session, event, envelope)
            lots = [lot.lot_id for lot in event.lots] if isinstance(event, MarketSubmitted) else [event.lot.lot_id]
            followed = (await session.scalars(
                select(LotProgressState.lot_id).where(LotProgressState.lot_id.in_(lots)))).all()
            if followed:
                await refresh_progress(session, ctx, followed)

        return handle

    return {spec: refreshing(handler) for spec, handler in lot_state_handlers(LotRef.__table__).items()}


HANDLERS: dict[EventSpec, Handler] = {
    **lot_state_handlers(LotRef.__table__),
    spec_for("placement.started"): on_placement_started,
    spec_for("placement.ended"): on_placement_ended,
}
