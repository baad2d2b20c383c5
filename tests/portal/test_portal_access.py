"""The portal's guards, over plain HTTP against the running stack: no page without a session, sign-in and sign-out,
CSRF on every form, a buyer kept to its own markets, French messages next to the fields, a banner when a service
is down."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from portal_support import PortalStack, create_buyer, create_market, siret

from services.portal.app import create_app
from shared.auth import Role

PUBLIC = ("/connexion", "/static", "/health", "/metrics")


def page_routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the portal, included routers flattened."""
    routes = []
    for route in create_app().routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        routes += [(method, c.path) for c in contexts for method in sorted(getattr(c, "methods", None) or [])]
    return routes


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "1" if "index" in m.group(0) else str(uuid.uuid4()), path)


@contextmanager
def signed_in(stack: PortalStack, token: str) -> Iterator[httpx.Client]:
    """An HTTP client that signed in through the sign-in form (its double-submit token included)."""
    with httpx.Client(base_url=stack.portal_url, timeout=15) as client:
        form = client.get("/connexion")
        form_token = re.search(r'name="form_token" value="([^"]+)"', form.text).group(1)
        answer = client.post("/connexion", data={"token": token, "form_token": form_token, "suite": ""})
        assert answer.status_code == 303, answer.text
        yield client


def csrf_of(client: httpx.Client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


@pytest.fixture(scope="module")
def buyers(portal_stack: PortalStack) -> dict[str, str]:
    async def seed() -> dict[str, str]:
        first = await create_buyer(portal_stack, "Ville de Saint-Malo", siret())
        second = await create_buyer(portal_stack, "Archipel Habitat", siret())
        market = await create_market(portal_stack, first, "SM-2026-001")
        return {"first": first, "second": second, "first_market": market["id"]}

    return asyncio.run(seed())


def test_no_page_answers_without_a_session(portal_stack):
    routes = [(m, p) for m, p in page_routes() if not p.startswith(PUBLIC)]
    assert len(routes) >= 8, routes  # the buyer's, the funder's, the facilitator's pages, sign-out, home
    with httpx.Client(base_url=portal_stack.portal_url, timeout=15) as client:
        for method, path in routes:
            answer = client.request(method, concrete(path))
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"].startswith("/connexion?suite="), (method, path)
            # a forged or tampered cookie is no session either
            client.cookies.set("cs_session", "v1.eyJ0IjoiY3MxIn0.c2lnbmF0dXJl")
            assert client.request(method, concrete(path)).status_code == 303, (method, path)
            client.cookies.clear()


def test_sign_in_routes_by_role_and_sign_out_clears_the_cookie(portal_stack, buyers):
    page = httpx.get(f"{portal_stack.portal_url}/connexion")
    assert "délivré par votre facilitateur" in page.text
    homes = {Role.BUYER: "/acheteur/marches", Role.FUNDER: "/financeur/bilan", Role.FACILITATOR: "/facilitateur"}
    for role, home in homes.items():
        token = portal_stack.token(role, buyers["first"] if role == Role.BUYER else None)
        with signed_in(portal_stack, token) as client:
            cookie = next(c for c in client.cookies.jar if c.name == "cs_session")
            assert cookie.has_nonstandard_attr("HttpOnly") and token not in cookie.value.split(".")
            assert client.get("/").headers["location"] == home
            page = client.get(home)
            assert page.status_code == 200, (home, page.status_code, page.text[-3000:])
            signed_out = client.post("/deconnexion", data={"csrf_token": csrf_of(client, home)})
            assert signed_out.status_code == 303 and signed_out.headers["location"] == "/connexion"
            assert re.search(r'cs_session="?"?;.*Max-Age=0', signed_out.headers["set-cookie"]), signed_out.headers
            assert "cs_session" not in client.cookies
            assert client.get(home).headers["location"].startswith("/connexion")


def test_a_wrong_token_is_refused_in_french(portal_stack):
    with httpx.Client(base_url=portal_stack.portal_url, timeout=15) as client:
        form_token = re.search(r'name="form_token" value="([^"]+)"', client.get("/connexion").text).group(1)
        answer = client.post("/connexion", data={"token": "cs1.faux.jeton", "form_token": form_token})
        assert answer.status_code == 422
        assert "Jeton d&#39;accès refusé (signature invalide)" in answer.text
        assert "cs_session" not in client.cookies
        # the sign-in form itself is protected: no double-submit token, no sign-in
        token = portal_stack.token(Role.FUNDER)
        assert client.post("/connexion", data={"token": token, "form_token": "x"}).status_code == 403


def test_a_form_without_or_with_a_wrong_csrf_token_is_refused(portal_stack, buyers):
    with signed_in(portal_stack, portal_stack.token(Role.BUYER, buyers["first"])) as client:
        market = {"reference": "CSRF-1", "title": "Ne doit pas exister", "cpv_code": "45214200",
                  "commune_insee": "35238", "lots[0].title": "Lot", "lots[0].sector": "gros_oeuvre",
                  "lots[0].amount_eur": "100000", "lots[0].start_date": "2026-01-05", "lots[0].end_date": "2026-12-31",
                  "lots[0].clause.kind": "execution_condition", "lots[0].clause.method": "rate"}
        for extra in ({}, {"csrf_token": "pas-le-bon"}):
            refused = client.post("/acheteur/marches", data={**market, **extra})
            assert refused.status_code == 403
            assert "Formulaire expiré ou invalide" in refused.text
        assert client.post("/deconnexion").status_code == 403  # sign-out is a form too
        assert "CSRF-1" not in client.get("/acheteur/marches").text
        # the same form with the session's token goes through
        accepted = client.post("/acheteur/marches", data={**market, "csrf_token": csrf_of(client, "/acheteur/marches")})
        assert accepted.status_code == 303, accepted.text


def test_a_buyer_cannot_reach_another_buyers_market(portal_stack, buyers):
    own = f"/acheteur/marches/{buyers['first_market']}"
    with signed_in(portal_stack, portal_stack.token(Role.BUYER, buyers["first"])) as client:
        assert "SM-2026-001" in client.get(own).text
    with signed_in(portal_stack, portal_stack.token(Role.BUYER, buyers["second"])) as client:
        answer = client.get(own)
        assert answer.status_code == 404
        assert "marché introuvable" in answer.text and "SM-2026-001" not in answer.text
        assert "SM-2026-001" not in client.get("/acheteur/marches").text
        assert client.get("/acheteur/marches/pas-un-identifiant").status_code == 404
        # the funder's and facilitator's pages are not the buyer's
        assert client.get("/financeur/bilan").status_code == 403
        assert client.get("/facilitateur").status_code == 403


def test_service_errors_are_shown_next_to_their_field(portal_stack, buyers):
    with signed_in(portal_stack, portal_stack.token(Role.BUYER, buyers["first"])) as client:
        answer = client.post("/acheteur/marches", data={
            "csrf_token": csrf_of(client, "/acheteur/marches/nouveau"), "reference": "ERR-1", "title": "Marché",
            "cpv_code": "4521", "commune_insee": "35238", "lot_count": "2",
            "lots[0].title": "Gros œuvre", "lots[0].sector": "gros_oeuvre", "lots[0].amount_eur": "-5",
            "lots[0].start_date": "2026-01-05", "lots[0].end_date": "2026-12-31",
            "lots[0].clause.kind": "execution_condition", "lots[0].clause.method": "rate",
            "lots[1].title": "Peinture", "lots[1].sector": "peinture", "lots[1].amount_eur": "80 000,50",
            "lots[1].start_date": "2026-03-01", "lots[1].end_date": "2026-12-31",
            "lots[1].clause.kind": "execution_condition", "lots[1].clause.method": "fixed_hours"})
    assert answer.status_code == 422
    html = answer.text
    assert re.search(r'id="erreur-cpv_code">code CPV invalide', html)
    assert re.search(r'id="erreur-lots-0-amount_eur">doit être supérieur à 0', html)
    assert re.search(r'id="erreur-lots-1-clause-method">la méthode « heures fixes » demande le nombre', html)
    assert 'value="80 000,50"' in html  # what was typed stays in the form


def test_a_service_down_shows_a_french_banner(portal_stack, buyers):
    with signed_in(portal_stack, portal_stack.token(Role.BUYER, buyers["first"])) as client:
        hours = portal_stack.service("hours")
        hours.stop()
        try:  # the markets still show, the progress bars give way to a warning
            page = client.get("/acheteur/marches")
            assert page.status_code == 200 and "SM-2026-001" in page.text
            assert "Le service des heures ne répond pas pour le moment" in page.text
        finally:
            hours.start()
        intake = portal_stack.service("market_intake")
        intake.stop()
        try:
            page = client.get("/acheteur/marches")
            assert page.status_code == 503
            assert "Le service des marchés ne répond pas pour le moment. Réessayez dans quelques minutes." in page.text
            assert "Traceback" not in page.text and 'class="fr-alert fr-alert--error' in page.text
            with signed_in(portal_stack, portal_stack.token(Role.FUNDER)) as funder:
                # the funder's report does not need market_intake: only its list of buyers is missing
                page = funder.get("/financeur/bilan", params={"period": "year_to_date", "year": "2026", "quarter": "2"})
                assert page.status_code == 200, page.text[-2000:]
                assert "Liste des acheteurs indisponible (le service des marchés ne répond pas" in page.text
                assert "Cumul 2026 au 30/06/2026" in page.text and 'id="bilan"' in page.text
        finally:
            intake.start()
        intake.wait_ready(60)
        hours.wait_ready(60)
        assert client.get("/acheteur/marches").status_code == 200
