"""Events hours consumes: the lots and their obligations (market_intake), the placements (matching).

`placement.started` and `placement.ended` each write their own columns of the placement row (insert or update),
so they commute: an end received before its start is kept and completed when the start arrives.
`lot.clause_sized` also keeps the hourly cost the clause was sized with (`lots.sizing_hourly_cost_eur`): only that
event carries it, and it never changes afterwards (an award or an amendment resizes with the same parameters).
`beneficiary.erased` needs nothing here: hours only ever hold the pseudonymous id, and aggregates must survive.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, spec_for
from contracts.events.markets import LotClauseSized, MarketSubmitted
from services.hours import rules
from services.hours.models import LotProgressState, LotRef, Placement
from services.hours.service import refresh_progress
from shared.messaging import Batched, Handler
from shared.projection import lot_state_handlers, placement_handlers
from shared.service import ServiceContext

PLACEMENTS = Placement.__table__
LOTS = LotRef.__table__
CLAUSE_SIZED = spec_for("lot.clause_sized", producer="market_intake")


def lot_handlers() -> dict[EventSpec, Handler]:
    """The lots kept equal to market_intake's newest state; `lot.clause_sized` adds the lot's sizing hourly cost."""
    handlers = lot_state_handlers(LOTS)
    keep_state = handlers[CLAUSE_SIZED]
    assert isinstance(keep_state, Batched)
    costs = (update(LOTS).where(LOTS.c.lot_id == bindparam("b_lot_id"))
             .values(sizing_hourly_cost_eur=bindparam("b_cost")))

    async def on_clause_sized(session: AsyncSession, events: list[tuple[LotClauseSized, Envelope]]) -> None:
        await keep_state.many(session, events)  # inserts the lot when it is not there yet
        rows = [{"b_lot_id": event.lot.lot_id, "b_cost": cost} for event, _ in events
                if (cost := rules.sizing_hourly_cost(event.parameters)) is not None]
        if rows:
            await session.execute(costs, rows)

    return {**handlers, CLAUSE_SIZED: Batched(on_clause_sized, any_order=True)}


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

    return {spec: refreshing(handler) for spec, handler in lot_handlers().items()}


HANDLERS: dict[EventSpec, Handler] = {
    **lot_handlers(),
    **placement_handlers(PLACEMENTS),
}
