"""Eligibility rules (DOMAIN.md, "Who counts"), case by case: each criterion, each boundary date, each structure kind."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from contracts.codes import CriterionCode, StructureKind
from services.matching.domain.eligibility import (
    Criterion,
    EligibilityPolicy,
    Status,
    add_months,
    clause_eligibility,
    criterion_error,
    iae_eligibility,
    level2_needed,
    iae_applies,
    placement_eligibility,
    proof_error,
    window_last_day,
)
from services.matching.app import SERVICE, Settings
from shared.settings import load_settings

P = EligibilityPolicy()
D = dt.date
LEVEL1 = ["RSA", "ASS", "AAH", "DETLD"]
LEVEL2 = ["DELD", "RQTH", "JEUNE_PEU_QUALIFIE", "SENIOR_50", "QPV"]
NOT_IAE = ["SIAE", "GEIQ", "PLIE", "EA_ESAT", "EPIDE_E2C", "REGIE", "AUTRE_VALIDE"]
SIAE_3 = ["EI", "ACI", "EITI"]
SIAE_2 = ["AI", "ETTI"]
NOT_SIAE = ["GEIQ", "EA", "ESAT", "REGIE", "PLIE", "OTHER"]


def checks(*codes: str, on: dt.date = D(2026, 1, 15)) -> list[Criterion]:
    return [Criterion(code, on) for code in codes]


def test_the_code_lists_cover_every_criterion_and_every_kind() -> None:
    assert sorted(LEVEL1 + LEVEL2 + NOT_IAE) == sorted(CriterionCode)
    assert P.level1 == set(LEVEL1) and P.level2 == set(LEVEL2)
    assert sorted(SIAE_3 + SIAE_2 + NOT_SIAE) == sorted(StructureKind)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (D(2026, 1, 15), 6, D(2026, 7, 15)),
        (D(2025, 8, 31), 6, D(2026, 2, 28)),
        (D(2027, 8, 31), 6, D(2028, 2, 29)),
        (D(2026, 1, 5), 24, D(2028, 1, 5)),
        (D(2026, 12, 31), 1, D(2027, 1, 31)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


# ---- clause eligibility -------------------------------------------------------------------------------------------
def test_nobody_is_eligible_without_a_checked_criterion() -> None:
    result = clause_eligibility([], None, D(2026, 3, 1), P)
    assert result.status == Status.NOT_ELIGIBLE
    assert result.reasons == ("aucun critère d'éligibilité vérifié à cette date",)


@pytest.mark.parametrize("code", list(CriterionCode))
def test_each_criterion_checked_recently_makes_a_person_eligible(code: str) -> None:
    result = clause_eligibility(checks(code), None, D(2026, 3, 1), P)
    assert result.status == Status.ELIGIBLE
    assert result.label == "éligible"
    assert code in result.reasons[0] and "15/01/2026" in result.reasons[0]


def test_a_check_dated_after_the_day_does_not_count() -> None:
    assert clause_eligibility(checks("RSA"), None, D(2026, 1, 14), P).status == Status.NOT_ELIGIBLE
    assert clause_eligibility(checks("RSA"), None, D(2026, 1, 15), P).status == Status.ELIGIBLE


@pytest.mark.parametrize(
    ("checked", "on", "status"),
    [
        (D(2026, 1, 15), D(2026, 7, 15), Status.ELIGIBLE),  # exactly 6 months: still recent
        (D(2026, 1, 15), D(2026, 7, 16), Status.TO_RECHECK),  # one day more: to re-check
        (D(2025, 8, 31), D(2026, 2, 28), Status.ELIGIBLE),  # month-end clamp
        (D(2025, 8, 31), D(2026, 3, 1), Status.TO_RECHECK),
    ],
)
def test_a_check_older_than_six_months_must_be_renewed_before_a_first_placement(checked, on, status) -> None:
    result = clause_eligibility([Criterion("DELD", checked)], None, on, P)
    assert result.status == status
    if status == Status.TO_RECHECK:
        assert result.label == "à revérifier"
        assert "plus de 6 mois" in result.reasons[0]


def test_the_latest_check_decides_freshness() -> None:
    old_and_new = [Criterion("DELD", D(2025, 1, 10)), Criterion("RSA", D(2026, 6, 1))]
    assert clause_eligibility(old_and_new, None, D(2026, 9, 1), P).status == Status.ELIGIBLE


def test_recheck_delay_is_a_setting() -> None:
    policy = EligibilityPolicy(recheck_after_months=3)
    assert clause_eligibility(checks("RSA"), None, D(2026, 4, 15), policy).status == Status.ELIGIBLE
    assert clause_eligibility(checks("RSA"), None, D(2026, 4, 16), policy).status == Status.TO_RECHECK


@pytest.mark.parametrize(
    ("on", "status"),
    [
        (D(2026, 1, 5), Status.ELIGIBLE),  # the first contract's start
        (D(2028, 1, 4), Status.ELIGIBLE),  # last day of the 24-month window
        (D(2028, 1, 5), Status.NOT_ELIGIBLE),  # window closed
    ],
)
def test_the_24_month_window_runs_from_the_first_clause_contract(on: dt.date, status: Status) -> None:
    stale = [Criterion("RSA", D(2025, 12, 1))]  # far older than 6 months on most of those days: irrelevant now
    result = clause_eligibility(stale, D(2026, 1, 5), on, P)
    assert result.status == status
    assert result.window_ends == D(2028, 1, 4)
    assert ("fenêtre de 24 mois" in result.reasons[0]) and "05/01/2026" in result.reasons[0]


def test_window_length_is_a_setting() -> None:
    policy = EligibilityPolicy(clause_window_months=12)
    assert clause_eligibility([], D(2026, 1, 5), D(2027, 1, 4), policy).status == Status.ELIGIBLE
    assert clause_eligibility([], D(2026, 1, 5), D(2027, 1, 5), policy).status == Status.NOT_ELIGIBLE


def test_a_first_contract_starting_later_does_not_open_the_window_earlier() -> None:
    result = clause_eligibility(checks("RSA", on=D(2025, 1, 1)), D(2026, 6, 1), D(2026, 3, 1), P)
    assert result.status == Status.TO_RECHECK


# ---- IAE ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", SIAE_3 + SIAE_2)
@pytest.mark.parametrize("code", LEVEL1)
def test_one_level1_criterion_suffices_for_every_siae(kind: str, code: str) -> None:
    result = iae_eligibility(checks(code), kind, D(2026, 3, 1), P)
    assert result.status == Status.ELIGIBLE
    assert f"niveau 1 ({code})" in result.reasons[0]


@pytest.mark.parametrize("kind", SIAE_3 + SIAE_2)
@pytest.mark.parametrize("code", LEVEL2)
def test_one_level2_criterion_is_not_enough(kind: str, code: str) -> None:
    assert iae_eligibility(checks(code), kind, D(2026, 3, 1), P).status == Status.NOT_ELIGIBLE


@pytest.mark.parametrize("kind", SIAE_2)
def test_two_level2_criteria_suffice_for_ai_and_etti(kind: str) -> None:
    result = iae_eligibility(checks("DELD", "QPV"), kind, D(2026, 3, 1), P)
    assert result.status == Status.ELIGIBLE
    assert "2 critères de niveau 2 (DELD, QPV)" in result.reasons[0]


@pytest.mark.parametrize("kind", SIAE_3)
def test_two_level2_criteria_do_not_suffice_for_ei_aci_eiti(kind: str) -> None:
    result = iae_eligibility(checks("DELD", "QPV"), kind, D(2026, 3, 1), P)
    assert result.status == Status.NOT_ELIGIBLE
    assert f"3 critères de niveau 2 pour {kind}" in result.reasons[0]


@pytest.mark.parametrize("kind", SIAE_3 + SIAE_2)
def test_three_level2_criteria_suffice_for_every_siae(kind: str) -> None:
    assert iae_eligibility(checks("DELD", "QPV", "RQTH"), kind, D(2026, 3, 1), P).status == Status.ELIGIBLE


@pytest.mark.parametrize("kind", SIAE_3 + SIAE_2)
def test_other_categories_do_not_count_for_iae(kind: str) -> None:
    assert iae_eligibility(checks(*NOT_IAE), kind, D(2026, 3, 1), P).status == Status.NOT_ELIGIBLE


def test_the_same_level2_criterion_twice_counts_once() -> None:
    twice = [Criterion("DELD", D(2026, 1, 15)), Criterion("DELD", D(2026, 2, 1))]
    assert iae_eligibility(twice, "AI", D(2026, 3, 1), P).status == Status.NOT_ELIGIBLE


@pytest.mark.parametrize("kind", NOT_SIAE)
def test_the_iae_rule_does_not_apply_outside_siae(kind: str) -> None:
    result = iae_eligibility([], kind, D(2026, 3, 1), P)
    assert result.status == Status.ELIGIBLE
    assert result.reasons == (f"pas de règle IAE pour une structure {kind}",)


@pytest.mark.parametrize(
    ("on", "status"),
    [(D(2026, 1, 15), Status.ELIGIBLE), (D(2026, 7, 15), Status.ELIGIBLE), (D(2026, 7, 16), Status.NOT_ELIGIBLE),
     (D(2026, 1, 14), Status.NOT_ELIGIBLE)],
)
def test_a_prescriber_diagnosis_is_valid_six_months(on: dt.date, status: Status) -> None:
    result = iae_eligibility(checks("RSA"), "EI", on, P)
    assert result.status == status
    if on == D(2026, 7, 16):
        assert "diagnostic de plus de 6 mois pour RSA" in result.reasons[0]


def test_level2_thresholds_are_settings() -> None:
    policy = EligibilityPolicy(level2_required={"EI": 2, "AI": 1})
    assert iae_eligibility(checks("DELD", "QPV"), "EI", D(2026, 3, 1), policy).status == Status.ELIGIBLE
    assert iae_eligibility(checks("DELD"), "AI", D(2026, 3, 1), policy).status == Status.ELIGIBLE


def test_a_siae_left_out_of_the_thresholds_keeps_the_national_rule() -> None:
    policy = EligibilityPolicy(level2_required={"EI": 2})  # ETTI, AI, ACI, EITI not named
    assert iae_applies("ETTI", policy) and iae_applies("ACI", policy)
    assert iae_eligibility(checks("QPV"), "ETTI", D(2026, 3, 1), policy).status == Status.NOT_ELIGIBLE
    assert iae_eligibility(checks("QPV", "DELD"), "ETTI", D(2026, 3, 1), policy).status == Status.ELIGIBLE
    assert iae_eligibility(checks("QPV", "DELD"), "ACI", D(2026, 3, 1), policy).status == Status.NOT_ELIGIBLE
    assert not iae_applies("GEIQ", policy) and not iae_applies(None, policy)


@pytest.mark.parametrize(("level", "refused"), [
    ("infra_3", False), ("sans_diplome", False), ("2", False),
    ("3", True), ("cap_bep", True), ("4", True), ("bac+2", True),
])
def test_young_people_count_only_below_cap_bep(level: str, refused: bool) -> None:
    error = criterion_error("JEUNE_PEU_QUALIFIE", D(2026, 1, 15), D(2004, 3, 9), False, level, P)
    assert (error is not None) == refused
    if refused:
        assert error == ("critère JEUNE_PEU_QUALIFIE réservé aux jeunes peu qualifiés (niveau de formation 1, 2, "
                         f"infra_3, sans_diplome) : niveau déclaré « {level} »")


def test_the_low_qualification_levels_are_local_policy() -> None:
    policy = EligibilityPolicy(low_qualification_levels=frozenset({"infra_3", "3"}))  # up to CAP/BEP included
    assert criterion_error("JEUNE_PEU_QUALIFIE", D(2026, 1, 15), D(2004, 3, 9), False, "3", policy) is None
    assert criterion_error("DELD", D(2026, 1, 15), D(2004, 3, 9), False, "7", policy) is None  # other publics: any level


# ---- placement: clause + IAE --------------------------------------------------------------------------------------
def test_placement_through_an_ei_needs_both_rules() -> None:
    person = checks("DELD", "QPV")
    assert placement_eligibility(person, None, "EI", D(2026, 3, 1), P).status == Status.NOT_ELIGIBLE
    assert placement_eligibility(person, None, "AI", D(2026, 3, 1), P).status == Status.ELIGIBLE
    assert placement_eligibility(person, None, None, D(2026, 3, 1), P).status == Status.ELIGIBLE
    assert placement_eligibility(person, None, "GEIQ", D(2026, 3, 1), P).status == Status.ELIGIBLE


def test_a_person_to_recheck_cannot_start_whatever_the_structure() -> None:
    assert placement_eligibility(checks("RSA"), None, "GEIQ", D(2026, 8, 1), P).status == Status.TO_RECHECK


def test_placement_reasons_join_clause_and_iae() -> None:
    result = placement_eligibility(checks("RSA"), None, "ETTI", D(2026, 3, 1), P)
    assert result.status == Status.ELIGIBLE
    assert len(result.reasons) == 2 and "niveau 1" in result.reasons[1]


@pytest.mark.parametrize(("code", "birth", "qpv", "refused"), [
    ("JEUNE_PEU_QUALIFIE", D(2000, 1, 16), False, False),  # 25 on the check day (2026-01-15), 26 the day after
    ("JEUNE_PEU_QUALIFIE", D(2000, 1, 15), False, True),  # 26 on the check day
    ("SENIOR_50", D(1976, 1, 15), False, False),  # 50 on the check day
    ("SENIOR_50", D(1976, 1, 16), False, True),  # 49 on the check day
    ("QPV", D(1990, 1, 1), True, False),
    ("QPV", D(1990, 1, 1), False, True),
    ("RSA", D(1940, 1, 1), False, False),
])
def test_age_and_neighbourhood_publics_are_the_person_s_on_the_check_day(code, birth, qpv, refused) -> None:
    error = criterion_error(code, D(2026, 1, 15), birth, qpv, "infra_3", P)
    assert (error is not None) == refused
    if code == "JEUNE_PEU_QUALIFIE" and refused:
        assert error == "critère JEUNE_PEU_QUALIFIE réservé aux moins de 26 ans : 26 ans au contrôle du 15/01/2026"


def test_settings_name_siae_thresholds_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATCHING_IAE_LEVEL2_REQUIRED", '{"GEIQ": 2}')
    with pytest.raises(ValidationError, match="GEIQ n'est pas une SIAE"):
        load_settings(Settings, SERVICE)
    monkeypatch.setenv("MATCHING_IAE_LEVEL2_REQUIRED", '{"EI": 0}')
    with pytest.raises(ValidationError, match="entre 1 et 5"):
        load_settings(Settings, SERVICE)
    monkeypatch.setenv("MATCHING_IAE_LEVEL2_REQUIRED", '{"EI": 2}')
    monkeypatch.setenv("MATCHING_LOW_QUALIFICATION_LEVELS", '["infra_3", "3"]')
    policy = load_settings(Settings, SERVICE).policy()
    assert level2_needed("EI", policy) == 2 and level2_needed("AI", policy) == 2  # AI: the national threshold
    assert policy.low_qualification_levels == {"infra_3", "3"}


@pytest.mark.parametrize(("code", "proof", "refused"), [
    ("AUTRE_VALIDE", None, True), ("AUTRE_VALIDE", "  ", True), ("AUTRE_VALIDE", "avis motivé du PLIE", False),
    ("RSA", None, False),  # the proof type of other criteria is recommended, not required
])
def test_another_situation_needs_the_prescriber_s_reasoned_opinion(code, proof, refused) -> None:
    assert (proof_error(code, proof) is not None) == refused


@pytest.mark.parametrize(("first", "start", "last_day"), [
    (None, D(2026, 3, 2), D(2028, 3, 1)),  # the first clause contract opens the window
    (D(2025, 1, 15), D(2026, 3, 2), D(2027, 1, 14)),  # a later one falls in the window the first opened
    (D(2026, 6, 1), D(2026, 3, 2), D(2028, 3, 1)),  # a placement dated before the first opens it
    (None, D(2024, 8, 31), D(2026, 8, 30)),  # 31 Aug + 24 months, minus a day
])
def test_the_window_a_placement_falls_in_ends_24_months_after_the_first_contract(first, start, last_day) -> None:
    assert window_last_day(first, start, P) == last_day
    assert clause_eligibility(checks("RSA"), min(start, first or start), last_day, P).eligible
    assert not clause_eligibility(checks("RSA"), min(start, first or start), last_day + dt.timedelta(days=1),
                                  P).eligible
