"""Request and response models of market_intake (HTTP only; events live in contracts)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.codes import BuyerKind, ClauseKind, Sector, SizingMethod
from services.market_intake import rules

Money = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
Share = Annotated[Decimal, Field(gt=0, le=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BuyerIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    siret: str
    kind: BuyerKind

    @field_validator("siret")
    @classmethod
    def _siret(cls, v: str) -> str:
        v = v.replace(" ", "")
        if (err := rules.siret_error(v)) is not None:
            raise ValueError(err)
        return v


class BuyerOut(BaseModel):
    id: uuid.UUID
    name: str
    siret: str
    kind: BuyerKind


class ClauseIn(Strict):
    kind: ClauseKind
    method: SizingMethod
    labour_share: Share | None = None
    insertion_rate: Share | None = None
    hourly_cost_eur: Money | None = None
    hours: Annotated[Decimal, Field(ge=0, decimal_places=2)] | None = None
    eur_per_hour: Money | None = Field(default=None, description="per_amount_invoiced: € invoiced per hour owed")

    @model_validator(mode="after")
    def _method_parameters(self) -> ClauseIn:
        if self.method == SizingMethod.FIXED_HOURS and self.hours is None:
            raise ValueError("la méthode « heures fixes » demande le nombre d'heures (hours)")
        if self.method == SizingMethod.PER_AMOUNT_INVOICED and self.eur_per_hour is None:
            raise ValueError("la méthode « au montant facturé » demande le montant par heure (eur_per_hour)")
        return self


class LotIn(Strict):
    number: int = Field(ge=1, le=999)
    title: str = Field(min_length=1, max_length=300)
    sector: Sector
    amount_eur: Money
    start_date: dt.date
    end_date: dt.date
    clause: ClauseIn

    @model_validator(mode="after")
    def _dates(self) -> LotIn:
        if self.end_date < self.start_date:
            raise ValueError("la date de fin (end_date) précède la date de début (start_date)")
        return self


class MarketIn(Strict):
    buyer_id: uuid.UUID
    reference: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    procedure: str | None = Field(default=None, max_length=100)
    cpv_code: str
    commune_insee: str
    lots: list[LotIn] = Field(min_length=1, max_length=200)

    @field_validator("cpv_code")
    @classmethod
    def _cpv(cls, v: str) -> str:
        if not rules.CPV_RE.match(v):
            raise ValueError("code CPV invalide : 8 chiffres, éventuellement suivis d'un tiret et d'un chiffre")
        return v

    @field_validator("commune_insee")
    @classmethod
    def _insee(cls, v: str) -> str:
        if not rules.INSEE_RE.match(v):
            raise ValueError("code INSEE de commune invalide : 5 caractères (ex. 35238)")
        return v

    @model_validator(mode="after")
    def _unique_lot_numbers(self) -> MarketIn:
        numbers = [lot.number for lot in self.lots]
        if len(numbers) != len(set(numbers)):
            raise ValueError("deux lots portent le même numéro")
        return self


class LotOut(BaseModel):
    id: uuid.UUID
    number: int
    title: str
    sector: Sector
    amount_eur: Decimal
    start_date: dt.date
    end_date: dt.date
    clause_kind: ClauseKind
    method: SizingMethod
    target_hours: Decimal
    formula: str
    parameters: dict[str, str]
    status: str
    warnings: list[str] = []


class MarketOut(BaseModel):
    id: uuid.UUID
    buyer_id: uuid.UUID
    reference: str
    title: str
    cpv_code: str
    commune_insee: str
    status: str
    lots: list[LotOut]


class Page(BaseModel):
    items: list[MarketOut]
    total: int
    offset: int
    limit: int


Status = Literal["submitted", "awarded", "closed"]
