"""Use cases of structures and beneficiaries: each changes state and writes its events in ONE transaction (outbox).

Nothing that identifies a person goes into an event: only the pseudonymous id and the coarse profile."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import spec_for
from contracts.codes import CriterionCode, Gender, Modality, Sector, StructureKind
from contracts.events.matching import BeneficiaryEnrolled, BeneficiaryErased, StructureRegistered
from services.matching.domain import placements as rules
from services.matching.domain.eligibility import (
    Criterion,
    EligibilityPolicy,
    clause_eligibility,
    criterion_error,
    proof_error,
)
from services.matching.domain.retention import anonymise_if_no_contact_since
from services.matching.domain.territory import Territory
from services.matching.models import Beneficiary, BeneficiaryIdentity, CriterionCheck, FollowUp, Placement, Structure
from services.matching.schemas import (
    BeneficiaryIn,
    BeneficiaryOut,
    ChecksIn,
    CriterionIn,
    CriterionOut,
    FollowUpOut,
    IdentityOut,
    PlacementOut,
    StructureIn,
)
from shared.errors import Conflict, DomainError, NotFound
from shared.service import ServiceContext

STRUCTURE_REGISTERED = spec_for("structure.registered")
BENEFICIARY_ENROLLED = spec_for("beneficiary.enrolled")
BENEFICIARY_ERASED = spec_for("beneficiary.erased")


def territory(ctx: ServiceContext) -> Territory:
    return ctx.extras["territory"]


def policy(ctx: ServiceContext) -> EligibilityPolicy:
    return ctx.extras["policy"]


def follow_up_months(ctx: ServiceContext) -> int:
    return ctx.extras["follow_up_months"]


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


# ---- structures ---------------------------------------------------------------------------------------------------
async def register_structure(session: AsyncSession, ctx: ServiceContext, body: StructureIn) -> Structure:
    terr = territory(ctx)
    for i, insee in enumerate(body.communes):
        if insee not in terr.communes:
            raise DomainError(f"commune {insee} inconnue du territoire", field=f"communes[{i}]")
    for i, siren in enumerate(body.epcis):
        if siren not in terr.epcis:
            raise DomainError(f"EPCI {siren} inconnu du territoire", field=f"epcis[{i}]")
    offered = body.modalities if body.modalities is not None else [m for m in Modality if rules.kind_carries(body.kind, m)]
    for i, modality in enumerate(offered):
        if not rules.kind_carries(body.kind, modality):
            label = rules.MODALITY_LABELS[modality]
            raise DomainError(f"une structure {body.kind} ne peut pas porter la modalité « {label} »",
                              field=f"modalities[{i}]")
    structure = Structure(
        siret=body.siret,
        name=body.name,
        kind=body.kind,
        sectors=list(dict.fromkeys(body.sectors)),
        modalities=list(dict.fromkeys(offered)),
        communes=body.communes,
        epcis=list(dict.fromkeys(body.epcis)),
        department=body.department,
        served=terr.served(body.communes, body.epcis, body.department),
        capacity=body.capacity,
        active=body.active,
    )
    session.add(structure)
    try:
        await session.flush()  # the unique SIRET is checked here, before the event is written
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"une structure avec le SIRET {body.siret} existe déjà", field="siret") from exc
    await ctx.outbox.emit(
        session,
        STRUCTURE_REGISTERED,
        StructureRegistered(
            structure_id=structure.id,
            siret=structure.siret,
            name=structure.name,
            kind=StructureKind(structure.kind),
            sectors=[Sector(s) for s in structure.sectors],
            communes=structure.served,
            capacity=structure.capacity,
            active=structure.active,
        ),
    )
    try:
        await session.commit()
    except IntegrityError as exc:  # registered concurrently by another request
        await session.rollback()
        raise Conflict(f"une structure avec le SIRET {body.siret} existe déjà", field="siret") from exc
    return structure


# ---- beneficiaries ------------------------------------------------------------------------------------------------
async def enroll(session: AsyncSession, ctx: ServiceContext, body: BeneficiaryIn, author: str) -> Beneficiary:
    if body.commune_insee not in territory(ctx).communes:
        raise DomainError(f"commune {body.commune_insee} inconnue du territoire", field="commune_insee")
    _check_criteria(body.criteria, body.birth_date, body.qpv, body.education_level, policy(ctx))
    person = Beneficiary(
        gender=body.gender,
        birth_year=body.birth_date.year,
        commune_insee=body.commune_insee,
        qpv=body.qpv,
        education_level=body.education_level,
        sectors=list(dict.fromkeys(body.sectors)),
        enrolled_on=today(),
    )
    session.add(person)
    await session.flush()
    session.add(
        BeneficiaryIdentity(
            beneficiary_id=person.id,
            first_name=body.first_name,
            last_name=body.last_name,
            birth_date=body.birth_date,
            email=body.email,
            phone=body.phone,
        )
    )
    session.add_all(_checks(person.id, body.criteria, author))
    await ctx.outbox.emit(session, BENEFICIARY_ENROLLED, _profile(person, {c.code for c in body.criteria}))
    await session.commit()
    return person


async def add_checks(session: AsyncSession, ctx: ServiceContext, beneficiary_id: uuid.UUID,
                     body: ChecksIn, author: str) -> Beneficiary:
    """New or renewed eligibility checks; the pseudonymous profile is published again with its categories."""
    person = await get_person(session, beneficiary_id)
    if person.erased_on is not None:
        raise Conflict("bénéficiaire effacé : son dossier ne reçoit plus de contrôle")
    identity = await session.get(BeneficiaryIdentity, person.id)
    if identity is None:  # deleted on erasure only
        raise Conflict("identité du bénéficiaire absente : son dossier ne reçoit plus de contrôle")
    _check_criteria(body.criteria, identity.birth_date, person.qpv, person.education_level, policy(ctx))
    session.add_all(_checks(person.id, body.criteria, author))
    codes = {c.code for c in await criteria_of(session, person.id)} | {c.code for c in body.criteria}
    await ctx.outbox.emit(session, BENEFICIARY_ENROLLED, _profile(person, codes))
    await session.commit()
    return person


def _check_criteria(criteria: list[CriterionIn], birth_date: dt.date, qpv: bool, education_level: str,
                    rules_of: EligibilityPolicy) -> None:
    now = today()
    for i, c in enumerate(criteria):
        if c.checked_on > now:
            raise DomainError("la date de contrôle est dans le futur", field=f"criteria[{i}].checked_on")
        if (error := criterion_error(c.code, c.checked_on, birth_date, qpv, education_level, rules_of)) is not None:
            raise DomainError(error, field=f"criteria[{i}].code")
        if (error := proof_error(c.code, c.proof_type)) is not None:
            raise DomainError(error, field=f"criteria[{i}].proof_type")


def _checks(beneficiary_id: uuid.UUID, criteria: list[CriterionIn], author: str) -> list[CriterionCheck]:
    return [
        CriterionCheck(beneficiary_id=beneficiary_id, code=c.code, proof_type=c.proof_type, checked_on=c.checked_on,
                       prescriber=c.prescriber, recorded_by=author)
        for c in criteria
    ]


def _profile(person: Beneficiary, codes: set[str]) -> BeneficiaryEnrolled:
    """The pseudonymous profile: no name, no contact, the birth year only."""
    return BeneficiaryEnrolled(
        beneficiary_id=person.id,
        gender=Gender(person.gender),
        birth_year=person.birth_year,
        commune_insee=person.commune_insee,
        qpv=person.qpv,
        education_level=person.education_level,
        categories=sorted(CriterionCode(c) for c in codes),
        enrolled_on=person.enrolled_on,
    )


async def get_person(session: AsyncSession, beneficiary_id: uuid.UUID) -> Beneficiary:
    person = await session.get(Beneficiary, beneficiary_id)
    if person is None:
        raise NotFound("bénéficiaire introuvable")
    return person


async def criteria_of(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[CriterionCheck]:
    query = select(CriterionCheck).where(CriterionCheck.beneficiary_id == beneficiary_id)
    return list((await session.scalars(query.order_by(CriterionCheck.checked_on, CriterionCheck.code))).all())


async def first_start(session: AsyncSession, beneficiary_id: uuid.UUID) -> dt.date | None:
    query = select(Placement.start_date).where(Placement.beneficiary_id == beneficiary_id)
    return (await session.scalars(query.order_by(Placement.start_date).limit(1))).first()


async def describe(session: AsyncSession, ctx: ServiceContext, beneficiary_id: uuid.UUID) -> BeneficiaryOut:
    """The person's file (facilitators only): identity unless erased, profile, checks, eligibility today."""
    person = await get_person(session, beneficiary_id)
    identity = await session.get(BeneficiaryIdentity, person.id)
    checks = await criteria_of(session, person.id)
    elig = clause_eligibility([Criterion(c.code, c.checked_on) for c in checks],
                              await first_start(session, person.id), today(), policy(ctx))
    return BeneficiaryOut(
        id=person.id,
        identity=IdentityOut.model_validate(identity, from_attributes=True) if identity else None,
        gender=person.gender,
        birth_year=person.birth_year,
        commune_insee=person.commune_insee,
        qpv=person.qpv,
        education_level=person.education_level,
        sectors=person.sectors,
        criteria=[CriterionOut.model_validate(c, from_attributes=True) for c in checks],
        enrolled_on=person.enrolled_on,
        erased_on=person.erased_on,
        eligibility=elig.label,
        eligibility_reasons=list(elig.reasons),
        placements=[placement_out(p, follow_up_months(ctx)) for p in await _pathway(session, person.id)],
        follow_ups=[FollowUpOut.model_validate(f, from_attributes=True) for f in await _follow_ups(session, person.id)],
    )


def placement_out(placement: Placement, months: int) -> PlacementOut:
    due = rules.follow_up_due(placement.ended_on, months) if placement.ended_on else None
    return PlacementOut.model_validate(placement, from_attributes=True).model_copy(update={"follow_up_due_on": due})


async def _pathway(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[Placement]:
    query = select(Placement).where(Placement.beneficiary_id == beneficiary_id)
    return list((await session.scalars(query.order_by(Placement.start_date, Placement.created_at))).all())


async def _follow_ups(session: AsyncSession, beneficiary_id: uuid.UUID) -> list[FollowUp]:
    query = select(FollowUp).where(FollowUp.beneficiary_id == beneficiary_id)
    return list((await session.scalars(query.order_by(FollowUp.followed_up_on))).all())


async def erase(session: AsyncSession, ctx: ServiceContext, beneficiary_id: uuid.UUID) -> None:
    """Delete the identity; the pseudonymous profile, checks and pathway stay. Erasing twice changes nothing."""
    person = await session.get(Beneficiary, beneficiary_id, with_for_update=True)
    if person is None:
        raise NotFound("bénéficiaire introuvable")
    if person.erased_on is not None:
        return
    await session.execute(delete(BeneficiaryIdentity).where(BeneficiaryIdentity.beneficiary_id == person.id))
    person.erased_on = today()
    await ctx.outbox.emit(
        session, BENEFICIARY_ERASED, BeneficiaryErased(beneficiary_id=person.id, erased_on=person.erased_on)
    )
    await session.commit()


async def anonymise_stale_files(session: AsyncSession, ctx: ServiceContext, on: dt.date | None = None) -> int:
    """Erase the identity of everyone without contact (enrolment, check, placement start or end, follow-up) for
    `retention_months`; returns how many files were anonymised. Each erasure is `erase`: its own transaction and event."""
    cutoff = anonymise_if_no_contact_since(on or today(), ctx.extras["retention_months"])
    b, c, p, f = (t.__table__.c for t in (Beneficiary, CriterionCheck, Placement, FollowUp))
    placement_end = func.coalesce(p.ended_on, p.end_date)  # ended early, or as planned; None: still running
    recent = [
        select(c.beneficiary_id).where(c.checked_on >= cutoff),
        select(p.beneficiary_id).where(or_(p.start_date >= cutoff, placement_end.is_(None), placement_end >= cutoff)),
        select(f.beneficiary_id).where(f.followed_up_on >= cutoff),
    ]
    due = (await session.scalars(
        select(b.id).where(b.erased_on.is_(None), b.enrolled_on < cutoff, *(b.id.not_in(q) for q in recent))
    )).all()
    await session.rollback()  # end the read before each erasure opens its own transaction
    for beneficiary_id in due:
        await erase(session, ctx, beneficiary_id)
    return len(due)
