"""Tables of matching. A person's identity lives in `beneficiary_identities` ONLY; every other table (and every
event) knows the person by the pseudonymous `beneficiaries.id`. Erasure deletes the identity row."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, Column, Index, Numeric
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.infra import add_infra_tables


class Base(SQLModel, registry=registry()):
    """This service's own metadata."""


metadata = Base.metadata
INFRA = add_infra_tables(metadata)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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


class MarketRef(Base, table=True):
    """Where each market's works take place (from market.submitted), to match people and structures nearby."""

    __tablename__ = "markets"
    market_id: uuid.UUID = Field(primary_key=True)
    commune_insee: str = Field(max_length=5)


class Structure(Base, table=True):
    __tablename__ = "structures"
    __table_args__ = (CheckConstraint("capacity >= 0", name="ck_structure_capacity"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    siret: str = Field(max_length=14, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=10, index=True)
    sectors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    modalities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    communes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    epcis: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    department: bool = False
    served: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    capacity: int
    active: bool = True
    created_at: dt.datetime = Field(default_factory=_now)


class Beneficiary(Base, table=True):
    """The pseudonymous profile: what survives erasure."""

    __tablename__ = "beneficiaries"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    gender: str = Field(max_length=1)
    birth_year: int
    commune_insee: str = Field(max_length=5, index=True)
    qpv: bool
    education_level: str = Field(max_length=20)
    sectors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    enrolled_on: dt.date
    erased_on: dt.date | None = None


class BeneficiaryIdentity(Base, table=True):
    """Personal data, kept apart and deleted on erasure."""

    __tablename__ = "beneficiary_identities"
    beneficiary_id: uuid.UUID = Field(primary_key=True, foreign_key="beneficiaries.id")
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    birth_date: dt.date
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=30)


class CriterionCheck(Base, table=True):
    """"Eligible: criterion X, proof P checked on D on prescriber R's referral, recorded by facilitator F" — never a
    copy of the document."""

    __tablename__ = "criterion_checks"
    # Covers the candidates' query: a person's checks known on a day, read from the index alone.
    __table_args__ = (Index("ix_criterion_checks_person_day", "beneficiary_id", "checked_on", "code"),)
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    beneficiary_id: uuid.UUID = Field(foreign_key="beneficiaries.id")
    code: str = Field(max_length=30)
    proof_type: str | None = Field(default=None, max_length=200)
    checked_on: dt.date
    prescriber: str = Field(max_length=200)
    recorded_by: str | None = Field(default=None, max_length=200, description="the facilitator (token subject)")


class Placement(Base, table=True):
    __tablename__ = "placements"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="ck_placement_dates"),
        # Covers the candidates' query: a person's first start and full-time periods, read from the index alone.
        Index("ix_placements_person_period", "beneficiary_id", "start_date", "full_time", "ended_on", "end_date"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    lot_id: uuid.UUID = Field(index=True)
    beneficiary_id: uuid.UUID = Field(foreign_key="beneficiaries.id")
    employer_siret: str = Field(max_length=14)
    structure_id: uuid.UUID | None = Field(default=None, foreign_key="structures.id", index=True)
    structure_kind: str | None = Field(default=None, max_length=10)
    modality: str = Field(max_length=20)
    contract_type: str = Field(max_length=20)
    full_time: bool = True
    start_date: dt.date
    end_date: dt.date | None = None
    ended_on: dt.date | None = None
    exit_category: str | None = Field(default=None, max_length=20)
    created_at: dt.datetime = Field(default_factory=_now)


class FollowUp(Base, table=True):
    __tablename__ = "follow_ups"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    beneficiary_id: uuid.UUID = Field(foreign_key="beneficiaries.id", index=True)
    placement_id: uuid.UUID | None = Field(default=None, foreign_key="placements.id")
    followed_up_on: dt.date
    situation: str = Field(max_length=20)
