"""Events matching consumes: the lots and their obligations, and where each market takes place, from market_intake.

Both tables are keyed and order-insensitive: lots keep their newest version, a market's commune never changes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, spec_for
from contracts.events.markets import MarketSubmitted
from services.matching.models import LotRef, MarketRef
from shared.messaging import Handler
from shared.projection import lot_state_handlers

MARKET_SUBMITTED = spec_for("market.submitted")
_LOTS = lot_state_handlers(LotRef.__table__)


async def on_market_submitted(session: AsyncSession, event: MarketSubmitted, envelope: Envelope) -> None:
    await _LOTS[MARKET_SUBMITTED](session, event, envelope)
    if await session.get(MarketRef, event.market_id) is None:
        session.add(MarketRef(market_id=event.market_id, commune_insee=event.commune_insee))
        await session.flush()


HANDLERS: dict[EventSpec, Handler] = {**_LOTS, MARKET_SUBMITTED: on_market_submitted}
