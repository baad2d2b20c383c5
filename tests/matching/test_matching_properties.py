"""Properties of the eligibility and ranking rules over generated cases (hypothesis)."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.codes import CriterionCode
from services.matching.domain.eligibility import (
    ClauseDay,
    Criterion,
    EligibilityPolicy,
    Status,
    add_months,
    clause_eligibility,
)
from services.matching.domain.ranking import BeneficiaryView, LotView, Weights, rank_beneficiaries, shortlist_beneficiaries
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


month_ends = st.builds(lambda y, m, d: add_months(dt.date(y, m, 1), 1) - dt.timedelta(days=d),
                       st.integers(2020, 2030), st.integers(1, 12), st.integers(1, 4))
any_day = days | month_ends
policies = st.builds(EligibilityPolicy, clause_window_months=st.integers(1, 36), recheck_after_months=st.integers(1, 12))


@st.composite
def day_and_files(draw: st.DrawFn) -> tuple:
    """A day, a policy, and checks / a first contract dated anywhere or within 3 days of that day's thresholds."""
    on, policy = draw(any_day), draw(policies)

    def dated(months: int) -> st.SearchStrategy[dt.date]:
        return any_day | st.integers(-3, 3).map(lambda n: add_months(on, -months) + dt.timedelta(days=n))

    checks = draw(st.lists(st.builds(Criterion, st.sampled_from(list(CriterionCode)),
                                     dated(policy.recheck_after_months)), max_size=3))
    return checks, draw(st.none() | dated(policy.clause_window_months)), on, policy


@settings(max_examples=500, deadline=None)
@given(day_and_files())
def test_the_ranking_s_quick_status_is_clause_eligibility_s(case) -> None:
    """`ClauseDay` (thresholds worked out once per day) gives the status `clause_eligibility` gives, on the
    thresholds, month ends and leap days included."""
    checks, first, on, policy = case
    assert ClauseDay.of(on, policy).status(checks, first) == clause_eligibility(checks, first, on, policy).status


@settings(max_examples=150, deadline=None)
@given(people, st.integers(0, 30))
def test_a_shortlist_is_the_head_of_the_ranking_with_its_total(group, limit) -> None:
    lot = LotView(uuid.uuid4(), "nettoyage", dt.date(2025, 1, 1), dt.date(2026, 12, 31), "35001")
    ranked = rank_beneficiaries(lot, group, TERR, P, Weights(), dt.date(2025, 6, 1))
    short = shortlist_beneficiaries(lot, group, TERR, P, Weights(), dt.date(2025, 6, 1), limit)
    assert short.best == ranked[:limit] and short.total == len(ranked)
