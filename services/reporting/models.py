"""Read model of reporting, fed only by events (rebuildable from the streams)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Column, Numeric
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.infra import add_infra_tables


class Base(SQLModel, registry=registry()):
    """This service's own metadata."""


metadata = Base.metadata
INFRA = add_infra_tables(metadata)


class MarketView(Base, table=True):
    __tablename__ = "markets"
    market_id: uuid.UUID = Field(primary_key=True)
    buyer_id: uuid.UUID = Field(index=True)
    buyer_name: str = Field(max_length=200)
    buyer_kind: str = Field(max_length=30)
    reference: str = Field(max_length=100)
    title: str = Field(max_length=300)
    cpv_code: str = Field(max_length=10)
    commune_insee: str = Field(max_length=5)
    submitted_at: dt.datetime


class LotView(Base, table=True):
    __tablename__ = "lots"
    lot_id: uuid.UUID = Field(primary_key=True)
    market_id: uuid.UUID = Field(index=True)
    buyer_id: uuid.UUID = Field(index=True)
    number: int
    title: str = Field(max_length=300)
    sector: str = Field(max_length=40)
    clause_kind: str = Field(max_length=30)
    method: str = Field(max_length=30)
    amount_eur: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    start_date: dt.date
    end_date: dt.date
    owed_hours: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    status: str = Field(max_length=20)
    version: int
    company_siret: str | None = Field(default=None, max_length=14)
    company_name: str | None = Field(default=None, max_length=200)
