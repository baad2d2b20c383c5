"""Requests and calls shared by the market_intake tests."""

from __future__ import annotations

import uuid
from typing import Any

from harness import SECRET

from examples import buyer_request, market_request
from shared.auth import Role, issue_token

VILLE_DE_RENNES_SIRET = "21350238800019"
COMPANY_SIRET = "44306184100047"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def buyer_token(buyer_id: str) -> dict[str, str]:
    return bearer(issue_token(SECRET, Role.BUYER, buyer_id=uuid.UUID(buyer_id)))


def funder_token() -> dict[str, str]:
    return bearer(issue_token(SECRET, Role.FUNDER))


async def new_buyer(client, name: str = "Rennes Métropole", siret: str | None = None) -> str:
    body = buyer_request(name, siret) if siret else buyer_request(name)
    response = await client.post("/buyers", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def new_market(client, buyer_id: str, reference: str = "2026-TEST-001", headers=None, **changes: Any) -> dict:
    body = market_request(buyer_id, reference)
    lot_changes = changes.pop("lot", {})
    body["lots"][0].update(lot_changes)
    body.update(changes)
    response = await client.post("/markets", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def award_request(amount: str = "1200000", **changes: Any) -> dict[str, Any]:
    return {"company_siret": COMPANY_SIRET, "company_name": "Bâtiments de Bretagne", "amount_eur": amount, **changes}


async def lot(client, lot_id: str) -> dict:
    response = await client.get(f"/lots/{lot_id}")
    assert response.status_code == 200, response.text
    return response.json()
