"""Tables of hours."""

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


class LotRef(Base, table=True):
    """The lots this service works on, kept equal to the newest state market_intake published."""

    __tablename__ = "lots"
    lot_id: uuid.UUID = Field(primary_key=True)
    market_id: uuid.UUID = Field(index=True)
    buyer_id: uuid.UUID = Field(index=True)
    sector: str = Field(max_length=40)
    start_date: dt.date
    end_date: dt.date
    owed_hours: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    status: str = Field(max_length=20)
    version: int
    company_siret: str | None = Field(default=None, max_length=14)
