"""Use cases of a lot after submission: award, amendment, invoice, close.

Each one re-checks the lot's status, recomputes the obligation, bumps the lot's `version`, refreshes the market's
status and writes its v1 event (with the lot's full state) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import EventSpec, spec_for
from contracts.events.markets import LotAmended, LotAwarded, LotClosed, LotInvoiced
from services.market_intake import rules
from services.market_intake.models import Amendment, Invoice, Lot, Market
from services.market_intake.schemas import AmendmentIn, AwardIn, CloseIn, InvoiceIn, LotChangeOut
from services.market_intake.service import lot_out, lot_state, territory
from shared.auth import Principal
from shared.errors import Conflict, DomainError, NotFound
from shared.service import ServiceContext

LOT_AWARDED = spec_for("lot.awarded", producer="market_intake")
LOT_AMENDED = spec_for("lot.amended", producer="market_intake")
LOT_INVOICED = spec_for("lot.invoiced", producer="market_intake")
LOT_CLOSED = spec_for("lot.closed", producer="market_intake")


def _retry() -> Conflict:
    return Conflict("ce lot vient d'être modifié par une autre demande ; réessayez")


async def load_lot(
    session: AsyncSession, lot_id: uuid.UUID, user: Principal, *, lock: bool = False
) -> tuple[Lot, Market]:
    """The lot and its market, when `user` may see them (a buyer sees only its own: others are "not found")."""
    lot = await session.get(Lot, lot_id, with_for_update=lock)
    market = await session.get(Market, lot.market_id) if lot is not None else None
    if lot is None or market is None or not user.can_see_buyer(market.buyer_id):
        raise NotFound("lot introuvable")
    return lot, market


def _refuse(message: str | None) -> None:
    if message is not None:
        raise Conflict(message, field="status")


def _resize(lot: Lot, market: Market, ctx: ServiceContext) -> None:
    """Recompute the obligation from the lot's current figures, with the parameters it was sized with (the market's
    CPV code gives the default insertion rate of a lot whose parameters lack one)."""
    clause = rules.resize(lot.method, lot.sector, lot.parameters, amount_eur=lot.amount_eur,
                          months=rules.months_between(lot.start_date, lot.end_date), invoiced_eur=lot.invoiced_eur,
                          cpv_code=market.cpv_code)
    sizing = rules.size_clause(clause, territory(ctx))
    if (err := rules.hours_error(sizing.hours)) is not None:
        raise DomainError(err, field="amount_eur")
    lot.owed_hours = sizing.hours
    lot.formula = sizing.formula
    lot.parameters = dict(sizing.parameters)
    lot.warnings = list(sizing.warnings)


async def _bump(session: AsyncSession, lot: Lot, market: Market) -> None:
    """New version of the lot; the market's status follows its lots. Nothing is flushed before the commit, so a
    conflicting write fails there, where `_save` turns it into a 409."""
    lot.version += 1
    with session.no_autoflush:
        others = select(Lot.status).where(Lot.market_id == market.id, Lot.id != lot.id)
        statuses = list((await session.scalars(others)).all())
    market.status = rules.market_status([*statuses, lot.status])


async def _save(
    session: AsyncSession, ctx: ServiceContext, spec: EventSpec, event: BaseModel, conflict: Conflict
) -> None:
    """The event joins the lot's change in one transaction; a concurrent conflicting write becomes `conflict`."""
    try:
        await ctx.outbox.emit(session, spec, event)
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise conflict from exc


def _answer(lot: Lot) -> LotChangeOut:
    return LotChangeOut(lot_id=lot.id, committed_hours=lot.owed_hours, lot=lot_out(lot))


async def award(
    session: AsyncSession, ctx: ServiceContext, lot_id: uuid.UUID, user: Principal, body: AwardIn
) -> LotChangeOut:
    lot, market = await load_lot(session, lot_id, user, lock=True)
    _refuse(rules.award_refusal(lot.status))
    start, end = body.start_date or lot.start_date, body.end_date or lot.end_date
    if end < start:
        raise DomainError(f"la date de fin ({end}) précède la date de début ({start})", field="end_date")
    lot.company_siret, lot.company_name = body.company_siret, body.company_name
    lot.amount_eur, lot.start_date, lot.end_date = body.amount_eur, start, end
    lot.status = "awarded"
    _resize(lot, market, ctx)
    await _bump(session, lot, market)
    event = LotAwarded(lot=lot_state(lot, market), company_siret=body.company_siret, company_name=body.company_name,
                       awarded_amount_eur=body.amount_eur)
    await _save(session, ctx, LOT_AWARDED, event, _retry())
    return _answer(lot)


async def amend(
    session: AsyncSession, ctx: ServiceContext, lot_id: uuid.UUID, user: Principal, body: AmendmentIn
) -> LotChangeOut:
    lot, market = await load_lot(session, lot_id, user, lock=True)
    _refuse(rules.change_refusal(lot.status, "avenant"))
    end = body.end_date or lot.end_date
    if end < lot.start_date:
        raise DomainError(f"la nouvelle date de fin ({end}) précède la date de début du lot ({lot.start_date})",
                          field="end_date")
    last = select(func.coalesce(func.max(Amendment.number), 0)).where(Amendment.lot_id == lot.id)
    number = (await session.scalar(last)) + 1
    amendment = Amendment(lot_id=lot.id, number=number, reason=body.reason, previous_amount_eur=lot.amount_eur,
                          amount_eur=body.amount_eur or lot.amount_eur, previous_end_date=lot.end_date, end_date=end,
                          previous_owed_hours=lot.owed_hours, owed_hours=lot.owed_hours)
    lot.amount_eur, lot.end_date = amendment.amount_eur, end
    _resize(lot, market, ctx)
    amendment.owed_hours = lot.owed_hours
    session.add(amendment)
    await _bump(session, lot, market)
    event = LotAmended(lot=lot_state(lot, market), amendment_number=number, reason=body.reason)
    await _save(session, ctx, LOT_AMENDED, event, _retry())
    return _answer(lot)


async def invoice(
    session: AsyncSession, ctx: ServiceContext, lot_id: uuid.UUID, user: Principal, body: InvoiceIn
) -> LotChangeOut:
    lot, market = await load_lot(session, lot_id, user, lock=True)
    _refuse(rules.change_refusal(lot.status, "facture"))
    duplicate = Conflict(f"la facture « {body.reference} » est déjà enregistrée sur ce lot", field="reference")
    if await session.scalar(select(Invoice.id).where(Invoice.lot_id == lot.id, Invoice.reference == body.reference)):
        raise duplicate
    session.add(Invoice(lot_id=lot.id, reference=body.reference, amount_eur=body.amount_eur,
                        invoiced_on=body.invoiced_on))
    if lot.invoiced_eur + body.amount_eur > rules.MAX_AMOUNT_EUR:
        raise DomainError("le total facturé du lot dépasserait le maximum admis", field="amount_eur")
    lot.invoiced_eur += body.amount_eur
    _resize(lot, market, ctx)
    await _bump(session, lot, market)
    event = LotInvoiced(lot=lot_state(lot, market), invoice_amount_eur=body.amount_eur, invoiced_on=body.invoiced_on)
    await _save(session, ctx, LOT_INVOICED, event, duplicate)
    return _answer(lot)


async def close(
    session: AsyncSession, ctx: ServiceContext, lot_id: uuid.UUID, user: Principal, body: CloseIn
) -> LotChangeOut:
    lot, market = await load_lot(session, lot_id, user, lock=True)
    _refuse(rules.close_refusal(lot.status))
    lot.closed_on = body.closed_on or dt.datetime.now(dt.UTC).date()
    lot.status = "closed"
    await _bump(session, lot, market)
    await _save(session, ctx, LOT_CLOSED, LotClosed(lot=lot_state(lot, market), closed_on=lot.closed_on), _retry())
    return _answer(lot)


async def amendments(session: AsyncSession, lot_id: uuid.UUID, user: Principal) -> list[Amendment]:
    lot, _ = await load_lot(session, lot_id, user)
    query = select(Amendment).where(Amendment.lot_id == lot.id).order_by(Amendment.number)
    return list((await session.scalars(query)).all())


async def invoices(session: AsyncSession, lot_id: uuid.UUID, user: Principal) -> list[Invoice]:
    lot, _ = await load_lot(session, lot_id, user)
    query = select(Invoice).where(Invoice.lot_id == lot.id).order_by(Invoice.invoiced_on, Invoice.created_at)
    return list((await session.scalars(query)).all())
