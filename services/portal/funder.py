"""The funder's pages: choose a quarter, a year or the cumulative of a year (1 January to the end of a quarter), for
all buyers or one; read the report with its charts, download XLSX / PDF / CSV with the same choices.

The report is the reporting service's own HTML page (figures, tables and inline SVG charts), embedded in the
portal's layout; downloads go through the portal with the user's token, which never reaches the browser. The buyers
to choose from are market_intake's `GET /buyers` (every role may read it; a funder gets every buyer), read with the
same token; reporting applies the funder's protection to one buyer's report as to all buyers'."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from services.portal.clients import ServiceError, Services, ServicesDep, ServiceUnavailable
from services.portal.rendering import render
from services.portal.session import FunderSession, UserSession

router = APIRouter(prefix="/financeur")

Period = Literal["quarterly", "annual", "year_to_date"]
PATHS = {"quarterly": "/reports/quarterly", "annual": "/reports/annual", "year_to_date": "/reports/year-to-date"}
DOWNLOADS = {"xlsx": "Tableur (XLSX)", "pdf": "Document (PDF)", "csv": "Données (CSV)"}
ALL_BUYERS = ("", "Tous les acheteurs")
BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)
Year = Annotated[str | None, Query(max_length=10)]
QuarterParam = Annotated[str | None, Query(max_length=2)]
BuyerParam = Annotated[str | None, Query(max_length=64)]


def report_fragment(page: str) -> Markup:
    """The body of the reporting service's HTML page, headings one level down (the portal's page has the h1).
    The page comes from our own reporting service, which escapes every text it prints."""
    match = BODY.search(page)
    body = match.group(1) if match else ""
    for level in (2, 1):
        body = re.sub(rf"<(/?)h{level}\b", rf"<\1h{level + 1}", body)
    return Markup(body)  # noqa: S704 - our own service's escaped HTML


def default_period(today: dt.date) -> tuple[int, int]:
    """The quarter in progress."""
    return today.year, (today.month - 1) // 3 + 1


def report_request(period: Period, year: str, quarter: str, buyer_id: str, fmt: str) -> tuple[str, dict[str, str]]:
    """The reporting call of a choice: a quarter and a year to date need the quarter, a year does not; one buyer is
    `buyer_id`, all buyers no parameter."""
    params = {"year": year, "format": fmt}
    if period != "annual":
        params["quarter"] = quarter
    if buyer_id:
        params["buyer_id"] = buyer_id
    return PATHS[period], params


def buyer_options(buyers: list[dict[str, Any]], chosen: str) -> list[tuple[str, str]]:
    """"Tous les acheteurs", then each buyer by name (its SIRET beside a name two buyers share); a chosen buyer
    missing from the list (not readable just now) stays selectable."""
    names = Counter(b["name"] for b in buyers)
    options = [ALL_BUYERS]
    for b in buyers:
        options.append((str(b["id"]), b["name"] if names[b["name"]] == 1 else f"{b['name']} (SIRET {b['siret']})"))
    if chosen and chosen not in {key for key, _ in options}:
        options.append((chosen, "Acheteur choisi"))
    return options


async def _buyers(services: Services, session: UserSession) -> tuple[list[dict[str, Any]], str | None]:
    """The buyers the user may choose from, or a French warning when market_intake cannot give them."""
    try:
        return list(await services.get("market_intake", "/buyers", session)), None
    except ServiceUnavailable as exc:
        reason = f"{exc.label} ne répond pas pour le moment"
    except ServiceError as exc:
        reason = exc.detail
    return [], f"Liste des acheteurs indisponible ({reason}) : le bilan de tous les acheteurs reste consultable."


@router.get("/bilan")
async def report_page(
    request: Request, session: FunderSession, services: ServicesDep,
    period: Period = "quarterly", year: Year = None, quarter: QuarterParam = None, buyer_id: BuyerParam = None,
) -> Response:
    this_year, this_quarter = default_period(dt.date.today())
    year = (year or str(this_year)).strip()
    quarter = (quarter or str(this_quarter)).strip()
    buyer_id = (buyer_id or "").strip()
    path, params = report_request(period, year, quarter, buyer_id, "html")

    async def report() -> tuple[Markup | None, dict[str, str], str | None]:
        try:
            response = await services.call_raw("reporting", "GET", path, session, params=params)
        except ServiceError as exc:
            return None, exc.errors, exc.detail
        return report_fragment(response.text), {}, None

    (fragment, errors, detail), (buyers, buyers_down) = await asyncio.gather(report(), _buyers(services, session))
    query = {"period": period, "year": year, "quarter": quarter} | ({"buyer_id": buyer_id} if buyer_id else {})
    context = {"period": period, "year": year, "quarter": quarter, "buyer_id": buyer_id, "report": fragment,
               "errors": errors, "detail": detail, "buyers": buyer_options(buyers, buyer_id),
               "buyers_down": buyers_down, "downloads": DOWNLOADS, "query": query}
    return render(request, "funder/report.html", context, status_code=422 if detail else 200)


@router.get("/bilan/telechargement")
async def download(
    session: FunderSession, services: ServicesDep, format: Literal["xlsx", "pdf", "csv"],  # noqa: A002
    period: Period = "quarterly", year: Annotated[str, Query(max_length=10)] = "",
    quarter: Annotated[str, Query(max_length=2)] = "", buyer_id: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    path, params = report_request(period, year, quarter, buyer_id.strip(), format)
    answer = await services.call_raw("reporting", "GET", path, session, params=params)
    headers = {k: v for k, v in answer.headers.items() if k.lower() == "content-disposition"}
    return Response(answer.content, media_type=answer.headers.get("content-type"), headers=headers)
