"""The funder's pages: choose a quarter or a year, read the report with its charts, download XLSX / PDF / CSV.

The report is the reporting service's own HTML page (figures, tables and inline SVG charts), embedded in the
portal's layout; downloads go through the portal with the user's token, which never reaches the browser."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from services.portal.clients import ServiceError, ServicesDep
from services.portal.rendering import render
from services.portal.session import FunderSession

router = APIRouter(prefix="/financeur")

Period = Literal["quarterly", "annual"]
DOWNLOADS = {"xlsx": "Tableur (XLSX)", "pdf": "Document (PDF)", "csv": "Données (CSV)"}
BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


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


def _params(period: Period, year: str, quarter: str, fmt: str) -> tuple[str, dict[str, str]]:
    params = {"year": year, "format": fmt}
    if period == "quarterly":
        params["quarter"] = quarter
        return "/reports/quarterly", params
    return "/reports/annual", params


@router.get("/bilan")
async def report_page(
    request: Request, session: FunderSession, services: ServicesDep,
    period: Period = "quarterly", year: Annotated[str | None, Query(max_length=10)] = None,
    quarter: Annotated[str | None, Query(max_length=2)] = None,
) -> Response:
    this_year, this_quarter = default_period(dt.date.today())
    year = (year or str(this_year)).strip()
    quarter = (quarter or str(this_quarter)).strip()
    path, params = _params(period, year, quarter, "html")
    context = {"period": period, "year": year, "quarter": quarter, "report": None, "errors": {}, "detail": None,
               "downloads": DOWNLOADS, "query": {"period": period, "year": year, "quarter": quarter}}
    try:
        response = await services.call_raw("reporting", "GET", path, session, params=params)
        context["report"] = report_fragment(response.text)
    except ServiceError as exc:
        context["errors"], context["detail"] = exc.errors, exc.detail
    return render(request, "funder/report.html", context, status_code=422 if context["detail"] else 200)


@router.get("/bilan/telechargement")
async def download(
    session: FunderSession, services: ServicesDep, format: Literal["xlsx", "pdf", "csv"],  # noqa: A002
    period: Period = "quarterly", year: Annotated[str, Query(max_length=10)] = "",
    quarter: Annotated[str, Query(max_length=2)] = "",
) -> Response:
    path, params = _params(period, year, quarter, format)
    answer = await services.call_raw("reporting", "GET", path, session, params=params)
    headers = {k: v for k, v in answer.headers.items() if k.lower() == "content-disposition"}
    return Response(answer.content, media_type=answer.headers.get("content-type"), headers=headers)
