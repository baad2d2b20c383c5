"""Read model of reporting, fed only by events (rebuildable from the streams)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Index, Numeric
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


class LotProgressView(Base, table=True):
    """The newest `lot.progressed` / `lot.at_risk` / `lot.target_reached` of each lot (hours service's forecast)."""

    __tablename__ = "lot_progress"
    lot_id: uuid.UUID = Field(primary_key=True)
    owed_hours: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    realised_hours: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    percent: Decimal = Field(sa_column=Column(Numeric(8, 2), nullable=False))
    forecast_hours: Decimal = Field(sa_column=Column(Numeric(12, 2), nullable=False))
    at_risk: bool
    as_of: dt.date
    occurred_at: dt.datetime


class HourFact(Base, table=True):
    """One accepted hour entry. A correction is a new entry; the entry it replaces is flagged `superseded`,
    so realised hours = SUM(hours) WHERE NOT superseded, whatever order the events arrived in."""

    __tablename__ = "hour_facts"
    __table_args__ = (Index("ix_hour_facts_month", "month"),)
    entry_id: uuid.UUID = Field(primary_key=True)
    placement_id: uuid.UUID
    beneficiary_id: uuid.UUID
    lot_id: uuid.UUID
    market_id: uuid.UUID
    buyer_id: uuid.UUID
    employer_siret: str = Field(max_length=14)
    structure_id: uuid.UUID | None = None
    structure_kind: str | None = Field(default=None, max_length=10)
    modality: str = Field(max_length=20)
    month: str = Field(max_length=7)
    hours: Decimal = Field(sa_column=Column(Numeric(10, 2), nullable=False))
    kind: str = Field(max_length=10)
    centi: int = Field(sa_column=Column(BigInteger, nullable=False), description="hours × 100, for exact sums")
    recorded_at: dt.datetime
    superseded: bool = False


class HoursCube(Base, table=True):
    """Counted hours pre-aggregated by the handlers (+ on a counted entry, − when it is superseded): the reports
    read this instead of scanning every entry. `structure_kind` is '' for direct hires. Clustered by month
    (SQLite WITHOUT ROWID, primary key starting with the month) so a period is one range scan."""

    __tablename__ = "hours_cube"
    __table_args__ = ({"sqlite_with_rowid": False},)
    month: str = Field(primary_key=True, max_length=7)
    buyer_id: uuid.UUID = Field(primary_key=True)
    market_id: uuid.UUID = Field(primary_key=True)
    lot_id: uuid.UUID = Field(primary_key=True)
    modality: str = Field(primary_key=True, max_length=20)
    structure_kind: str = Field(primary_key=True, max_length=10)
    centi: int = Field(sa_column=Column(BigInteger, nullable=False))


class LotMonth(Base, table=True):
    """Counted hours per lot and month: the cumulative realised hours of a lot up to a date in one short range scan."""

    __tablename__ = "lot_months"
    __table_args__ = ({"sqlite_with_rowid": False},)
    lot_id: uuid.UUID = Field(primary_key=True)
    month: str = Field(primary_key=True, max_length=7)
    centi: int = Field(sa_column=Column(BigInteger, nullable=False))


class PersonMonth(Base, table=True):
    """Counted hours of one person in one month, for one buyer and structure (nil UUID and '' without one):
    people counts are COUNT(DISTINCT beneficiary_id) over the cells with centi > 0. Clustered by month."""

    __tablename__ = "person_months"
    __table_args__ = (Index("ix_person_months_person", "beneficiary_id", "month", "centi"), {"sqlite_with_rowid": False})
    month: str = Field(primary_key=True, max_length=7)
    buyer_id: uuid.UUID = Field(primary_key=True)
    beneficiary_id: uuid.UUID = Field(primary_key=True)
    structure_id: uuid.UUID = Field(primary_key=True)
    structure_kind: str = Field(primary_key=True, max_length=10)
    centi: int = Field(sa_column=Column(BigInteger, nullable=False))


class PersonFirst(Base, table=True):
    """The first month in which a person has counted hours (a `person_months` cell > 0), over all buyers
    (`buyer_id` = nil UUID) and per buyer: the "new people" of a period are those whose first month falls in it, one
    index range instead of an anti-join over every person's months. Kept by the handlers (lowered as hours arrive,
    recomputed from `person_months` when hours are taken away) and refilled by the rebuild."""

    __tablename__ = "person_firsts"
    __table_args__ = (Index("ix_person_firsts_month", "buyer_id", "first_month"), {"sqlite_with_rowid": False})
    buyer_id: uuid.UUID = Field(primary_key=True)
    beneficiary_id: uuid.UUID = Field(primary_key=True)
    first_month: str = Field(max_length=7)


class Supersession(Base, table=True):
    """`corrected_entry_id` was replaced by `by_entry_id` (hours.corrected), at `corrected_at`."""

    __tablename__ = "hour_supersessions"
    corrected_entry_id: uuid.UUID = Field(primary_key=True)
    by_entry_id: uuid.UUID
    corrected_at: dt.datetime


class PersonView(Base, table=True):
    """A pseudonymous profile (never a name): kept after erasure, flagged `erased`, so aggregates survive."""

    __tablename__ = "people"
    beneficiary_id: uuid.UUID = Field(primary_key=True)
    gender: str | None = Field(default=None, max_length=1)
    birth_year: int | None = None
    commune_insee: str | None = Field(default=None, max_length=5)
    qpv: bool | None = None
    education_level: str | None = Field(default=None, max_length=40)
    enrolled_on: dt.date | None = None
    erased: bool = False
    erased_on: dt.date | None = None


class PersonCategory(Base, table=True):
    __tablename__ = "people_categories"
    beneficiary_id: uuid.UUID = Field(primary_key=True)
    code: str = Field(primary_key=True, max_length=30)


class StructureView(Base, table=True):
    __tablename__ = "structures"
    structure_id: uuid.UUID = Field(primary_key=True)
    siret: str = Field(max_length=14)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=10)


class PlacementView(Base, table=True):
    """A placement, from `placement.started` and `placement.ended` (either may arrive first)."""

    __tablename__ = "placements"
    placement_id: uuid.UUID = Field(primary_key=True)
    lot_id: uuid.UUID = Field(index=True)
    beneficiary_id: uuid.UUID
    employer_siret: str | None = Field(default=None, max_length=14)
    structure_id: uuid.UUID | None = None
    structure_kind: str | None = Field(default=None, max_length=10)
    modality: str | None = Field(default=None, max_length=20)
    contract_type: str | None = Field(default=None, max_length=20)
    start_date: dt.date | None = None
    planned_end_date: dt.date | None = None
    ended_on: dt.date | None = None
    exit_category: str | None = Field(default=None, max_length=20)


class FollowUpView(Base, table=True):
    """The situation 6 months after the end (FSE survey); one per beneficiary and placement (nil UUID if none)."""

    __tablename__ = "follow_ups"
    beneficiary_id: uuid.UUID = Field(primary_key=True)
    placement_key: uuid.UUID = Field(primary_key=True)
    placement_id: uuid.UUID | None = None
    followed_up_on: dt.date
    situation: str = Field(max_length=20)
