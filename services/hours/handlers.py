"""Events hours consumes: the lots and their obligations (market_intake), the placements (matching).

`placement.started` and `placement.ended` each write their own columns of the placement row (insert or update),
so they commute: an end received before its start is kept and completed when the start arrives.
`beneficiary.erased` needs nothing here: hours only ever hold the pseudonymous id, and aggregates must survive.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, spec_for
from contracts.events.markets import MarketSubmitted
from services.hours.models import LotProgressState, LotRef, Placement
from services.hours.service import refresh_progress
from shared.messaging import Handler
from shared.projection import lot_state_handlers, placement_handlers
from shared.service import ServiceContext

PLACEMENTS = Placement.__table__


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
    **placement_handlers(PLACEMENTS),
}
