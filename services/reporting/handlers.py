"""Consumers of reporting: every event becomes rows of the read model (idempotent, order-insensitive)."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import Envelope, EventSpec, spec_for
from contracts.events.markets import MarketSubmitted
from services.reporting.models import LotView, MarketView
from shared.messaging import Handler
from shared.projection import lot_state_handlers

_LOTS = lot_state_handlers(LotView.__table__)
MARKET_SUBMITTED = spec_for("market.submitted")


async def on_market_submitted(session: AsyncSession, event: MarketSubmitted, envelope: Envelope) -> None:
    values = {k: v for k, v in event.model_dump().items() if k in MarketView.model_fields}
    values["submitted_at"] = envelope.occurred_at
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(MarketView.__table__).values(values).on_conflict_do_nothing())
    await _LOTS[MARKET_SUBMITTED](session, event, envelope)


HANDLERS: dict[EventSpec, Handler] = {**_LOTS, MARKET_SUBMITTED: on_market_submitted}
