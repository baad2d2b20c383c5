"""Helpers for matching's integration tests: lots published as market_intake would, and reading MATCHING back."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import nats
from harness import eventually, publish_raw
from sqlalchemy import select

from contracts import spec_for
from contracts.codes import LotStatus
from contracts.events.markets import LotAwarded, LotClosed, MarketSubmitted
from examples import envelope_of, lot_state
from services.matching.models import LotRef

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
