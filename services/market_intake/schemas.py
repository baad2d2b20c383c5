"""Request and response models of market_intake (HTTP only; events live in contracts)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from contracts.codes import BuyerKind, ClauseKind, LotStatus, Sector, SizingMethod
from services.market_intake import rules

class Procedure(StrEnum):
    """Procurement procedures (Code de la commande publique)."""

    APPEL_OFFRES_OUVERT = "appel_offres_ouvert"
    APPEL_OFFRES_RESTREINT = "appel_offres_restreint"
    PROCEDURE_ADAPTEE = "procedure_adaptee"
    PROCEDURE_NEGOCIEE = "procedure_negociee"
    DIALOGUE_COMPETITIF = "dialogue_competitif"
    SANS_PUBLICITE = "sans_publicite"
    AUTRE = "autre"


Money = Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
Share = Annotated[Decimal, Field(gt=0, le=1)]


def clean_siret(v: str) -> str:
    v = v.replace(" ", "")
    if (err := rules.siret_error(v)) is not None:
        raise ValueError(err)
    return v


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class BuyerIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    siret: str
    kind: BuyerKind

    @field_validator("siret")
    @classmethod
    def _siret(cls, v: str) -> str:
        return clean_siret(v)


class BuyerOut(BaseModel):
    id: uuid.UUID
    name: str
    siret: str
    kind: BuyerKind


def cpv_error(cpv_code: str) -> str | None:
    if not rules.CPV_RE.match(cpv_code):
        return "code CPV invalide : 8 chiffres, éventuellement suivis d'un tiret et d'un chiffre"
    return None


# What the cleaning formula with transferred staff does not use (DOMAIN.md: P = 1 − (S × C) / (A / N),
# hours = P × A / C × rate): C stands for the hourly cost over the labour share, P for the share left.
NOT_WITH_TRANSFERRED_STAFF = {
    "labour_share": "la part de main-d'œuvre (labour_share)",
    "hourly_cost_eur": "le coût horaire (hourly_cost_eur)",
}


class ClauseParameters(Strict):
    # declared first: the checks of labour_share and hourly_cost_eur read it
    transferred_monthly_hours: Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2)] | None = Field(
        default=None,
        description="cleaning (nettoyage) only: monthly hours of the staff taken over from the previous contractor; "
                    "the cleaning formula then uses the territory's constant C, so labour_share and hourly_cost_eur "
                    "are refused beside it",
    )
    labour_share: Share | None = None
    insertion_rate: Share | None = None
    hourly_cost_eur: Money | None = None
    hours: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] | None = None
    eur_per_hour: Money | None = Field(default=None, description="per_amount_invoiced: € invoiced per hour owed")

    @field_validator("labour_share", "hourly_cost_eur")
    @classmethod
    def _unused_with_transferred_staff(cls, v: Decimal | None, info: ValidationInfo) -> Decimal | None:
        """Refused rather than silently ignored: the cleaning formula with transferred staff has no labour share
        and no hourly cost of its own (C, a setting, stands for both)."""
        if v is not None and info.data.get("transferred_monthly_hours") is not None:
            raise ValueError(
                f"{NOT_WITH_TRANSFERRED_STAFF[info.field_name]} ne s'applique pas avec la reprise de personnel "
                "(transferred_monthly_hours) : la formule du nettoyage utilise la constante C du territoire ; "
                "retirez ce paramètre ou la reprise de personnel")
        return v

    def method_error(self, method: SizingMethod, sector: Sector | None) -> str | None:
        if method == SizingMethod.FIXED_HOURS and self.hours is None:
            return "la méthode « heures fixes » demande le nombre d'heures (hours)"
        if method == SizingMethod.PER_AMOUNT_INVOICED and self.eur_per_hour is None:
            return "la méthode « au montant facturé » demande le montant par heure (eur_per_hour)"
        if self.transferred_monthly_hours is not None:
            if method != SizingMethod.RATE:
                return "la reprise de personnel (transferred_monthly_hours) demande la méthode « taux » (rate)"
            if sector is not None and sector != Sector.NETTOYAGE:
                return "la reprise de personnel (transferred_monthly_hours) ne s'applique qu'au secteur nettoyage"
        return None


class ClauseIn(ClauseParameters):
    kind: ClauseKind
    method: SizingMethod

    @model_validator(mode="after")
    def _method_parameters(self) -> ClauseIn:
        if (err := self.method_error(self.method, None)) is not None:
            raise ValueError(err)
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
        if (err := self.clause.method_error(self.clause.method, self.sector)) is not None:
            raise ValueError(err)
        return self


class MarketIn(Strict):
    buyer_id: uuid.UUID
    reference: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=300)
    procedure: Procedure | None = None
    cpv_code: str
    commune_insee: str
    lots: list[LotIn] = Field(min_length=1, max_length=200)
    draft: bool = Field(default=False, description="keep it as a draft: nothing is announced until it is submitted")

    @field_validator("cpv_code")
    @classmethod
    def _cpv(cls, v: str) -> str:
        if (err := cpv_error(v)) is not None:
            raise ValueError(err)
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
    market_id: uuid.UUID
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
    status: LotStatus
    version: int
    company_siret: str | None = None
    company_name: str | None = None
    invoiced_eur: Decimal = Decimal("0")
    closed_on: dt.date | None = None
    warnings: list[str] = []


class MarketOut(BaseModel):
    id: uuid.UUID
    buyer_id: uuid.UUID
    reference: str
    title: str
    procedure: Procedure | None = None
    cpv_code: str
    commune_insee: str
    status: LotStatus
    lots: list[LotOut]


class Page(BaseModel):
    items: list[MarketOut]
    total: int
    offset: int
    limit: int


# ---- lot life cycle --------------------------------------------------------------------------------------------
class AwardIn(Strict):
    company_siret: str
    company_name: str = Field(min_length=1, max_length=200)
    amount_eur: Money
    start_date: dt.date | None = Field(default=None, description="defaults to the lot's start date")
    end_date: dt.date | None = Field(default=None, description="defaults to the lot's end date")

    @field_validator("company_siret")
    @classmethod
    def _siret(cls, v: str) -> str:
        return clean_siret(v)


class AmendmentIn(Strict):
    amount_eur: Money | None = Field(default=None, description="new amount excl. VAT after the amendment")
    end_date: dt.date | None = Field(default=None, description="new end date")
    reason: str = Field(min_length=3, max_length=1000)

    @model_validator(mode="after")
    def _something_changes(self) -> AmendmentIn:
        if self.amount_eur is None and self.end_date is None:
            raise ValueError("un avenant modifie le montant (amount_eur) ou la date de fin (end_date)")
        return self


class InvoiceIn(Strict):
    reference: str = Field(min_length=1, max_length=100, description="the invoice number, unique per lot")
    amount_eur: Money
    invoiced_on: dt.date


class CloseIn(Strict):
    closed_on: dt.date | None = Field(default=None, description="defaults to today")


class LotChangeOut(BaseModel):
    lot_id: uuid.UUID
    committed_hours: Decimal
    lot: LotOut


class AmendmentOut(BaseModel):
    number: int
    reason: str
    previous_amount_eur: Decimal
    amount_eur: Decimal
    previous_end_date: dt.date
    end_date: dt.date
    previous_owed_hours: Decimal
    owed_hours: Decimal
    created_at: dt.datetime


class InvoiceOut(BaseModel):
    reference: str
    amount_eur: Decimal
    invoiced_on: dt.date


# ---- the calculator ------------------------------------------------------------------------------------------
class EstimateIn(ClauseParameters):
    method: SizingMethod
    sector: Sector = Sector.AUTRE
    amount_eur: Money | None = Field(default=None, description="rate: amount excl. VAT; per_amount_invoiced: expected "
                                     "invoiced total")
    months: Annotated[int, Field(ge=1, le=600)] | None = Field(
        default=None, description="duration in months (cleaning adjustment); else start_date and end_date"
    )
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    cpv_code: str | None = Field(
        default=None, description="the market's CPV code: division 45 (works) takes the works insertion rate, any "
                                  "other the services rate; without it the lot's sector decides (works_sectors)")

    @field_validator("cpv_code")
    @classmethod
    def _cpv(cls, v: str | None) -> str | None:
        if v is not None and (err := cpv_error(v)) is not None:
            raise ValueError(err)
        return v

    @model_validator(mode="after")
    def _complete(self) -> EstimateIn:
        if (err := self.method_error(self.method, self.sector)) is not None:
            raise ValueError(err)
        if self.method == SizingMethod.RATE and self.amount_eur is None:
            raise ValueError("la méthode « taux » demande le montant HT (amount_eur)")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("la date de fin (end_date) précède la date de début (start_date)")
        if self.transferred_monthly_hours is not None and self.duration() is None:
            raise ValueError("la reprise de personnel demande la durée du marché : months, ou start_date et end_date")
        return self

    def duration(self) -> int | None:
        if self.months is not None:
            return self.months
        if self.start_date and self.end_date:
            return rules.months_between(self.start_date, self.end_date)
        return None


class EstimateOut(BaseModel):
    hours: Decimal
    formula: str
    parameters: dict[str, str]
    defaults_used: list[str] = Field(description="parameters taken from the territory's defaults")
    warnings: list[str]


class TerritoryOut(BaseModel):
    labour_shares: dict[str, Decimal]
    works_sectors: list[str] = Field(description="sectors taken for works only when the market's CPV code is unknown "
                                                 "(the calculator without cpv_code)")
    works_cpv_division: str = Field(description="CPV division of works markets: their lots take the works rate, "
                                                "every other market the services rate")
    insertion_rate_works: Decimal
    insertion_rate_services: Decimal
    hourly_cost_eur: Decimal
    hourly_cost_cleaning_eur: Decimal
    minimum_hours: Decimal
    cleaning_constant: Decimal
