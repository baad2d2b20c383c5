"""A generated year of clause activity, as the producing services would publish it, with its own ledger.

The ledger (accepted entries after corrections, lot states, profiles, placements) lets a test compute every report
figure independently of the reporting service.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from contracts import Envelope, new_envelope
from contracts.events.hours import HourEntry, HoursCorrected, HoursRecorded, LotProgress
from contracts.events.markets import LotAmended, LotAwarded, LotState, MarketSubmitted
from contracts.events.matching import (
    BeneficiaryEnrolled,
    BeneficiaryErased,
    BeneficiaryFollowedUp,
    PlacementEnded,
    PlacementStarted,
    StructureRegistered,
)
from shared.territory import default_communes_csv

COMMUNES_CSV = default_communes_csv()
SECTORS = ["gros_oeuvre", "second_oeuvre", "peinture", "nettoyage", "espaces_verts", "voirie_reseaux"]
KINDS_WITH_STRUCTURE = ["EI", "ETTI", "AI", "ACI", "GEIQ", "PLIE", "OTHER"]
MODALITY_OF_KIND = {"EI": "subcontracting", "ACI": "subcontracting", "ETTI": "provision", "AI": "provision",
                    "GEIQ": "provision", "PLIE": "direct_hire", "OTHER": "co_contracting"}
CONTRACT_OF_KIND = {"EI": "CDDI", "ACI": "CDDI", "ETTI": "INTERIM", "AI": "CDDI", "GEIQ": "PRO", "PLIE": "CDD",
                    "OTHER": "CDD"}
EXITS = ["durable_job", "transition_job", "positive_exit", "other", "unknown"]
EDUCATION = ["sans_diplome", "cap_bep", "bac", "bac+2"]


def communes() -> list[str]:
    with COMMUNES_CSV.open(encoding="utf-8") as f:
        return [r["insee_code"] for r in csv.DictReader(f)]


def epci_of_commune() -> dict[str, str]:
    with COMMUNES_CSV.open(encoding="utf-8") as f:
        return {r["insee_code"]: r["epci_siren"] for r in csv.DictReader(f)}


@dataclass
class World:
    year: int
    events: list[Envelope] = field(default_factory=list)
    lots: dict[uuid.UUID, LotState] = field(default_factory=dict)  # newest state
    markets: dict[uuid.UUID, MarketSubmitted] = field(default_factory=dict)
    people: dict[uuid.UUID, BeneficiaryEnrolled] = field(default_factory=dict)
    categories: dict[uuid.UUID, list[str]] = field(default_factory=dict)
    erased: set[uuid.UUID] = field(default_factory=set)
    structures: dict[uuid.UUID, StructureRegistered] = field(default_factory=dict)
    placements: dict[uuid.UUID, PlacementStarted] = field(default_factory=dict)
    ended: dict[uuid.UUID, PlacementEnded] = field(default_factory=dict)
    follow_ups: dict[uuid.UUID, BeneficiaryFollowedUp] = field(default_factory=dict)
    entries: dict[uuid.UUID, HourEntry] = field(default_factory=dict)  # accepted entries, latest versions only
    corrections: int = 0

    def emit(self, event_type: str, producer: str, data: Any) -> Envelope:
        envelope = new_envelope(event_type, 1, producer, data)
        self.events.append(envelope)
        return envelope

    # ---- independent figures --------------------------------------------------------------------------------------
    def counted(self, first: str, last: str, buyer_id: uuid.UUID | None = None) -> list[HourEntry]:
        return [e for e in self.entries.values()
                if first <= e.month <= last and (buyer_id is None or e.buyer_id == buyer_id)]

    def hours(self, first: str, last: str, buyer_id: uuid.UUID | None = None) -> Decimal:
        return sum((e.hours for e in self.counted(first, last, buyer_id)), Decimal("0"))

    def people_in(self, first: str, last: str, buyer_id: uuid.UUID | None = None) -> set[uuid.UUID]:
        return {e.beneficiary_id for e in self.counted(first, last, buyer_id) if e.hours > 0}

    def new_people(self, first: str, last: str, buyer_id: uuid.UUID | None = None) -> set[uuid.UUID]:
        firsts: dict[uuid.UUID, str] = {}
        for e in self.entries.values():
            if e.hours > 0 and (buyer_id is None or e.buyer_id == buyer_id):
                firsts[e.beneficiary_id] = min(firsts.get(e.beneficiary_id, "9999"), e.month)
        return {b for b, m in firsts.items() if first <= m <= last}

    def by(self, attr: str, first: str, last: str, buyer_id: uuid.UUID | None = None) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for e in self.counted(first, last, buyer_id):
            key = getattr(e, attr)
            key = "none" if key is None else str(key.value if hasattr(key, "value") else key)
            out[key] = out.get(key, Decimal("0")) + e.hours
        return out

    def active_lots(self, start: dt.date, end: dt.date, buyer_id: uuid.UUID | None = None) -> list[LotState]:
        return [lot for lot in self.lots.values()
                if lot.status in ("awarded", "closed") and lot.start_date <= end and lot.end_date >= start
                and (buyer_id is None or lot.buyer_id == buyer_id)]


def _lot(rng: random.Random, market_id: uuid.UUID, buyer_id: uuid.UUID, number: int, year: int) -> LotState:
    start = dt.date(year - rng.randint(0, 1), rng.randint(1, 12), 1)
    return LotState(
        lot_id=uuid.uuid4(), market_id=market_id, buyer_id=buyer_id, number=number,
        title=f"Lot {number}", sector=rng.choice(SECTORS), clause_kind="execution_condition", method="rate",
        amount_eur=Decimal(rng.randint(200, 3000) * 1000), start_date=start,
        end_date=start + dt.timedelta(days=rng.randint(400, 900)), owed_hours=Decimal(rng.randint(300, 4000)),
        status="submitted", version=1,
    )


def generate(seed: int = 2026, year: int = 2026, people: int = 300, markets: int = 12,
             batch: int = 150, correction_rate: float = 0.1, erasure_rate: float = 0.05) -> World:
    """A realistic year: buyers, markets and lots (awarded, amended, some left in the pipeline), structures,
    enrolled people, placements, monthly hours in batches, corrections (some chained, some published before the
    entry they correct), ends of pathway, 6-month follow-ups, erasures and lot forecasts."""
    rng = random.Random(seed)
    w = World(year)
    insee = communes() + ["29019"]  # one person from outside Ille-et-Vilaine (Brest)
    buyers = [(uuid.uuid4(), name, kind) for name, kind in [
        ("Rennes Métropole", "collectivite"), ("Ville de Rennes", "collectivite"),
        ("Archipel Habitat", "bailleur_social"), ("Région Bretagne", "collectivite")]]
    # -- markets and lots
    for m in range(markets):
        buyer_id, buyer_name, buyer_kind = buyers[m % len(buyers)]
        market_id = uuid.uuid4()
        lots = [_lot(rng, market_id, buyer_id, n, year) for n in range(1, rng.randint(1, 4) + 1)]
        event = MarketSubmitted(market_id=market_id, buyer_id=buyer_id, buyer_name=buyer_name, buyer_kind=buyer_kind,
                                reference=f"{year}-M{m:03d}", title=f"Marché {m}", cpv_code="45214200",
                                commune_insee="35238", lots=lots)
        w.markets[market_id] = event
        w.emit("market.submitted", "market_intake", event)
        for lot in lots:
            w.lots[lot.lot_id] = lot
    lot_ids = list(w.lots)
    for i, lot_id in enumerate(lot_ids):
        if i % 7 == 6:
            continue  # stays in the pipeline (not awarded)
        lot = w.lots[lot_id]
        siret = f"{rng.randint(10**13, 10**14 - 1)}"
        awarded = LotState.model_validate({**lot.model_dump(), "status": "awarded", "version": 2,
                                           "company_siret": siret, "company_name": f"Entreprise {i}",
                                           "owed_hours": lot.owed_hours + rng.randint(-100, 100)})
        w.lots[lot_id] = awarded
        w.emit("lot.awarded", "market_intake", LotAwarded(lot=awarded, company_siret=siret, company_name=f"E{i}",
                                                          awarded_amount_eur=awarded.amount_eur))
        if i % 3 == 0:
            amended = LotState.model_validate({**awarded.model_dump(), "version": 3,
                                               "owed_hours": awarded.owed_hours + 250})
            w.lots[lot_id] = amended
            w.emit("lot.amended", "market_intake", LotAmended(lot=amended, amendment_number=1, reason="avenant"))
    awarded_lots = [lot for lot in w.lots.values() if lot.status == "awarded"]
    # -- structures
    structures = []
    for i, kind in enumerate(KINDS_WITH_STRUCTURE * 2):
        s = StructureRegistered(structure_id=uuid.uuid4(), siret=f"{44306184100000 + i}", name=f"Structure {i}",
                                kind=kind, sectors=["gros_oeuvre"], communes=["35238"], capacity=20)
        w.structures[s.structure_id] = s
        structures.append(s)
        w.emit("structure.registered", "matching", s)
    # -- people, placements, hours
    pending: list[HourEntry] = []
    late_corrections: list[HoursCorrected] = []
    for p in range(people):
        beneficiary_id = uuid.uuid4()
        profile = BeneficiaryEnrolled(
            beneficiary_id=beneficiary_id, gender="F" if rng.random() < 0.2 else "M",
            birth_year=year - rng.choice([19, 22, 24, 25, 26, 30, 35, 42, 49, 50, 55, 61]),
            commune_insee=rng.choice(insee), qpv=rng.random() < 0.25, education_level=rng.choice(EDUCATION),
            categories=rng.sample(["DELD", "RSA", "QPV", "RQTH", "JEUNE_PEU_QUALIFIE"], rng.randint(0, 2)),
            enrolled_on=dt.date(year - 1, 12, 1),
        )
        w.people[beneficiary_id] = profile
        w.categories[beneficiary_id] = sorted(set(c.value for c in profile.categories))
        w.emit("beneficiary.enrolled", "matching", profile)
        lot = rng.choice(awarded_lots)
        structure = rng.choice(structures) if rng.random() < 0.85 else None
        kind = structure.kind.value if structure else None
        start_month = rng.randint(1, 11)
        start = dt.date(year, start_month, rng.randint(1, 28))
        placement = PlacementStarted(
            placement_id=uuid.uuid4(), lot_id=lot.lot_id, beneficiary_id=beneficiary_id,
            employer_siret=structure.siret if structure else (lot.company_siret or "00000000000000"),
            structure_id=structure.structure_id if structure else None, structure_kind=kind,
            modality=MODALITY_OF_KIND[kind] if kind else "direct_hire",
            contract_type=CONTRACT_OF_KIND[kind] if kind else rng.choice(["CDI", "CDD", "APPRENTICESHIP"]),
            start_date=start, end_date=start + dt.timedelta(days=180),
        )
        w.placements[placement.placement_id] = placement
        w.emit("placement.started", "matching", placement)
        last_month = min(12, start_month + rng.randint(0, 6))
        for month in range(start_month, last_month + 1):
            entry = HourEntry(
                entry_id=uuid.uuid4(), placement_id=placement.placement_id, beneficiary_id=beneficiary_id,
                lot_id=lot.lot_id, market_id=lot.market_id, buyer_id=lot.buyer_id,
                employer_siret=placement.employer_siret, structure_id=placement.structure_id,
                structure_kind=placement.structure_kind, modality=placement.modality,
                month=f"{year}-{month:02d}", hours=Decimal(rng.randint(0, 15167)) / 100,
                kind="training" if rng.random() < 0.05 else "work",
            )
            pending.append(entry)
            w.entries[entry.entry_id] = entry
            if len(pending) >= batch:
                w.emit("hours.recorded", "hours", HoursRecorded(entries=pending))
                pending = []
            if rng.random() < correction_rate:
                versions = rng.choice([1, 1, 2])
                current = entry
                for v in range(versions):
                    fixed = current.model_copy(update={"entry_id": uuid.uuid4(),
                                                       "hours": Decimal(rng.randint(0, 15167)) / 100})
                    correction = HoursCorrected(entry=fixed, corrects_entry_id=current.entry_id,
                                                reason="relevé rectifié")
                    del w.entries[current.entry_id]
                    w.entries[fixed.entry_id] = fixed
                    w.corrections += 1
                    if v == 0 and rng.random() < 0.3:
                        # published before the batch holding the entry it corrects
                        w.emit("hours.corrected", "hours", correction)
                    else:
                        late_corrections.append(correction)
                    current = fixed
        if last_month < 12 and rng.random() < 0.7:
            end = dt.date(year, last_month, 28)
            ended = PlacementEnded(placement_id=placement.placement_id, lot_id=lot.lot_id,
                                   beneficiary_id=beneficiary_id, end_date=end, exit_category=rng.choice(EXITS))
            w.ended[placement.placement_id] = ended
            w.emit("placement.ended", "matching", ended)
            if end.month <= 6:
                follow = BeneficiaryFollowedUp(beneficiary_id=beneficiary_id, placement_id=placement.placement_id,
                                               followed_up_on=end + dt.timedelta(days=183),
                                               situation=rng.choice(EXITS))
                w.follow_ups[placement.placement_id] = follow
                w.emit("beneficiary.followed_up", "matching", follow)
        if rng.random() < erasure_rate:
            w.erased.add(beneficiary_id)
            w.emit("beneficiary.erased", "matching",
                   BeneficiaryErased(beneficiary_id=beneficiary_id, erased_on=dt.date(year, 12, 31)))
    if pending:
        w.emit("hours.recorded", "hours", HoursRecorded(entries=pending))
    for correction in late_corrections:
        w.emit("hours.corrected", "hours", correction)
    for i, lot in enumerate(awarded_lots):
        if i % 4 == 0:
            w.emit("lot.at_risk", "hours", LotProgress(
                lot_id=lot.lot_id, owed_hours=lot.owed_hours, realised_hours=Decimal("10"), percent=Decimal("1"),
                forecast_hours=Decimal("100"), at_risk=True, as_of=dt.date(year, 12, 31)))
    return w


def by_stream(events: Iterable[Envelope]) -> dict[str, list[Envelope]]:
    from contracts import spec_for

    out: dict[str, list[Envelope]] = {}
    for e in events:
        producer = {"market_intake": "market_intake", "matching": "matching", "hours": "hours"}[e.producer]
        spec = spec_for(e.event_type, producer=producer)
        out.setdefault(spec.stream.name, []).append(e)
    return out
