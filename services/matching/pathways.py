"""Use cases of a person's pathway: placement on a lot, its end (exit category), the 6-month follow-up.
Each changes state and writes its event in ONE transaction (outbox); events carry the pseudonymous id only."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import spec_for
from contracts.codes import ContractType, ExitCategory, Modality, StructureKind
from contracts.events.matching import BeneficiaryFollowedUp, PlacementEnded, PlacementStarted
from services.matching.domain import placements as rules
from services.matching.domain.eligibility import Criterion, placement_eligibility, window_last_day
from services.matching.models import Beneficiary, FollowUp, LotRef, Placement, Structure
from services.matching.schemas import FollowUpIn, PlacementEndIn, PlacementIn
from services.matching.service import criteria_of, first_start, follow_up_months, get_person, policy, today
from shared.errors import Conflict, DomainError, NotFound
from shared.service import ServiceContext

BENEFICIARY_FOLLOWED_UP = spec_for("beneficiary.followed_up")
PLACEMENT_STARTED = spec_for("placement.started")
PLACEMENT_ENDED = spec_for("placement.ended")


async def start_placement(session: AsyncSession, ctx: ServiceContext, body: PlacementIn) -> Placement:
    lot = await session.get(LotRef, body.lot_id)
    if lot is None:
        raise DomainError("lot inconnu de l'appariement (pas encore reçu de la gestion des marchés ?)",
                          field="lot_id", status=404)
    if (err := rules.lot_error(lot.status, lot.start_date, lot.end_date, body.start_date)) is not None:
        raise DomainError(err[1], field=err[0], status=409 if err[0] == "lot_id" else 422)
    # Locked (PostgreSQL; SQLite transactions are serialised anyway) so two requests cannot both pass the overlap check.
    person = await session.get(Beneficiary, body.beneficiary_id, with_for_update=True)
    if person is None:
        raise DomainError("bénéficiaire introuvable", field="beneficiary_id", status=404)
    if person.erased_on is not None:
        raise DomainError("bénéficiaire effacé : plus de mise en parcours possible", field="beneficiary_id",
                          status=409)
    structure = None
    if body.structure_id is not None:
        structure = await session.get(Structure, body.structure_id)
        if structure is None:
            raise DomainError("structure introuvable", field="structure_id", status=404)
    kind = structure.kind if structure else None
    if (err_s := rules.structure_error(kind, structure.modalities if structure else (),
                                       structure.active if structure else True, body.modality)) is not None:
        raise DomainError(err_s, field="structure_id")
    checks = [Criterion(c.code, c.checked_on) for c in await criteria_of(session, person.id)]
    employer = rules.employer_error(body.employer_siret, lot.company_siret, structure.siret if structure else None)
    if employer is not None:
        raise DomainError(employer, field="employer_siret")
    route = rules.siae_route(kind, body.modality)
    first = await first_start(session, person.id)
    elig = placement_eligibility(checks, first, route, body.start_date, policy(ctx))
    if not elig.eligible:
        raise DomainError(f"personne {elig.label} le {body.start_date} : {' ; '.join(elig.reasons)}",
                          field="beneficiary_id")
    spans = [
        rules.Span(p.start_date, p.ended_on or p.end_date, p.full_time)
        for p in (await session.scalars(select(Placement).where(Placement.beneficiary_id == person.id))).all()
    ]
    clash = rules.full_time_clash(rules.Span(body.start_date, body.end_date, body.full_time), spans)
    if clash is not None:
        until = f"au {clash.end}" if clash.end else "sans date de fin"
        raise DomainError(f"chevauche un parcours à temps plein du {clash.start} {until}", field="start_date",
                          status=409)
    placement = Placement(
        lot_id=lot.lot_id,
        beneficiary_id=person.id,
        employer_siret=body.employer_siret,
        structure_id=body.structure_id,
        structure_kind=kind,
        modality=body.modality,
        contract_type=body.contract_type,
        full_time=body.full_time,
        start_date=body.start_date,
        end_date=body.end_date,
    )
    session.add(placement)
    await ctx.outbox.emit(
        session,
        PLACEMENT_STARTED,
        PlacementStarted(
            placement_id=placement.id,
            lot_id=lot.lot_id,
            beneficiary_id=person.id,
            employer_siret=placement.employer_siret,
            structure_id=placement.structure_id,
            structure_kind=StructureKind(kind) if kind else None,
            modality=Modality(placement.modality),
            contract_type=ContractType(placement.contract_type),
            start_date=placement.start_date,
            end_date=placement.end_date,
            eligible_until=window_last_day(first, placement.start_date, policy(ctx)),
        ),
    )
    await session.commit()
    return placement


async def end_placement(
    session: AsyncSession, ctx: ServiceContext, placement_id: uuid.UUID, body: PlacementEndIn
) -> Placement:
    placement = await session.get(Placement, placement_id, with_for_update=True)
    if placement is None:
        raise NotFound("parcours introuvable")
    if placement.ended_on is not None:
        raise Conflict(f"parcours déjà terminé le {placement.ended_on}", field="end_date")
    if body.end_date < placement.start_date:
        raise DomainError(f"la date de fin précède le début du parcours ({placement.start_date})", field="end_date")
    if body.end_date > today():  # the exit situation is the one observed at the end: recorded once it has come
        raise DomainError("la date de fin est dans le futur : la sortie s'enregistre une fois le parcours terminé "
                          "(la fin prévue est la date de fin du parcours)", field="end_date")
    placement.ended_on = body.end_date
    placement.exit_category = body.exit_category
    await ctx.outbox.emit(
        session,
        PLACEMENT_ENDED,
        PlacementEnded(
            placement_id=placement.id,
            lot_id=placement.lot_id,
            beneficiary_id=placement.beneficiary_id,
            end_date=body.end_date,
            exit_category=ExitCategory(body.exit_category),
        ),
    )
    await session.commit()
    return placement


async def follow_up(
    session: AsyncSession, ctx: ServiceContext, beneficiary_id: uuid.UUID, body: FollowUpIn
) -> FollowUp:
    """The situation `follow_up_months` (6) after an exit: of the pathway named, or else of the person's last ended
    one. The follow-up is attached to that pathway, so the reports count it once, as its situation "at 6 months"."""
    person = await get_person(session, beneficiary_id)
    if body.placement_id is not None:
        placement = await session.get(Placement, body.placement_id)
        if placement is None or placement.beneficiary_id != person.id:
            raise DomainError("parcours introuvable pour ce bénéficiaire", field="placement_id", status=404)
        if placement.ended_on is None:
            raise DomainError("le parcours n'est pas terminé : enregistrez d'abord sa sortie", field="placement_id",
                              status=409)
    else:
        placement = await last_ended_placement(session, person.id)
        if placement is None:
            raise DomainError("aucun parcours terminé : le suivi porte sur la situation après une sortie",
                              field="placement_id", status=409)
    error = rules.follow_up_error(placement.ended_on, body.followed_up_on, follow_up_months(ctx))
    if error:
        raise DomainError(error, field="followed_up_on")
    if body.followed_up_on > today():
        raise DomainError("la date de suivi est dans le futur", field="followed_up_on")
    row = FollowUp(beneficiary_id=person.id, placement_id=placement.id, followed_up_on=body.followed_up_on,
                   situation=body.situation)
    session.add(row)
    await ctx.outbox.emit(
        session,
        BENEFICIARY_FOLLOWED_UP,
        BeneficiaryFollowedUp(beneficiary_id=person.id, placement_id=placement.id,
                              followed_up_on=body.followed_up_on, situation=ExitCategory(body.situation)),
    )
    await session.commit()
    return row


async def last_ended_placement(session: AsyncSession, beneficiary_id: uuid.UUID) -> Placement | None:
    query = select(Placement).where(Placement.beneficiary_id == beneficiary_id, Placement.ended_on.is_not(None))
    return await session.scalar(query.order_by(Placement.ended_on.desc(), Placement.created_at.desc()).limit(1))
