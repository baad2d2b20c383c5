"""Use cases of market_intake: each one changes state and writes its events in ONE transaction (outbox)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import spec_for
from contracts.codes import BuyerKind, LotStatus
from contracts.events.markets import LotClauseSized, LotState, MarketSubmitted
from services.market_intake import rules
from services.market_intake.models import Buyer, Lot, Market
from services.market_intake.schemas import EstimateIn, EstimateOut, LotIn, LotOut, MarketIn, MarketOut
from shared.errors import Conflict, DomainError
from shared.service import ServiceContext

MARKET_SUBMITTED = spec_for("market.submitted")
LOT_CLAUSE_SIZED = spec_for("lot.clause_sized")


def territory(ctx: ServiceContext) -> rules.Territory:
    return ctx.extras.get("territory") or rules.Territory()


def clause_input(lot: LotIn, cpv_code: str) -> rules.ClauseInput:
    """A submitted lot's clause; the market's CPV code gives its default insertion rate (works or services)."""
    c = lot.clause
    return rules.ClauseInput(
        method=c.method, sector=lot.sector, amount_eur=lot.amount_eur,
        months=rules.months_between(lot.start_date, lot.end_date), labour_share=c.labour_share,
        insertion_rate=c.insertion_rate, hourly_cost_eur=c.hourly_cost_eur, hours=c.hours, eur_per_hour=c.eur_per_hour,
        transferred_monthly_hours=c.transferred_monthly_hours, cpv_code=cpv_code,
    )


def estimate(body: EstimateIn, terr: rules.Territory) -> EstimateOut:
    """The calculator alone; for per_amount_invoiced, `amount_eur` is the expected invoiced total. Without the
    market's `cpv_code`, the default insertion rate follows the lot's sector (the parameters say which rule)."""
    sizing = rules.size_clause(
        rules.ClauseInput(
            method=body.method, sector=body.sector, amount_eur=body.amount_eur, months=body.duration(),
            labour_share=body.labour_share, insertion_rate=body.insertion_rate, hourly_cost_eur=body.hourly_cost_eur,
            hours=body.hours, eur_per_hour=body.eur_per_hour, transferred_monthly_hours=body.transferred_monthly_hours,
            invoiced_eur=body.amount_eur or Decimal("0"), cpv_code=body.cpv_code,
        ),
        terr,
    )
    return EstimateOut(hours=sizing.hours, formula=sizing.formula, parameters=sizing.parameters,
                       defaults_used=list(sizing.defaults_used), warnings=sizing.warnings)


def lot_state(lot: Lot, market: Market) -> LotState:
    return LotState(
        lot_id=lot.id,
        market_id=market.id,
        buyer_id=market.buyer_id,
        number=lot.number,
        title=lot.title,
        sector=lot.sector,
        clause_kind=lot.clause_kind,
        method=lot.method,
        amount_eur=lot.amount_eur,
        start_date=lot.start_date,
        end_date=lot.end_date,
        owed_hours=lot.owed_hours,
        status=lot.status,
        version=lot.version,
        company_siret=lot.company_siret,
        company_name=lot.company_name,
        invoiced_eur=lot.invoiced_eur,
    )


async def submit_market(session: AsyncSession, ctx: ServiceContext, body: MarketIn) -> MarketOut:
    buyer = await session.get(Buyer, body.buyer_id)
    if buyer is None:
        raise DomainError("acheteur inconnu", field="buyer_id")
    if (err := rules.commune_error(body.commune_insee, ctx.extras.get("communes", {}))) is not None:
        raise DomainError(err, field="commune_insee")
    duplicate = Conflict(f"la référence « {body.reference} » existe déjà pour cet acheteur", field="reference")
    if await session.scalar(select(Market.id).where(Market.buyer_id == buyer.id, Market.reference == body.reference)):
        raise duplicate
    status = LotStatus.DRAFT if body.draft else LotStatus.SUBMITTED
    market = Market(
        buyer_id=buyer.id,
        reference=body.reference,
        title=body.title,
        procedure=body.procedure,
        cpv_code=body.cpv_code,
        commune_insee=body.commune_insee,
        status=status,
    )
    terr = territory(ctx)
    lots: list[Lot] = []
    for index, lot_in in enumerate(body.lots):
        sizing = rules.size_clause(clause_input(lot_in, body.cpv_code), terr)
        if (err := rules.hours_error(sizing.hours)) is not None:
            raise DomainError(err, field=f"lots[{index}]")
        lot = Lot(
            market_id=market.id,
            number=lot_in.number,
            title=lot_in.title,
            sector=lot_in.sector,
            clause_kind=lot_in.clause.kind,
            method=lot_in.clause.method,
            amount_eur=lot_in.amount_eur,
            start_date=lot_in.start_date,
            end_date=lot_in.end_date,
            owed_hours=sizing.hours,
            formula=sizing.formula,
            parameters=dict(sizing.parameters),
            warnings=list(sizing.warnings),
            status=status,
        )
        lots.append(lot)

    try:
        session.add(market)
        await session.flush()  # the market row first: lots reference it (a concurrent duplicate fails here)
    except IntegrityError as exc:
        await session.rollback()
        raise duplicate from exc
    session.add_all(lots)
    if not body.draft:
        await emit_submitted(session, ctx, buyer, market, lots)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise duplicate from exc
    return market_view(market, lots)


async def emit_submitted(
    session: AsyncSession, ctx: ServiceContext, buyer: Buyer, market: Market, lots: list[Lot]
) -> None:
    """market.submitted with every lot's state, and one lot.clause_sized per lot with its formula and parameters."""
    states = [lot_state(lot, market) for lot in lots]
    await ctx.outbox.emit(
        session,
        MARKET_SUBMITTED,
        MarketSubmitted(
            market_id=market.id,
            buyer_id=buyer.id,
            buyer_name=buyer.name,
            buyer_kind=BuyerKind(buyer.kind),
            reference=market.reference,
            title=market.title,
            cpv_code=market.cpv_code,
            commune_insee=market.commune_insee,
            lots=states,
        ),
    )
    await ctx.outbox.emit_many(
        session,
        LOT_CLAUSE_SIZED,
        [LotClauseSized(lot=state, formula=lot.formula, parameters=lot.parameters, warnings=lot.warnings)
         for state, lot in zip(states, lots, strict=True)],
    )


async def submit_draft(session: AsyncSession, ctx: ServiceContext, market: Market) -> MarketOut:
    """draft → submitted: the market and its lots become known to the other services."""
    if market.status != LotStatus.DRAFT:
        raise Conflict("ce marché est déjà soumis", field="status")
    lots = list((await session.scalars(select(Lot).where(Lot.market_id == market.id))).all())
    market.status = LotStatus.SUBMITTED
    for lot in lots:
        lot.status = LotStatus.SUBMITTED
    buyer = await session.get(Buyer, market.buyer_id)
    assert buyer is not None  # foreign key
    await emit_submitted(session, ctx, buyer, market, lots)
    await session.commit()
    return market_view(market, lots)


def lot_out(lot: Lot) -> LotOut:
    return LotOut(
        id=lot.id,
        market_id=lot.market_id,
        number=lot.number,
        title=lot.title,
        sector=lot.sector,
        amount_eur=lot.amount_eur,
        start_date=lot.start_date,
        end_date=lot.end_date,
        clause_kind=lot.clause_kind,
        method=lot.method,
        target_hours=lot.owed_hours,
        formula=lot.formula,
        parameters=lot.parameters,
        status=lot.status,
        version=lot.version,
        company_siret=lot.company_siret,
        company_name=lot.company_name,
        invoiced_eur=lot.invoiced_eur,
        closed_on=lot.closed_on,
        warnings=lot.warnings or [],
    )


def market_view(market: Market, lots: list[Lot]) -> MarketOut:
    return MarketOut(
        id=market.id,
        buyer_id=market.buyer_id,
        reference=market.reference,
        title=market.title,
        procedure=market.procedure,
        cpv_code=market.cpv_code,
        commune_insee=market.commune_insee,
        status=market.status,
        lots=[lot_out(lot) for lot in sorted(lots, key=lambda lot: lot.number)],
    )


async def market_out(session: AsyncSession, market: Market) -> MarketOut:
    return (await markets_out(session, [market]))[0]


async def markets_out(session: AsyncSession, markets: list[Market]) -> list[MarketOut]:
    """Markets with their lots, in one query for the lots."""
    ids = [m.id for m in markets]
    lots = (await session.scalars(select(Lot).where(Lot.market_id.in_(ids)))).all() if ids else []
    by_market: dict = {}
    for lot in lots:
        by_market.setdefault(lot.market_id, []).append(lot)
    return [market_view(m, by_market.get(m.id, [])) for m in markets]


def search(
    *,
    buyer_id: object | None = None,
    status: str | None = None,
    sector: str | None = None,
    reference: str | None = None,
    submitted_from: dt.date | None = None,
    submitted_to: dt.date | None = None,
):  # noqa: ANN201 - a SQLAlchemy Select
    """The facilitators' search over markets; every filter is optional."""
    query = select(Market)
    if buyer_id is not None:
        query = query.where(Market.buyer_id == buyer_id)
    if status is not None:
        query = query.where(Market.status == status)
    if sector is not None:
        query = query.where(Market.id.in_(select(Lot.market_id).where(Lot.sector == sector)))
    if reference:
        query = query.where(func.lower(Market.reference).contains(reference.lower(), autoescape=True))
    if submitted_from is not None:
        query = query.where(Market.created_at >= dt.datetime.combine(submitted_from, dt.time(), dt.UTC))
    if submitted_to is not None:
        end = dt.datetime.combine(submitted_to + dt.timedelta(days=1), dt.time(), dt.UTC)
        query = query.where(Market.created_at < end)
    return query
