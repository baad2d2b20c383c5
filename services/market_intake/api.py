"""HTTP routes of market_intake."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.market_intake import service
from services.market_intake.models import Buyer, Market
from services.market_intake.schemas import BuyerIn, BuyerOut, MarketIn, MarketOut, Page
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
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page:
    query = select(Market)
    if user.role == Role.BUYER:
        query = query.where(Market.buyer_id == user.buyer_id)
    if buyer_id is not None:
        query = query.where(Market.buyer_id == buyer_id)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    markets = (await session.scalars(query.order_by(Market.created_at.desc()).offset(offset).limit(limit))).all()
    items = [await service.market_out(session, m) for m in markets]
    return Page(items=items, total=total, offset=offset, limit=limit)


@router.get("/markets/{market_id}", response_model=MarketOut, tags=["marchés"])
async def get_market(market_id: uuid.UUID, session: SessionDep, user: AnyRole) -> MarketOut:
    market = await session.get(Market, market_id)
    if market is None or not user.can_see_buyer(market.buyer_id):
        raise NotFound("marché introuvable")
    return await service.market_out(session, market)



