"""Sizing rules of market_intake, with the worked examples of DOMAIN.md ("Sizing a clause")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.codes import Sector
from services.market_intake import rules

RENNES = rules.Territory()
D = Decimal


def test_rate_worked_example_one_million_gives_833_hours():
    sizing = rules.size_by_rate(D("1000000"), Sector.GROS_OEUVRE, RENNES, labour_share=D("0.5"),
                                insertion_rate=D("0.05"), hourly_cost_eur=D("30"))
    assert sizing.hours == D("833.33")
    assert sizing.parameters == {"amount_eur": "1000000", "labour_share": "0.5", "insertion_rate": "0.05",
                                 "hourly_cost_eur": "30"}
    assert "part de main-d'œuvre" in sizing.formula
    assert sizing.warnings == [] and sizing.defaults_used == ()


def test_rate_defaults_come_from_the_territory_and_are_named():
    sizing = rules.size_by_rate(D("1000000"), Sector.GROS_OEUVRE, RENNES)
    assert sizing.hours == D("833.33")  # gros œuvre 50 %, works rate 5 %, 30 €/h: the same example by default
    assert sizing.defaults_used == ("labour_share", "insertion_rate", "hourly_cost_eur")


def test_services_take_the_services_rate_and_cleaning_its_own_hourly_cost():
    # 100 000 € × 80 % × 10 % ÷ 20 €/h
    assert rules.size_by_rate(D("100000"), Sector.NETTOYAGE, RENNES).hours == D("400.00")
    # painting is works: 200 000 € × 70 % × 5 % ÷ 30 €/h
    assert rules.size_by_rate(D("200000"), Sector.PEINTURE, RENNES).hours == D("233.33")


def test_an_edited_territory_changes_the_defaults():
    local = rules.Territory(labour_share={**rules.DEFAULT_LABOUR_SHARES, Sector.GROS_OEUVRE: D("0.60")},
                            insertion_rate_works=D("0.10"), hourly_cost_eur=D("25"))
    assert rules.size_by_rate(D("1000000"), Sector.GROS_OEUVRE, local).hours == D("2400.00")


def test_under_the_threshold_warns_without_blocking():
    sizing = rules.size_by_rate(D("100000"), Sector.GROS_OEUVRE, RENNES)  # 83.33 h
    assert sizing.hours == D("83.33")
    assert sizing.warnings == ["83.33 h est sous le seuil de 150 h : une clause n'est pas conseillée."]
    assert rules.size_by_rate(D("100000"), Sector.GROS_OEUVRE, rules.Territory(minimum_hours=D("50"))).warnings == []


def test_cleaning_adjustment_for_transferred_staff():
    # A = 600 000 €, N = 24 months, S = 500 h/month, C = 25: P = 1 − 12 500 / 25 000 = 0.5
    # hours = 0.5 × 600 000 ÷ 25 × 10 % = 1 200 h
    sizing = rules.size_cleaning(D("600000"), 24, D("500"), RENNES)
    assert sizing.hours == D("1200.00")
    assert sizing.parameters["room_share"] == "0.5000"
    assert sizing.parameters["cleaning_constant"] == "25"
    assert sizing.defaults_used == ("insertion_rate",)
    assert sizing.warnings == []


def test_cleaning_without_transferred_staff_matches_the_rate_method():
    assert rules.size_cleaning(D("100000"), 12, D("0"), RENNES).hours == D("400.00")
    assert rules.size_by_rate(D("100000"), Sector.NETTOYAGE, RENNES).hours == D("400.00")


def test_cleaning_small_room_warns_under_150_hours():
    # P = 1 − (900 × 25) / (600 000 / 24) = 0.1 → 0.1 × 24 000 × 10 % = 240 h ; with S = 950: P = 0.05 → 120 h
    assert rules.size_cleaning(D("600000"), 24, D("900"), RENNES).hours == D("240.00")
    small = rules.size_cleaning(D("600000"), 24, D("950"), RENNES)
    assert small.hours == D("120.00") and "pas conseillée" in small.warnings[0]


@pytest.mark.parametrize("transferred", [D("1000"), D("1500")])
def test_cleaning_no_room_when_transferred_staff_absorbs_the_amount(transferred):
    sizing = rules.size_cleaning(D("600000"), 24, transferred, RENNES)
    assert sizing.hours == D("0.00")
    assert "aucune place pour une clause" in sizing.warnings[0]


def test_per_amount_clause_grows_with_invoices():
    # 1 h per 2 000 € invoiced
    invoiced = D("0")
    seen = []
    for amount in (D("10000"), D("50000"), D("240000")):
        invoiced += amount
        seen.append(rules.size_per_amount_invoiced(invoiced, D("2000"), RENNES).hours)
    assert seen == [D("5.00"), D("30.00"), D("150.00")]


def test_per_amount_clause_warns_on_the_expected_total_not_on_what_is_invoiced_so_far():
    # nothing invoiced at submission: 0 h owed, but 1 000 000 € expected at 1 h per 2 000 € gives 500 h: no warning
    expected = rules.size_per_amount_invoiced(D("0"), D("2000"), RENNES, expected_eur=D("1000000"))
    assert (expected.hours, expected.warnings) == (D("0.00"), [])
    assert expected.parameters == {"invoiced_eur": "0", "eur_per_hour": "2000", "expected_amount_eur": "1000000",
                                   "expected_hours": "500.00"}
    assert "heures attendues = montant attendu ÷ montant par heure" in expected.formula
    # 200 000 € expected gives 100 h: under 150 h, a warning (not a block) naming the expected figures
    small = rules.size_per_amount_invoiced(D("10000"), D("2000"), RENNES, expected_eur=D("200000"))
    assert small.hours == D("5.00")
    assert small.warnings == ["Au rythme d'une heure pour 2000 € facturés, le montant attendu de 200000 € ne donnerait "
                              "que 100.00 h, sous le seuil de 150 h : une clause n'est pas conseillée."]
    # invoices beyond the expected amount: the invoiced total is what the lot will owe at least
    beyond = rules.size_per_amount_invoiced(D("320000"), D("2000"), RENNES, expected_eur=D("200000"))
    assert (beyond.hours, beyond.warnings, beyond.parameters["expected_amount_eur"]) == (D("160.00"), [], "320000")
    # no expected amount (the calculator without one): nothing to warn on, nothing invented
    unknown = rules.size_per_amount_invoiced(D("0"), D("2000"), RENNES)
    assert unknown.warnings == [] and "expected_hours" not in unknown.parameters


def test_size_clause_warns_a_small_per_amount_lot_on_its_amount():
    clause = rules.ClauseInput(method="per_amount_invoiced", amount_eur=D("200000"), eur_per_hour=D("2000"))
    assert "pas conseillée" in rules.size_clause(clause, RENNES).warnings[0]
    again = rules.resize("per_amount_invoiced", Sector.ESPACES_VERTS, rules.size_clause(clause, RENNES).parameters,
                         amount_eur=D("400000"), months=12, invoiced_eur=D("0"))
    # an amendment to 400 000 € expects 200 h: the warning goes
    assert rules.size_clause(again, RENNES).warnings == []


@pytest.mark.parametrize(("sector", "cpv", "rate", "rule"), [
    (Sector.ESPACES_VERTS, "45112710-5", D("0.05"), "taux travaux : marché de travaux (code CPV 45112710-5"),
    (Sector.GROS_OEUVRE, "45214200", D("0.05"), "taux travaux : marché de travaux (code CPV 45214200, division 45)"),
    (Sector.NETTOYAGE, "90910000-9", D("0.10"), "taux services : marché hors travaux (code CPV 90910000-9"),
    (Sector.PEINTURE, "50800000", D("0.10"), "taux services : marché hors travaux (code CPV 50800000"),
    (Sector.NETTOYAGE, "45000000-7", D("0.05"), "taux travaux : marché de travaux"),
    # no CPV known (the calculator without one): the lot's sector decides
    (Sector.GROS_OEUVRE, None, D("0.05"), "taux travaux : code CPV inconnu, secteur gros_oeuvre classé travaux"),
    (Sector.ESPACES_VERTS, None, D("0.10"), "taux services : code CPV inconnu, secteur espaces_verts classé services"),
])
def test_the_default_rate_follows_the_market_cpv_then_the_sector(sector, cpv, rate, rule):
    got_rate, got_rule = RENNES.default_rate(sector, cpv)
    assert got_rate == rate and got_rule.startswith(rule)


def test_a_green_spaces_lot_of_a_works_market_takes_the_works_rate_and_says_why():
    # 1 000 000 € × 60 % × 5 % ÷ 30 €/h = 1 000 h (the sector alone would have given 10 %: 2 000 h)
    works = rules.size_by_rate(D("1000000"), Sector.ESPACES_VERTS, RENNES, cpv_code="45112710-5")
    assert works.hours == D("1000.00") and works.parameters["insertion_rate"] == "0.05"
    assert works.parameters["insertion_rate_rule"] == ("taux travaux : marché de travaux "
                                                       "(code CPV 45112710-5, division 45)")
    assert "insertion_rate" in works.defaults_used
    # a cleaning lot of a services market: 100 000 € × 80 % × 10 % ÷ 20 €/h
    services = rules.size_by_rate(D("100000"), Sector.NETTOYAGE, RENNES, cpv_code="90910000-9")
    assert services.hours == D("400.00") and services.parameters["insertion_rate"] == "0.10"
    assert services.parameters["insertion_rate_rule"].startswith("taux services : marché hors travaux")
    # a rate given in the tender is no default: no rule to show
    given = rules.size_by_rate(D("1000000"), Sector.ESPACES_VERTS, RENNES, insertion_rate=D("0.07"),
                               cpv_code="45112710-5")
    assert "insertion_rate_rule" not in given.parameters and "insertion_rate" not in given.defaults_used


def test_the_cleaning_formula_takes_its_default_rate_from_the_cpv_too():
    # P = 0.5 as above; a works market (CPV 45): 0.5 × 600 000 ÷ 25 × 5 % = 600 h
    works = rules.size_cleaning(D("600000"), 24, D("500"), RENNES, cpv_code="45214200")
    assert works.hours == D("600.00") and works.parameters["insertion_rate_rule"].startswith("taux travaux")
    services = rules.size_cleaning(D("600000"), 24, D("500"), RENNES, cpv_code="90910000-9")
    assert services.hours == D("1200.00") and services.parameters["insertion_rate_rule"].startswith("taux services")


def test_a_recomputation_keeps_the_default_rate_and_the_rule_that_chose_it():
    first = rules.size_clause(rules.ClauseInput(method="rate", sector=Sector.ESPACES_VERTS, amount_eur=D("1000000"),
                                                cpv_code="45112710-5"), RENNES)
    clause = rules.resize("rate", Sector.ESPACES_VERTS, first.parameters, amount_eur=D("1200000"), months=12,
                          invoiced_eur=D("0"), cpv_code="45112710-5")
    again = rules.size_clause(clause, rules.Territory(insertion_rate_works=D("0.2")))
    assert again.hours == D("1200.00")  # 1 200 000 × 60 % × 5 % ÷ 30: the rate it was sized with
    assert again.parameters["insertion_rate_rule"] == first.parameters["insertion_rate_rule"]


def test_fixed_hours_are_kept_and_warned_when_small():
    assert rules.size_fixed(D("500"), RENNES).hours == D("500.00")
    assert rules.size_fixed(D("35"), RENNES).warnings


def test_size_clause_dispatches_by_method():
    rate = rules.ClauseInput(method="rate", sector=Sector.GROS_OEUVRE, amount_eur=D("1000000"))
    assert rules.size_clause(rate, RENNES).hours == D("833.33")
    cleaning = rules.ClauseInput(method="rate", sector=Sector.NETTOYAGE, amount_eur=D("600000"), months=24,
                                 transferred_monthly_hours=D("500"))
    assert rules.size_clause(cleaning, RENNES).hours == D("1200.00")
    fixed = rules.ClauseInput(method="fixed_hours", hours=D("700"))
    assert rules.size_clause(fixed, RENNES).hours == D("700.00")
    per_amount = rules.ClauseInput(method="per_amount_invoiced", eur_per_hour=D("2000"), invoiced_eur=D("30000"))
    assert rules.size_clause(per_amount, RENNES).hours == D("15.00")


def test_resize_keeps_the_parameters_and_takes_the_new_amount():
    first = rules.size_by_rate(D("1000000"), Sector.GROS_OEUVRE, RENNES, labour_share=D("0.6"))
    clause = rules.resize("rate", Sector.GROS_OEUVRE, first.parameters, amount_eur=D("1200000"), months=12,
                          invoiced_eur=D("0"))
    # 1 200 000 × 60 % × 5 % ÷ 30 — the 60 % given at submission is kept, not the 50 % default
    assert rules.size_clause(clause, rules.Territory(insertion_rate_works=D("0.2"))).hours == D("1200.00")


def test_resize_cleaning_follows_the_new_duration():
    first = rules.size_cleaning(D("600000"), 24, D("500"), RENNES)
    clause = rules.resize("rate", Sector.NETTOYAGE, first.parameters, amount_eur=D("600000"), months=12,
                          invoiced_eur=D("0"))
    # same amount over 12 months: P = 1 − 12 500 / 50 000 = 0.75 → 1 800 h
    assert rules.size_clause(clause, RENNES).hours == D("1800.00")


@pytest.mark.parametrize(("start", "end", "months"), [
    (dt.date(2026, 1, 1), dt.date(2026, 12, 31), 12),
    (dt.date(2026, 1, 5), dt.date(2027, 6, 30), 18),
    (dt.date(2026, 3, 1), dt.date(2026, 3, 1), 1),
    (dt.date(2026, 1, 1), dt.date(2027, 12, 31), 24),
])
def test_months_between(start, end, months):
    assert rules.months_between(start, end) == months


@pytest.mark.parametrize(("status", "award", "change", "close"), [
    ("draft", "brouillon", "pas encore attribué", "brouillon"),
    ("submitted", None, "pas encore attribué", None),
    ("awarded", "déjà attribué", None, None),
    ("closed", "clos", "clos", "déjà clos"),
])
def test_lot_life_cycle_refusals(status, award, change, close):
    for got, expected in ((rules.award_refusal(status), award), (rules.change_refusal(status, "avenant"), change),
                          (rules.close_refusal(status), close)):
        assert (got is None) if expected is None else (expected in got)


@pytest.mark.parametrize(("statuses", "market"), [
    (["draft", "draft"], "draft"),
    (["submitted"], "submitted"),
    (["awarded", "submitted"], "submitted"),
    (["awarded", "closed"], "awarded"),
    (["closed", "closed"], "closed"),
])
def test_market_status_follows_its_lots(statuses, market):
    assert rules.market_status(statuses) == market


@pytest.mark.parametrize(("siret", "error"), [
    ("24350013900189", None),
    ("21350238800019", None),
    ("35600000000051", None),  # La Poste: digit sum multiple of 5
    ("35600000000052", "clé de contrôle du SIRET invalide"),
    ("24350013900188", "clé de contrôle du SIRET invalide"),
    ("2435001390018", "le SIRET doit compter 14 chiffres"),
    ("2435001390018A", "le SIRET doit compter 14 chiffres"),
])
def test_siret(siret, error):
    assert rules.siret_error(siret) == error


def test_commune_check():
    known = {"35238": "Rennes"}
    assert rules.commune_error("35238", known) is None
    assert "code INSEE 75056" in rules.commune_error("75056", known)


# ---- properties ------------------------------------------------------------------------------------------------
amounts = st.decimals(min_value=D("0.01"), max_value=D("100000000"), places=2)
shares = st.decimals(min_value=D("0.01"), max_value=D("1"), places=2)
costs = st.decimals(min_value=D("1"), max_value=D("200"), places=2)
sectors = st.sampled_from(list(Sector))


@given(amount=amounts, sector=sectors, share=shares, rate=shares, cost=costs)
def test_rate_hours_are_never_negative(amount, sector, share, rate, cost):
    assert rules.size_by_rate(amount, sector, RENNES, labour_share=share, insertion_rate=rate,
                              hourly_cost_eur=cost).hours >= 0


@given(amount=amounts, months=st.integers(1, 120), transferred=st.decimals(min_value=D("0"), max_value=D("100000"),
                                                                             places=2), rate=shares)
def test_cleaning_hours_are_never_negative(amount, months, transferred, rate):
    assert rules.size_cleaning(amount, months, transferred, RENNES, insertion_rate=rate).hours >= 0


@given(invoiced=st.decimals(min_value=D("0"), max_value=D("100000000"), places=2), per_hour=costs)
def test_per_amount_hours_are_never_negative(invoiced, per_hour):
    assert rules.size_per_amount_invoiced(invoiced, per_hour, RENNES).hours >= 0


@given(amount=amounts, factor=st.integers(1, 1000), sector=sectors)
def test_rate_hours_scale_linearly_with_amount(amount, factor, sector):
    one = rules.size_by_rate(amount, sector, RENNES).hours
    many = rules.size_by_rate(amount * factor, sector, RENNES).hours
    # each figure is rounded to the cent: the scaled one differs from factor × one by at most the scaled rounding
    assert abs(many - one * factor) <= D("0.005") * factor + D("0.005")


@given(amount=amounts, factor=st.integers(1, 1000), months=st.integers(1, 120))
def test_cleaning_without_transfer_scales_linearly_with_amount(amount, factor, months):
    one = rules.size_cleaning(amount, months, D("0"), RENNES).hours
    many = rules.size_cleaning(amount * factor, months, D("0"), RENNES).hours
    assert abs(many - one * factor) <= D("0.005") * factor + D("0.005")


@given(amount=amounts, sector=sectors, months=st.integers(1, 120),
       transferred=st.one_of(st.none(), st.decimals(min_value=D("0"), max_value=D("5000"), places=2)))
def test_recomputing_with_unchanged_figures_gives_the_same_obligation(amount, sector, months, transferred):
    if transferred is not None:
        sector = Sector.NETTOYAGE
    clause = rules.ClauseInput(method="rate", sector=sector, amount_eur=amount, months=months,
                               transferred_monthly_hours=transferred)
    first = rules.size_clause(clause, RENNES)
    again = rules.resize("rate", sector, first.parameters, amount_eur=amount, months=months, invoiced_eur=D("0"))
    assert rules.size_clause(again, rules.Territory(insertion_rate_works=D("0.5"))).hours == first.hours
