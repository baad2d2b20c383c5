"""Ranked candidates for a lot: pure, deterministic, explainable (every point comes with its French reason).

Scores are sums of integer weights (settings, see `Weights`); ties are broken by id so the order never varies.
Structures are kept when active, with a free place, and able to carry the modality (asked, or any they offer);
beneficiaries when eligible or to re-check on the date asked and not already placed full time on that date.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

from services.matching.domain.eligibility import (
    ClauseDay,
    Criterion,
    SIAE_KINDS,
    EligibilityPolicy,
    Status,
    clause_eligibility,
    fr,
    iae_eligibility,
)
from services.matching.domain.placements import MODALITY_LABELS, Span, full_time_clash, kind_carries, siae_route
from services.matching.domain.territory import Territory


@dataclass(frozen=True)
class Weights:
    """Documented weights (settings `MATCHING_WEIGHT_*`)."""

    structure_sector: int = 40  # the structure works in the lot's sector
    structure_commune: int = 30  # it serves the lot's commune
    structure_epci: int = 15  # it serves another commune of the lot's EPCI
    structure_per_place: int = 2  # per free place, up to `structure_places_cap`
    structure_places_cap: int = 10
    eligible: int = 50  # eligible now (a person to re-check gets nothing here)
    sector_wish: int = 30  # the person wishes to work in the lot's sector
    same_commune: int = 20  # lives in the lot's commune
    same_epci: int = 10  # lives in another commune of the lot's EPCI
    qpv: int = 15  # lives in a QPV, when QPV priority is on
    qpv_priority: bool = True


@dataclass(frozen=True)
class LotView:
    lot_id: uuid.UUID
    sector: str
    start_date: dt.date
    end_date: dt.date
    commune_insee: str | None


@dataclass(frozen=True)
class StructureView:
    id: uuid.UUID
    name: str
    kind: str
    sectors: frozenset[str]
    modalities: frozenset[str]
    served: frozenset[str]
    capacity: int
    in_use: int = 0
    active: bool = True


class BeneficiaryView(NamedTuple):  # a named tuple: built 10,000 times per ranking, faster than a dataclass
    id: uuid.UUID
    sectors: frozenset[str]
    commune_insee: str
    qpv: bool
    criteria: tuple[Criterion, ...] = ()
    first_start: dt.date | None = None
    spans: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Candidate:
    id: uuid.UUID
    score: int
    reasons: list[str]
    status: Status = Status.ELIGIBLE
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def eligible(self) -> bool:
        return self.status == Status.ELIGIBLE


def _ordered(candidates: Iterable[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-c.score, str(c.id)))


def _lot_place(lot: LotView, territory: Territory) -> tuple[str | None, set[str]]:
    """The lot's commune name and the other communes of its EPCI."""
    if lot.commune_insee is None:
        return None, set()
    commune = territory.communes.get(lot.commune_insee)
    if commune is None:
        return lot.commune_insee, set()
    return commune.name, territory.communes_of_epci(commune.epci_siren) - {commune.insee}


def lot_communes(lot: LotView, territory: Territory) -> frozenset[str]:
    """The communes the ranking looks for in a structure's territory: the lot's own and the others of its EPCI."""
    if lot.commune_insee is None:
        return frozenset()
    return frozenset(_lot_place(lot, territory)[1] | {lot.commune_insee})


def rank_structures(
    lot: LotView, structures: Sequence[StructureView], territory: Territory, weights: Weights, modality: str | None = None
) -> list[Candidate]:
    place, epci_others = _lot_place(lot, territory)
    epci = territory.communes[lot.commune_insee].epci_name if lot.commune_insee in territory.communes else None
    out = []
    for s in structures:
        free = s.capacity - s.in_use
        carried = sorted(m for m in s.modalities if kind_carries(s.kind, m) and (modality is None or m == modality))
        if not s.active or free <= 0 or not carried:
            continue
        score, reasons = 0, [f"{s.kind} : {', '.join(MODALITY_LABELS.get(m, m) for m in carried)}"]
        if lot.sector in s.sectors:
            score += weights.structure_sector
            reasons.append(f"intervient dans le secteur du lot ({lot.sector})")
        else:
            reasons.append(f"ne couvre pas le secteur du lot ({lot.sector})")
        if lot.commune_insee is not None and lot.commune_insee in s.served:
            score += weights.structure_commune
            reasons.append(f"intervient sur la commune du lot ({place})")
        elif epci_others & s.served:
            score += weights.structure_epci
            reasons.append(f"intervient dans l'EPCI du lot ({epci})")
        else:
            reasons.append("hors du territoire du lot")
        score += weights.structure_per_place * min(free, weights.structure_places_cap)
        reasons.append(f"{free} place(s) disponible(s) sur {s.capacity}")
        out.append(Candidate(s.id, score, reasons, extra={"kind": s.kind, "name": s.name, "free_places": free}))
    return _ordered(out)


@dataclass(frozen=True)
class Ranking:
    total: int  # candidates kept
    best: list[Candidate]  # the best of them (at most the `limit` asked), best first


def rank_beneficiaries(
    lot: LotView,
    people: Sequence[BeneficiaryView],
    territory: Territory,
    policy: EligibilityPolicy,
    weights: Weights,
    on: dt.date,
    modality: str | None = None,
) -> list[Candidate]:
    """People for the lot, judged on `on` (the day the placement would start) for the period up to the lot's end."""
    return shortlist_beneficiaries(lot, people, territory, policy, weights, on, modality=modality).best


def shortlist_beneficiaries(
    lot: LotView,
    people: Sequence[BeneficiaryView],
    territory: Territory,
    policy: EligibilityPolicy,
    weights: Weights,
    on: dt.date,
    limit: int | None = None,
    modality: str | None = None,
) -> Ranking:
    """`rank_beneficiaries` cut to its best `limit`, with the number of people kept. Fast on 10,000 people: every
    person is scored on their status alone (`ClauseDay`), only the best are explained (`clause_eligibility`). With a
    `modality`, the explanation also names the SIAE carrying it whose IAE rule the person does not meet."""
    place, epci_others = _lot_place(lot, territory)
    clause_day, today = ClauseDay.of(on, policy), Span(on, on, full_time=True)
    scored = []
    for p in people:
        if p.spans and full_time_clash(today, p.spans) is not None:
            continue  # already placed full time on the day
        status = clause_day.status(p.criteria, p.first_start)
        if status != Status.NOT_ELIGIBLE:
            scored.append((-_person_score(lot, p, status, epci_others, weights), str(p.id), p))
    scored.sort(key=itemgetter(0, 1))
    best = scored if limit is None else scored[:limit]
    siae = iae_routes(modality)
    return Ranking(len(scored), [_explain_person(lot, p, place, epci_others, policy, weights, on, siae)
                                 for *_, p in best])


def iae_routes(modality: str | None) -> tuple[str, ...]:
    """The SIAE kinds through which a placement of `modality` falls under the IAE rule."""
    if modality is None:
        return ()
    return tuple(k for k in sorted(SIAE_KINDS) if kind_carries(k, modality) and siae_route(k, modality))


def _person_score(lot: LotView, p: BeneficiaryView, status: Status, epci_others: set[str], weights: Weights) -> int:
    score = weights.eligible if status == Status.ELIGIBLE else 0
    if lot.sector in p.sectors:
        score += weights.sector_wish
    if lot.commune_insee is not None and p.commune_insee == lot.commune_insee:
        score += weights.same_commune
    elif p.commune_insee in epci_others:
        score += weights.same_epci
    if weights.qpv_priority and p.qpv:
        score += weights.qpv
    return score


def _explain_person(
    lot: LotView,
    p: BeneficiaryView,
    place: str | None,
    epci_others: set[str],
    policy: EligibilityPolicy,
    weights: Weights,
    on: dt.date,
    siae: tuple[str, ...] = (),
) -> Candidate:
    """The person's candidacy with a French reason for each point of `_person_score`, and the SIAE of the modality
    that could not employ them (IAE rule), so the facilitator picks a structure that can."""
    elig = clause_eligibility(p.criteria, p.first_start, on, policy)
    later = full_time_clash(Span(on, lot.end_date, full_time=True), p.spans) if p.spans else None
    reasons = [f"{elig.label} : {elig.reasons[0]}"]
    if elig.eligible and (blocked := [k for k in siae if not iae_eligibility(p.criteria, k, on, policy).eligible]):
        reasons.append(f"IAE : critères insuffisants pour un parcours via {', '.join(blocked)}")
    if elig.window_ends is not None and elig.window_ends < lot.end_date:
        reasons.append(f"éligibilité close le {fr(elig.window_ends)}, avant la fin du lot")
    if later is not None:
        reasons.append(f"déjà placé(e) à temps plein à partir du {fr(later.start)}")
    if lot.sector in p.sectors:
        reasons.append(f"souhaite travailler dans le secteur du lot ({lot.sector})")
    if lot.commune_insee is not None and p.commune_insee == lot.commune_insee:
        reasons.append(f"habite la commune du lot ({place})")
    elif p.commune_insee in epci_others:
        reasons.append("habite l'EPCI du lot")
    if weights.qpv_priority and p.qpv:
        reasons.append("habite un quartier prioritaire (QPV) : prioritaire")
    return Candidate(p.id, _person_score(lot, p, elig.status, epci_others, weights), reasons, elig.status)
