"""Regression (bad-input campaign): numbers too large for `Decimal.quantize` used to escape as a 500
(`decimal.InvalidOperation`) on POST /hours, POST /hours/{id}/corrections and imports."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.hours import rules
from services.hours.rules import RuleError


@pytest.mark.parametrize("hours", [Decimal("1.2695340259485938e+187"), Decimal("744.01"), Decimal(10) ** 30])
@pytest.mark.parametrize("allow_zero", [False, True])
def test_more_hours_than_a_month_holds_is_a_rule_error(hours, allow_zero):
    with pytest.raises(RuleError, match="un mois compte au plus 744 h") as err:
        rules.hours_to_hundredths(hours, allow_zero=allow_zero)
    assert err.value.field == "hours"


def test_a_whole_month_of_hours_is_still_counted():
    assert rules.hours_to_hundredths(Decimal("744")) == 74400


def test_a_subcontracted_amount_worth_more_than_a_month_is_a_rule_error():
    with pytest.raises(RuleError, match="plus de 744 h de main-d'œuvre") as err:
        rules.hours_from_subcontracted_amount(Decimal("1e40"), Decimal(25))
    assert err.value.field == "amount_eur"
