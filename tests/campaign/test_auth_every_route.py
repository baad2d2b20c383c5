"""Authentication and authorisation on EVERY route of every service, enumerated from the apps themselves (a route
added later is covered without touching this file), against the four services running as real processes.

Public on purpose: `/health`, `/health/ready`, `/metrics` (probes and Prometheus scrape without credentials), and
`/openapi.json` + `/docs`: they describe the API contract, hold no data of any organisation, and integrators and
tools (schemathesis, client generators) read them before holding a token. Every other route answers 401 with a
French message to a missing, garbage, expired or wrongly-signed token, 403 to a role it does not serve, and a buyer
never reads nor changes another buyer's market, lot, placement hours, progress or report (403/404, nothing leaked)."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator

import httpx
import pytest
from campaign.campaign_support import SERVICES, Fleet, assert_french_refusal, last_month, service_app
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from harness import SECRET
from market_intake.market_intake_helpers import award_request, bearer, buyer_token, funder_token

from shared.auth import Role, current_principal, issue_token

PUBLIC = {"/health", "/health/ready", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def service_routes(service: str) -> list[RouteContext]:
    """Every HTTP route of the service's app as served (included routers flattened, prefixes applied)."""
    return [r for r in iter_route_contexts(service_app(service).routes)
            if isinstance(r.original_route, APIRoute) and r.path not in PUBLIC]


ROUTES = [(service, route, method) for service in SERVICES for route in service_routes(service)
          for method in sorted(route.methods)]
ROUTE_IDS = [f"{method} {service}{route.path}" for service, route, method in ROUTES]


def allowed_roles(route: RouteContext) -> set[Role]:
    """The roles the route's `require(...)` dependency lets through (every role when it only authenticates)."""
    found: set[Role] | None = None
    authenticated = False
    stack = list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        stack.extend(dependency.dependencies)
        authenticated |= dependency.call is current_principal
        if getattr(dependency.call, "__qualname__", "") == "require.<locals>.check":
            roles = set(inspect.getclosurevars(dependency.call).nonlocals["roles"])
            found = roles if found is None else found & roles
    assert authenticated, f"{route.path} ne vérifie aucun jeton"
    return set(Role) if found is None else found


def concrete(path: str, fleet: Fleet, owner: int = 0) -> str:
    """The route template with the seeded object of `owner` (0 = buyer A, 1 = buyer B) in each `{kind_id}`."""
    for kind, values in fleet.ids.items():
        path = path.replace("{" + kind + "}", values[min(owner, len(values) - 1)])
    while "{" in path:  # an id kind nothing seeded: any well-formed id
        start, end = path.index("{"), path.index("}")
        path = path[:start] + str(uuid.uuid4()) + path[end + 1:]
    return path


def bad_tokens() -> Iterator[tuple[str, dict[str, str]]]:
    yield "sans jeton", {}
    yield "schéma Basic", {"Authorization": "Basic dXNlcjpwYXNz"}
    yield "jeton absent", {"Authorization": "Bearer"}
    yield "jeton quelconque", bearer("n-importe-quoi")
    yield "jeton expiré", bearer(issue_token(SECRET, Role.FACILITATOR, ttl_seconds=-60))
    yield "mauvaise signature", bearer(issue_token("un-autre-secret", Role.FACILITATOR))
    forged_body = issue_token(SECRET, Role.FACILITATOR).split(".")[1]
    yield "contenu falsifié", bearer(f"cs1.{forged_body}.{issue_token(SECRET, Role.FUNDER).split('.')[2]}")


def test_every_service_exposes_routes_and_each_names_its_roles():
    for service in SERVICES:
        assert service_routes(service), service
    for _, route, _ in ROUTES:
        assert allowed_roles(route)


@pytest.mark.parametrize("service", SERVICES)
def test_schema_and_probes_answer_without_a_token(fleet: Fleet, service: str):
    for path in ("/openapi.json", "/docs", "/health", "/metrics"):
        assert fleet.call(service, "GET", path, {}).status_code == 200, path


@pytest.mark.parametrize(("service", "route", "method"), ROUTES, ids=ROUTE_IDS)
def test_no_route_answers_without_a_valid_token(fleet: Fleet, service: str, route: RouteContext, method: str):
    path = concrete(route.path, fleet)
    for why, headers in bad_tokens():
        response = fleet.call(service, method, path, headers)
        assert_french_refusal(response, 401)
        assert response.headers["www-authenticate"] == "Bearer", why
        assert "Jeton" in response.json()["detail"] or "Authentification" in response.json()["detail"], why


@pytest.mark.parametrize(("service", "route", "method"), ROUTES, ids=ROUTE_IDS)
def test_roles_a_route_does_not_serve_are_refused(fleet: Fleet, service: str, route: RouteContext, method: str):
    tokens = {Role.FUNDER: funder_token(), Role.BUYER: buyer_token(fleet.first("buyer_id"))}
    refused = set(tokens) - allowed_roles(route)
    if method != "GET":
        assert Role.FUNDER in refused, f"un financeur peut écrire : {method} {route.path}"
    for role in refused:
        assert_french_refusal(fleet.call(service, method, concrete(route.path, fleet), tokens[role]), 403)


def leaks(fleet: Fleet, response: httpx.Response) -> list[str]:
    """What of buyer B the answer shows, beyond what the caller itself put in the request's address."""
    theirs = [v for values in fleet.ids.values() for v in values[1:]] + ["CAMPAGNE-1", "Ville de Rennes"]
    return [v for v in theirs if v in response.text and v not in str(response.url)]


# Valid bodies for the writes a buyer may make on its own objects, so a refusal on another buyer's object comes
# from the ownership check, not from validation.
BUYER_WRITES = {
    "/lots/{lot_id}/award": award_request(),
    "/lots/{lot_id}/amendments": {"amount_eur": "5", "reason": "avenant d'essai"},
    "/lots/{lot_id}/invoices": {"reference": "F-1", "amount_eur": "5", "invoiced_on": "2026-05-01"},
    "/lots/{lot_id}/close": {},
    "/markets/{market_id}/submit": None,
}
BUYER_ON_OTHERS = [(s, r, m) for s, r, m in ROUTES if "{" in r.path and Role.BUYER in allowed_roles(r)]


@pytest.mark.parametrize(("service", "route", "method"), BUYER_ON_OTHERS,
                         ids=[f"{m} {s}{r.path}" for s, r, m in BUYER_ON_OTHERS])
def test_a_buyer_never_reaches_another_buyers_objects(fleet: Fleet, service: str, route: RouteContext, method: str):
    theirs = concrete(route.path, fleet, owner=1)
    assert theirs != concrete(route.path, fleet, owner=0), f"rien de semé pour {route.path}"
    if method != "GET":
        assert route.path in BUYER_WRITES, f"{method} {route.path} : ajoutez un corps valide à BUYER_WRITES"
    body = BUYER_WRITES.get(route.path)
    response = fleet.call(service, method, theirs, buyer_token(fleet.first("buyer_id")), json=body)
    assert_french_refusal(response, 403, 404)
    assert not leaks(fleet, response), f"{response.text[:500]} révèle {leaks(fleet, response)}"


YEAR = {"year": last_month().year}
QUARTER = {**YEAR, "quarter": (last_month().month - 1) // 3 + 1}
BUYER_QUERIES = [  # (service, path, query parameters, the query parameter naming buyer B's object)
    ("market_intake", "/markets", {}, "buyer_id"),
    ("market_intake", "/buyers", {}, None),
    ("hours", "/hours", {}, "placement_id"),
    ("reporting", "/reports/annual", YEAR, "buyer_id"),
    ("reporting", "/reports/quarterly", QUARTER, "buyer_id"),
    ("reporting", "/reports/year-to-date", QUARTER, "buyer_id"),
    ("reporting", "/reports/annual", YEAR, None),
    ("reporting", "/reports/quarterly", {**QUARTER, "format": "csv"}, None),
]


@pytest.mark.parametrize(("service", "path", "query", "theirs"), BUYER_QUERIES,
                         ids=[f"{s}{p}?{t or ''}" for s, p, _, t in BUYER_QUERIES])
def test_a_buyer_query_naming_another_buyer_shows_nothing_of_it(fleet: Fleet, service: str, path: str, query: dict,
                                                                theirs: str | None):
    """Lists and reports filtered by query: another buyer's id is refused or yields nothing of it."""
    params = query | ({theirs: fleet.ids[theirs][1]} if theirs else {})
    response = fleet.call(service, "GET", path, buyer_token(fleet.first("buyer_id")), params=params)
    if response.status_code >= 400:
        assert_french_refusal(response, 403, 404)
    assert not leaks(fleet, response), f"{response.text[:500]} révèle {leaks(fleet, response)}"


def test_a_buyer_reads_its_own_objects(fleet: Fleet):
    """The positive control of the refusals above: the same token reaches buyer A's own market, lot, hours,
    progress and report."""
    own = buyer_token(fleet.first("buyer_id"))
    for service, path in (("market_intake", "/markets/{market_id}"), ("market_intake", "/lots/{lot_id}"),
                          ("hours", "/lots/{lot_id}/progress"), ("reporting", "/reports/markets/{market_id}")):
        response = fleet.call(service, "GET", concrete(path, fleet), own)
        assert response.status_code == 200, f"{path}: {response.text}"
    history = fleet.call("hours", "GET", "/hours", own, params={"placement_id": fleet.first("placement_id")})
    assert history.status_code == 200 and len(history.json()) == 1
