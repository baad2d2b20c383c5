"""The buyer's pages: its markets with each lot's progress, and the market form with the live clause estimate.

Form fields are named like the service's fields (`reference`, `lots[0].amount_eur`, `lots[0].clause.method`), so a
refusal from market_intake (`errors[].field`) lands next to the field it concerns without any mapping table."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.portal import labels
from services.portal.clients import ServiceError, Services, ServicesDep, ServiceUnavailable
from services.portal.rendering import field_id, redirect, render
from services.portal.session import BuyerForm, BuyerSession, UserSession

router = APIRouter(prefix="/acheteur")

LOT_FIELD = re.compile(r"^lots\[(\d+)\]\.(.+)$")
CPV_SHAPE = re.compile(r"^\d{8}(-\d)?$")  # a CPV code typed in full: the estimate's default rate follows it
NUMBER_FIELDS = {"amount_eur", "clause.hours", "clause.eur_per_hour"}
MARKET_FIELDS = ("reference", "title", "procedure", "cpv_code", "commune_insee")
LOT_FIELDS = ("title", "sector", "amount_eur", "start_date", "end_date", "clause.kind", "clause.method",
              "clause.hours", "clause.eur_per_hour")
MAX_LOTS = 30


# ---- pure helpers ----------------------------------------------------------------------------------------------
def plain_number(text: str) -> str:
    """« 1 250 000,50 » (as a French user types it) → « 1250000.50 »; anything else is passed on for the service
    to refuse with its own message."""
    return re.sub(r"[\s\u00a0\u202f]", "", text).replace(",", ".")


@dataclass
class MarketForm:
    """The market form as typed: field name → text, and how many lots it shows."""

    values: dict[str, str]
    lot_count: int

    @classmethod
    def parse(cls, form: FormData) -> MarketForm:
        values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
        indexes = [int(m.group(1)) for k in values if (m := LOT_FIELD.match(k))]
        count = max([*indexes, -1]) + 1
        try:
            count = max(count, int(values.get("lot_count", "1")))
        except ValueError:
            pass
        return cls(values, min(max(count, 1), MAX_LOTS))

    @classmethod
    def empty(cls) -> MarketForm:
        return cls({}, 1)

    def lot(self, index: int) -> dict[str, str]:
        return {name: self.values.get(f"lots[{index}].{name}", "") for name in LOT_FIELDS}

    def _clause(self, lot: dict[str, str]) -> dict[str, str]:
        clause = {"kind": lot["clause.kind"], "method": lot["clause.method"],
                  "hours": plain_number(lot["clause.hours"]), "eur_per_hour": plain_number(lot["clause.eur_per_hour"])}
        return {k: v for k, v in clause.items() if v}

    def to_request(self, buyer_id: uuid.UUID | None) -> dict[str, Any]:
        """The body of POST /markets. Empty fields are left out, so the service answers « champ obligatoire »."""
        body: dict[str, Any] = {k: self.values[k] for k in MARKET_FIELDS if self.values.get(k)}
        body["buyer_id"] = str(buyer_id)
        body["lots"] = []
        for index in range(self.lot_count):
            lot = self.lot(index)
            item: dict[str, Any] = {"number": index + 1, "clause": self._clause(lot)}
            for name in ("title", "sector", "start_date", "end_date"):
                if lot[name]:
                    item[name] = lot[name]
            if lot["amount_eur"]:
                item["amount_eur"] = plain_number(lot["amount_eur"])
            body["lots"].append(item)
        return body

    def estimate_request(self, index: int) -> dict[str, Any] | None:
        """The body of POST /clause-estimates for lot `index`, or None while the lot lacks what sizing needs."""
        lot = self.lot(index)
        method = lot["clause.method"]
        needs = {"rate": "amount_eur", "fixed_hours": "clause.hours", "per_amount_invoiced": "clause.eur_per_hour"}
        if method not in needs or not lot[needs[method]]:
            return None
        body: dict[str, Any] = {"method": method, **{k: v for k, v in self._clause(lot).items()
                                                     if k in ("hours", "eur_per_hour")}}
        if lot["sector"]:
            body["sector"] = lot["sector"]
        if lot["amount_eur"]:
            body["amount_eur"] = plain_number(lot["amount_eur"])
        if lot["start_date"] and lot["end_date"]:
            body["start_date"], body["end_date"] = lot["start_date"], lot["end_date"]
        if CPV_SHAPE.match(self.values.get("cpv_code", "")):  # works (division 45) or services: the default rate
            body["cpv_code"] = self.values["cpv_code"]
        return body


def field_label(field: str) -> str:
    """`lots[1].amount_eur` → « Lot 2 — Montant HT »."""
    if match := LOT_FIELD.match(field):
        return f"Lot {int(match.group(1)) + 1} — {labels.FIELD_LABELS.get(match.group(2), match.group(2))}"
    if match := re.fullmatch(r"lots\[(\d+)\]", field):
        return f"Lot {int(match.group(1)) + 1}"
    return labels.FIELD_LABELS.get(field, "Marché")


def place_errors(errors: dict[str, str]) -> dict[str, str]:
    """A refusal of a lot's clause as a whole (`lots[0].clause`) depends on the method: shown next to it."""
    return {(f"{key}.method" if key.endswith("].clause") else key): message for key, message in errors.items()}


def progress_view(progress: dict[str, Any]) -> dict[str, Any]:
    """Widths (in %) of the realised and forecast parts of a lot's progress bar."""
    owed, realised, forecast = (Decimal(str(progress[k])) for k in ("owed_hours", "realised_hours", "forecast_hours"))
    if owed <= 0:
        realised_width = Decimal(100)
        forecast_width = Decimal(0)
    else:
        realised_width = min(Decimal(100), realised * 100 / owed)
        forecast_width = max(Decimal(0), min(Decimal(100), forecast * 100 / owed) - realised_width)
    return {**progress, "realised_width": f"{realised_width:.1f}", "forecast_width": f"{forecast_width:.1f}"}


# ---- service calls ---------------------------------------------------------------------------------------------
async def lots_progress(services: Services, session: UserSession, lot_ids: list[str]) -> tuple[dict[str, Any], str | None]:
    """Each lot's progress from the hours service (None while it has not heard of the lot yet), and the name of
    the hours service when it does not answer: the markets still show, with a warning instead of the bars."""

    async def one(lot_id: str) -> tuple[str, Any]:
        try:
            return lot_id, progress_view(await services.get("hours", f"/lots/{lot_id}/progress", session))
        except ServiceError as exc:
            if exc.status == 404:
                return lot_id, None
            raise

    try:
        return dict(await asyncio.gather(*(one(i) for i in lot_ids))), None
    except ServiceUnavailable as exc:
        return {}, exc.label


def _market_page_context(markets: list[dict[str, Any]], progress: dict[str, Any], hours_down: str | None) -> dict:
    return {"markets": markets, "progress": progress, "hours_down": hours_down, "sectors": labels.SECTORS,
            "statuses": labels.LOT_STATUSES, "clause_kinds": labels.CLAUSE_KINDS}


# ---- pages -----------------------------------------------------------------------------------------------------
@router.get("/marches")
async def my_markets(request: Request, session: BuyerSession, services: ServicesDep) -> Response:
    page = await services.get("market_intake", "/markets", session, params={"limit": 200})
    markets = page["items"]
    progress, hours_down = await lots_progress(services, session, [lot["id"] for m in markets for lot in m["lots"]])
    return render(request, "buyer/markets.html", {**_market_page_context(markets, progress, hours_down),
                                                  "total": page["total"]})


def _form_page(request: Request, form: MarketForm, errors: dict[str, str] | None = None, detail: str | None = None,
               status_code: int = 200) -> Response:
    errors = place_errors(errors or {})
    summary = [(field_id(f), field_label(f), message) for f, message in errors.items()]
    return render(request, "buyer/market_form.html", {
        "form": form, "errors": errors, "detail": detail, "summary": summary,
        "sector_options": labels.options(labels.SECTORS), "kind_options": labels.options(labels.CLAUSE_KINDS),
        "method_options": labels.options(labels.METHODS), "procedure_options": labels.options(labels.PROCEDURES),
    }, status_code=status_code)


@router.get("/marches/nouveau")
async def new_market(request: Request, _: BuyerSession) -> Response:
    return _form_page(request, MarketForm.empty())


@router.post("/marches")
async def submit_market(request: Request, session: BuyerForm, services: ServicesDep) -> Response:
    form = MarketForm.parse(await request.form())
    action = form.values.get("action", "")
    if action == "ajouter_lot":
        form.lot_count = min(form.lot_count + 1, MAX_LOTS)
        return _form_page(request, form)
    if action == "retirer_lot":
        form.lot_count = max(form.lot_count - 1, 1)
        return _form_page(request, form)
    try:
        market = await services.post("market_intake", "/markets", session, json=form.to_request(session.buyer_id))
    except ServiceError as exc:
        return _form_page(request, form, exc.errors, exc.detail, status_code=422)
    owed = sum(Decimal(lot["target_hours"]) for lot in market["lots"])
    count = len(market["lots"])
    message = (f"Marché « {market['reference']} » enregistré : {count} lot{'s' if count > 1 else ''}, "
               f"{owed:.0f} heures d'insertion dues.")
    return redirect(f"/acheteur/marches/{market['id']}", message)


@router.post("/estimation/{index}")
async def live_estimate(index: int, request: Request, session: BuyerForm, services: ServicesDep) -> Response:
    """htmx: the clause estimate of one lot of the form, recomputed as the buyer types."""
    form = MarketForm.parse(await request.form())
    body = form.estimate_request(index)
    context: dict[str, Any] = {"index": index, "estimate": None, "errors": {}, "detail": None,
                               "parameters": labels.PARAMETERS}
    if body is not None:
        try:
            context["estimate"] = await services.post("market_intake", "/clause-estimates", session, json=body)
        except ServiceError as exc:
            context["errors"], context["detail"] = exc.errors, exc.detail
        except ServiceUnavailable as exc:
            context["detail"] = f"{exc.label.capitalize()} ne répond pas : l'estimation reviendra dans un instant."
    return render(request, "buyer/_estimate.html", context)


@router.get("/marches/{market_id}")
async def market_detail(market_id: uuid.UUID, request: Request, session: BuyerSession, services: ServicesDep) -> Response:
    market = await services.get("market_intake", f"/markets/{market_id}", session)  # another buyer's: 404
    progress, hours_down = await lots_progress(services, session, [lot["id"] for lot in market["lots"]])
    return render(request, "buyer/market.html", {**_market_page_context([market], progress, hours_down),
                                                 "market": market, "procedures": labels.PROCEDURES})
