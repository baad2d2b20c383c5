"""Sign-in with an access token, sign-out, and the home page that sends each role to its own pages."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.portal.clients import ServiceError, Services, ServicesDep, ServiceUnavailable
from services.portal.rendering import HOME, redirect, render
from services.portal.session import (
    ROLE_LABELS,
    CsrfChecked,
    CurrentSession,
    UserSession,
    close_session,
    open_session,
    principal_of,
    read_session,
)
from shared.auth import InvalidToken, Principal, Role

router = APIRouter()
SIGNIN_COOKIE = "cs_signin"  # double-submit token of the sign-in form (there is no session yet)


def _safe_next(path: str | None) -> str | None:
    """Only a path of this site (no scheme, no `//host`) may be the page to go back to after signing in."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return None


def _signin_page(request: Request, suite: str | None, error: str | None = None, status: int = 200) -> Response:
    form_token = secrets.token_urlsafe(24)
    response = render(request, "signin.html", {"suite": _safe_next(suite) or "", "error": error,
                                               "form_token": form_token}, status_code=status)
    response.set_cookie(SIGNIN_COOKIE, form_token, max_age=3600, path="/connexion", httponly=True, samesite="strict",
                        secure=request.app.state.settings.cookie_secure)
    return response


@router.get("/connexion", include_in_schema=False)
async def signin_form(request: Request, suite: str | None = None) -> Response:
    if read_session(request) is not None:
        return RedirectResponse(_safe_next(suite) or "/", status_code=303)
    return _signin_page(request, suite)


async def _display_name(services: Services, principal: Principal, token: str) -> str:
    if principal.role == Role.BUYER:
        probe = UserSession(token, principal.role, principal.buyer_id, "", "")
        try:
            buyers = await services.get("market_intake", "/buyers", probe)
            if buyers:
                return str(buyers[0]["name"])
        except (ServiceUnavailable, ServiceError):
            pass  # the name is a comfort: sign-in works while the market service is down
    if principal.subject and principal.subject not in {r.value for r in Role} | {"bootstrap"}:
        return principal.subject
    return ROLE_LABELS[principal.role].capitalize()


@router.post("/connexion", include_in_schema=False)
async def signin(
    request: Request,
    services: ServicesDep,
    token: Annotated[str, Form()] = "",
    form_token: Annotated[str, Form()] = "",
    suite: Annotated[str, Form()] = "",
) -> Response:
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    if not expected or not hmac.compare_digest(form_token, expected):
        return _signin_page(request, suite, "Formulaire expiré ou invalide : recommencez la connexion.", 403)
    token = token.strip()
    if not token:
        return _signin_page(request, suite, "Saisissez le jeton d'accès délivré par votre facilitateur.", 422)
    settings = request.app.state.settings
    try:
        principal = principal_of(settings, token)
    except InvalidToken as exc:
        return _signin_page(request, suite, f"Jeton d'accès refusé ({exc}). Vérifiez-le ou demandez-en un nouveau "
                                            "à votre facilitateur.", 422)
    name = await _display_name(services, principal, token)
    response = redirect(_safe_next(suite) or HOME[principal.role], f"Bienvenue, {name}.")
    open_session(response, settings, token, name)
    response.delete_cookie(SIGNIN_COOKIE, path="/connexion")
    return response


@router.post("/deconnexion", include_in_schema=False)
async def signout(request: Request, _: CsrfChecked) -> Response:
    response = redirect("/connexion", "Vous êtes déconnecté.", "info")
    close_session(response, request.app.state.settings)
    return response


@router.get("/", include_in_schema=False)
async def home(session: CurrentSession) -> Response:
    return RedirectResponse(HOME[session.role], status_code=303)
