"""HTTP routes of matching. People's files are for facilitators only; structures are public to every role."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy import func, select

from contracts.codes import Modality, Sector, StructureKind
from services.matching import candidates as load
from services.matching import pathways, service
from services.matching.models import Beneficiary, BeneficiaryIdentity, Structure
from services.matching.schemas import (
    Anonymised,
    BeneficiaryFound,
    BeneficiaryIn,
    BeneficiaryOut,
    CandidatesOut,
    ChecksIn,
    Created,
    FollowUpIn,
    PlacementEndIn,
    PlacementIn,
    StructureIn,
    StructureOut,
)
from shared.auth import AnyRole, Facilitator
from shared.service import Ctx, SessionDep

router = APIRouter()


@router.post("/structures", status_code=201, response_model=Created, tags=["structures"])
async def register_structure(body: StructureIn, session: SessionDep, ctx: Ctx, _: Facilitator) -> Created:
    return Created(id=(await service.register_structure(session, ctx, body)).id)


@router.get("/structures", response_model=list[StructureOut], tags=["structures"])
async def list_structures(
    session: SessionDep,
    _: AnyRole,
    kind: StructureKind | None = None,
    sector: Sector | None = None,
    commune: Annotated[str | None, Query(pattern=r"^\d{5}$|^2[AB]\d{3}$")] = None,
    active: bool | None = None,
) -> list[StructureOut]:
    query = select(Structure).order_by(Structure.name, Structure.id)
    if kind is not None:
        query = query.where(Structure.kind == kind)
    if active is not None:
        query = query.where(Structure.active.is_(active))
    rows = (await session.scalars(query)).all()
    return [
        StructureOut.model_validate(s, from_attributes=True)
        for s in rows
        if (sector is None or sector in s.sectors) and (commune is None or commune in s.served)
    ]


@router.post("/beneficiaries", status_code=201, response_model=Created, tags=["bénéficiaires"])
async def enroll(body: BeneficiaryIn, session: SessionDep, ctx: Ctx, user: Facilitator) -> Created:
    return Created(id=(await service.enroll(session, ctx, body, user.subject)).id)


@router.get("/beneficiaries", response_model=list[BeneficiaryFound], tags=["bénéficiaires"])
async def find_beneficiaries(
    session: SessionDep,
    _: Facilitator,
    q: Annotated[str, Query(min_length=2, max_length=100, description="nom et/ou prénom, ou une partie")],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[BeneficiaryFound]:
    """People whose first or last name contains every word of `q` (erased people have no name left to find)."""
    query = select(BeneficiaryIdentity, Beneficiary).join(
        Beneficiary, Beneficiary.id == BeneficiaryIdentity.beneficiary_id)
    for word in q.lower().split():
        query = query.where(func.lower(BeneficiaryIdentity.first_name).contains(word, autoescape=True)
                            | func.lower(BeneficiaryIdentity.last_name).contains(word, autoescape=True))
    query = query.order_by(BeneficiaryIdentity.last_name, BeneficiaryIdentity.first_name, Beneficiary.id).limit(limit)
    return [BeneficiaryFound(id=person.id, first_name=identity.first_name, last_name=identity.last_name,
                             birth_date=identity.birth_date, commune_insee=person.commune_insee,
                             enrolled_on=person.enrolled_on)
            for identity, person in (await session.execute(query)).all()]


@router.get("/beneficiaries/{beneficiary_id}", response_model=BeneficiaryOut, tags=["bénéficiaires"])
async def get_beneficiary(beneficiary_id: uuid.UUID, session: SessionDep, ctx: Ctx, _: Facilitator) -> BeneficiaryOut:
    return await service.describe(session, ctx, beneficiary_id)


@router.post("/beneficiaries/{beneficiary_id}/criteria", status_code=201, response_model=Created,
             tags=["bénéficiaires"])
async def add_checks(beneficiary_id: uuid.UUID, body: ChecksIn, session: SessionDep, ctx: Ctx,
                     user: Facilitator) -> Created:
    """New or renewed eligibility checks (a check older than the recheck delay must be renewed)."""
    return Created(id=(await service.add_checks(session, ctx, beneficiary_id, body, user.subject)).id)


@router.post("/beneficiaries/retention", response_model=Anonymised, tags=["bénéficiaires"])
async def retention(session: SessionDep, ctx: Ctx, _: Facilitator) -> Anonymised:
    """Anonymise every file without contact for `MATCHING_RETENTION_MONTHS` (24): identity erased, as on request.
    The service also runs it by itself every `MATCHING_RETENTION_INTERVAL_HOURS` (24)."""
    return Anonymised(anonymised=await service.anonymise_stale_files(session, ctx))


@router.delete("/beneficiaries/{beneficiary_id}", status_code=204, tags=["bénéficiaires"])
async def erase(beneficiary_id: uuid.UUID, session: SessionDep, ctx: Ctx, _: Facilitator) -> Response:
    await service.erase(session, ctx, beneficiary_id)
    return Response(status_code=204)


@router.post("/beneficiaries/{beneficiary_id}/follow-ups", status_code=201, response_model=Created,
             tags=["bénéficiaires"])
async def follow_up(beneficiary_id: uuid.UUID, body: FollowUpIn, session: SessionDep, ctx: Ctx,
                    _: Facilitator) -> Created:
    return Created(id=(await pathways.follow_up(session, ctx, beneficiary_id, body)).id)


@router.get("/lots/{lot_id}/candidates", response_model=CandidatesOut, tags=["candidats"])
async def candidates(
    lot_id: uuid.UUID,
    session: SessionDep,
    ctx: Ctx,
    _: Facilitator,
    modality: Modality | None = None,
    on: Annotated[dt.date | None, Query(description="début envisagé ; défaut : aujourd'hui ou début du lot")] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="candidats listés au plus, par liste ; défaut : "
                                           "réglage MATCHING_CANDIDATES_LIMIT (50) ; totaux dans *_total")] = None,
    qpv_priority: Annotated[bool | None, Query(description="priorité QPV pour ce lot ; défaut : réglage")] = None,
) -> CandidatesOut:
    return await load.for_lot(session, ctx, lot_id, modality=modality, on=on, limit=limit, qpv_priority=qpv_priority)


@router.post("/placements", status_code=201, response_model=Created, tags=["parcours"])
async def start_placement(body: PlacementIn, session: SessionDep, ctx: Ctx, _: Facilitator) -> Created:
    return Created(id=(await pathways.start_placement(session, ctx, body)).id)


@router.post("/placements/{placement_id}/end", response_model=Created, tags=["parcours"])
async def end_placement(placement_id: uuid.UUID, body: PlacementEndIn, session: SessionDep, ctx: Ctx,
                        _: Facilitator) -> Created:
    return Created(id=(await pathways.end_placement(session, ctx, placement_id, body)).id)
