"""The signed-in user's session: a signed, HttpOnly cookie holding the bearer token, and the FastAPI dependencies
that guard every page (sign-in required, role required, CSRF synchroniser token on every form).

The cookie `cs_session` is `v1.<payload>.<signature>`: the payload (base64 JSON) carries the token, the display name,
the CSRF token and the sign-in time; the signature is an HMAC-SHA256 with the portal's session secret. The token is
verified again with `shared.auth.verify_token` on every request, so an expired or revoked token ends the session."""

# No `from __future__ import annotations` here: FastAPI must see the dependency annotations built inside the
# factories below (they refer to the factories' arguments), which postponed evaluation would hide.
import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response

from services.portal.settings import PortalSettings
from shared.auth import InvalidToken, Principal, Role, verify_token

COOKIE = "cs_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class UserSession:
    token: str
    role: Role
    buyer_id: uuid.UUID | None
    name: str
    csrf: str


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to /connexion?suite=<path>."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """The session may not do this: the page answers 403 with `message`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


CSRF_REFUSED = "Formulaire expiré ou invalide : rechargez la page puis recommencez."
ROLE_LABELS = {Role.FACILITATOR: "facilitateur", Role.BUYER: "acheteur", Role.FUNDER: "financeur"}


# ---- cookie encoding -------------------------------------------------------------------------------------------
def _secret(settings: PortalSettings) -> bytes:
    secret = settings.session_secret or settings.token_secret
    if not secret:
        raise RuntimeError("PORTAL_SESSION_SECRET ou TOKEN_SECRET doit être défini pour signer les sessions")
    return hashlib.sha256(b"portal-session:" + secret.encode()).digest()


def _sign(key: bytes, body: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest()).rstrip(b"=").decode()


def encode_cookie(settings: PortalSettings, token: str, name: str, csrf: str, issued_at: float) -> str:
    payload = json.dumps({"t": token, "n": name, "c": csrf, "i": int(issued_at)}, separators=(",", ":"))
    body = "v1." + base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
    return f"{body}.{_sign(_secret(settings), body)}"


def decode_cookie(settings: PortalSettings, value: str) -> dict[str, object] | None:
    """The cookie's payload when its signature is right and it is not older than the session lifetime."""
    body, _, signature = value.rpartition(".")
    if not body.startswith("v1.") or not hmac.compare_digest(signature, _sign(_secret(settings), body)):
        return None
    try:
        raw = body.removeprefix("v1.")
        payload = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        issued_at = float(payload["i"])
    except (ValueError, KeyError, TypeError):
        return None
    if time.time() - issued_at > settings.session_hours * 3600:
        return None
    return payload


def principal_of(settings: PortalSettings, token: str) -> Principal:
    """Raises InvalidToken (with a French reason) when the token is not valid."""
    return verify_token(token, secret=settings.token_secret, facilitator_token=settings.facilitator_token)


def open_session(response: Response, settings: PortalSettings, token: str, name: str) -> None:
    """Set the session cookie (after `principal_of(token)` succeeded)."""
    value = encode_cookie(settings, token, name, secrets.token_urlsafe(32), time.time())
    response.set_cookie(COOKIE, value, max_age=int(settings.session_hours * 3600), path="/", httponly=True,
                        samesite="lax", secure=settings.cookie_secure)


def close_session(response: Response, settings: PortalSettings) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=settings.cookie_secure)


def read_session(request: Request) -> UserSession | None:
    settings: PortalSettings = request.app.state.settings
    value = request.cookies.get(COOKIE)
    payload = decode_cookie(settings, value) if value else None
    if payload is None:
        return None
    token = str(payload["t"])
    try:
        principal = principal_of(settings, token)
    except InvalidToken:
        return None
    return UserSession(token=token, role=principal.role, buyer_id=principal.buyer_id,
                       name=str(payload.get("n") or principal.subject), csrf=str(payload["c"]))


# ---- dependencies ------------------------------------------------------------------------------------------------
def next_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def current_session(request: Request) -> UserSession:
    session = read_session(request)
    if session is None:
        raise SignInRequired(next_path(request))
    request.state.session = session  # rendering reads it (navigation, CSRF field)
    return session


CurrentSession = Annotated[UserSession, Depends(current_session)]


def require_role(*roles: Role):  # noqa: ANN201 - a FastAPI dependency factory
    def check(session: CurrentSession) -> UserSession:
        if session.role not in roles:
            allowed = ", ".join(ROLE_LABELS[r] for r in roles)
            raise Forbidden(f"Cette page est réservée aux profils : {allowed}.")
        return session

    return check


async def _csrf_ok(request: Request, session: UserSession) -> UserSession:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()  # Starlette keeps the parsed form: the route reads it again for free
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, session.csrf):
        raise Forbidden(CSRF_REFUSED)
    return session


async def check_csrf(request: Request, session: CurrentSession) -> UserSession:
    """Every POST carries `csrf_token` (form field, or the X-CSRF-Token header for htmx) equal to the session's."""
    return await _csrf_ok(request, session)


def csrf_for(*roles: Role):  # noqa: ANN201 - a FastAPI dependency factory
    """CSRF check and role check together."""

    async def check(request: Request, session: Annotated[UserSession, Depends(require_role(*roles))]) -> UserSession:
        return await _csrf_ok(request, session)

    return check


CsrfChecked = Annotated[UserSession, Depends(check_csrf)]
FacilitatorSession = Annotated[UserSession, Depends(require_role(Role.FACILITATOR))]
FacilitatorForm = Annotated[UserSession, Depends(csrf_for(Role.FACILITATOR))]
BuyerSession = Annotated[UserSession, Depends(require_role(Role.BUYER))]
BuyerForm = Annotated[UserSession, Depends(csrf_for(Role.BUYER))]
FunderSession = Annotated[UserSession, Depends(require_role(Role.FUNDER, Role.FACILITATOR))]


def sign_in_url(path: str) -> str:
    return f"/connexion?suite={quote(path, safe='/')}"
