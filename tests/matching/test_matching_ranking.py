"""Ranking of candidates for a lot, case by case: filters, each weight, French reasons, determinism."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import uuid

import pytest

from contracts.codes import StructureKind
from services.matching.app import Settings, load_territory
from services.matching.domain.eligibility import Criterion, EligibilityPolicy, Status
from services.matching.domain.placements import Span
from services.matching.domain.ranking import (
    BeneficiaryView,
    LotView,
    StructureView,
    Weights,
    iae_routes,
    rank_beneficiaries,
    rank_structures,
    shortlist_beneficiaries,
)

D = dt.date
W = Weights()
P = EligibilityPolicy()
RENNES, ACIGNE, AMANLIS = "35238", "35001", "35002"  # Rennes and Acigné: Rennes Métropole; Amanlis: elsewhere
LOT = LotView(uuid.uuid4(), "nettoyage", D(2026, 3, 1), D(2026, 12, 31), RENNES)
ON = D(2026, 3, 1)


@pytest.fixture(scope="module")
def terr():
    return load_territory(Settings().communes_csv)


def structure(kind: str = "AI", **changes) -> StructureView:
    values = dict(id=uuid.uuid4(), name="S", kind=kind, sectors=frozenset({"nettoyage"}),
                  modalities=frozenset({"provision", "direct_hire", "subcontracting"}), served=frozenset({RENNES}),
                  capacity=5, in_use=0, active=True)
    values.update(changes)
    return StructureView(**values)


def person(**changes) -> BeneficiaryView:
    values = dict(id=uuid.uuid4(), sectors=frozenset(), commune_insee=AMANLIS, qpv=False,
                  criteria=(Criterion("RSA", D(2026, 2, 1)),))
    values.update(changes)
    return BeneficiaryView(**values)


# ---- structures ---------------------------------------------------------------------------------------------------
def test_structure_score_adds_sector_commune_and_free_places(terr) -> None:
    [c] = rank_structures(LOT, [structure(in_use=2)], terr, W)
    assert c.score == W.structure_sector + W.structure_commune + 3 * W.structure_per_place
    assert c.reasons == [
        "AI : embauche directe, mise à disposition",
        "intervient dans le secteur du lot (nettoyage)",
        "intervient sur la commune du lot (Rennes)",
        "3 place(s) disponible(s) sur 5",
    ]
    assert c.extra["free_places"] == 3


def test_structure_in_the_lot_epci_scores_less_than_in_its_commune(terr) -> None:
    [c] = rank_structures(LOT, [structure(served=frozenset({ACIGNE}), sectors=frozenset())], terr, W)
    assert c.score == W.structure_epci + 5 * W.structure_per_place
    assert "intervient dans l'EPCI du lot (Rennes Métropole)" in c.reasons
    assert "ne couvre pas le secteur du lot (nettoyage)" in c.reasons
    [far] = rank_structures(LOT, [structure(served=frozenset({AMANLIS}))], terr, W)
    assert "hors du territoire du lot" in far.reasons and far.score == W.structure_sector + 5 * W.structure_per_place


def test_free_places_count_up_to_a_cap(terr) -> None:
    [c] = rank_structures(LOT, [structure(capacity=50, sectors=frozenset(), served=frozenset())], terr, W)
    assert c.score == W.structure_places_cap * W.structure_per_place


@pytest.mark.parametrize(
    "excluded",
    [
        {"active": False},
        {"capacity": 3, "in_use": 3},
        {"capacity": 0},
        {"modalities": frozenset({"provision"}), "kind": "EI"},  # offers only what it cannot carry
    ],
)
def test_structures_that_cannot_take_anyone_are_left_out(terr, excluded) -> None:
    assert rank_structures(LOT, [structure(**excluded)], terr, W) == []


@pytest.mark.parametrize("kind", list(StructureKind))
def test_each_kind_is_offered_for_provision_only_when_it_can_carry_it(terr, kind: str) -> None:
    ranked = rank_structures(LOT, [structure(kind=kind)], terr, W, modality="provision")
    assert bool(ranked) == (kind in {"ETTI", "AI", "GEIQ"})


@pytest.mark.parametrize("kind", list(StructureKind))
def test_each_kind_is_offered_for_subcontracting_only_when_it_can_carry_it(terr, kind: str) -> None:
    ranked = rank_structures(LOT, [structure(kind=kind)], terr, W, modality="subcontracting")
    assert bool(ranked) == (kind in {"EI", "ACI", "EITI", "EA", "ESAT", "REGIE"})


def test_a_modality_the_structure_does_not_offer_is_not_proposed(terr) -> None:
    assert rank_structures(LOT, [structure(kind="ETTI", modalities=frozenset({"direct_hire"}))], terr, W,
                           modality="provision") == []


def test_structures_best_first_ties_by_id(terr) -> None:
    ids = sorted((uuid.uuid4() for _ in range(3)), key=str)
    same = [structure(id=i) for i in reversed(ids)]
    best = structure(capacity=10)
    ranked = rank_structures(LOT, [*same, best], terr, W)
    assert [c.id for c in ranked] == [best.id, *ids]


# ---- beneficiaries ------------------------------------------------------------------------------------------------
def test_beneficiary_score_adds_each_weight_with_its_reason(terr) -> None:
    p = person(sectors=frozenset({"nettoyage"}), commune_insee=RENNES, qpv=True)
    [c] = rank_beneficiaries(LOT, [p], terr, P, W, ON)
    assert c.score == W.eligible + W.sector_wish + W.same_commune + W.qpv
    assert c.eligible and c.status == Status.ELIGIBLE
    assert c.reasons == [
        "éligible : critères RSA vérifiés le 01/02/2026",
        "souhaite travailler dans le secteur du lot (nettoyage)",
        "habite la commune du lot (Rennes)",
        "habite un quartier prioritaire (QPV) : prioritaire",
    ]


def test_same_epci_scores_less_than_same_commune(terr) -> None:
    [c] = rank_beneficiaries(LOT, [person(commune_insee=ACIGNE)], terr, P, W, ON)
    assert c.score == W.eligible + W.same_epci and "habite l'EPCI du lot" in c.reasons
    [far] = rank_beneficiaries(LOT, [person()], terr, P, W, ON)
    assert far.score == W.eligible


def test_qpv_priority_is_a_setting(terr) -> None:
    off = dataclasses.replace(W, qpv_priority=False)
    [c] = rank_beneficiaries(LOT, [person(qpv=True)], terr, P, off, ON)
    assert c.score == W.eligible and not any("QPV" in r for r in c.reasons)


def test_a_person_to_recheck_is_listed_below_the_eligible_ones(terr) -> None:
    stale = person(criteria=(Criterion("RSA", D(2025, 6, 1)),), commune_insee=RENNES)
    fresh = person()
    ranked = rank_beneficiaries(LOT, [stale, fresh], terr, P, W, ON)
    assert [c.id for c in ranked] == [fresh.id, stale.id]
    assert ranked[1].status == Status.TO_RECHECK and not ranked[1].eligible
    assert ranked[1].reasons[0].startswith("à revérifier : ")


def test_people_not_eligible_on_the_day_are_left_out(terr) -> None:
    assert rank_beneficiaries(LOT, [person(criteria=())], terr, P, W, ON) == []
    closed_window = person(first_start=D(2024, 1, 1))
    assert rank_beneficiaries(LOT, [closed_window], terr, P, W, ON) == []


def test_a_window_closing_before_the_lot_ends_is_said(terr) -> None:
    [c] = rank_beneficiaries(LOT, [person(first_start=D(2024, 6, 1))], terr, P, W, ON)
    assert "éligibilité close le 31/05/2026, avant la fin du lot" in c.reasons


@pytest.mark.parametrize(("modality", "routes"), [
    ("provision", ("AI", "ETTI")),  # a GEIQ provides staff outside the IAE
    ("subcontracting", ("ACI", "EI", "EITI")),  # EA, ESAT, régie: no IAE rule
    ("co_contracting", ("ACI", "EI", "EITI")),
    ("direct_hire", ()),  # a structure supporting a direct hire does not employ: no IAE rule
    ("training", ()),
    (None, ()),
])
def test_the_iae_rule_follows_the_modality(modality, routes) -> None:
    assert iae_routes(modality) == routes


def test_a_candidate_short_of_the_iae_rule_is_told_which_siae_cannot_employ_them(terr) -> None:
    two_level2 = person(criteria=(Criterion("DELD", D(2026, 2, 1)), Criterion("QPV", D(2026, 2, 1))), qpv=True)
    level1 = person()
    ranked = shortlist_beneficiaries(LOT, [two_level2, level1], terr, P, W, ON, modality="subcontracting").best
    reasons = {c.id: c.reasons for c in ranked}
    assert "IAE : critères insuffisants pour un parcours via ACI, EI, EITI" in reasons[two_level2.id]
    assert not any(r.startswith("IAE") for r in reasons[level1.id])  # RSA: level 1, any SIAE
    provision = shortlist_beneficiaries(LOT, [two_level2], terr, P, W, ON, modality="provision").best[0]
    assert not any(r.startswith("IAE") for r in provision.reasons)  # 2 level-2 criteria suffice for AI and ETTI
    direct = shortlist_beneficiaries(LOT, [two_level2], terr, P, W, ON, modality="direct_hire").best[0]
    assert not any(r.startswith("IAE") for r in direct.reasons)


def test_people_already_placed_full_time_are_left_out(terr) -> None:
    busy = person(spans=(Span(D(2026, 2, 1), None),))
    part_time = person(spans=(Span(D(2026, 2, 1), None, full_time=False),))
    done = person(spans=(Span(D(2025, 1, 1), D(2026, 2, 28)),))
    later = person(spans=(Span(D(2026, 6, 1), D(2026, 9, 30)),))
    ranked = rank_beneficiaries(LOT, [busy, part_time, done, later], terr, P, W, ON)
    assert {c.id for c in ranked} == {part_time.id, done.id, later.id}
    [shown] = [c for c in ranked if c.id == later.id]
    assert "déjà placé(e) à temps plein à partir du 01/06/2026" in shown.reasons


def test_ranking_is_deterministic_whatever_the_input_order(terr) -> None:
    rng = random.Random(7)
    people = [person(commune_insee=rng.choice([RENNES, ACIGNE, AMANLIS]), qpv=rng.random() < 0.3,
                     sectors=frozenset({"nettoyage"}) if rng.random() < 0.5 else frozenset()) for _ in range(200)]
    first = rank_beneficiaries(LOT, people, terr, P, W, ON)
    rng.shuffle(people)
    again = rank_beneficiaries(LOT, people, terr, P, W, ON)
    assert [(c.id, c.score) for c in first] == [(c.id, c.score) for c in again]
    assert [c.score for c in first] == sorted((c.score for c in first), reverse=True)


def test_a_lot_with_unknown_commune_ranks_without_territory(terr) -> None:
    lot = dataclasses.replace(LOT, commune_insee=None)
    [c] = rank_beneficiaries(lot, [person(commune_insee=RENNES)], terr, P, W, ON)
    assert c.score == W.eligible
    [s] = rank_structures(lot, [structure()], terr, W)
    assert "hors du territoire du lot" in s.reasons
