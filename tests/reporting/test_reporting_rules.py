"""The pure rules of the reports, case by case."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from disclosure import given_away
from hypothesis import given
from hypothesis import strategies as st

from services.reporting import rules
from services.reporting.rules import MASKED, MASKED_KEY
from shared.errors import DomainError
from shared.territory import read_communes


@pytest.mark.parametrize(("quarter", "start", "end"), [
    (1, dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    (2, dt.date(2026, 4, 1), dt.date(2026, 6, 30)),
    (3, dt.date(2026, 7, 1), dt.date(2026, 9, 30)),
    (4, dt.date(2026, 10, 1), dt.date(2026, 12, 31)),
])
def test_quarter_bounds_and_months(quarter, start, end):
    p = rules.quarter_period(2026, quarter)
    assert (p.start, p.end) == (start, end)
    assert p.months == [f"2026-{m:02d}" for m in range(start.month, end.month + 1)]
    assert (p.first_month, p.last_month) == (p.months[0], p.months[-1])


def test_leap_february_is_inside_the_first_quarter():
    assert rules.quarter_period(2028, 1).end == dt.date(2028, 3, 31)


def test_labels_are_french():
    assert rules.quarter_period(2026, 1).label == "1er trimestre 2026"
    assert rules.quarter_period(2026, 3).label == "3e trimestre 2026"
    assert rules.year_period(2012).label == "Année 2012"
    assert rules.year_to_date(rules.quarter_period(2026, 2)).label == "Cumul 2026 au 30/06/2026"


def test_previous_period_of_a_first_quarter_is_the_last_quarter_of_the_year_before():
    assert rules.previous_period(rules.quarter_period(2026, 1)) == rules.quarter_period(2025, 4)
    assert rules.previous_period(rules.quarter_period(2026, 3)) == rules.quarter_period(2026, 2)
    assert rules.previous_period(rules.year_period(2026)) == rules.year_period(2025)


def test_year_to_date_runs_from_january_to_the_period_end():
    ytd = rules.year_to_date(rules.quarter_period(2026, 3))
    assert (ytd.start, ytd.end, ytd.kind) == (dt.date(2026, 1, 1), dt.date(2026, 9, 30), "year_to_date")


@pytest.mark.parametrize(("quarter", "end", "label"), [
    (1, dt.date(2026, 3, 31), "Cumul 2026 au 31/03/2026"),
    (2, dt.date(2026, 6, 30), "Cumul 2026 au 30/06/2026"),
    (3, dt.date(2026, 9, 30), "Cumul 2026 au 30/09/2026"),
    (4, dt.date(2026, 12, 31), "Cumul 2026 au 31/12/2026"),
])
def test_a_year_to_date_runs_from_the_first_of_january_to_the_end_of_its_quarter(quarter, end, label):
    ytd = rules.year_to_date_period(2026, quarter)
    assert (ytd.kind, ytd.year, ytd.quarter, ytd.start, ytd.end) == ("year_to_date", 2026, quarter,
                                                                      dt.date(2026, 1, 1), end)
    assert ytd.label == label
    assert ytd.months == [f"2026-{m:02d}" for m in range(1, 3 * quarter + 1)]
    assert (ytd.first_month, ytd.last_month) == ("2026-01", f"2026-{3 * quarter:02d}")
    assert ytd.as_dict() == {"kind": "year_to_date", "year": 2026, "quarter": quarter, "start": "2026-01-01",
                             "end": end.isoformat(), "label": label}


def test_a_year_to_date_is_its_own_year_to_date_and_that_of_its_last_quarter():
    ytd = rules.year_to_date_period(2026, 3)
    assert rules.year_to_date(ytd) == ytd
    assert rules.year_to_date(rules.quarter_period(2026, 3)) == ytd
    assert rules.year_to_date(rules.year_period(2026)) == rules.year_to_date_period(2026, 4)


@pytest.mark.parametrize(("year", "quarter", "start", "end"), [
    (2026, 1, dt.date(2025, 1, 1), dt.date(2025, 3, 31)),
    (2026, 2, dt.date(2025, 1, 1), dt.date(2025, 6, 30)),
    (2026, 4, dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    (2029, 1, dt.date(2028, 1, 1), dt.date(2028, 3, 31)),  # the year before is a leap year: still 31/03
    (2028, 1, dt.date(2027, 1, 1), dt.date(2027, 3, 31)),  # a leap year compared with a common one
    (2001, 3, dt.date(2000, 1, 1), dt.date(2000, 9, 30)),
])
def test_a_year_to_date_is_compared_with_the_same_span_of_the_year_before(year, quarter, start, end):
    previous = rules.previous_period(rules.year_to_date_period(year, quarter))
    assert (previous.kind, previous.year, previous.quarter, previous.start, previous.end) == (
        "year_to_date", year - 1, quarter, start, end)
    assert previous == rules.year_to_date_period(year - 1, quarter)
    assert previous.label == f"Cumul {year - 1} au {end:%d/%m/%Y}"


def test_download_names_say_which_period_they_hold():
    assert rules.file_name(rules.quarter_period(2026, 3)) == "bilan-2026-T3"
    assert rules.file_name(rules.year_period(2026)) == "bilan-2026"
    assert rules.file_name(rules.year_to_date_period(2026, 3)) == "bilan-2026-cumul-T3"


@pytest.mark.parametrize("period_of", [rules.quarter_period, rules.year_to_date_period])
@pytest.mark.parametrize(("year", "quarter", "field", "fragment"), [
    (None, 1, "year", "« year » est obligatoire"),
    (1999, 1, "year", "entre 2000 et 2100"),
    (2101, 4, "year", "entre 2000 et 2100"),
    (2026, None, "quarter", "« quarter » est obligatoire"),
    (2026, 0, "quarter", "1, 2, 3 ou 4 (reçu : 0)"),
    (2026, 5, "quarter", "1, 2, 3 ou 4 (reçu : 5)"),
])
def test_bad_periods_are_refused_with_a_french_message_naming_the_parameter(period_of, year, quarter, field, fragment):
    with pytest.raises(DomainError) as err:
        period_of(year, quarter)
    assert err.value.field == field
    assert fragment in err.value.message


def test_as_of_must_be_an_iso_date():
    assert rules.parse_as_of("2026-06-30") == dt.date(2026, 6, 30)
    assert rules.parse_as_of(None) is None
    with pytest.raises(DomainError) as err:
        rules.parse_as_of("30/06/2026")
    assert err.value.field == "as_of" and "AAAA-MM-JJ" in err.value.message


@pytest.mark.parametrize(("birth_year", "band"), [
    (2001, "<26"),   # 25 at the end of 2026
    (2000, "26-49"),  # 26
    (1977, "26-49"),  # 49
    (1976, "50+"),   # 50
    (None, "unknown"),
])
def test_age_band_at_the_period_end(birth_year, band):
    assert rules.age_band(birth_year, dt.date(2026, 12, 31)) == band


def test_fte_is_hours_over_the_configured_annual_hours_whatever_the_period():
    assert rules.fte(Decimal("1607"), Decimal("1607")) == Decimal("1.00")
    assert rules.fte(Decimal("260000"), Decimal("1607")) == Decimal("161.79")
    assert rules.fte(Decimal("401.75"), Decimal("1607")) == Decimal("0.25")  # a quarter's work of one full-timer
    assert rules.fte(Decimal("1600"), Decimal("1600")) == Decimal("1.00")
    assert rules.fte(Decimal("10"), Decimal("0")) == Decimal("0.00")
    assert rules.fte(Decimal("8.035"), Decimal("1607")) == Decimal("0.01")  # 0.005 rounds half up


@given(st.lists(st.integers(0, 10_000_000), min_size=4, max_size=4))
def test_the_fte_of_the_four_quarters_add_up_to_the_year(centi_by_quarter):
    quarters = [Decimal(c) / 100 for c in centi_by_quarter]
    year = rules.fte(sum(quarters, Decimal(0)), Decimal("1607"))
    assert abs(sum(rules.fte(q, Decimal("1607")) for q in quarters) - year) <= Decimal("0.02")  # 4 roundings


def test_percent_is_none_without_an_obligation():
    assert rules.percent(Decimal("50"), Decimal("200")) == Decimal("25.0")
    assert rules.percent(Decimal("1"), Decimal("3")) == Decimal("33.3")
    assert rules.percent(Decimal("5"), Decimal("0")) is None


@pytest.mark.parametrize(("value", "shown"), [(0, 0), (1, "< 5"), (4, "< 5"), (5, 5), (120, 120)])
def test_small_cells_are_hidden_from_funders(value, shown):
    assert rules.suppress(value, 5) == shown


def test_the_small_cell_threshold_is_a_parameter():
    assert rules.suppress(7, 10) == "< 10"
    assert rules.suppress(10, 10) == 10


@pytest.mark.parametrize(("counts", "shown"), [
    ({"M": 8, "F": 1}, {"M": MASKED, "F": "< 5"}),  # 9 − 8 would give the woman away
    ({"M": 3, "F": 2}, {"M": "< 5", "F": "< 5"}),  # two hidden cells of 5: 1 to 4 each
    ({"a": 10, "b": 0, "c": 2, "d": 7}, {"a": 10, "b": 0, "c": "< 5", "d": MASKED}),  # a 0 is shown, never chosen
    ({"a": 1, "b": 1, "c": 20, "d": 30}, {"a": "< 5", "b": "< 5", "c": MASKED, "d": 30}),  # 2 hidden = 1 + 1
    # 4 + 6 beside a shown 6: "masqué" is 5 or 6, so 10 − (5 or 6) ≥ 4: the 4 is given away; hide the other 6 too
    ({"a": 4, "b": 6, "c": 6, "d": 30}, {"a": "< 5", "b": MASKED, "c": MASKED, "d": 30}),
    ({"F": 1, "M": 5}, {MASKED_KEY: MASKED}),  # 6 = "< 5" + "≥ 5" is 1 + 5 only: hidden whole
    ({k: 1 for k in "abcde"}, {MASKED_KEY: MASKED}),  # five cells, five people: all ones
    ({"F": 1, "M": 1}, {"F": "< 5", "M": "< 5"}),  # the total reads "< 5" too: nothing to subtract from
    ({"F": 56, "M": 344}, {"F": 56, "M": 344}),
    ({}, {}),
])
def test_a_partition_hides_enough_cells_that_none_comes_out_of_the_total(counts, shown):
    assert rules.protect_partition(counts, 5) == shown


def test_a_breakdown_without_a_known_total_hides_its_small_cells_only():
    assert rules.protect_cells({"CDI": 8, "CDD": 1, "CDDI": 0}, 5) == {"CDI": 8, "CDD": "< 5", "CDDI": 0}


@pytest.mark.parametrize(("dimension", "shown"), [
    ("gender", {"a": MASKED, "b": "< 5"}), ("age_band", {"a": MASKED, "b": "< 5"}),
    ("qpv", {"a": MASKED, "b": "< 5"}), ("education_level", {"a": MASKED, "b": "< 5"}),
    ("epci", {"a": MASKED, "b": "< 5"}), ("structure_kind", {"a": MASKED, "b": "< 5"}),
    # no total in the report: a person may meet several criteria; contracts and exits are not people reached
    ("category", {"a": 8, "b": "< 5"}), ("contract_type", {"a": 8, "b": "< 5"}), ("exit", {"a": 8, "b": "< 5"}),
])
def test_the_breakdowns_of_the_people_total_are_protected_as_partitions(dimension, shown):
    assert rules.protect_breakdown(dimension, {"a": 8, "b": 1}, 5) == shown


counts_of_a_partition = st.dictionaries(st.sampled_from("abcdefg"), st.integers(0, 14), max_size=6)


@given(counts_of_a_partition, st.integers(2, 6))
def test_no_hidden_cell_of_a_partition_can_be_worked_out_from_its_total(counts, threshold):
    shown = rules.protect_partition(counts, threshold)
    total = sum(counts.values())
    if shown == {MASKED_KEY: MASKED}:
        # only when even hiding every cell would give one away
        everything = {k: MASKED if v >= threshold else rules.suppress(v, threshold) for k, v in counts.items()}
        assert given_away(everything, threshold, total)
        return
    assert set(shown) == set(counts)
    for key, value in counts.items():
        if shown[key] == MASKED:
            assert value >= threshold
        elif 0 < value < threshold:
            assert shown[key] == f"< {threshold}"
        else:
            assert shown[key] == value
    if total >= threshold:  # the funder sees the total
        assert given_away(shown, threshold, total) == set()


@pytest.mark.parametrize(("exits", "dynamic"), [
    ({"durable_job": 3, "transition_job": 10, "positive_exit": 8, "other": 2}, MASKED),  # 21 − 18 = 3
    ({"durable_job": 1, "transition_job": 1, "positive_exit": 10}, MASKED),  # 12 − 10 = 1 + 1
    ({"durable_job": 2, "transition_job": 3, "positive_exit": 10}, 15),  # 5 = 1..4 + 1..4: not told apart
    ({"durable_job": 6, "transition_job": 7, "other": 1}, 13),  # its parts are all shown
    ({"durable_job": 3}, "< 5"),
    ({"other": 7}, 0),
])
def test_the_dynamic_exits_sum_is_hidden_when_it_gives_one_of_its_parts_away(exits, dynamic):
    shown = rules.protect_cells(exits, 5)
    assert rules.protect_subtotal(exits, shown, rules.DYNAMIC_EXITS, 5) == dynamic
    if isinstance(dynamic, int):
        assert given_away(shown, 5, dynamic, rules.DYNAMIC_EXITS) == set()


def test_a_subtotal_of_a_breakdown_hidden_whole_is_hidden():
    assert rules.protect_subtotal({"a": 1, "b": 5}, {MASKED_KEY: MASKED}, ["a", "b"], 5) == MASKED


def test_hidden_rows_come_last_by_key_so_their_order_tells_nothing():
    rows = rules.rows_of("gender", {"M": "< 5", "F": "< 5", "unknown": 12}, "people")
    assert [r["key"] for r in rows] == ["unknown", "F", "M"]
    assert rules.rows_of("gender", {MASKED_KEY: MASKED}, "people")[0]["label"] == "Détail masqué (effectifs trop faibles)"


def test_who_sees_what():
    assert rules.Audience.FUNDER.aggregates_only and rules.Audience.FUNDER.sees_eligibility_reasons
    assert rules.Audience.BUYER.aggregates_only and not rules.Audience.BUYER.sees_eligibility_reasons
    assert not rules.Audience.FACILITATOR.aggregates_only and rules.Audience.FACILITATOR.sees_eligibility_reasons


def test_hours_round_to_the_hundredth_from_any_sql_type():
    assert rules.hours(None) == Decimal("0.00")
    assert rules.hours(12.345000001) == Decimal("12.35")
    assert rules.hours(Decimal("7")) == Decimal("7.00")


def test_rollup_and_count_by_merge_keys():
    assert rules.rollup([("EI", Decimal("1.5")), (None, 2), ("EI", Decimal("2"))]) == {"EI": Decimal("3.5"),
                                                                                      "none": Decimal(2)}
    assert rules.count_by([("F", 2), (None, 1), ("F", 3)]) == {"F": 5, "unknown": 1}


@given(st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.integers(0, 10_000)), max_size=50))
def test_rollup_keeps_the_grand_total(pairs):
    assert sum(rules.rollup(pairs).values()) == sum(v for _, v in pairs)


def test_epci_of_a_commune_from_the_referential():
    communes = read_communes(
        "insee_code,name,postal_codes,population,epci_siren,epci_name,pays_de_rennes\n"
        "35238,Rennes,35000,220000,243500139,Rennes Métropole,1\n"
    )
    assert communes["35238"].pays_de_rennes is True
    assert rules.epci_of("35238", communes) == ("243500139", "Rennes Métropole")
    assert rules.epci_of("29019", communes)[0] == "hors_referentiel"
    assert rules.epci_of(None, communes)[0] == "unknown"


def test_rows_are_labelled_in_french_biggest_first_or_by_month():
    rows = rules.rows_of("modality", {"provision": Decimal(5), "direct_hire": Decimal(9)}, "hours")
    assert [(r["key"], r["label"]) for r in rows] == [("direct_hire", "Embauche directe"),
                                                      ("provision", "Mise à disposition")]
    months = rules.rows_of("month", {"2026-02": Decimal(9), "2026-01": Decimal(1)}, "hours", order="key")
    assert [r["key"] for r in months] == ["2026-01", "2026-02"]
    assert rules.rows_of("gender", {"unknown": 1}, "people")[0]["label"] == "Non renseigné"


def test_every_clause_kind_has_a_french_label():
    from contracts.codes import ClauseKind

    for kind in ClauseKind:
        assert rules.label("clause_kind", kind.value) != kind.value, kind
    assert rules.label("clause_kind", "execution_condition") == "Condition d'exécution (L2112-2)"


# ---- figures added after the 2026-12 audit (DOMAIN.md, "What reports contain") --------------------------------------
@pytest.mark.parametrize(("contract", "start", "end", "band"), [
    ("CDI", dt.date(2026, 5, 4), None, "open_ended"),
    ("CDI", dt.date(2026, 5, 4), dt.date(2026, 6, 30), "open_ended"),  # a CDI has no term, whatever the clause's end
    ("CDD", dt.date(2026, 5, 4), dt.date(2026, 11, 3), "under_6_months"),
    ("CDD", dt.date(2026, 5, 4), dt.date(2026, 11, 4), "6_months_or_more"),
    ("INTERIM", dt.date(2026, 8, 31), dt.date(2027, 2, 27), "under_6_months"),
    ("INTERIM", dt.date(2026, 8, 31), dt.date(2027, 2, 28), "6_months_or_more"),  # 6 months after Aug 31: Feb 28
    ("CDDI", dt.date(2026, 1, 15), dt.date(2027, 1, 14), "6_months_or_more"),
    ("CDDI", dt.date(2026, 1, 15), None, "unknown"),
    ("CDD", None, dt.date(2026, 6, 1), "unknown"),
])
def test_the_duration_band_of_a_contract_follows_the_6_months_of_the_exit_categories(contract, start, end, band):
    assert rules.duration_band(contract, start, end) == band
    assert rules.label("contract_duration", band) in ("Sans terme (CDI)", "Moins de 6 mois", "6 mois et plus",
                                                      "Non renseigné")


def test_markets_and_lots_by_key_add_up_owed_and_realised_hours():
    rows = rules.obligations_by([
        ("gros_oeuvre", "m1", Decimal("1000"), Decimal("250.5")),
        ("gros_oeuvre", "m1", Decimal("500"), Decimal("0")),
        ("gros_oeuvre", "m2", Decimal("300"), Decimal("300")),
        ("nettoyage", "m3", Decimal("2000"), Decimal("100")),
        ("peinture", "m4", Decimal("0"), Decimal("12")),
    ], dimension="sector")
    assert rows == [
        {"key": "nettoyage", "label": "Nettoyage", "markets": 1, "lots": 1, "owed_hours": Decimal("2000.00"),
         "realised_hours": Decimal("100.00"), "percent": Decimal("5.0")},
        {"key": "gros_oeuvre", "label": "Gros œuvre", "markets": 2, "lots": 3, "owed_hours": Decimal("1800.00"),
         "realised_hours": Decimal("550.50"), "percent": Decimal("30.6")},  # 550.5 / 1800 = 30.58 %
        {"key": "peinture", "label": "Peinture", "markets": 1, "lots": 1, "owed_hours": Decimal("0.00"),
         "realised_hours": Decimal("12.00"), "percent": None},
    ]
    named = rules.obligations_by([("b1", "m1", Decimal(1), Decimal(1))], {"b1": "Rennes Métropole"}, "buyer")
    assert named[0]["label"] == "Rennes Métropole"


def test_first_months_in_a_period():
    firsts = ["2025-12", "2026-04", "2026-06", "2026-07"]
    assert rules.first_in(firsts, rules.quarter_period(2026, 2)) == 2
    assert rules.first_in(firsts, rules.year_period(2026)) == 3
    assert rules.first_in([], rules.year_period(2026)) == 0


def test_commune_and_epci_labels_outside_the_referential_are_french():
    communes = read_communes(
        "insee_code,name,postal_codes,population,epci_siren,epci_name,pays_de_rennes\n"
        "35238,Rennes,35000,220000,243500139,Rennes Métropole,1\n"
        "35288,Saint-Malo,35400,47000,200039022,Saint-Malo Agglomération,0\n"
    )
    assert rules.commune_of("35238", communes) == ("35238", "Rennes (35238)")
    assert rules.commune_of("29019", communes) == ("hors_referentiel", "Hors Ille-et-Vilaine / commune inconnue")
    assert rules.epci_of("29019", communes) == ("hors_referentiel", "Hors Ille-et-Vilaine / commune inconnue")
    assert rules.commune_of(None, communes) == ("unknown", "Non renseigné")
    assert rules.pays_de_rennes_epci(communes) == {"243500139"}


def test_the_pays_de_rennes_of_the_referential_is_4_whole_epci_and_76_communes():
    from shared.territory import default_communes_csv, load_communes

    communes = load_communes(default_communes_csv())
    assert rules.pays_de_rennes_epci(communes) == {"243500139", "243500667", "243500774", "243500659"}
    assert sum(1 for c in communes.values() if c.pays_de_rennes) == 76
    assert rules.pays_de_rennes_is_whole_epci(communes)


def test_communes_are_protected_within_the_epci_cell_the_funder_sees():
    epci = {"A": 12, "B": 3, "C": 20, "D": 6, "E": 6}
    epci_shown = rules.protect_partition(epci, 5)
    assert epci_shown == {"A": 12, "B": "< 5", "C": 20, "D": MASKED, "E": 6}
    communes = {"a1": 10, "a2": 2, "b1": 1, "b2": 2, "c1": 8, "c2": 7, "c3": 5, "d1": 6, "e1": 5, "e2": 1}
    parent = {k: k[0].upper() for k in communes}
    shown = rules.protect_nested(communes, parent, epci_shown, 5)
    assert shown == {
        "a1": MASKED, "a2": "< 5",  # 10 beside "< 5" and A = 12 would give a2 away
        "B:detail": "< 5",  # a hidden EPCI says nothing of its communes: one row, its cell as the EPCI breakdown shows
        "c1": 8, "c2": 7, "c3": 5,
        "d1": MASKED,  # the only commune of D: D's cell as the EPCI breakdown shows it
        "E:detail": 6,  # 5 + 1 in E = 6 gives a cell away even with both hidden: one row, E's own figure
    }
    for group in ("a", "c"):
        cells = {k: v for k, v in shown.items() if k.startswith(group)}
        assert given_away(cells, 5, epci[group.upper()]) == set()
    partly = rules.protect_nested({"c1": 14, "c2": 4, "c3": 2}, {"c1": "C", "c2": "C", "c3": "C"}, {"C": 20}, 5)
    assert partly == {"c1": 14, "c2": "< 5", "c3": "< 5"}
    assert given_away(partly, 5, 20) == set()
    assert rules.protect_nested({"a1": 3}, {"a1": "A"}, {MASKED_KEY: MASKED}, 5) == {MASKED_KEY: MASKED}


@pytest.mark.parametrize(("epci", "inside", "expected"), [
    ({"RM": 40, "VI": 6, "X": 9, "Y": 7}, {"RM", "VI"}, 46),  # nothing hidden
    ({"RM": 40, "VI": 3, "X": 9, "Y": 7}, {"RM", "VI"}, MASKED),  # VI "< 5", RM shown: 43 gives VI = 3 away
    ({"RM": 40, "VI": 3, "LC": 2, "X": 9}, {"RM", "VI", "LC"}, 45),  # VI + LC = 5 was known already: 1..4 each
    ({"RM": 40, "VI": 3, "LC": 2, "X": 9, "Y": 2}, {"RM", "VI", "LC"}, MASKED),  # 45 − 40 = 5 splits Y away
    ({"RM": 40, "X": 3, "Y": 9}, {"RM"}, 40),  # RM is shown: the figure tells nothing new
    ({"RM": 40, "VI": 8, "X": 3, "Y": 9}, {"RM", "VI"}, MASKED),  # 48 beside RM = 40 gives the masked VI away
    ({"RM": 40, "X": 2}, {"RM"}, MASKED),  # the rest is a small cell: 42 − 40
    ({"RM": 2, "VI": 2, "X": 40}, {"RM", "VI"}, "< 5"),  # every other cell shown: 44 − 40 was known already
    ({"RM": 3, "X": 40}, {"RM"}, MASKED),  # X is masked beside RM "< 5": "< 5" would bound it
    ({"RM": 3, "X": 40, "Y": 2}, {"RM"}, MASKED),  # "< 5" would bound Y as well
    ({"X": 40}, {"RM"}, 0),
])
def test_the_pays_de_rennes_figure_is_shown_when_it_gives_no_epci_cell_away(epci, inside, expected):
    shown = rules.protect_partition(epci, 5)
    assert rules.protect_part_of_total(epci, shown, inside, 5) == expected
    if isinstance(expected, int) and expected:
        outside = [k for k in epci if k not in inside]
        assert given_away(shown, 5, expected, inside) == set()
        assert given_away(shown, 5, sum(epci.values()) - expected, outside) == set()


@pytest.mark.parametrize(("types", "durations", "shown"), [
    # a CDD hidden: the bands (11 open-ended = CDI?) could give it away: one masked row
    ({"CDI": 8, "CDD": 4}, {"open_ended": 8, "under_6_months": 4}, {MASKED_KEY: MASKED}),
    # every type exact: the open-ended band is the CDI count; 6 fixed-term contracts split 1 + 5 would give the 1
    # away (6 − 5), and hiding the 5 too still pins it (6 − at least 5): one masked row for the fixed-term bands
    ({"CDI": 8, "INTERIM": 6}, {"open_ended": 8, "under_6_months": 1, "6_months_or_more": 5},
     {"open_ended": 8, MASKED_KEY: MASKED}),
    ({"CDI": 8, "CDD": 12}, {"open_ended": 8, "under_6_months": 5, "6_months_or_more": 7},
     {"open_ended": 8, "under_6_months": 5, "6_months_or_more": 7}),  # nothing small
    ({"CDD": 0}, {"under_6_months": 0}, {"under_6_months": 0}),
])
def test_contracts_by_duration_never_give_a_hidden_contract_type_or_band_away(types, durations, shown):
    from disclosure import given_away_by_two

    types_shown = rules.protect_cells(types, 5)
    result = rules.protect_durations(durations, types, types_shown, 5)
    assert result == shown
    assert given_away_by_two(types_shown, result, 5) == set()


def test_periods_add_up_when_they_cover_the_whole_end_to_end():
    q1, q2, q3 = (rules.quarter_period(2026, q) for q in (1, 2, 3))
    h1 = rules.year_to_date(q2)
    assert rules.adds_up([q1, q2], h1) and rules.adds_up([q2, q1], h1)
    assert not rules.adds_up([q2, q3], rules.year_to_date(q3))  # the 1st quarter is missing
    assert not rules.adds_up([rules.quarter_period(2025, 4), q1], rules.year_to_date(q1))  # starts the year before
    assert rules.adds_up([q1], rules.year_to_date(q1))
    assert not rules.adds_up([], h1)


@pytest.mark.parametrize(("previous", "current", "whole", "adds", "shown"), [
    (8, 1, 9, True, ("masqué", "< 5", 9)),  # 2nd quarter: 9 − 8 would give the 1 away
    (1, 8, 9, True, ("< 5", "masqué", 9)),
    (6, 7, 13, True, (6, 7, 13)),  # nothing small
    (0, 3, 3, True, (0, "< 5", "< 5")),  # a 0 protects nobody; the whole is small itself
    (8, 1, 20, False, (8, "< 5", 20)),  # 3rd quarter: the previous one and it do not make the year to date
])
def test_new_people_of_adjacent_periods_do_not_give_one_another_away(previous, current, whole, adds, shown):
    assert rules.protect_additive(previous, current, whole, adds, 5) == shown
