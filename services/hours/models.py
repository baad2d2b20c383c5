"""Tables of hours.

Hour entries are never updated: a correction is a new row (`corrects_id` → the row it replaces, `version` + 1).
Uniqueness (placement, month, kind, version) and unique `corrects_id` (a partial index) make a duplicate or a forked history
impossible at the database level: the current entry of a (placement, month, kind) is the one nobody corrects.
Hours are stored as integer hundredths (exact sums on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import CheckConstraint, Column, DateTime, Index, Numeric, UniqueConstraint, text
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
    # The hourly cost the clause was sized with (`lot.clause_sized`), converting subcontracted amounts into hours;
    # None when the sizing had none (fixed hours, per amount invoiced): the policy's default then.
    sizing_hourly_cost_eur: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 2), nullable=True))


class Placement(Base, table=True):
    """A person's placement on a lot, from matching. `placement.started` fills the start columns and
    `placement.ended` the end columns, so they may arrive in either order."""

    __tablename__ = "placements"
    placement_id: uuid.UUID = Field(primary_key=True)
    lot_id: uuid.UUID = Field(index=True)
    beneficiary_id: uuid.UUID = Field(index=True)
    employer_siret: str | None = Field(default=None, max_length=14)
    structure_id: uuid.UUID | None = None
    structure_kind: str | None = Field(default=None, max_length=10)
    modality: str | None = Field(default=None, max_length=20)
    contract_type: str | None = Field(default=None, max_length=20)
    start_date: dt.date | None = None
    planned_end_date: dt.date | None = None
    ended_on: dt.date | None = None
    exit_category: str | None = Field(default=None, max_length=20)
    eligible_until: dt.date | None = None  # the person's clause window ends (matching's policy); None: not sent


class HourEntryRow(Base, table=True):
    __tablename__ = "hour_entries"
    __table_args__ = (
        UniqueConstraint("placement_id", "month", "kind", "version", name="uq_hour_entry_version"),
        # Partial: only corrections are indexed, so the bulk import (never a correction) writes one B-tree less.
        Index("uq_hour_entry_corrected_once", "corrects_id", unique=True, sqlite_where=text("corrects_id IS NOT NULL"),
              postgresql_where=text("corrects_id IS NOT NULL")),
        CheckConstraint("hundredths >= 0", name="ck_hour_entry_non_negative"),
        CheckConstraint("version >= 1", name="ck_hour_entry_version"),
    )
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    placement_id: uuid.UUID  # checked by the rules; no foreign key: per-row FK triggers would cost the bulk path 5x
    lot_id: uuid.UUID
    month: str = Field(max_length=7)
    kind: str = Field(max_length=10)
    hundredths: int
    version: int = 1
    corrects_id: uuid.UUID | None = Field(default=None, foreign_key="hour_entries.id")
    reason: str | None = Field(default=None, max_length=500)
    author: str = Field(max_length=200)
    source: str = Field(max_length=10)  # manual | import
    import_id: uuid.UUID | None = None  # the HourImport that wrote it
    import_row: int | None = None
    created_at: dt.datetime = Field(default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False))


class HourImport(Base, table=True):
    """One imported file, known by its SHA-256: a file already imported adds nothing."""

    __tablename__ = "hour_imports"
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    sha256: str = Field(max_length=64, unique=True)
    filename: str = Field(max_length=300)
    author: str = Field(max_length=200)
    status: str = Field(max_length=20)  # running | done
    rows_total: int = 0
    rows_written: int = 0
    accepted: int = 0
    rejected: int = 0
    already_recorded: int = 0
    created_at: dt.datetime = Field(default_factory=_now, sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=True))


class LotMonthHours(Base, table=True):
    """Counted hours of a lot per month (hundredths), kept in the same transaction as the entries that change them:
    +hours for a new entry, +(new − old) for a correction. A lot's progress reads these few rows instead of summing
    its entries; tests/hours checks they always equal the sum of the current entries."""

    __tablename__ = "lot_month_hours"
    __table_args__ = (CheckConstraint("hundredths >= 0", name="ck_lot_month_hours_non_negative"),)
    lot_id: uuid.UUID = Field(primary_key=True)
    month: str = Field(primary_key=True, max_length=7)
    hundredths: int


class LotProgressState(Base, table=True):
    """The last progress flags published for a lot, to emit `lot.target_reached` / `lot.at_risk` on change only."""

    __tablename__ = "lot_progress_state"
    lot_id: uuid.UUID = Field(primary_key=True)
    target_reached: bool = False
    at_risk: bool = False
