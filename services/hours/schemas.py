"""Request and response models of hours (HTTP only; events live in contracts)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.codes import HourKind

MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class HoursIn(Strict):
    placement_id: uuid.UUID
    month: str = Field(pattern=MONTH, description="AAAA-MM")
    hours: Decimal | None = Field(default=None, description="heures (> 0, au plus 2 décimales)")
    amount_eur: Decimal | None = Field(
        default=None, description="sous-traitance / cotraitance : montant de main-d'œuvre, converti en heures"
    )
    kind: HourKind | None = Field(
        default=None, description="work ou training ; absent : training sur un placement en formation, work sinon"
    )

    @model_validator(mode="after")
    def _hours_or_amount(self) -> HoursIn:
        if (self.hours is None) == (self.amount_eur is None):
            raise ValueError("indiquez soit les heures (hours), soit le montant sous-traité (amount_eur)")
        return self


class CorrectionIn(Strict):
    hours: Decimal = Field(ge=0, description="nouvelle valeur (0 annule la saisie)")
    reason: str = Field(min_length=3, max_length=500)


class EntryOut(BaseModel):
    id: uuid.UUID
    placement_id: uuid.UUID
    lot_id: uuid.UUID
    month: str
    kind: HourKind
    hours: Decimal
    version: int
    corrects_id: uuid.UUID | None
    corrected_by: uuid.UUID | None = None
    current: bool
    reason: str | None
    author: str
    source: str
    import_id: uuid.UUID | None
    import_row: int | None
    created_at: dt.datetime


class RowError(BaseModel):
    row: int
    column: str
    message: str


class ImportOut(BaseModel):
    import_id: uuid.UUID | None
    status: str  # accepted | rejected | already_imported
    accepted: int
    rejected: int
    already_recorded: int = 0
    errors: list[RowError]
    errors_truncated: bool = False
    detail: str


class ImportStatusOut(BaseModel):
    id: uuid.UUID
    filename: str
    status: str
    rows_total: int
    rows_written: int
    percent: Decimal
    accepted: int
    rejected: int
    already_recorded: int
    created_at: dt.datetime
    finished_at: dt.datetime | None


class MonthPoint(BaseModel):
    month: str
    hours: Decimal
    cumulated: Decimal


class ProgressOut(BaseModel):
    lot_id: uuid.UUID
    owed_hours: Decimal
    realised_hours: Decimal
    percent: Decimal
    forecast_hours: Decimal
    at_risk: bool
    target_reached: bool
    start_date: dt.date
    end_date: dt.date
    as_of: dt.date
    monthly: list[MonthPoint]
    by_modality: dict[str, Decimal]
