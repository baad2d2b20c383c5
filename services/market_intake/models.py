"""Tables of market_intake. Database constraints keep invalid states out (unique references, positive amounts...)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, Column, Numeric, UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.infra import add_infra_tables


class Base(SQLModel, registry=registry()):
    """This service's own metadata: its migrations see only its tables."""


metadata = Base.metadata
INFRA = add_infra_tables(metadata)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Buyer(Base, table=True):
    __tablename__ = "buyers"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    siret: str = Field(max_length=14, unique=True)
    kind: str = Field(max_length=30)
    created_at: dt.datetime = Field(default_factory=_now)


class Market(Base, table=True):
    __tablename__ = "markets"
    __table_args__ = (UniqueConstraint("buyer_id", "reference", name="uq_market_buyer_reference"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    buyer_id: uuid.UUID = Field(foreign_key="buyers.id", index=True)
    reference: str = Field(max_length=100)
    title: str = Field(max_length=300)
    procedure: str | None = Field(default=None, max_length=100)
    cpv_code: str = Field(max_length=10)
    commune_insee: str = Field(max_length=5)
    status: str = Field(max_length=20, default="submitted", index=True)
    created_at: dt.datetime = Field(default_factory=_now)


class Lot(Base, table=True):
    __tablename__ = "lots"
    __table_args__ = (
        UniqueConstraint("market_id", "number", name="uq_lot_market_number"),
        CheckConstraint("amount_eur > 0", name="ck_lot_amount_positive"),
        CheckConstraint("end_date >= start_date", name="ck_lot_dates_ordered"),
        CheckConstraint("owed_hours >= 0", name="ck_lot_owed_non_negative"),
        CheckConstraint("version >= 1", name="ck_lot_version"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    market_id: uuid.UUID = Field(foreign_key="markets.id", index=True)
    number: int
    title: str = Field(max_length=300)
    sector: str = Field(max_length=40, index=True)
    clause_kind: str = Field(max_length=30)
    method: str = Field(max_length=30)
    amount_eur: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    start_date: dt.date
    end_date: dt.date
    owed_hours: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    formula: str = Field(max_length=500)
    parameters: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=20, default="submitted", index=True)
    version: int = 1
    company_siret: str | None = Field(default=None, max_length=14)
    company_name: str | None = Field(default=None, max_length=200)
    invoiced_eur: Decimal = Field(default=Decimal("0"), sa_column=Column(Numeric(14, 2), nullable=False))
    warnings: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    closed_on: dt.date | None = None


class Amendment(Base, table=True):
    """An avenant: numbered per lot, with the figures before and after (the lot's history)."""

    __tablename__ = "amendments"
    __table_args__ = (UniqueConstraint("lot_id", "number", name="uq_amendment_lot_number"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    lot_id: uuid.UUID = Field(foreign_key="lots.id", index=True)
    number: int
    reason: str = Field(max_length=1000)
    previous_amount_eur: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    amount_eur: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    previous_end_date: dt.date
    end_date: dt.date
    previous_owed_hours: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    owed_hours: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    created_at: dt.datetime = Field(default_factory=_now)


class Invoice(Base, table=True):
    """An invoice of the awarded company; its `reference` is unique per lot so a resent invoice is not counted twice."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("lot_id", "reference", name="uq_invoice_lot_reference"),
        CheckConstraint("amount_eur > 0", name="ck_invoice_amount_positive"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    lot_id: uuid.UUID = Field(foreign_key="lots.id", index=True)
    reference: str = Field(max_length=100)
    amount_eur: Decimal = Field(sa_column=Column(Numeric(14, 2), nullable=False))
    invoiced_on: dt.date
    created_at: dt.datetime = Field(default_factory=_now)
