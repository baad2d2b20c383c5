"""Realistic example events and requests for tests."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from contracts import Envelope, new_envelope, spec_for
from contracts.events.hours import LotProgress
from contracts.events.markets import LotState, MarketSubmitted
from contracts.events.matching import StructureRegistered

RENNES_METROPOLE_SIRET = "24350013900189"


def lot_state(market_id: uuid.UUID, buyer_id: uuid.UUID, number: int = 1, version: int = 1, **changes: Any) -> LotState:
    values: dict[str, Any] = {
        "lot_id": uuid.uuid4(),
        "market_id": market_id,
        "buyer_id": buyer_id,
        "number": number,
        "title": f"Lot {number} — gros œuvre",
        "sector": "gros_oeuvre",
        "clause_kind": "execution_condition",
        "method": "rate",
        "amount_eur": Decimal("1000000.00"),
        "start_date": dt.date(2026, 1, 5),
        "end_date": dt.date(2027, 6, 30),
        "owed_hours": Decimal("833.33"),
        "status": "submitted",
        "version": version,
    }
    values.update(changes)
    return LotState(**values)


def market_submitted(lots: int = 1) -> MarketSubmitted:
    market_id, buyer_id = uuid.uuid4(), uuid.uuid4()
    return MarketSubmitted(
        market_id=market_id,
        buyer_id=buyer_id,
        buyer_name="Rennes Métropole",
        buyer_kind="collectivite",
        reference=f"2026-{uuid.uuid4().hex[:6]}",
        title="Construction du groupe scolaire Baud-Chardonnet",
        cpv_code="45214200",
        commune_insee="35238",
        lots=[lot_state(market_id, buyer_id, n) for n in range(1, lots + 1)],
    )


def structure_registered() -> StructureRegistered:
    return StructureRegistered(
        structure_id=uuid.uuid4(), siret="44306184100047", name="Association Intermédiaire du Pays de Rennes",
        kind="AI", sectors=["nettoyage", "espaces_verts"], communes=["35238"], capacity=12,
    )


def lot_progress() -> LotProgress:
    return LotProgress(
        lot_id=uuid.uuid4(), owed_hours=Decimal("833.33"), realised_hours=Decimal("120"), percent=Decimal("14.4"),
        forecast_hours=Decimal("700"), at_risk=True, as_of=dt.date(2026, 6, 30),
    )


# One event each producing service owns, to exercise its outbox.
OWN_EVENT = {
    "market_intake": ("market.submitted", market_submitted),
    "matching": ("structure.registered", structure_registered),
    "hours": ("lot.progressed", lot_progress),
}


def envelope_of(event_type: str, data: Any, producer: str) -> Envelope:
    return new_envelope(event_type, 1, producer, data)


def market_submitted_envelope(lots: int = 1) -> tuple[Envelope, MarketSubmitted]:
    event = market_submitted(lots)
    return new_envelope("market.submitted", 1, "market_intake", event), event


def subject_of(event_type: str) -> str:
    return spec_for(event_type).subject


def market_request(buyer_id: str, reference: str = "2026-TEST-001", **lot_changes: Any) -> dict[str, Any]:
    lot = {
        "number": 1,
        "title": "Gros œuvre",
        "sector": "gros_oeuvre",
        "amount_eur": "1000000",
        "start_date": "2026-01-05",
        "end_date": "2027-06-30",
        "clause": {"kind": "execution_condition", "method": "rate", "labour_share": "0.5", "insertion_rate": "0.05",
                   "hourly_cost_eur": "30"},
    }
    lot.update(lot_changes)
    return {
        "buyer_id": buyer_id,
        "reference": reference,
        "title": "Groupe scolaire Baud-Chardonnet",
        "cpv_code": "45214200",
        "commune_insee": "35238",
        "lots": [lot],
    }


def buyer_request(name: str = "Rennes Métropole", siret: str = RENNES_METROPOLE_SIRET) -> dict[str, Any]:
    return {"name": name, "siret": siret, "kind": "collectivite"}
