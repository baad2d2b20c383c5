"""The output helpers, case by case: French number formatting and the inline SVG charts."""

from __future__ import annotations

from decimal import Decimal
from xml.etree import ElementTree

from services.reporting import charts, formats


def test_numbers_are_written_the_french_way():
    assert formats.fmt(140000) == "140\u202f000"
    assert formats.fmt(Decimal("1234.5")) == "1\u202f234,50"
    assert formats.fmt(None) == "—"
    assert formats.fmt("< 5") == "< 5"
    assert formats.plain({"a": [Decimal("1.50")]}) == {"a": [1.5]}


def test_a_horizontal_chart_is_valid_svg_with_one_bar_per_row_and_hidden_cells_drawn_empty():
    rows = [{"label": "Hommes", "people": 344}, {"label": "Femmes", "people": 56}, {"label": "Autre", "people": "< 5"}]
    svg = ElementTree.fromstring(charts.hbar("Personnes par sexe", rows, "people"))
    ns = "{http://www.w3.org/2000/svg}"
    bars = svg.findall(f"{ns}rect")
    assert len(bars) == 3
    widths = [float(b.get("width")) for b in bars]
    assert widths[0] > widths[1] > widths[2] == 0
    assert abs(widths[0] / widths[1] - 344 / 56) < 0.01
    texts = [t.text for t in svg.findall(f"{ns}text")]
    assert "Personnes par sexe" in texts and "< 5" in texts and "344" in texts


def test_a_vertical_chart_labels_every_month_and_escapes_text():
    rows = [{"label": "2026-01", "hours": Decimal("10")}, {"label": "<b>", "hours": Decimal("0")}]
    text = charts.vbar('Heures "par" mois', rows, "hours")
    svg = ElementTree.fromstring(text)
    assert svg.get("aria-label") == 'Heures "par" mois'
    assert "<b>" not in text
    assert len(svg.findall("{http://www.w3.org/2000/svg}rect")) == 2


def test_an_empty_chart_says_so_in_french():
    assert "Aucune donnée sur la période" in charts.hbar("Heures par modalité", [], "hours")
