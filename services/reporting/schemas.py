"""Response models of reporting."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel


class LotReport(BaseModel):
    lot_id: uuid.UUID
    number: int
    title: str
    sector: str
    clause_kind: str
    status: str
    start_date: dt.date
    end_date: dt.date
    owed_hours: Decimal
    company_name: str | None


class MarketReport(BaseModel):
    market_id: uuid.UUID
    buyer_id: uuid.UUID
    buyer_name: str
    reference: str
    title: str
    owed_hours: Decimal
    lots: list[LotReport]
