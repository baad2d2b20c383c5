"""Events matching consumes: the lots and their obligations, from market_intake."""

from __future__ import annotations

from contracts import EventSpec
from services.matching.models import LotRef
from shared.messaging import Handler
from shared.projection import lot_state_handlers

HANDLERS: dict[EventSpec, Handler] = {**lot_state_handlers(LotRef.__table__)}
