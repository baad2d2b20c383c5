"""Placement rules, case by case: SIRET, which structure kind carries which modality, lot state, full-time overlaps,
when the follow-up after an exit is due."""

from __future__ import annotations

import datetime as dt

import pytest

from contracts.codes import Modality, StructureKind
from services.matching.domain.placements import (
    Span,
    full_time_clash,
    kind_carries,
    employer_error,
    follow_up_due,
    follow_up_error,
    lot_error,
    siae_route,
    siret_error,
    structure_error,
)

D = dt.date
# Expected table (DOMAIN.md, "How a company meets its clause").
CARRIES = {
    "direct_hire": set(StructureKind),
    "training": set(StructureKind),
    "provision": {"ETTI", "AI", "GEIQ"},
    "subcontracting": {"EI", "ACI", "EITI", "EA", "ESAT", "REGIE"},
    "co_contracting": {"EI", "ACI", "EITI", "EA", "ESAT", "REGIE"},
}


@pytest.mark.parametrize("kind", list(StructureKind))
@pytest.mark.parametrize("modality", list(Modality))
def test_each_structure_kind_carries_its_modalities(kind: str, modality: str) -> None:
    assert kind_carries(kind, modality) == (kind in CARRIES[modality])


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("44306184100047", None),
        ("24350013900189", None),
        ("44306184100048", "SIRET invalide (clé de contrôle)"),
        ("4430618410004", "SIRET invalide : 14 chiffres attendus"),
        ("4430618410004A", "SIRET invalide : 14 chiffres attendus"),
        ("35600000000001", None),  # La Poste: digit sum multiple of 5
        ("35600000000002", "SIRET invalide (clé de contrôle)"),
    ],
)
def test_siret(value: str, error: str | None) -> None:
    assert siret_error(value) == error


@pytest.mark.parametrize(
    ("kind", "offered", "active", "modality", "error"),
    [
        (None, [], True, "direct_hire", None),
        (None, [], True, "training", None),
        (None, [], True, "provision", "la modalité « mise à disposition » demande une structure (structure_id)"),
        (None, [], True, "subcontracting", "la modalité « sous-traitance » demande une structure (structure_id)"),
        (None, [], True, "co_contracting", "la modalité « cotraitance » demande une structure (structure_id)"),
        ("ETTI", ["provision"], True, "provision", None),
        ("ETTI", ["provision"], False, "provision", "cette structure est inactive"),
        ("EI", ["subcontracting"], True, "provision", "une structure EI ne peut pas porter la modalité « mise à disposition »"),
        ("AI", ["direct_hire"], True, "provision", "cette structure ne propose pas la modalité « mise à disposition »"),
        ("PLIE", ["direct_hire"], True, "direct_hire", None),
    ],
)
def test_structure_for_a_placement(kind, offered, active, modality, error) -> None:
    assert structure_error(kind, offered, active, modality) == error


@pytest.mark.parametrize(
    ("modality", "route"),
    [("provision", "AI"), ("subcontracting", "AI"), ("co_contracting", "AI"), ("direct_hire", None),
     ("training", None)],
)
def test_the_iae_rule_applies_only_when_the_structure_employs(modality: str, route: str | None) -> None:
    assert siae_route("AI", modality) == route
    assert siae_route(None, modality) is None


@pytest.mark.parametrize(
    ("employer", "company", "structure", "error"),
    [
        ("44306184100047", "44306184100047", None, None),
        ("73282932000074", "44306184100047", "73282932000074", None),
        ("55210055400013", "44306184100047", "73282932000074",
         "l'employeur doit être l'attributaire du lot (44306184100047) ou la structure (73282932000074)"),
        ("55210055400013", "44306184100047", None, "l'employeur doit être l'attributaire du lot (44306184100047)"),
    ],
)
def test_the_employer_is_the_winning_company_or_the_structure(employer, company, structure, error) -> None:
    assert employer_error(employer, company, structure) == error


LOT = (D(2026, 1, 5), D(2027, 6, 30))


@pytest.mark.parametrize(
    ("status", "start", "error"),
    [
        ("awarded", D(2026, 1, 5), None),
        ("awarded", D(2027, 6, 30), None),
        ("awarded", D(2026, 1, 4), "start_date"),
        ("awarded", D(2027, 7, 1), "start_date"),
        ("submitted", D(2026, 3, 1), "le lot n'est pas attribué (statut : soumis)"),
        ("draft", D(2026, 3, 1), "le lot n'est pas attribué (statut : brouillon)"),
        ("closed", D(2026, 3, 1), "le lot est clos : plus aucune mise en parcours possible"),
    ],
)
def test_lot_must_be_awarded_open_and_cover_the_start(status: str, start: dt.date, error: str | None) -> None:
    found = lot_error(status, *LOT, start)
    if error is None:
        assert found is None
    elif error == "start_date":
        assert found is not None and found[0] == "start_date" and "période du lot" in found[1]
    else:
        assert found == ("lot_id", error)


EXISTING = Span(D(2026, 3, 1), D(2026, 6, 30))


@pytest.mark.parametrize(
    ("new", "clash"),
    [
        (Span(D(2026, 6, 30), D(2026, 9, 30)), True),  # starts on the last day
        (Span(D(2026, 7, 1), D(2026, 9, 30)), False),  # starts the day after
        (Span(D(2026, 1, 1), D(2026, 3, 1)), True),  # ends on the first day
        (Span(D(2026, 1, 1), D(2026, 2, 28)), False),
        (Span(D(2026, 4, 1), D(2026, 4, 2)), True),  # inside
        (Span(D(2026, 1, 1), None), True),  # open-ended
        (Span(D(2026, 4, 1), D(2026, 5, 1), full_time=False), False),  # part time beside full time
    ],
)
def test_full_time_placements_do_not_overlap(new: Span, clash: bool) -> None:
    assert (full_time_clash(new, [EXISTING]) is not None) == clash


def test_part_time_existing_placements_never_clash() -> None:
    assert full_time_clash(Span(D(2026, 4, 1), None), [Span(D(2026, 1, 1), None, full_time=False)]) is None


def test_an_open_existing_placement_clashes_with_anything_later() -> None:
    assert full_time_clash(Span(D(2030, 1, 1), D(2030, 2, 1)), [Span(D(2026, 1, 1), None)]) == Span(D(2026, 1, 1), None)


@pytest.mark.parametrize(
    ("ended_on", "months", "due"),
    [
        (D(2026, 6, 12), 6, D(2026, 12, 12)),
        (D(2026, 8, 31), 6, D(2027, 2, 28)),  # no 31 February: the month's last day
        (D(2027, 8, 31), 6, D(2028, 2, 29)),  # leap year
        (D(2026, 10, 15), 6, D(2027, 4, 15)),  # across the year
        (D(2026, 1, 31), 3, D(2026, 4, 30)),  # another local policy
    ],
)
def test_the_follow_up_is_due_months_after_the_exit(ended_on: dt.date, months: int, due: dt.date) -> None:
    assert follow_up_due(ended_on, months) == due


@pytest.mark.parametrize(
    ("followed_up_on", "error"),
    [
        (D(2026, 6, 11), "le suivi précède la fin du parcours (12/06/2026)"),
        (D(2026, 6, 12), "le suivi à 6 mois se saisit à partir du 12/12/2026 (6 mois après la sortie du 12/06/2026)"),
        (D(2026, 12, 11), "le suivi à 6 mois se saisit à partir du 12/12/2026 (6 mois après la sortie du 12/06/2026)"),
        (D(2026, 12, 12), None),  # six months to the day
        (D(2027, 3, 1), None),  # a survey made late is still the situation after 6 months
    ],
)
def test_a_follow_up_is_the_situation_six_months_after_the_exit(followed_up_on: dt.date, error: str | None) -> None:
    assert follow_up_error(D(2026, 6, 12), followed_up_on, 6) == error
