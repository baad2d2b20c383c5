"""Events of matching (stream MATCHING). People travel as a pseudonymous id and a coarse profile only:
no name, no contact, no exact birth date, no eligibility proof (see tests/contracts/test_no_identity.py)."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field

from contracts.codes import ContractType, CriterionCode, ExitCategory, Gender, Modality, Sector, StructureKind


class StructureRegistered(BaseModel):
    structure_id: uuid.UUID
    siret: str
    name: str
    kind: StructureKind
    sectors: list[Sector]
    communes: list[str]
    capacity: int
    active: bool = True


class BeneficiaryEnrolled(BaseModel):
    beneficiary_id: uuid.UUID
    gender: Gender
    birth_year: int
    commune_insee: str
    qpv: bool
    education_level: str
    categories: list[CriterionCode]
    enrolled_on: dt.date


class PlacementStarted(BaseModel):
    placement_id: uuid.UUID
    lot_id: uuid.UUID
    beneficiary_id: uuid.UUID
    employer_siret: str
    structure_id: uuid.UUID | None = None
    structure_kind: StructureKind | None = None
    modality: Modality
    contract_type: ContractType
    start_date: dt.date
    end_date: dt.date | None = None
    eligible_until: dt.date | None = Field(
        default=None, description="last day of the person's clause eligibility window (24 months from the first clause "
                                  "contract, local policy of matching): hours after its month do not count")


class PlacementEnded(BaseModel):
    placement_id: uuid.UUID
    lot_id: uuid.UUID
    beneficiary_id: uuid.UUID
    end_date: dt.date
    exit_category: ExitCategory


class BeneficiaryFollowedUp(BaseModel):
    beneficiary_id: uuid.UUID
    placement_id: uuid.UUID | None = None
    followed_up_on: dt.date
    situation: ExitCategory


class BeneficiaryErased(BaseModel):
    beneficiary_id: uuid.UUID
    erased_on: dt.date
