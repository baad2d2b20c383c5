"""The pure rules of hour accounting, case by case."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from contracts.codes import HourKind
from services.hours import rules
from services.hours.rules import PlacementView, Policy, RuleError

TODAY = dt.date(2026, 11, 22)


@pytest.mark.parametrize(("raw", "month"), [
    ("2026-03", "2026-03"), ("2026-3", "2026-03"), (" 03/2026 ", "2026-03"), ("3/2026", "2026-03"),
    ("2026-03-01", "2026-03"), ("01/03/2026", "2026-03"), (dt.date(2026, 3, 31), "2026-03"),
    (dt.datetime(2026, 3, 1, 0, 0), "2026-03"), ("2026-03-01 00:00:00", "2026-03"),
])
def test_months_are_read_in_their_usual_spellings(raw, month):
    assert rules.parse_month(raw) == month


@pytest.mark.parametrize(("raw", "message"), [
    ("", "mois manquant"), (None, "mois manquant"), ("mars 2026", "mois invalide « mars 2026 »"),
    ("2026-13", "mois invalide « 2026-13 »"), ("13/2026", "mois invalide"), ("1899-01", "mois invalide"),
])
def test_bad_months_are_refused_with_the_value(raw, message):
    with pytest.raises(RuleError) as err:
        rules.parse_month(raw)
    assert err.value.field == "month"
    assert message in err.value.message


@pytest.mark.parametrize(("raw", "hours"), [
    ("7,5", Decimal("7.5")), ("7.50", Decimal("7.50")), (" 151,67 ", Decimal("151.67")), ("1 234,5", Decimal("1234.5")),
    ("1\u00a0234,5", Decimal("1234.5")), (12, Decimal(12)), (7.25, Decimal("7.25")), (Decimal("3"), Decimal(3)),
])
def test_hours_accept_decimal_commas_and_number_cells(raw, hours):
    assert rules.parse_hours(raw) == hours


@pytest.mark.parametrize("raw", ["", None, "sept", "7,5h", "NaN", "inf", True])
def test_unreadable_hours_are_refused(raw):
    with pytest.raises(RuleError) as err:
        rules.parse_hours(raw)
    assert err.value.field == "hours"


@pytest.mark.parametrize(("hours", "hundredths"), [(Decimal("0.01"), 1), (Decimal("7.5"), 750), (Decimal("200"), 20000)])
def test_hours_are_counted_in_hundredths(hours, hundredths):
    assert rules.hours_to_hundredths(hours) == hundredths


@pytest.mark.parametrize(("hours", "message"), [
    (Decimal("0"), "supérieures à 0"), (Decimal("-1"), "supérieures à 0"), (Decimal("7.555"), "au plus 2 décimales"),
])
def test_hours_must_be_positive_with_two_decimals_at_most(hours, message):
    with pytest.raises(RuleError) as err:
        rules.hours_to_hundredths(hours)
    assert message in err.value.message


def test_a_correction_may_bring_hours_to_zero_but_not_below():
    assert rules.hours_to_hundredths(Decimal(0), allow_zero=True) == 0
    with pytest.raises(RuleError, match="négatives"):
        rules.hours_to_hundredths(Decimal("-0.5"), allow_zero=True)


@pytest.mark.parametrize(("raw", "kind"), [
    ("", None), (None, None), (" ", None), ("work", HourKind.WORK), ("Travail ", HourKind.WORK),
    ("Heures travaillées", HourKind.WORK), ("FORMATION", HourKind.TRAINING), ("training", HourKind.TRAINING),
])
def test_kinds_accept_french_names(raw, kind):
    assert rules.parse_kind(raw) == kind  # None: not given, the placement decides (entry_kind)


def test_unknown_kind_names_the_admitted_values():
    with pytest.raises(RuleError, match="type d'heures inconnu « congés »"):
        rules.parse_kind("congés")


def test_future_month_is_refused_current_month_is_not():
    rules.check_month("2026-11", rules.month_of(TODAY))
    rules.check_month("2025-12", rules.month_of(TODAY))
    with pytest.raises(RuleError, match="2026-12 est dans le futur"):
        rules.check_month("2026-12", rules.month_of(TODAY))


def test_placement_must_be_known_and_active_that_month():
    with pytest.raises(RuleError, match="placement inconnu"):
        rules.check_placement(None, "2026-03")
    with pytest.raises(RuleError, match="placement inconnu"):  # only its end has been received
        rules.check_placement(PlacementView(None, dt.date(2026, 5, 1), None), "2026-03")
    placement = PlacementView(dt.date(2026, 3, 15), dt.date(2026, 6, 2), "provision")
    for month in ("2026-03", "2026-04", "2026-06"):
        rules.check_placement(placement, month)
    with pytest.raises(RuleError, match="commence le 15/03/2026, après le mois 2026-02"):
        rules.check_placement(placement, "2026-02")
    with pytest.raises(RuleError, match="a pris fin le 02/06/2026, avant le mois 2026-07"):
        rules.check_placement(placement, "2026-07")
    rules.check_placement(PlacementView(dt.date(2020, 1, 1), None, "provision"), "2026-07")


LOT_2026 = (dt.date(2026, 1, 5), dt.date(2026, 12, 31))  # the lot's period: 2026-01 .. 2026-12


@pytest.mark.parametrize("month", ["2026-01", "2026-06", "2026-12"])
def test_a_month_within_the_lot_period_counts_its_first_and_last_months_included(month):
    rules.check_lot_period(month, *LOT_2026)  # January counts although the lot starts on the 5th


@pytest.mark.parametrize("month", ["2025-12", "2027-01", "2028-06"])
def test_a_month_outside_the_lot_period_is_refused_with_the_period(month):
    with pytest.raises(RuleError) as err:
        rules.check_lot_period(month, *LOT_2026)
    assert err.value.field == "month"
    assert err.value.message == (f"le mois {month} est en dehors de la période du lot (du 05/01/2026 au 31/12/2026) : "
                                 "seules comptent les heures effectuées sur l'opération")


def test_an_open_ended_placement_counts_only_within_its_lot_period():
    placement = PlacementView(dt.date(2026, 2, 1), None, "provision", *LOT_2026)
    rules.check_placement(placement, "2026-12")
    with pytest.raises(RuleError, match="le mois 2028-06 est en dehors de la période du lot"):
        rules.check_placement(placement, "2028-06")
    # the lot's period is checked before the placement's dates: it is the reason the hours cannot count
    with pytest.raises(RuleError, match="le mois 2025-11 est en dehors de la période du lot"):
        rules.check_placement(placement, "2025-11")
    with pytest.raises(RuleError, match="commence le 01/02/2026, après le mois 2026-01"):
        rules.check_placement(placement, "2026-01")
    # an amendment moving the lot's end moves what counts
    amended = PlacementView(dt.date(2026, 2, 1), None, "provision", LOT_2026[0], dt.date(2027, 3, 31))
    rules.check_placement(amended, "2027-03")


def test_hours_count_up_to_the_month_the_person_s_eligibility_window_closes():
    """DOMAIN.md: "only hours of validated eligible people count"; the window (24 months from the first clause
    contract) comes from matching; the month in which it closes still counts."""
    placement = PlacementView(dt.date(2024, 6, 1), None, "provision", dt.date(2024, 1, 1), dt.date(2027, 12, 31),
                              dt.date(2026, 5, 31))
    for month in ("2024-06", "2026-05"):
        rules.check_placement(placement, month)
    with pytest.raises(RuleError) as err:
        rules.check_placement(placement, "2026-06")
    assert (err.value.field, err.value.message) == ("month", (
        "le mois 2026-06 est après la fin de la fenêtre d'éligibilité de la personne (le 31/05/2026) : seules "
        "comptent les heures de personnes éligibles"))
    unknown = PlacementView(dt.date(2024, 6, 1), None, "provision", dt.date(2024, 1, 1), dt.date(2027, 12, 31))
    rules.check_placement(unknown, "2027-06")  # a placement announced without its window: not checked


@pytest.mark.parametrize(("given", "modality", "kind"), [
    (None, "training", HourKind.TRAINING), ("training", "training", HourKind.TRAINING),
    (None, "provision", HourKind.WORK), ("work", "direct_hire", HourKind.WORK), (None, None, HourKind.WORK),
    # training time of an apprenticeship, a professionalisation contract, a GEIQ pathway: under the training policy
    ("training", "direct_hire", HourKind.TRAINING), ("training", "provision", HourKind.TRAINING),
])
def test_the_kind_an_entry_counts_as_follows_the_placement_modality(given, modality, kind):
    assert rules.entry_kind(given, modality) == kind


def test_a_training_placement_declares_no_work_hours():
    with pytest.raises(RuleError) as err:
        rules.entry_kind("work", "training")
    assert err.value.field == "kind"
    assert "ce placement est une formation : il ne déclare que des heures de formation" in err.value.message


def test_a_training_placement_cannot_escape_the_training_policy():
    """Where training hours do not count, no hours of a training placement count, whatever kind was typed."""
    closed = Policy(training_allowed=False)
    kind = rules.entry_kind(None, "training")  # an empty kind on a training placement is training
    with pytest.raises(RuleError, match="ne sont pas comptées sur ce territoire"):
        rules.check_caps(kind, 700, 700, 700, closed)
    with pytest.raises(RuleError, match="ne déclare que des heures de formation"):
        rules.entry_kind("work", "training")
    with pytest.raises(RuleError, match="au plus 35 h de formation"):  # and the cap holds for it
        rules.check_caps(kind, 3600, 3600, 3600, Policy())


def test_a_correction_must_leave_an_entry_that_counts_else_only_cancel_it():
    rules.check_correction("2026-06", "work", "provision", *LOT_2026)
    with pytest.raises(RuleError) as err:  # the lot was amended to end earlier
        rules.check_correction("2027-02", "work", "provision", *LOT_2026)
    assert err.value.field == "hours"
    assert err.value.message.startswith("le mois 2027-02 est en dehors de la période du lot (du 05/01/2026 au 31/12/2026)")
    assert err.value.message.endswith("; cette entrée ne peut qu'être annulée (correction à 0)")
    with pytest.raises(RuleError, match="ne déclare que des heures de formation.*annulée"):  # recorded before the rule
        rules.check_correction("2026-06", "work", "training", *LOT_2026)
    rules.check_correction("2026-06", "training", "training", *LOT_2026)


def test_monthly_cap_per_placement_counts_every_kind():
    policy = Policy(monthly_cap_hours=Decimal("200"))
    rules.check_caps(HourKind.WORK, 16000, 20000, 0, policy)
    with pytest.raises(RuleError, match=r"au plus 200 h par mois et par placement \(total 200,01 h\)"):
        rules.check_caps(HourKind.WORK, 1, 20001, 0, policy)


def test_training_needs_the_territory_and_stays_within_its_cap():
    rules.check_caps(HourKind.TRAINING, 3500, 3500, 3500, Policy(training_monthly_cap_hours=Decimal(35)))
    with pytest.raises(RuleError, match="au plus 35 h de formation"):
        rules.check_caps(HourKind.TRAINING, 3501, 3501, 3501, Policy(training_monthly_cap_hours=Decimal(35)))
    with pytest.raises(RuleError, match="ne sont pas comptées sur ce territoire") as err:
        rules.check_caps(HourKind.TRAINING, 100, 100, 100, Policy(training_allowed=False))
    assert err.value.field == "kind"
    rules.check_caps(HourKind.WORK, 100, 100, 0, Policy(training_allowed=False))


def test_subcontracted_amount_converts_at_the_hourly_cost():
    assert rules.hours_from_subcontracted_amount(Decimal("1000"), Decimal(25)) == Decimal("40.00")
    assert rules.hours_from_subcontracted_amount(Decimal("100"), Decimal(30)) == Decimal("3.33")
    with pytest.raises(RuleError, match="supérieur à 0"):
        rules.hours_from_subcontracted_amount(Decimal(0), Decimal(30))
    assert rules.counts_by_amount("subcontracting") and rules.counts_by_amount("co_contracting")
    assert not rules.counts_by_amount("provision")


@pytest.mark.parametrize(("parameters", "cost"), [
    ({"amount_eur": "1000000", "labour_share": "0.5", "insertion_rate": "0.05", "hourly_cost_eur": "30"}, Decimal(30)),
    ({"hourly_cost_eur": "27.5"}, Decimal("27.50")),
    ({"amount_eur": "500000", "months": "12", "transferred_monthly_hours": "300", "cleaning_constant": "25",
      "insertion_rate": "0.1", "room_share": "0.82"}, None),  # transferred staff: C is no hourly cost
    ({"hours": "300"}, None), ({"invoiced_eur": "0", "eur_per_hour": "2000"}, None),  # fixed, per amount invoiced
    ({"hourly_cost_eur": "trente"}, None), ({"hourly_cost_eur": "0"}, None), ({"hourly_cost_eur": "NaN"}, None),
    ({"hourly_cost_eur": "1e9"}, None),
])
def test_the_hourly_cost_a_clause_was_sized_with(parameters, cost):
    assert rules.sizing_hourly_cost(parameters) == cost


def test_a_subcontracted_amount_converts_at_the_lot_sizing_cost_else_at_market_intake_defaults():
    policy = Policy()
    assert (policy.subcontracting_hourly_cost_eur, policy.subcontracting_hourly_cost_cleaning_eur) == (30, 20)
    assert rules.subcontracting_hourly_cost(Decimal(22), "gros_oeuvre", policy) == Decimal(22)
    assert rules.subcontracting_hourly_cost(Decimal(22), "nettoyage", policy) == Decimal(22)
    assert rules.subcontracting_hourly_cost(None, "gros_oeuvre", policy) == Decimal(30)
    assert rules.subcontracting_hourly_cost(None, "nettoyage", policy) == Decimal(20)
    local = Policy(subcontracting_hourly_cost_eur=Decimal(28), subcontracting_hourly_cost_cleaning_eur=Decimal(21))
    assert rules.subcontracting_hourly_cost(None, "peinture", local) == Decimal(28)
    assert rules.subcontracting_hourly_cost(None, "nettoyage", local) == Decimal(21)


def test_month_arithmetic():
    assert rules.month_bounds("2024-02") == (dt.date(2024, 2, 1), dt.date(2024, 2, 29))
    assert rules.month_bounds("2026-12") == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert rules.months_between("2026-01", "2027-06") == 18
    assert rules.months_between("2026-05", "2026-04") == 0


START, END = dt.date(2026, 1, 5), dt.date(2026, 12, 20)  # 12 months


def test_progress_extends_the_pace_to_the_end_date():
    # in July, 6 months are over (Jan..Jun), 300 h realised: 50 h a month over 12 months → 600 h.
    result = rules.progress(Decimal(1000), START, END, {"2026-01": 10000, "2026-03": 20000}, dt.date(2026, 7, 10), Decimal("0.1"))
    assert result.realised == Decimal(300)
    assert result.forecast == Decimal("600.00")
    assert result.percent == Decimal("30.0")
    assert result.at_risk is True
    assert result.target_reached is False
    assert list(result.monthly) == ["2026-01", "2026-03"]


def test_progress_is_not_at_risk_within_the_margin():
    # forecast 900 h for 1000 h owed: exactly at the 10 % margin, not below it.
    result = rules.progress(Decimal(1000), START, END, {"2026-01": 45000}, dt.date(2026, 7, 10), Decimal("0.1"))
    assert result.forecast == Decimal("900.00")
    assert result.at_risk is False
    assert rules.progress(Decimal(1000), START, END, {"2026-01": 44999}, dt.date(2026, 7, 10), Decimal("0.1")).at_risk


def test_target_reached_is_never_at_risk():
    result = rules.progress(Decimal(100), START, END, {"2026-01": 10000}, dt.date(2026, 11, 1), Decimal("0.1"))
    assert result.target_reached is True
    assert result.at_risk is False
    assert result.percent == Decimal("100.0")


def test_progress_before_the_lot_starts_and_after_it_ends():
    before = rules.progress(Decimal(100), START, END, {}, dt.date(2025, 12, 1), Decimal("0.1"))
    assert (before.forecast, before.at_risk, before.percent) == (Decimal(0), False, Decimal(0))
    after = rules.progress(Decimal(1200), START, END, {"2026-01": 60000}, dt.date(2027, 6, 1), Decimal("0.1"))
    assert after.forecast == Decimal("600.00")  # the whole period has elapsed: the forecast is what was done
    assert after.at_risk is True


def test_a_lot_not_yet_awarded_is_never_at_risk():
    pending = rules.progress(Decimal(1000), START, END, {}, dt.date(2026, 6, 10), Decimal("0.1"), awarded=False)
    assert (pending.at_risk, pending.forecast) == (False, Decimal(0))
    assert rules.progress(Decimal(1000), START, END, {}, dt.date(2026, 6, 10), Decimal("0.1"), awarded=True).at_risk


def test_nothing_owed_means_no_percent_and_no_alert():
    result = rules.progress(Decimal(0), START, END, {"2026-01": 500}, dt.date(2026, 6, 1), Decimal("0.1"))
    assert (result.percent, result.at_risk, result.target_reached) == (Decimal(0), False, False)


YEAR_START, YEAR_END = dt.date(2026, 1, 1), dt.date(2026, 12, 31)  # 12 months, 1,200 h owed


def year_progress(monthly: dict[str, int], today: dt.date) -> rules.Progress:
    return rules.progress(Decimal(1200), YEAR_START, YEAR_END, monthly, today, Decimal("0.1"))


def test_the_current_month_is_not_elapsed_yet():
    """1 February: January is the only closed month; 100 h for it is the pace of 1,200 h."""
    result = year_progress({"2026-01": 10000}, dt.date(2026, 2, 1))
    assert (result.forecast, result.at_risk) == (Decimal("1200.00"), False)


def test_the_first_day_and_the_first_month_are_never_at_risk():
    assert (year_progress({}, dt.date(2026, 1, 1)).at_risk, year_progress({}, dt.date(2026, 1, 2)).at_risk) == (False, False)
    first_month = year_progress({"2026-01": 2000}, dt.date(2026, 1, 20))  # January under way, partly declared
    assert (first_month.forecast, first_month.at_risk, first_month.realised) == (Decimal("20.00"), False, Decimal(20))


def test_nothing_declared_once_a_month_is_over_is_at_risk():
    result = year_progress({}, dt.date(2026, 2, 1))
    assert (result.forecast, result.at_risk) == (Decimal(0), True)


def test_hours_of_the_month_under_way_count_as_realised_not_in_the_pace():
    # mid-lot, 15 June: Jan..May closed, 100 h each; 30 h already declared for June
    monthly = {f"2026-0{m}": 10000 for m in range(1, 6)} | {"2026-06": 3000}
    result = year_progress(monthly, dt.date(2026, 6, 15))
    assert (result.realised, result.forecast, result.at_risk) == (Decimal(530), Decimal("1200.00"), False)
    behind = year_progress({f"2026-0{m}": 8000 for m in range(1, 6)}, dt.date(2026, 6, 15))  # 80 h a month
    assert (behind.forecast, behind.at_risk) == (Decimal("960.00"), True)


def test_the_last_month_and_after_the_end():
    monthly = {f"2026-{m:02d}": 9000 for m in range(1, 12)}  # 90 h a month, January to November
    last_month = year_progress(monthly, dt.date(2026, 12, 10))  # 11 months closed
    assert (last_month.forecast, last_month.at_risk) == (Decimal("1080.00"), False)  # 1,080 h ≥ 1,200 h × 90 %
    after = year_progress(monthly | {"2026-12": 2000}, dt.date(2027, 3, 1))  # every month closed: what was done
    assert (after.realised, after.forecast, after.at_risk) == (Decimal(1010), Decimal("1010.00"), True)
    done = year_progress(monthly | {"2026-12": 10000}, dt.date(2027, 1, 1))
    assert (done.forecast, done.at_risk) == (Decimal("1090.00"), False)  # 1,090 h: within the 10 % margin
