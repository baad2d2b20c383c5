"""Events of market_intake (stream MARKETS).

Every lot event carries the lot's whole current state (`LotState`) with a `version` that grows by one at each change,
so a consumer keeps the newest state whatever order it receives the events in.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, Field

from contracts.codes import BuyerKind, ClauseKind, LotStatus, Sector, SizingMethod


class LotState(BaseModel):
    lot_id: uuid.UUID
    market_id: uuid.UUID
    buyer_id: uuid.UUID
    number: int
    title: str
    sector: Sector
    clause_kind: ClauseKind
    method: SizingMethod
    amount_eur: Decimal = Field(description="current amount excl. VAT: estimated, then awarded, then amended")
    start_date: dt.date
    end_date: dt.date
    owed_hours: Decimal = Field(description="the lot's current insertion obligation")
    status: LotStatus
    version: int = Field(ge=1)
    company_siret: str | None = None
    company_name: str | None = None
    invoiced_eur: Decimal = Decimal("0")


class MarketSubmitted(BaseModel):
    market_id: uuid.UUID
    buyer_id: uuid.UUID
    buyer_name: str
    buyer_kind: BuyerKind
    reference: str
    title: str
    cpv_code: str
    commune_insee: str
    lots: list[LotState]


class LotClauseSized(BaseModel):
    lot: LotState
    formula: str
    parameters: dict[str, str]
    warnings: list[str] = []


class LotAwarded(BaseModel):
    lot: LotState
    company_siret: str
    company_name: str
    awarded_amount_eur: Decimal


class LotAmended(BaseModel):
    lot: LotState
    amendment_number: int
    reason: str


class LotInvoiced(BaseModel):
    lot: LotState
    invoice_amount_eur: Decimal
    invoiced_on: dt.date


class LotClosed(BaseModel):
    lot: LotState
    closed_on: dt.date
