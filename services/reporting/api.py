"""HTTP routes of reporting."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy import select

from services.reporting.models import LotView, MarketView
from services.reporting.schemas import LotReport, MarketReport
from shared.auth import AnyRole
from shared.errors import NotFound
from shared.service import SessionDep

router = APIRouter(tags=["bilans"])


@router.get("/reports/markets/{market_id}", response_model=MarketReport)
async def market_report(market_id: uuid.UUID, session: SessionDep, user: AnyRole) -> MarketReport:
    market = await session.get(MarketView, market_id)
    if market is None or not user.can_see_buyer(market.buyer_id):
        raise NotFound("marché introuvable (ou pas encore reçu par le service des bilans)")
    lots = (await session.scalars(select(LotView).where(LotView.market_id == market_id).order_by(LotView.number))).all()
    return MarketReport(
        market_id=market.market_id,
        buyer_id=market.buyer_id,
        buyer_name=market.buyer_name,
        reference=market.reference,
        title=market.title,
        owed_hours=sum((lot.owed_hours for lot in lots), start=0),
        lots=[LotReport.model_validate(lot, from_attributes=True) for lot in lots],
    )
