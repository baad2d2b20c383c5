"""Helpers for matching's integration tests: lots published as market_intake would, and reading MATCHING back;
a generated population stored straight into matching's tables (candidates' tests and benchmarks/test_matching_bench.py)."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import nats
from harness import eventually, publish_raw
from sqlalchemy import insert, select

from contracts import spec_for
from contracts.codes import CriterionCode, LotStatus, Modality, Sector, StructureKind
from contracts.events.markets import LotAwarded, LotClosed, MarketSubmitted
from examples import envelope_of, lot_state
from services.matching.app import Settings, load_territory
from services.matching.domain.eligibility import Criterion, add_months
from services.matching.domain.placements import Span
from services.matching.domain.ranking import BeneficiaryView, LotView, StructureView
from services.matching.domain.territory import Territory
from services.matching.models import Beneficiary, CriterionCheck, LotRef, MarketRef, Placement, Structure

TODAY = dt.date.today()
COMPANY_SIRET = "44306184100047"
AI_SIRET = "73282932000074"
EI_SIRET = "55210055400013"


def days(n: int) -> str:
    return (TODAY + dt.timedelta(days=n)).isoformat()


async def publish(url: str, event_type: str, data: Any) -> None:
    env = envelope_of(event_type, data, "market_intake")
    subject = spec_for(event_type, producer="market_intake").subject
    await publish_raw(url, subject, env.model_dump_json().encode(), str(env.event_id))


async def lot_upstream(url: str, *, status: str = "awarded", commune: str = "35238", sector: str = "nettoyage") -> uuid.UUID:
    """market.submitted then (when asked) lot.awarded / lot.closed, as market_intake publishes them."""
    market_id, buyer_id = uuid.uuid4(), uuid.uuid4()
    dates = {"start_date": TODAY - dt.timedelta(days=365), "end_date": TODAY + dt.timedelta(days=365)}
    submitted = lot_state(market_id, buyer_id, sector=sector, **dates)
    await publish(url, "market.submitted", MarketSubmitted(
        market_id=market_id, buyer_id=buyer_id, buyer_name="Rennes Métropole", buyer_kind="collectivite",
        reference=f"M-{uuid.uuid4().hex[:6]}", title="Nettoyage des équipements", cpv_code="90910000",
        commune_insee=commune, lots=[submitted]))
    if status in ("awarded", "closed"):
        awarded = submitted.model_copy(update={"status": LotStatus.AWARDED, "version": 2, "company_siret": COMPANY_SIRET,
                                               "company_name": "Propreté Bretonne"})
        await publish(url, "lot.awarded", LotAwarded(lot=awarded, company_siret=COMPANY_SIRET,
                                                     company_name="Propreté Bretonne",
                                                     awarded_amount_eur=Decimal("900000")))
    if status == "closed":
        closed = submitted.model_copy(update={"status": LotStatus.CLOSED, "version": 3})
        await publish(url, "lot.closed", LotClosed(lot=closed, closed_on=TODAY))
    return submitted.lot_id


async def lot_status(client, lot_id: uuid.UUID) -> str | None:
    async with client.ctx.db.session() as session:
        return (await session.scalars(select(LotRef.status).where(LotRef.lot_id == lot_id))).first()


async def wait_lot(client, lot_id: uuid.UUID, status: str) -> None:
    async def reached() -> bool:
        return await lot_status(client, lot_id) == status

    await eventually(reached)


async def published_all(client) -> bool:
    backlog, _ = await client.ctx.relay.backlog()
    return backlog == 0


async def matching_events(url: str) -> list[dict[str, Any]]:
    """Every envelope stored in the MATCHING stream, read back from the server."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("MATCHING")
        if info.state.messages == 0:
            return []
        return [json.loads((await js.get_msg("MATCHING", seq)).data)
                for seq in range(info.state.first_seq, info.state.last_seq + 1)]
    finally:
        await nc.close()


IDENTITY_KEYS = {"first_name", "last_name", "birth_date", "email", "phone", "contact", "address", "nom", "prenom"}


def leaks(node: Any, secrets: list[str], path: str = "") -> Iterator[str]:
    """Paths where an identity field name or one of the person's identity values appears."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.lower() in IDENTITY_KEYS:
                yield f"{path}.{key} (champ)"
            yield from leaks(value, secrets, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaks(value, secrets, f"{path}[{i}]")
    elif node is not None:
        text = str(node).lower()
        for secret in secrets:
            if secret.lower() in text:
                yield f"{path} = {node!r}"


def beneficiary(first: str, last: str, birth: str, **changes: Any) -> dict[str, Any]:
    body = {
        "first_name": first, "last_name": last, "birth_date": birth,
        "email": f"{first.lower()}.{last.lower().replace(' ', '')}@exemple.fr", "phone": "06 12 34 56 78",
        "gender": "F", "commune_insee": "35238", "qpv": True, "education_level": "3", "sectors": ["nettoyage"],
        "criteria": [{"code": "RSA", "proof_type": "attestation CAF", "checked_on": days(-20),
                      "prescriber": "Département d'Ille-et-Vilaine"}],
    }
    body.update(changes)
    return body


def structure(siret: str, kind: str = "AI", **changes: Any) -> dict[str, Any]:
    body = {"siret": siret, "name": f"Structure {kind}", "kind": kind, "sectors": ["nettoyage"],
            "modalities": ["provision"], "communes": ["35238"], "capacity": 4}
    body.update(changes)
    return body


# ---- a generated population, stored as matching stores it (candidates' tests and benchmark) -----------------------
@dataclass(frozen=True)
class World:
    """People and structures as the ranking sees them, plus what the database alone knows (erased people, who a
    placement is carried by). `people` are the ones still on file: erased people are not among them."""

    territory: Territory
    lot: LotView
    people: list[BeneficiaryView]
    structures: list[StructureView]
    erased: list[BeneficiaryView]
    inactive: list[StructureView]
    carried_by: dict[uuid.UUID, uuid.UUID]  # person -> structure carrying their placements


def world(people: int, structures: int, *, seed: int = 1) -> World:
    """A random but reproducible territory's worth of files: checks up to 400 days old (a few dated after today),
    first contracts up to 900 days old (a few to come), full- and part-time placements, some ended early, some
    carried by a structure; a few erased people, inactive, full or department-wide structures."""
    rng = random.Random(seed)
    terr = load_territory(Settings().communes_csv)
    communes = sorted(terr.communes)
    sectors, codes, kinds = list(Sector), list(CriterionCode), list(StructureKind)
    all_structures = [
        StructureView(uuid.UUID(int=rng.getrandbits(128), version=4), f"S{i}", rng.choice(kinds),
                      frozenset(rng.sample(sectors, 3)), frozenset(rng.sample(list(Modality), 2)),
                      frozenset(communes if rng.random() < 0.02 else rng.sample(communes, 20)), rng.randint(0, 30),
                      active=rng.random() > 0.05)
        for i in range(structures)
    ]
    everyone, carried_by = [], {}
    for _ in range(people):
        person_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        checks = tuple(Criterion(rng.choice(codes), TODAY - dt.timedelta(days=rng.randint(-20, 400)))
                       for _ in range(rng.randint(0, 3)))
        first = TODAY - dt.timedelta(days=rng.randint(-60, 900)) if rng.random() < 0.4 else None
        spans: tuple[Span, ...] = ()
        if first is not None:
            starts = [first] + [first + dt.timedelta(days=rng.randint(1, 300)) for _ in range(rng.randint(0, 1))]
            spans = tuple(Span(s, s + dt.timedelta(days=rng.randint(10, 400)) if rng.random() < 0.9 else None,
                               rng.random() < 0.7) for s in starts)
            if rng.random() < 0.3:
                carried_by[person_id] = rng.choice(all_structures).id
        everyone.append(BeneficiaryView(person_id, frozenset(rng.sample(sectors, 2)), rng.choice(communes),
                                        rng.random() < 0.25, checks, first, spans))
    everyone += _edge_cases(rng, communes)
    lot = LotView(uuid.UUID(int=rng.getrandbits(128), version=4), Sector.NETTOYAGE, TODAY - dt.timedelta(days=30),
                  TODAY + dt.timedelta(days=300), "35238")
    erased = {p.id for p in everyone if rng.random() < 0.03}
    return World(terr, lot, [p for p in everyone if p.id not in erased], [s for s in all_structures if s.active],
                 [p for p in everyone if p.id in erased], [s for s in all_structures if not s.active], carried_by)


def _edge_cases(rng: random.Random, communes: list[str]) -> list[BeneficiaryView]:
    """People on the boundaries of today's rules: first contract on the last days of its 24-month window, checks on
    the last days of their 6 months or dated tomorrow, full-time placements ending yesterday or today, starting
    today or tomorrow, part-time today."""
    one = dt.timedelta(days=1)
    window, recheck = add_months(TODAY, -24), add_months(TODAY, -6)
    full = [Span(TODAY - 30 * one, TODAY - one), Span(TODAY - 30 * one, TODAY), Span(TODAY, None), Span(TODAY + one, None),
            Span(TODAY - 30 * one, TODAY + one, full_time=False)]
    cases = [((), first, (Span(first, first + 30 * one),)) for first in (window - one, window, window + one)]
    cases += [((Criterion("RSA", day),), None, ()) for day in (recheck - one, recheck, recheck + one, TODAY, TODAY + one)]
    cases += [((Criterion("DELD", TODAY - 30 * one),), span.start, (span,)) for span in full]
    return [BeneficiaryView(uuid.UUID(int=rng.getrandbits(128), version=4), frozenset({Sector.NETTOYAGE}),
                            rng.choice(communes), False, checks, first, spans) for checks, first, spans in cases]


async def store(session, w: World) -> None:
    """Write the world into matching's tables (one INSERT per table), as the service would have."""
    market_id, now = uuid.uuid4(), dt.datetime.now(dt.UTC)
    await session.execute(insert(MarketRef), [{"market_id": market_id, "commune_insee": w.lot.commune_insee}])
    await session.execute(insert(LotRef), [{
        "lot_id": w.lot.lot_id, "market_id": market_id, "buyer_id": uuid.uuid4(), "sector": w.lot.sector,
        "start_date": w.lot.start_date, "end_date": w.lot.end_date, "owed_hours": 1000, "status": "awarded",
        "version": 2, "company_siret": COMPANY_SIRET}])
    await session.execute(insert(Structure), [{
        "id": s.id, "siret": f"{i:014d}", "name": s.name, "kind": s.kind, "sectors": sorted(s.sectors),
        "modalities": sorted(s.modalities), "communes": sorted(s.served), "epcis": [], "department": False,
        "served": sorted(s.served), "capacity": s.capacity, "active": s.active, "created_at": now}
        for i, s in enumerate(w.structures + w.inactive)])
    people, erased = w.people + w.erased, {p.id for p in w.erased}
    await session.execute(insert(Beneficiary), [{
        "id": p.id, "gender": "F", "birth_year": 1990, "commune_insee": p.commune_insee, "qpv": p.qpv,
        "education_level": "3", "sectors": sorted(p.sectors), "enrolled_on": TODAY,
        "erased_on": TODAY if p.id in erased else None} for p in people])
    await session.execute(insert(CriterionCheck), [{
        "id": uuid.uuid4(), "beneficiary_id": p.id, "code": c.code, "proof_type": "attestation",
        "checked_on": c.checked_on, "prescriber": "France Travail"} for p in people for c in p.criteria])
    await session.execute(insert(Placement), [{
        "id": uuid.uuid4(), "lot_id": w.lot.lot_id, "beneficiary_id": p.id, "employer_siret": COMPANY_SIRET,
        "structure_id": w.carried_by.get(p.id), "modality": "direct_hire", "contract_type": "CDD",
        "full_time": s.full_time, "start_date": s.start, "end_date": s.end, "created_at": now}
        for p in people for s in p.spans])


def in_use(w: World, on: dt.date) -> World:
    """The world's structures with the number of people they carry in placements still running on `on`."""
    running = [w.carried_by[p.id] for p in w.people + w.erased if p.id in w.carried_by
               for s in p.spans if s.end is None or s.end >= on]
    return replace(w, structures=[replace(s, in_use=running.count(s.id)) for s in w.structures])
