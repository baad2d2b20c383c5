"""Properties of the eligibility and ranking rules over generated cases (hypothesis)."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.codes import CriterionCode
from services.matching.domain.eligibility import Criterion, EligibilityPolicy, Status, add_months, clause_eligibility
from services.matching.domain.ranking import BeneficiaryView, LotView, Weights, rank_beneficiaries
from services.matching.domain.territory import Commune, Territory

P = EligibilityPolicy()
days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))
criteria = st.lists(st.builds(Criterion, st.sampled_from(list(CriterionCode)), days), max_size=4)
TERR = Territory({c: Commune(c, c, "E1" if c < "35100" else "E2", "EPCI", True) for c in ("35001", "35050", "35200")})


@settings(max_examples=300, deadline=None)
@given(criteria, st.none() | days, days)
def test_eligible_means_a_fresh_check_or_an_open_window(checks, first, on) -> None:
    result = clause_eligibility(checks, first, on, P)
    in_window = first is not None and first <= on < add_months(first, P.clause_window_months)
    fresh = any(c.checked_on <= on <= add_months(c.checked_on, P.recheck_after_months) for c in checks)
    if first is not None and first <= on:
        assert (result.status == Status.ELIGIBLE) == in_window
    else:
        assert (result.status == Status.ELIGIBLE) == fresh
        assert (result.status == Status.TO_RECHECK) == (not fresh and any(c.checked_on <= on for c in checks))


people = st.lists(
    st.builds(
        BeneficiaryView,
        st.uuids(),
        st.frozensets(st.sampled_from(["nettoyage", "peinture"]), max_size=2),
        st.sampled_from(sorted(TERR.communes)),
        st.booleans(),
        st.lists(st.builds(Criterion, st.sampled_from(list(CriterionCode)), days), max_size=2).map(tuple),
    ),
    max_size=25,
    unique_by=lambda p: p.id,
)


@settings(max_examples=150, deadline=None)
@given(people, st.randoms())
def test_ranking_is_sorted_and_independent_of_input_order(group, rng) -> None:
    lot = LotView(uuid.uuid4(), "nettoyage", dt.date(2025, 1, 1), dt.date(2026, 12, 31), "35001")
    first = rank_beneficiaries(lot, group, TERR, P, Weights(), dt.date(2025, 6, 1))
    shuffled = list(group)
    rng.shuffle(shuffled)
    again = rank_beneficiaries(lot, shuffled, TERR, P, Weights(), dt.date(2025, 6, 1))
    assert [(c.id, c.score, c.reasons) for c in first] == [(c.id, c.score, c.reasons) for c in again]
    keys = [(-c.score, str(c.id)) for c in first]
    assert keys == sorted(keys)
    assert all(c.status != Status.NOT_ELIGIBLE and c.reasons for c in first)
