"""HTTP routes of reporting."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse
from nats.errors import Error as NatsError
from sqlalchemy import select

from services.reporting import formats, rules
from services.reporting.models import LotView, MarketView
from services.reporting.rebuild import rebuild
from services.reporting.schemas import LotReport, MarketReport
from services.reporting.service import Policy, Scope, build_report
from shared.auth import AnyRole, Facilitator, Principal, Role
from shared.errors import DomainError, NotFound
from shared.service import Ctx, ReadSessionDep

router = APIRouter(tags=["bilans"])

Format = Literal["json", "csv", "xlsx", "html", "pdf"]
Year = Annotated[int | None, Query(description="année, ex. 2026")]
Quarter = Annotated[int | None, Query(description="trimestre 1 à 4")]
BuyerId = Annotated[uuid.UUID | None, Query(description="restreindre à un acheteur")]
AsOf = Annotated[str | None, Query(description="date AAAA-MM-JJ : le bilan tel que l'historique était à cette date")]
# facilitators see everything; buyers their own markets, never eligibility reasons; funders aggregates only
AUDIENCE = {Role.FACILITATOR: rules.Audience.FACILITATOR, Role.BUYER: rules.Audience.BUYER,
            Role.FUNDER: rules.Audience.FUNDER}


def _scope(user: Principal, buyer_id: uuid.UUID | None, as_of: str | None) -> Scope:
    if user.role == Role.BUYER:
        if buyer_id is not None and buyer_id != user.buyer_id:
            raise DomainError("Un acheteur ne peut consulter que ses propres marchés (paramètre « buyer_id »).",
                              field="buyer_id", status=403)
        buyer_id = user.buyer_id
    return Scope(buyer_id=buyer_id, as_of=rules.parse_as_of(as_of))


async def _answer(ctx: Ctx, session: ReadSessionDep, user: Principal, period: rules.Period, scope: Scope,
                  fmt: str) -> Response:
    policy: Policy = ctx.extras["policy"]
    report = await build_report(session, period, scope, policy, audience=AUDIENCE[user.role])
    name = rules.file_name(period)
    if fmt == "csv":
        return Response(formats.to_csv(report), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if fmt == "xlsx":
        return Response(formats.to_xlsx(report),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    if fmt == "pdf":
        return Response(formats.to_pdf(report), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})
    if fmt == "html":
        return Response(formats.to_html(report), media_type="text/html; charset=utf-8")
    return JSONResponse(formats.to_json(report))


@router.get("/reports/quarterly")
async def quarterly_report(
    ctx: Ctx, session: ReadSessionDep, user: AnyRole, year: Year = None, quarter: Quarter = None,
    buyer_id: BuyerId = None, format: Format = "json", as_of: AsOf = None,  # noqa: A002 - the public parameter name
) -> Response:
    period = rules.quarter_period(year, quarter)
    return await _answer(ctx, session, user, period, _scope(user, buyer_id, as_of), format)


@router.get("/reports/annual")
async def annual_report(
    ctx: Ctx, session: ReadSessionDep, user: AnyRole, year: Year = None, buyer_id: BuyerId = None,
    format: Format = "json", as_of: AsOf = None,  # noqa: A002
) -> Response:
    period = rules.year_period(year)
    return await _answer(ctx, session, user, period, _scope(user, buyer_id, as_of), format)


@router.get("/reports/year-to-date")
async def year_to_date_report(
    ctx: Ctx, session: ReadSessionDep, user: AnyRole, year: Year = None,
    quarter: Annotated[int | None, Query(description="dernier trimestre du cumul, 1 à 4")] = None,
    buyer_id: BuyerId = None, format: Format = "json", as_of: AsOf = None,  # noqa: A002
) -> Response:
    """The cumulative of a year: 1 January to the end of `quarter`, compared with the same span of the year before."""
    period = rules.year_to_date_period(year, quarter)
    return await _answer(ctx, session, user, period, _scope(user, buyer_id, as_of), format)


@router.post("/admin/rebuild", tags=["administration"])
async def rebuild_projection(ctx: Ctx, _: Facilitator) -> dict[str, Any]:
    """Replay the streams from the start into fresh tables, swapped in when done (one transaction)."""
    try:
        result = await rebuild(ctx)
    except (OSError, NatsError) as exc:
        raise DomainError(f"Reconstruction impossible : NATS injoignable ({exc.__class__.__name__}).",
                          status=503) from exc
    return result.as_dict()


@router.get("/reports/markets/{market_id}", response_model=MarketReport)
async def market_report(market_id: uuid.UUID, session: ReadSessionDep, user: AnyRole) -> MarketReport:
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


