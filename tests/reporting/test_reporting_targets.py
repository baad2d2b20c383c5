"""Territorial targets beside the figures: a funder never reads a small cell out of a share (DOMAIN.md, "< 5")."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.reporting.rules import share_reveals_small_cell
from services.reporting.service import Policy, targets

POLICY = Policy(small_cell_threshold=5, targets={"qpv_share": Decimal(25), "women_share": Decimal(20)})


@pytest.mark.parametrize(("count", "total", "reveals"), [
    (0, 5, False), (5, 5, False), (5, 10, False), (2, 5, True), (4, 9, True), (6, 9, True), (56, 400, False),
])
def test_a_share_reveals_a_small_cell_when_the_count_or_its_complement_is_under_the_threshold(count, total, reveals):
    assert share_reveals_small_cell(count, total, 5) is reveals


def test_funders_do_not_see_a_share_that_gives_a_small_cell_away():
    # 5 people shown, of whom 2 women (hidden as "< 5") and 0 living in a QPV
    people = {"gender": {"F": 2, "M": 3}, "qpv": {"false": 5}}
    head = {"people": 5}
    shown = {t["key"]: t["actual"] for t in targets(POLICY, people, head)}
    assert shown == {"qpv_share": Decimal("0.0"), "women_share": Decimal("40.0")}
    protected = {t["key"]: t["actual"] for t in targets(POLICY, people, head, protect=True)}
    assert protected == {"qpv_share": Decimal("0.0"), "women_share": None}


def test_funders_do_not_see_a_share_whose_count_is_hidden_beside_a_small_cell():
    # 15 people: 6 women, 7 men, 2 of unknown gender ("< 5"); the women (smallest other cell) are hidden too, so
    # their share, 6 / 15 = 40 %, would give them away, then the 2 (15 − 6 − 7)
    people = {"gender": {"F": 6, "M": 7, "unknown": 2}, "qpv": {"false": 10, "true": 5}}
    head = {"people": 15}
    protected = {t["key"]: t["actual"] for t in targets(POLICY, people, head, protect=True)}
    assert protected == {"qpv_share": Decimal("33.3"), "women_share": None}
