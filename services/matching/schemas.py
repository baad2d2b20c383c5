"""Request and response models of matching (HTTP only; events live in contracts)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.codes import ContractType, CriterionCode, ExitCategory, Gender, Modality, Sector, StructureKind
from services.matching.domain.placements import siret_error

INSEE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")
PHONE_RE = re.compile(r"^\+?[0-9 .\-]{6,20}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# e.g. national levels "infra_3", "3" (CAP/BEP) … "8", or labels such as "sans_diplome", "cap_bep", "bac", "bac+2"
EducationLevel = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z0-9_+\-]+$")]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _siret(v: str) -> str:
    v = v.replace(" ", "")
    if (err := siret_error(v)) is not None:
        raise ValueError(err)
    return v


def _insee(v: str) -> str:
    if not INSEE_RE.match(v):
        raise ValueError("code INSEE de commune invalide : 5 caractères (ex. 35238)")
    return v


def _no_duplicates(values: list, what: str) -> None:
    if len(values) != len(set(values)):
        raise ValueError(f"{what} en double")


class StructureIn(Strict):
    siret: str
    name: Text
    kind: StructureKind
    sectors: list[Sector] = Field(min_length=1, max_length=len(Sector))
    modalities: list[Modality] | None = Field(
        default=None, max_length=len(Modality), description="modalités proposées ; défaut : toutes celles du type"
    )
    communes: list[str] = Field(default_factory=list, max_length=400, description="communes servies (INSEE)")
    epcis: list[str] = Field(default_factory=list, max_length=50, description="EPCI servis (SIREN)")
    department: bool = Field(default=False, description="sert tout le département")
    capacity: int = Field(ge=0, le=100_000, description="personnes pouvant être accueillies")
    active: bool = True

    @field_validator("siret")
    @classmethod
    def _valid_siret(cls, v: str) -> str:
        return _siret(v)

    @field_validator("communes")
    @classmethod
    def _communes(cls, v: list[str]) -> list[str]:
        for c in v:
            _insee(c)
        _no_duplicates(v, "commune")
        return v

    @model_validator(mode="after")
    def _territory(self) -> StructureIn:
        if not (self.communes or self.epcis or self.department):
            raise ValueError("territoire servi manquant : communes, epcis ou department")
        return self


class StructureOut(BaseModel):
    id: uuid.UUID
    siret: str
    name: str
    kind: StructureKind
    sectors: list[str]
    modalities: list[str]
    communes: list[str]
    epcis: list[str]
    department: bool
    served: list[str]
    capacity: int
    active: bool


class CriterionIn(Strict):
    code: CriterionCode
    proof_type: Text | None = Field(
        default=None, description="justificatif vu (ex. attestation France Travail), jamais le document"
    )
    checked_on: dt.date
    prescriber: Text


class ChecksIn(Strict):
    criteria: list[CriterionIn] = Field(min_length=1, max_length=50)


class BeneficiaryIn(Strict):
    first_name: Annotated[str, Field(min_length=1, max_length=100)]
    last_name: Annotated[str, Field(min_length=1, max_length=100)]
    birth_date: dt.date
    email: Annotated[str, Field(max_length=200)] | None = None
    phone: str | None = None
    gender: Gender
    commune_insee: str
    qpv: bool
    education_level: EducationLevel
    sectors: list[Sector] = Field(default_factory=list, max_length=len(Sector))
    criteria: list[CriterionIn] = Field(default_factory=list, max_length=50)

    @field_validator("commune_insee")
    @classmethod
    def _commune(cls, v: str) -> str:
        return _insee(v)

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v is not None and not EMAIL_RE.match(v):
            raise ValueError("adresse électronique invalide")
        return v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v is not None and not PHONE_RE.match(v):
            raise ValueError("numéro de téléphone invalide")
        return v

    @field_validator("birth_date")
    @classmethod
    def _birth(cls, v: dt.date) -> dt.date:
        if not dt.date(1900, 1, 1) <= v <= dt.date.today():
            raise ValueError("date de naissance invalide")
        return v


class CriterionOut(BaseModel):
    code: str
    proof_type: str | None
    checked_on: dt.date
    prescriber: str
    recorded_by: str | None = Field(description="le facilitateur qui a enregistré le contrôle (absent avant 12/2026)")


class IdentityOut(BaseModel):
    first_name: str
    last_name: str
    birth_date: dt.date
    email: str | None
    phone: str | None


class BeneficiaryFound(BaseModel):
    id: uuid.UUID
    first_name: str
    last_name: str
    birth_date: dt.date
    commune_insee: str
    enrolled_on: dt.date


class PlacementOut(BaseModel):
    id: uuid.UUID
    lot_id: uuid.UUID
    employer_siret: str
    structure_id: uuid.UUID | None
    structure_kind: str | None
    modality: str
    contract_type: str
    full_time: bool
    start_date: dt.date
    end_date: dt.date | None
    ended_on: dt.date | None
    exit_category: str | None
    follow_up_due_on: dt.date | None = Field(
        default=None, description="date à partir de laquelle le suivi à 6 mois de la sortie se saisit")


class FollowUpOut(BaseModel):
    id: uuid.UUID
    placement_id: uuid.UUID | None
    followed_up_on: dt.date
    situation: str


class BeneficiaryOut(BaseModel):
    id: uuid.UUID
    identity: IdentityOut | None = Field(description="absente après effacement")
    gender: str
    birth_year: int
    commune_insee: str
    qpv: bool
    education_level: str
    sectors: list[str]
    criteria: list[CriterionOut]
    enrolled_on: dt.date
    erased_on: dt.date | None
    eligibility: str = Field(description="éligible, à revérifier ou non éligible, aujourd'hui")
    eligibility_reasons: list[str]
    placements: list[PlacementOut] = Field(default_factory=list,
                                           description="le parcours, du plus ancien au plus récent")
    follow_ups: list[FollowUpOut] = Field(default_factory=list, description="suivis après la sortie")


class PlacementIn(Strict):
    lot_id: uuid.UUID
    beneficiary_id: uuid.UUID
    employer_siret: str
    structure_id: uuid.UUID | None = None
    modality: Modality
    contract_type: ContractType
    full_time: bool = True
    start_date: dt.date
    end_date: dt.date | None = None

    @field_validator("employer_siret")
    @classmethod
    def _employer(cls, v: str) -> str:
        return _siret(v)

    @model_validator(mode="after")
    def _dates(self) -> PlacementIn:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("la date de fin (end_date) précède la date de début (start_date)")
        return self


class PlacementEndIn(Strict):
    end_date: dt.date
    exit_category: ExitCategory


class FollowUpIn(Strict):
    followed_up_on: dt.date = Field(description="au moins 6 mois (MATCHING_FOLLOW_UP_MONTHS) après la sortie")
    situation: ExitCategory
    placement_id: uuid.UUID | None = Field(default=None, description="par défaut, le dernier parcours terminé")


class Created(BaseModel):
    id: uuid.UUID


class Anonymised(BaseModel):
    anonymised: int = Field(description="dossiers dont l'identité vient d'être effacée")


class CandidateOut(BaseModel):
    id: uuid.UUID
    score: int
    reasons: list[str]


class StructureCandidate(CandidateOut):
    name: str
    kind: str
    free_places: int


class BeneficiaryCandidate(CandidateOut):
    eligible: bool
    status: str


class CandidatesOut(BaseModel):
    lot_id: uuid.UUID
    on: dt.date
    modality: Modality | None
    qpv_priority: bool
    structures_total: int = Field(description="structures retenues, dont les `limit` premières sont listées")
    beneficiaries_total: int = Field(description="personnes retenues, dont les `limit` premières sont listées")
    structures: list[StructureCandidate]
    beneficiaries: list[BeneficiaryCandidate]
