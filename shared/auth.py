"""Bearer-token authentication with roles, the same in every service.

- `FACILITATOR_TOKEN` (environment) is the bootstrap facilitator token.
- Other tokens are signed (HMAC-SHA256 with `TOKEN_SECRET`, shared by all services) and carry their role, the buyer
  organisation for `buyer` tokens, a subject and an expiry, so any service verifies them without a shared database.
  Rotating `TOKEN_SECRET` revokes them all. Issue one with `python -m shared.auth --role buyer --buyer-id <uuid>`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request

TOKEN_PREFIX = "cs1"


class Role(StrEnum):
    FACILITATOR = "facilitator"
    BUYER = "buyer"
    FUNDER = "funder"


@dataclass(frozen=True)
class Principal:
    role: Role
    subject: str
    buyer_id: uuid.UUID | None = None

    def can_see_buyer(self, buyer_id: uuid.UUID) -> bool:
        """Facilitators and funders see every buyer (funders only in aggregates); a buyer sees itself."""
        return self.role != Role.BUYER or self.buyer_id == buyer_id


class InvalidToken(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(
    secret: str, role: Role, *, buyer_id: uuid.UUID | None = None, subject: str = "", ttl_seconds: int = 365 * 86400
) -> str:
    if role == Role.BUYER and buyer_id is None:
        raise ValueError("un jeton acheteur doit désigner son organisation (buyer_id)")
    claims = {"r": role.value, "s": subject or role.value, "exp": int(time.time()) + ttl_seconds, "n": secrets.token_hex(4)}
    if buyer_id is not None:
        claims["b"] = str(buyer_id)
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), f"{TOKEN_PREFIX}.{body}".encode(), hashlib.sha256).digest())
    return f"{TOKEN_PREFIX}.{body}.{sig}"


def verify_token(token: str, *, secret: str | None, facilitator_token: str | None) -> Principal:
    if facilitator_token and hmac.compare_digest(token, facilitator_token):
        return Principal(Role.FACILITATOR, "bootstrap")
    parts = token.split(".")
    if secret is None or len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise InvalidToken("jeton inconnu")
    expected = _b64(hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, parts[2]):
        raise InvalidToken("signature invalide")
    try:
        claims = json.loads(_unb64(parts[1]))
        role = Role(claims["r"])
        buyer_id = uuid.UUID(claims["b"]) if "b" in claims else None
        expires = int(claims["exp"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidToken("contenu illisible") from exc
    if expires < time.time():
        raise InvalidToken("jeton expiré")
    if role == Role.BUYER and buyer_id is None:
        raise InvalidToken("jeton acheteur sans organisation")
    return Principal(role, str(claims.get("s", role.value)), buyer_id)


async def current_principal(request: Request) -> Principal:
    """Async although it never awaits: FastAPI runs a plain `def` dependency in a worker thread, a hand-off that
    costs more than checking the token itself."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "Authentification requise : en-tête « Authorization: Bearer <jeton> ».",
                            headers={"WWW-Authenticate": "Bearer"})
    settings = request.app.state.ctx.settings
    try:
        return verify_token(token.strip(), secret=settings.token_secret, facilitator_token=settings.facilitator_token)
    except InvalidToken as exc:
        raise HTTPException(401, f"Jeton d'accès invalide ({exc}).", headers={"WWW-Authenticate": "Bearer"}) from exc


_LABELS = {Role.FACILITATOR: "facilitateur", Role.BUYER: "acheteur", Role.FUNDER: "financeur"}


def require(*roles: Role):  # noqa: ANN201 - a FastAPI dependency factory
    """Dependency: the caller must hold one of `roles`."""

    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(_LABELS[r] for r in roles)
            raise HTTPException(403, f"Action réservée aux rôles : {allowed}.")
        return principal

    return check


CurrentUser = Annotated[Principal, Depends(current_principal)]
Facilitator = Annotated[Principal, Depends(require(Role.FACILITATOR))]
FacilitatorOrBuyer = Annotated[Principal, Depends(require(Role.FACILITATOR, Role.BUYER))]
AnyRole = Annotated[Principal, Depends(require(Role.FACILITATOR, Role.BUYER, Role.FUNDER))]


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description="Émet un jeton d'accès signé (TOKEN_SECRET).")
    parser.add_argument("--role", required=True, choices=[r.value for r in Role])
    parser.add_argument("--buyer-id", type=uuid.UUID)
    parser.add_argument("--subject", default="")
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    secret = os.environ.get("TOKEN_SECRET")
    if not secret:
        raise SystemExit("TOKEN_SECRET n'est pas défini.")
    print(issue_token(secret, Role(args.role), buyer_id=args.buyer_id, subject=args.subject, ttl_seconds=args.days * 86400))


if __name__ == "__main__":
    main()
