"""Bearer tokens and roles, checked through a real service (market_intake) on a real NATS server."""

from __future__ import annotations

import time
import uuid

import pytest
from harness import SECRET, TOKEN, running

from examples import buyer_request, market_request
from services.market_intake.app import create_app as market_intake_app
from shared.auth import InvalidToken, Role, issue_token, verify_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---- tokens (pure) ----------------------------------------------------------------------------------------------
def test_bootstrap_token_is_a_facilitator():
    principal = verify_token(TOKEN, secret=SECRET, facilitator_token=TOKEN)
    assert principal.role == Role.FACILITATOR


def test_signed_token_carries_role_and_buyer():
    buyer_id = uuid.uuid4()
    principal = verify_token(issue_token(SECRET, Role.BUYER, buyer_id=buyer_id), secret=SECRET, facilitator_token=None)
    assert (principal.role, principal.buyer_id) == (Role.BUYER, buyer_id)
    assert principal.can_see_buyer(buyer_id) and not principal.can_see_buyer(uuid.uuid4())


@pytest.mark.parametrize(
    "token, reason",
    [
        (issue_token("another-secret", Role.FUNDER), "signature invalide"),
        (issue_token(SECRET, Role.FUNDER, ttl_seconds=-10), "jeton expiré"),
        ("cs1.e30.AAAA", "signature invalide"),
        ("not-a-token", "jeton inconnu"),
    ],
)
def test_bad_tokens_are_refused_with_a_reason(token, reason):
    with pytest.raises(InvalidToken, match=reason):
        verify_token(token, secret=SECRET, facilitator_token=TOKEN)


def test_tampered_claims_break_the_signature():
    token = issue_token(SECRET, Role.FUNDER)
    prefix, body, sig = token.split(".")
    forged = issue_token(SECRET, Role.FACILITATOR).split(".")[1]
    with pytest.raises(InvalidToken, match="signature invalide"):
        verify_token(f"{prefix}.{forged}.{sig}", secret=SECRET, facilitator_token=None)


def test_a_buyer_token_must_name_its_organisation():
    with pytest.raises(ValueError):
        issue_token(SECRET, Role.BUYER)


def test_default_lifetime_is_one_year():
    import base64
    import json

    before = time.time()
    body = issue_token(SECRET, Role.FUNDER).split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert before + 365 * 86400 - 5 <= claims["exp"] <= time.time() + 365 * 86400 + 5


# ---- through HTTP -----------------------------------------------------------------------------------------------
async def test_roles_and_scopes_over_http(database_url, nats_url):
    async with running(market_intake_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        anonymous = await client.get("/buyers", headers={"Authorization": ""})
        assert anonymous.status_code == 401
        assert "Authentification requise" in anonymous.json()["detail"]
        assert anonymous.headers["www-authenticate"] == "Bearer"

        wrong = await client.get("/buyers", headers=bearer("faux"))
        assert wrong.status_code == 401 and "Jeton d'accès invalide" in wrong.json()["detail"]

        rennes = (await client.post("/buyers", json=buyer_request())).json()["id"]
        other = (await client.post("/buyers", json=buyer_request("Ville de Rennes", "21350238800019"))).json()["id"]
        rennes_token = issue_token(SECRET, Role.BUYER, buyer_id=uuid.UUID(rennes))
        funder_token = issue_token(SECRET, Role.FUNDER)

        # A buyer sees itself only, and cannot create buyers.
        seen = await client.get("/buyers", headers=bearer(rennes_token))
        assert [b["id"] for b in seen.json()] == [rennes]
        refused = await client.post("/buyers", json=buyer_request("X", "21350238800019"), headers=bearer(rennes_token))
        assert refused.status_code == 403 and "facilitateur" in refused.json()["detail"]

        # A buyer submits for itself, never for another buyer.
        own = await client.post("/markets", json=market_request(rennes, "R-1"), headers=bearer(rennes_token))
        assert own.status_code == 201
        foreign = await client.post("/markets", json=market_request(other, "O-1"), headers=bearer(rennes_token))
        assert foreign.status_code == 403
        other_market = (await client.post("/markets", json=market_request(other, "O-2"))).json()["id"]
        hidden = await client.get(f"/markets/{other_market}", headers=bearer(rennes_token))
        assert hidden.status_code == 404
        listed = (await client.get("/markets", headers=bearer(rennes_token))).json()
        assert [m["reference"] for m in listed["items"]] == ["R-1"]

        # A funder reads, never writes.
        assert (await client.get("/markets", headers=bearer(funder_token))).json()["total"] == 2
        write = await client.post("/markets", json=market_request(rennes, "F-1"), headers=bearer(funder_token))
        assert write.status_code == 403


async def test_health_and_metrics_need_no_token(database_url, nats_url):
    async with running(market_intake_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        for path in ("/health", "/metrics"):
            assert (await client.get(path, headers={"Authorization": ""})).status_code == 200
