"""HTTP routes of hours."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from services.hours import imports, service
from services.hours.models import HourImport, LotRef, Placement
from services.hours.schemas import CorrectionIn, EntryOut, HoursIn, ImportOut, ImportStatusOut, ProgressOut
from services.hours.writer import entry_writer
from shared.auth import Facilitator, FacilitatorOrBuyer
from shared.errors import NotFound
from shared.service import Ctx, SessionDep

router = APIRouter()


@router.post("/hours", status_code=201, response_model=EntryOut, tags=["heures"])
async def record_hours(body: HoursIn, ctx: Ctx, user: Facilitator) -> Response:
    entry = await entry_writer(ctx).record(body, user.subject)
    # serialised once, as documented by response_model (FastAPI would validate the model again before serialising)
    return Response(entry.model_dump_json(), status_code=201, media_type="application/json")


@router.post("/hours/{entry_id}/corrections", status_code=201, response_model=EntryOut, tags=["heures"])
async def correct_hours(entry_id: uuid.UUID, body: CorrectionIn, session: SessionDep, ctx: Ctx,
                        user: Facilitator) -> EntryOut:
    return await service.correct(session, ctx, entry_id, body, user.subject)


@router.get("/hours", response_model=list[EntryOut], tags=["heures"])
async def hours_history(placement_id: uuid.UUID, session: SessionDep, user: FacilitatorOrBuyer) -> list[EntryOut]:
    placement = await session.get(Placement, placement_id)
    lot = await session.get(LotRef, placement.lot_id) if placement is not None else None
    if placement is None or (lot is not None and not user.can_see_buyer(lot.buyer_id)) or (lot is None and user.buyer_id):
        raise NotFound("placement introuvable")
    return await service.history(session, placement_id)


@router.post("/hours/imports", response_model=ImportOut, tags=["imports"],
             responses={422: {"model": ImportOut, "description": "fichier refusé : chaque ligne en erreur"}})
async def import_hours(
    ctx: Ctx,
    user: Facilitator,
    file: Annotated[UploadFile, File(description="relevé CSV ou XLSX")],
    accept_valid_rows: Annotated[bool, Form()] = False,
) -> JSONResponse:
    data = await file.read()
    answer, status = await imports.import_file(ctx, data, file.filename or "relevé", user.subject, accept_valid_rows)
    return JSONResponse(answer.model_dump(mode="json"), status_code=status)


def _status(imp: HourImport) -> ImportStatusOut:
    percent = Decimal(100) if imp.rows_total == 0 else Decimal(imp.rows_written * 100 // imp.rows_total)
    return ImportStatusOut(id=imp.id, filename=imp.filename, status=imp.status, rows_total=imp.rows_total,
                           rows_written=imp.rows_written, percent=percent, accepted=imp.accepted,
                           rejected=imp.rejected, already_recorded=imp.already_recorded, created_at=imp.created_at,
                           finished_at=imp.finished_at)


@router.get("/hours/imports", response_model=list[ImportStatusOut], tags=["imports"])
async def list_imports(session: SessionDep, _: Facilitator) -> list[ImportStatusOut]:
    query = select(HourImport).order_by(HourImport.created_at.desc()).limit(50)
    return [_status(i) for i in (await session.scalars(query)).all()]


@router.get("/hours/imports/{import_id}", response_model=ImportStatusOut, tags=["imports"])
async def import_status(import_id: uuid.UUID, session: SessionDep, _: Facilitator) -> ImportStatusOut:
    imp = await session.get(HourImport, import_id)
    if imp is None:
        raise NotFound("import introuvable")
    return _status(imp)


@router.get("/lots/{lot_id}/progress", response_model=ProgressOut, tags=["avancement"])
async def lot_progress(lot_id: uuid.UUID, session: SessionDep, ctx: Ctx, user: FacilitatorOrBuyer) -> ProgressOut:
    lot = await session.get(LotRef, lot_id)
    if lot is None or not user.can_see_buyer(lot.buyer_id):
        raise NotFound("lot introuvable")
    result = await service.compute_progress(session, ctx, lot)
    return service.progress_out(lot, result, await service.hours_by_modality(session, lot_id))
