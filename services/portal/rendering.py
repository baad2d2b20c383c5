"""Jinja2 templates and the page helpers: `render` adds the session, the CSRF token, the navigation and the flash
messages to every page; `install_error_pages` turns the portal's exceptions into French pages, never a stack trace."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.portal.clients import ServiceError, ServiceUnavailable
from services.portal.session import ROLE_LABELS, Forbidden, SignInRequired, UserSession, read_session, sign_in_url
from shared.auth import Role

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).parent / "templates"
FLASH_COOKIE = "cs_flash"

# Main navigation per role: (href, label). The facilitator's pages may extend their list.
NAV: dict[Role, list[tuple[str, str]]] = {
    Role.BUYER: [("/acheteur/marches", "Mes marchés"), ("/acheteur/marches/nouveau", "Déclarer un marché")],
    Role.FACILITATOR: [("/facilitateur", "Tableau de bord"), ("/financeur/bilan", "Bilans")],
    Role.FUNDER: [("/financeur/bilan", "Bilans")],
}
HOME = {Role.BUYER: "/acheteur/marches", Role.FACILITATOR: "/facilitateur", Role.FUNDER: "/financeur/bilan"}


# ---- filters ------------------------------------------------------------------------------------------------------
def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def fr_number(value: Any, places: int = 0) -> str:
    """1234567.5 → « 1 234 568 » (narrow no-break space between thousands, comma for decimals)."""
    number = _decimal(value)
    if number is None:
        return "" if value is None else str(value)
    text = f"{number:,.{places}f}"
    return text.replace(",", "\u202f").replace(".", ",")


def fr_eur(value: Any) -> str:
    return f"{fr_number(value, 2)}\u00a0€" if value is not None else ""


def fr_date(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return value.strftime("%d/%m/%Y") if isinstance(value, dt.date) else ""


def field_id(name: str) -> str:
    """The HTML id of a form field: `lots[0].amount_eur` → `lots-0-amount_eur` (error ids: `erreur-<id>`)."""
    return name.replace(".", "-").replace("[", "-").replace("]", "")


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(fr_number=fr_number, fr_eur=fr_eur, fr_date=fr_date, field_id=field_id)
    return env


templates = Jinja2Templates(env=_environment())


# ---- flash messages (one request later, in a short-lived cookie) ------------------------------------------------
def redirect(url: str, flash: str | None = None, level: str = "success") -> RedirectResponse:
    """A 303 to `url`, with a message shown once on the next page (level: success, info, warning, error)."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        value = base64.urlsafe_b64encode(json.dumps({"m": flash, "l": level}).encode()).decode().rstrip("=")
        response.set_cookie(FLASH_COOKIE, value, max_age=60, path="/", httponly=True, samesite="lax")
    return response


def _flashes(request: Request) -> list[dict[str, str]]:
    value = request.cookies.get(FLASH_COOKIE)
    if not value:
        return []
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return [{"message": str(data["m"]), "level": str(data["l"])}]
    except (ValueError, KeyError, TypeError):
        return []


def render(request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200,
           headers: dict[str, str] | None = None) -> HTMLResponse:
    session: UserSession | None = getattr(request.state, "session", None)
    flashes = _flashes(request)
    full = {
        "session": session,
        "csrf_token": session.csrf if session else "",
        "nav": NAV.get(session.role, []) if session else [],
        "role_label": ROLE_LABELS.get(session.role, "") if session else "",
        "flashes": flashes,
        "current_path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, full, status_code=status_code, headers=headers)
    if flashes:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    if getattr(request.state, "session", None) is None:
        request.state.session = read_session(request)  # keep the header's navigation when signed in
    if request.headers.get("hx-request"):  # an htmx fragment: the alert alone, swapped where the answer goes
        return render(request, "_alert.html", {"title": title, "message": message, "level": "error"},
                      status_code=status, headers={"HX-Retarget": "#alertes", "HX-Reswap": "innerHTML"})
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)


def install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        url = sign_in_url(exc.next_path)
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": url})
        return RedirectResponse(url, status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return error_page(request, 403, "Accès refusé", exc.message)

    @app.exception_handler(ServiceUnavailable)
    async def _unavailable(request: Request, exc: ServiceUnavailable) -> Response:
        message = f"{exc.label.capitalize()} ne répond pas pour le moment. Réessayez dans quelques minutes."
        return error_page(request, 503, "Service momentanément indisponible", message)

    @app.exception_handler(ServiceError)
    async def _refused(request: Request, exc: ServiceError) -> Response:
        titles = {404: "Page introuvable", 403: "Accès refusé", 401: "Session expirée"}
        if exc.status == 401:
            return RedirectResponse(sign_in_url(request.url.path), status_code=303)
        return error_page(request, exc.status if exc.status in titles else 400,
                          titles.get(exc.status, "Demande refusée"), exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _bad_address(request: Request, _: RequestValidationError) -> Response:
        return error_page(request, 404, "Page introuvable", "L'adresse demandée n'existe pas (identifiant ou "
                          "paramètre invalide).")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: ("Page introuvable", "L'adresse demandée n'existe pas ou n'est plus disponible."),
                  405: ("Action impossible", "Cette adresse n'accepte pas cette action.")}
        title, message = titles.get(exc.status_code, ("Demande refusée", "La demande n'a pas pu être traitée."))
        return error_page(request, exc.status_code, title, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("erreur inattendue")
        return error_page(request, 500, "Erreur inattendue",
                          "Une erreur inattendue s'est produite ; l'équipe technique a été alertée.")
