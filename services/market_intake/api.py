"""HTTP routes of market_intake."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from contracts.codes import LotStatus, Sector
from services.market_intake import lifecycle, rules, service
from services.market_intake.models import Buyer, Market
from services.market_intake.schemas import (
    AmendmentIn,
    AmendmentOut,
    AwardIn,
    BuyerIn,
    BuyerOut,
    CloseIn,
    EstimateIn,
    EstimateOut,
    InvoiceIn,
    InvoiceOut,
    LotChangeOut,
    LotOut,
    MarketIn,
    MarketOut,
    Page,
    TerritoryOut,
)
from shared.auth import AnyRole, Facilitator, FacilitatorOrBuyer, Role
from shared.errors import Conflict, DomainError, NotFound
from shared.service import Ctx, SessionDep

router = APIRouter()


@router.post("/buyers", status_code=201, response_model=BuyerOut, tags=["acheteurs"])
async def create_buyer(body: BuyerIn, session: SessionDep, _: Facilitator) -> BuyerOut:
    buyer = Buyer(name=body.name, siret=body.siret, kind=body.kind)
    session.add(buyer)
    try:
        await session.commit()
    except IntegrityError as exc:
        raise Conflict("un acheteur avec ce SIRET existe déjà", field="siret") from exc
    return BuyerOut.model_validate(buyer, from_attributes=True)


@router.get("/buyers", response_model=list[BuyerOut], tags=["acheteurs"])
async def list_buyers(session: SessionDep, user: AnyRole) -> list[BuyerOut]:
    query = select(Buyer).order_by(Buyer.name)
    if user.role == Role.BUYER:
        query = query.where(Buyer.id == user.buyer_id)
    return [BuyerOut.model_validate(b, from_attributes=True) for b in (await session.scalars(query)).all()]


@router.post("/markets", status_code=201, response_model=MarketOut, tags=["marchés"])
async def submit_market(body: MarketIn, session: SessionDep, ctx: Ctx, user: FacilitatorOrBuyer) -> MarketOut:
    if user.role == Role.BUYER and body.buyer_id != user.buyer_id:
        raise DomainError("un acheteur ne peut soumettre que ses propres marchés", field="buyer_id", status=403)
    return await service.submit_market(session, ctx, body)


@router.get("/markets", response_model=Page, tags=["marchés"])
async def list_markets(
    session: SessionDep,
    user: AnyRole,
    buyer_id: uuid.UUID | None = None,
    status: LotStatus | None = None,
    sector: Sector | None = None,
    reference: Annotated[str | None, Query(max_length=100, description="part of the reference")] = None,
    submitted_from: dt.date | None = None,
    submitted_to: dt.date | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page:
    if user.role == Role.BUYER:
        if buyer_id is not None and buyer_id != user.buyer_id:
            raise DomainError("un acheteur ne voit que ses propres marchés", field="buyer_id", status=403)
        buyer_id = user.buyer_id
    query = service.search(buyer_id=buyer_id, status=status, sector=sector, reference=reference,
                           submitted_from=submitted_from, submitted_to=submitted_to)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    page = query.order_by(Market.created_at.desc(), Market.id).offset(offset).limit(limit)
    markets = list((await session.scalars(page)).all())
    return Page(items=await service.markets_out(session, markets), total=total, offset=offset, limit=limit)


@router.get("/markets/{market_id}", response_model=MarketOut, tags=["marchés"])
async def get_market(market_id: uuid.UUID, session: SessionDep, user: AnyRole) -> MarketOut:
    market = await session.get(Market, market_id)
    if market is None or not user.can_see_buyer(market.buyer_id):
        raise NotFound("marché introuvable")
    return await service.market_out(session, market)


@router.post("/markets/{market_id}/submit", response_model=MarketOut, tags=["marchés"])
async def submit_draft(market_id: uuid.UUID, session: SessionDep, ctx: Ctx, user: FacilitatorOrBuyer) -> MarketOut:
    """draft → submitted: the market and its lots are announced to the other services."""
    market = await session.get(Market, market_id, with_for_update=True)
    if market is None or not user.can_see_buyer(market.buyer_id):
        raise NotFound("marché introuvable")
    return await service.submit_draft(session, ctx, market)


@router.post("/clause-estimates", response_model=EstimateOut, tags=["clauses"])
async def estimate_clause(body: EstimateIn, ctx: Ctx, _: FacilitatorOrBuyer) -> EstimateOut:
    """The sizing calculator alone: nothing is stored."""
    return service.estimate(body, service.territory(ctx))


@router.get("/territory", response_model=TerritoryOut, tags=["clauses"])
async def territory_defaults(ctx: Ctx, _: AnyRole) -> TerritoryOut:
    """The territory's default sizing parameters (settings)."""
    t = service.territory(ctx)
    return TerritoryOut(
        labour_shares=dict(t.labour_share), works_sectors=sorted(t.works_sectors),
        works_cpv_division=rules.WORKS_CPV_DIVISION,
        insertion_rate_works=t.insertion_rate_works, insertion_rate_services=t.insertion_rate_services,
        hourly_cost_eur=t.hourly_cost_eur, hourly_cost_cleaning_eur=t.hourly_cost_cleaning_eur,
        minimum_hours=t.minimum_hours, cleaning_constant=t.cleaning_constant,
    )


@router.get("/lots/{lot_id}", response_model=LotOut, tags=["lots"])
async def get_lot(lot_id: uuid.UUID, session: SessionDep, user: AnyRole) -> LotOut:
    lot, _ = await lifecycle.load_lot(session, lot_id, user)
    return service.lot_out(lot)


@router.post("/lots/{lot_id}/award", response_model=LotChangeOut, tags=["lots"])
async def award_lot(
    lot_id: uuid.UUID, body: AwardIn, session: SessionDep, ctx: Ctx, user: FacilitatorOrBuyer
) -> LotChangeOut:
    return await lifecycle.award(session, ctx, lot_id, user, body)


@router.post("/lots/{lot_id}/amendments", status_code=201, response_model=LotChangeOut, tags=["lots"])
async def amend_lot(
    lot_id: uuid.UUID, body: AmendmentIn, session: SessionDep, ctx: Ctx, user: FacilitatorOrBuyer
) -> LotChangeOut:
    return await lifecycle.amend(session, ctx, lot_id, user, body)


@router.get("/lots/{lot_id}/amendments", response_model=list[AmendmentOut], tags=["lots"])
async def list_amendments(lot_id: uuid.UUID, session: SessionDep, user: AnyRole) -> list[AmendmentOut]:
    history = await lifecycle.amendments(session, lot_id, user)
    return [AmendmentOut.model_validate(a, from_attributes=True) for a in history]


@router.post("/lots/{lot_id}/invoices", status_code=201, response_model=LotChangeOut, tags=["lots"])
async def invoice_lot(
    lot_id: uuid.UUID, body: InvoiceIn, session: SessionDep, ctx: Ctx, user: FacilitatorOrBuyer
) -> LotChangeOut:
    return await lifecycle.invoice(session, ctx, lot_id, user, body)


@router.get("/lots/{lot_id}/invoices", response_model=list[InvoiceOut], tags=["lots"])
async def list_invoices(lot_id: uuid.UUID, session: SessionDep, user: AnyRole) -> list[InvoiceOut]:
    return [InvoiceOut.model_validate(i, from_attributes=True) for i in await lifecycle.invoices(session, lot_id, user)]


@router.post("/lots/{lot_id}/close", response_model=LotChangeOut, tags=["lots"])
async def close_lot(lot_id: uuid.UUID, session: SessionDep, ctx: Ctx, user: FacilitatorOrBuyer,
                    body: CloseIn | None = None) -> LotChangeOut:
    return await lifecycle.close(session, ctx, lot_id, user, body or CloseIn())
