"""The bad-input campaign's world: the four services as real uvicorn processes on one NATS server, seeded over
HTTP with two buyers (each a market with an awarded lot), a structure, and on each lot a placed beneficiary with a
month of hours, so fuzzed requests can name real objects and reach the domain code, not only a 404.

`assert_french_refusal` defines what the campaign calls a clean refusal: a 4xx whose JSON `detail` is French."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from harness import TOKEN
from market_intake.market_intake_helpers import VILLE_DE_RENNES_SIRET, award_request, bearer
from matching.matching_support import AI_SIRET, COMPANY_SIRET, beneficiary, structure
from procs import ServiceProcess

from examples import buyer_request, market_request

SERVICES = ("market_intake", "matching", "hours", "reporting")

# Defaults of FastAPI / Starlette / pydantic that must never reach a user of these French services.
ENGLISH_DEFAULTS = (
    "Not Found", "Method Not Allowed", "Field required", "Unprocessable Entity", "Unprocessable Content",
    "value is not a valid", "Input should", "Internal Server Error", "Not authenticated", "Bad Request",
    "Forbidden", "Unauthorized", "Content Too Large", "Request Entity Too Large", "There was an error parsing",
    "Expecting value", "JSON decode error", "Did not attempt to load JSON data",
)
# French: an accented letter or French guillemets, or one of the French words short messages are made of (articles,
# prepositions, the services' nouns) — English defaults share none of them.
FRENCH = re.compile(
    r"[àâçéèêëîïôûùœ«»]|\b(?:le|la|les|du|des|est|une?|dans|pas|pour|avec|aux|doit|invalide|introuvable|illisible|"
    r"obligatoire|jeton|champ|valeur|inconnue?|trop|fichier|ligne|lot|placement|acheteur|aucune?|enregistrez)\b",
    re.IGNORECASE,
)


def service_app(service: str) -> FastAPI:
    """A fresh app of the service (not started): for its routes and its OpenAPI schema."""
    return importlib.import_module(f"services.{service}.app").create_app()


FACILITATOR = bearer(TOKEN)


def french_problem(status: int, content_type: str, body: bytes) -> str | None:
    """Why this answer is not a clean refusal (None when it is): every 4xx is JSON with a non-empty French
    `detail`, and the per-field messages it lists are French too; a 5xx is never acceptable."""
    if status >= 500:
        return f"erreur serveur {status} : {body[:300]!r}"
    if status < 400:
        return None
    if "json" not in content_type:
        return f"{status} sans JSON ({content_type}) : {body[:300]!r}"
    payload = json.loads(body)
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if not isinstance(detail, str) or not detail.strip():
        return f"{status} sans « detail » texte : {payload!r}"[:500]
    messages = [detail] + [e.get("message", "") for e in payload.get("errors", []) if isinstance(e, dict)]
    for message in messages:
        english = [word for word in ENGLISH_DEFAULTS if word.lower() in message.lower()]
        if english:
            return f"{status} en anglais ({english}) : {message!r}"
    if not FRENCH.search(detail):
        return f"{status} dont le detail n'est pas reconnu comme français : {detail!r}"
    return None


def assert_french_refusal(response: httpx.Response, *statuses: int) -> None:
    """`response` is a clean refusal, with one of `statuses` when given."""
    if statuses:
        assert response.status_code in statuses, f"{response.status_code} au lieu de {statuses} : {response.text[:500]}"
    assert response.status_code >= 400, f"accepté ({response.status_code}) : {response.text[:300]}"
    problem = french_problem(response.status_code, response.headers.get("content-type", ""), response.content)
    assert problem is None, problem


@dataclass
class Fleet:
    """The running services and the ids of what was seeded in them."""

    urls: dict[str, str]
    ids: dict[str, list[str]] = field(default_factory=dict)  # e.g. "lot_id" -> [buyer A's lot, buyer B's lot]
    clients: dict[str, httpx.Client] = field(default_factory=dict)  # one kept-alive connection pool per service

    def client(self, service: str) -> httpx.Client:
        """The service's client, authenticated as nobody: each call brings its own headers."""
        if service not in self.clients:
            self.clients[service] = httpx.Client(base_url=self.urls[service], timeout=30)
        return self.clients[service]

    def call(self, service: str, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
        return self.client(service).request(method, path, headers=headers, **kwargs)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def first(self, name: str) -> str:
        return self.ids[name][0]


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), f"{response.request.url} : {response.status_code} {response.text}"
    return response.json()


def _once_propagated(request: Callable[[], httpx.Response], timeout: float = 60.0,
                     unknown: tuple[int, ...] = (404,)) -> httpx.Response:
    """`request` again while it answers `unknown` (what it names has not reached this service yet)."""
    deadline = time.monotonic() + timeout
    while True:
        response = request()
        if response.status_code not in unknown or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def last_month() -> dt.date:
    """The first day of last month: the seeded placements start then, and their hours are for that month."""
    return (dt.date.today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def seed(fleet: Fleet) -> None:
    """Two buyers A and B with a market each (lot awarded), a structure, and on each lot a beneficiary placed since
    the start of last month with last month's hours. `fleet.ids[kind]` lists A's object first, then B's."""
    start = last_month()

    def post(service: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return fleet.call(service, "POST", path, FACILITATOR, json=body)

    ids: dict[str, list[str]] = {k: [] for k in ("buyer_id", "market_id", "lot_id", "beneficiary_id", "placement_id",
                                                 "entry_id")}
    for number, (name, siret) in enumerate((("Rennes Métropole", None), ("Ville de Rennes", VILLE_DE_RENNES_SIRET))):
        buyer_id = _created(post("market_intake", "/buyers", buyer_request(name, siret) if siret else buyer_request()))["id"]
        market = _created(post("market_intake", "/markets", market_request(  # a lot under way whatever the date
            buyer_id, f"CAMPAGNE-{number}", start_date=(start - dt.timedelta(days=365)).isoformat(),
            end_date=(start + dt.timedelta(days=365)).isoformat())))
        lot_id = market["lots"][0]["id"]
        _created(post("market_intake", f"/lots/{lot_id}/award", award_request()))
        ids["buyer_id"].append(buyer_id)
        ids["market_id"].append(market["id"])
        ids["lot_id"].append(lot_id)
    structure_id = _created(post("matching", "/structures", structure(AI_SIRET)))["id"]
    for (first, last), lot_id in zip((("Awa", "Diallo"), ("Yann", "Le Gall")), ids["lot_id"], strict=True):
        person = beneficiary(first, last, "1990-04-02")
        person["criteria"][0]["checked_on"] = (start - dt.timedelta(days=10)).isoformat()
        person_id = _created(post("matching", "/beneficiaries", person))["id"]
        placement = {"lot_id": lot_id, "beneficiary_id": person_id, "employer_siret": COMPANY_SIRET,
                     "structure_id": structure_id, "modality": "provision", "contract_type": "INTERIM",
                     "start_date": start.isoformat()}
        placement_id = _created(_once_propagated(lambda: post("matching", "/placements", placement),
                                                 unknown=(404, 409)))["id"]  # the award may not be there yet
        hours = {"placement_id": placement_id, "month": start.strftime("%Y-%m"), "hours": "35"}
        entry_id = _created(_once_propagated(lambda: post("hours", "/hours", hours), unknown=(422,)))["id"]
        ids["beneficiary_id"].append(person_id)
        ids["placement_id"].append(placement_id)
        ids["entry_id"].append(entry_id)
    for market_id in ids["market_id"]:
        _created(_once_propagated(lambda: fleet.call("reporting", "GET", f"/reports/markets/{market_id}", FACILITATOR)))
    fleet.ids = ids | {"structure_id": [structure_id]}


@contextmanager
def running_fleet(workdir: Path, nats_url: str) -> Iterator[Fleet]:
    """The four services as real processes (SQLite), seeded; stopped on exit."""
    processes = {name: ServiceProcess(name, workdir, nats_url) for name in SERVICES}
    try:
        for p in processes.values():
            p.start()
        for p in processes.values():
            p.wait_ready(60)
        fleet = Fleet({name: p.url for name, p in processes.items()})
        seed(fleet)
        yield fleet
        fleet.close()
    finally:
        for p in processes.values():
            p.stop()
