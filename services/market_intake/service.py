"""Use cases of market_intake: each one changes state and writes its events in ONE transaction (outbox)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import spec_for
from contracts.codes import BuyerKind, LotStatus, SizingMethod
from contracts.events.markets import LotClauseSized, LotState, MarketSubmitted
from services.market_intake import rules
from services.market_intake.models import Buyer, Lot, Market
from services.market_intake.schemas import ClauseIn, LotIn, LotOut, MarketIn, MarketOut
from shared.errors import Conflict, DomainError
from shared.service import ServiceContext

MARKET_SUBMITTED = spec_for("market.submitted")
LOT_CLAUSE_SIZED = spec_for("lot.clause_sized")


def territory(ctx: ServiceContext) -> rules.Territory:
    return ctx.extras.get("territory") or rules.Territory()


def size_lot(lot: LotIn, clause: ClauseIn, terr: rules.Territory) -> rules.Sizing:
    if clause.method == SizingMethod.RATE:
        return rules.size_by_rate(
            lot.amount_eur,
            lot.sector,
            terr,
            labour_share=clause.labour_share,
            insertion_rate=clause.insertion_rate,
            hourly_cost_eur=clause.hourly_cost_eur,
        )
    if clause.method == SizingMethod.FIXED_HOURS:
        assert clause.hours is not None  # checked by ClauseIn
        return rules.size_fixed(clause.hours, terr)
    assert clause.eur_per_hour is not None
    return rules.size_per_amount_invoiced(Decimal("0"), clause.eur_per_hour)


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
    market = Market(
        buyer_id=buyer.id,
        reference=body.reference,
        title=body.title,
        procedure=body.procedure,
        cpv_code=body.cpv_code,
        commune_insee=body.commune_insee,
        status=LotStatus.SUBMITTED,
    )
    terr = territory(ctx)
    sized: list[tuple[Lot, rules.Sizing]] = []
    for lot_in in body.lots:
        sizing = size_lot(lot_in, lot_in.clause, terr)
        parameters = dict(sizing.parameters)
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
            parameters=parameters,
            status=LotStatus.SUBMITTED,
        )
        sized.append((lot, sizing))

    session.add(market)
    try:
        await session.flush()  # the market row first: lots reference it; a duplicate reference fails here
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"la référence « {body.reference} » existe déjà pour cet acheteur", field="reference") from exc
    session.add_all([lot for lot, _ in sized])
    states = [lot_state(lot, market) for lot, _ in sized]
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
        [
            LotClauseSized(lot=state, formula=s.formula, parameters=s.parameters, warnings=s.warnings)
            for state, (_, s) in zip(states, sized, strict=True)
        ],
    )
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"la référence « {body.reference} » existe déjà pour cet acheteur", field="reference") from exc
    return MarketOut(
        id=market.id,
        buyer_id=market.buyer_id,
        reference=market.reference,
        title=market.title,
        cpv_code=market.cpv_code,
        commune_insee=market.commune_insee,
        status=market.status,
        lots=[_lot_out(lot, s.warnings) for lot, s in sized],
    )


def _lot_out(lot: Lot, warnings: list[str] | None = None) -> LotOut:
    return LotOut(
        id=lot.id,
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
        warnings=warnings or [],
    )


async def market_out(session: AsyncSession, market: Market) -> MarketOut:
    lots = (await session.scalars(select(Lot).where(Lot.market_id == market.id).order_by(Lot.number))).all()
    return MarketOut(
        id=market.id,
        buyer_id=market.buyer_id,
        reference=market.reference,
        title=market.title,
        cpv_code=market.cpv_code,
        commune_insee=market.commune_insee,
        status=market.status,
        lots=[_lot_out(lot) for lot in lots],
    )
