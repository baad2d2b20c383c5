"""The facilitator's pages, in-process and fast: refused to buyers and funders, every form refused without its CSRF
token (before anything reaches a service), and a clear French banner when the services do not answer (here they
really do not: nothing listens on their ports)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from harness import SECRET, TOKEN, free_port

from services.portal.app import create_app
from services.portal.session import COOKIE, encode_cookie
from shared.auth import Role, issue_token

CSRF = "jeton-de-formulaire"
PAGES = ["/facilitateur", "/facilitateur/marches", "/facilitateur/beneficiaires?q=goff",
         f"/facilitateur/marches/{uuid.uuid4()}",
         f"/facilitateur/lots/{uuid.uuid4()}", "/facilitateur/beneficiaires/nouveau",
         f"/facilitateur/beneficiaires/{uuid.uuid4()}", "/facilitateur/releves", "/facilitateur/releves/suivi/x"]
FORMS = [f"/facilitateur/lots/{uuid.uuid4()}/attribution", f"/facilitateur/lots/{uuid.uuid4()}/avenants",
         f"/facilitateur/lots/{uuid.uuid4()}/placements", "/facilitateur/beneficiaires",
         f"/facilitateur/beneficiaires/{uuid.uuid4()}/criteres", f"/facilitateur/beneficiaires/{uuid.uuid4()}/suivis",
         f"/facilitateur/beneficiaires/{uuid.uuid4()}/placements/{uuid.uuid4()}/fin", "/facilitateur/releves",
         "/facilitateur/releves/corrections"]


@pytest.fixture
async def portal() -> AsyncIterator[httpx.AsyncClient]:
    """The portal in-process; every service URL points to a port nothing listens on."""
    dead = {f"{name}_url": f"http://127.0.0.1:{free_port()}"
            for name in ("market_intake", "matching", "hours", "reporting")}
    app = create_app(token_secret=SECRET, facilitator_token=TOKEN, cookie_secure=False, request_timeout_seconds=2,
                     **dead)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://portail.test") as client:
        client.settings = app.state.settings  # type: ignore[attr-defined]
        yield client


def as_user(client: httpx.AsyncClient, role: Role) -> httpx.AsyncClient:
    """Give the client the session cookie a sign-in would have set."""
    token = issue_token(SECRET, role, buyer_id=uuid.uuid4() if role == Role.BUYER else None)
    settings = client.settings  # type: ignore[attr-defined]
    client.cookies.set(COOKIE, encode_cookie(settings, token, "Dominique", CSRF, time.time()))
    return client


@pytest.mark.parametrize("role", [Role.BUYER, Role.FUNDER])
async def test_buyers_and_funders_are_refused_every_facilitator_page_and_form(portal, role):
    client = as_user(portal, role)
    for path in PAGES:
        answer = await client.get(path)
        assert answer.status_code == 403, (path, answer.status_code)
        assert "réservée aux profils : facilitateur" in answer.text, path
    for path in FORMS:
        answer = await client.post(path, data={"csrf_token": CSRF})
        assert answer.status_code == 403, (path, answer.status_code)
        assert "réservée aux profils : facilitateur" in answer.text, path


async def test_every_form_needs_the_session_csrf_token(portal):
    client = as_user(portal, Role.FACILITATOR)
    for path in FORMS:
        for data in ({}, {"csrf_token": "un-autre-jeton"}):
            answer = await client.post(path, data=data)
            assert answer.status_code == 403, (path, data, answer.status_code)
            assert "Formulaire expiré ou invalide" in answer.text, path
    upload = await client.post("/facilitateur/releves", files={"file": ("releve.csv", b"placement;mois;heures\n")})
    assert upload.status_code == 403 and "Formulaire expiré ou invalide" in upload.text


async def test_services_down_show_french_banners_not_a_stack_trace(portal):
    client = as_user(portal, Role.FACILITATOR)
    dashboard = await client.get("/facilitateur")
    assert dashboard.status_code == 200  # each part of the dashboard says what it cannot show
    for label in ("Le service des bilans ne répond pas", "Le service des marchés ne répond pas",
                  "Le service des heures ne répond pas"):
        assert label in dashboard.text, label
    statements = await client.get("/facilitateur/releves")
    assert statements.status_code == 200 and "Le service des heures ne répond pas" in statements.text
    markets = await client.get("/facilitateur/marches")
    assert markets.status_code == 503
    assert "Le service des marchés ne répond pas pour le moment. Réessayez dans quelques minutes." in markets.text
    assert "Traceback" not in markets.text


async def test_an_empty_statement_is_refused_next_to_the_file_field(portal):
    client = as_user(portal, Role.FACILITATOR)
    answer = await client.post("/facilitateur/releves", data={"csrf_token": CSRF},
                               files={"file": ("releve.csv", b"  \n")})
    assert answer.status_code == 422
    assert 'id="erreur-releve">Choisissez le fichier du relevé' in answer.text
