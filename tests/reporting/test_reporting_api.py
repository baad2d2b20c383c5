"""Reports over HTTP: parameters, role rules (funder, buyer, facilitator) and the CSV / XLSX formats."""

from __future__ import annotations

import csv
import io
import re
import uuid
from decimal import Decimal

import pytest
from harness import SECRET, running
from openpyxl import load_workbook
from reporting_support import apply_directly
from reporting_world import generate

from services.reporting.app import create_app
from shared.auth import Role, issue_token

YEAR = 2026


@pytest.fixture
async def client(database_url, nats_url):
    w = generate(seed=21, year=YEAR, people=60, markets=6)
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as c:
        await apply_directly(c.ctx, w.events)
        c.world = w
        yield c


def bearer(role: Role, buyer_id: uuid.UUID | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, role, buyer_id=buyer_id)}"}


@pytest.mark.parametrize(("path", "params", "field", "fragment"), [
    ("/reports/quarterly", {"quarter": 1}, "year", "« year » est obligatoire"),
    ("/reports/quarterly", {"year": YEAR}, "quarter", "« quarter » est obligatoire"),
    ("/reports/quarterly", {"year": YEAR, "quarter": 5}, "quarter", "1, 2, 3 ou 4"),
    ("/reports/annual", {"year": 1850}, "year", "entre 2000 et 2100"),
    ("/reports/annual", {"year": "deux-mille"}, "year", "nombre entier"),
    ("/reports/annual", {"year": YEAR, "format": "doc"}, "format", "valeurs admises"),
    ("/reports/annual", {"year": YEAR, "buyer_id": "rennes"}, "buyer_id", "identifiant"),
    ("/reports/annual", {"year": YEAR, "as_of": "31/12/2026"}, "as_of", "AAAA-MM-JJ"),
])
async def test_bad_parameters_get_a_french_message_naming_them(client, path, params, field, fragment):
    response = await client.get(path, params=params)
    assert response.status_code == 422, response.text
    body = response.json()
    assert fragment in body["detail"]
    assert field in {e["field"] for e in body["errors"]}


async def test_the_answer_carries_the_client_contract_fields(client):
    report = (await client.get("/reports/quarterly", params={"year": YEAR, "quarter": 2})).json()
    assert set(report["totals"]) >= {"hours", "owed_hours", "fte", "people", "new_people", "companies", "structures",
                                     "markets", "lots"}
    assert set(report["hours_by"]) >= {"buyer", "market", "lot", "sector", "modality", "structure_kind", "month"}
    assert set(report["people_by"]) >= {"gender", "age_band", "qpv", "education_level", "category", "epci",
                                        "structure_kind"}
    for key in ("contracts_by_type", "exits", "lots_at_risk", "previous_period", "year_to_date", "pipeline"):
        assert key in report
    assert set(report["exits"]) >= {"at_end", "at_6_months"}
    assert [r["key"] for r in report["hours_by"]["month"]] == ["2026-04", "2026-05", "2026-06"]
    assert report["totals"]["fte"] == pytest.approx(round(report["totals"]["hours"] / (1607 / 4), 2), abs=0.01)


async def test_fte_hours_and_small_cell_threshold_are_settings(database_url, nats_url):
    w = generate(seed=21, year=YEAR, people=60, markets=6)
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url,
                       annual_fte_hours=Decimal("1600"), small_cell_threshold=10) as c:
        await apply_directly(c.ctx, w.events)
        report = (await c.get("/reports/annual", params={"year": YEAR})).json()
        assert report["totals"]["fte"] == pytest.approx(round(report["totals"]["hours"] / 1600, 2), abs=0.01)
        funder = (await c.get("/reports/annual", params={"year": YEAR}, headers=bearer(Role.FUNDER))).json()
        cells = [r["people"] for rows in funder["people_by"].values() for r in rows]
        assert "< 10" in cells and all(c == "< 10" or c >= 10 for c in cells)


def _people_cells(report: dict) -> list:
    cells = [r["people"] for rows in report["people_by"].values() for r in rows]
    cells += [r["people"] for r in report["contracts_by_type"]]
    cells += [r["people"] for r in report["exits"]["at_end"] + report["exits"]["at_6_months"]]
    return cells


async def test_a_funder_sees_every_people_cell_under_5_as_less_than_5(client):
    full = (await client.get("/reports/annual", params={"year": YEAR})).json()
    funder = (await client.get("/reports/annual", params={"year": YEAR}, headers=bearer(Role.FUNDER))).json()
    assert any(isinstance(c, int) and 0 < c < 5 for c in _people_cells(full))  # there is something to hide
    cells = _people_cells(funder)
    assert "< 5" in cells
    assert all(c == "< 5" or (isinstance(c, int) and c >= 5) for c in cells)
    assert funder["hours_by"] == full["hours_by"]  # hours are not people: shown as they are
    assert funder["totals"]["hours"] == full["totals"]["hours"]


async def test_a_buyer_sees_its_own_markets_only(client):
    w = client.world
    mine, other = list(dict.fromkeys(m.buyer_id for m in w.markets.values()))[:2]
    as_buyer = bearer(Role.BUYER, mine)
    own = (await client.get("/reports/annual", params={"year": YEAR}, headers=as_buyer)).json()
    assert own["buyer_id"] == str(mine)
    assert {r["key"] for r in own["hours_by"]["buyer"]} == {str(mine)}
    assert Decimal(str(own["totals"]["hours"])) == w.hours(f"{YEAR}-01", f"{YEAR}-12", mine)
    facilitator = (await client.get("/reports/annual", params={"year": YEAR, "buyer_id": str(mine)})).json()
    assert own == facilitator

    refused = await client.get("/reports/annual", params={"year": YEAR, "buyer_id": str(other)}, headers=as_buyer)
    assert refused.status_code == 403
    assert "ses propres marchés" in refused.json()["detail"]
    market_of_other = next(m.market_id for m in w.markets.values() if m.buyer_id == other)
    assert (await client.get(f"/reports/markets/{market_of_other}", headers=as_buyer)).status_code == 404


async def test_reports_need_a_token(client):
    response = await client.get("/reports/annual", params={"year": YEAR}, headers={"Authorization": ""})
    assert response.status_code == 401


async def test_csv_is_french_friendly_and_matches_the_json(client):
    report = (await client.get("/reports/quarterly", params={"year": YEAR, "quarter": 3})).json()
    response = await client.get("/reports/quarterly", params={"year": YEAR, "quarter": 3, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "bilan-2026-T3.csv" in response.headers["content-disposition"]
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Section", "Période", "Clé", "Libellé", "Valeur"]
    total = next(r for r in rows if r[0] == "Synthèse" and r[1] == "3e trimestre 2026" and r[3] == "Heures réalisées")
    assert Decimal(total[4].replace(",", ".")) == Decimal(str(report["totals"]["hours"]))
    months = {r[2]: Decimal(r[4].replace(",", ".")) for r in rows if r[0] == "Heures par mois"}
    assert months == {r["key"]: Decimal(str(r["hours"])) for r in report["hours_by"]["month"]}


async def test_xlsx_has_one_sheet_per_section_with_headers_and_numbers(client):
    report = (await client.get("/reports/annual", params={"year": YEAR})).json()
    response = await client.get("/reports/annual", params={"year": YEAR, "format": "xlsx"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(response.content))
    for sheet in ("Synthèse", "Heures par mois", "Heures par modalité", "Personnes par sexe",
                  "Personnes par tranche d'âge", "Contrats par type", "Sorties en fin de parcours", "Lots à risque"):
        assert sheet in wb.sheetnames
    summary = wb["Synthèse"]
    assert [c.value for c in summary[1]] == ["Indicateur", "Année 2026", "Année 2025", "Cumul 2026 au 31/12/2026"]
    hours_row = next(r for r in summary.iter_rows(values_only=True) if r[0] == "Heures réalisées")
    assert isinstance(hours_row[1], float) and hours_row[1] == report["totals"]["hours"]
    months = wb["Heures par mois"]
    assert [c.value for c in months[1]] == ["Clé", "Libellé", "Heures"]
    values = [r[2] for r in months.iter_rows(min_row=2, values_only=True)]
    assert len(values) == 12 and all(isinstance(v, int | float) for v in values)
    assert sum(values) == pytest.approx(report["totals"]["hours"])


async def test_html_is_a_clean_french_page_with_inline_svg_charts(client):
    response = await client.get("/reports/quarterly", params={"year": YEAR, "quarter": 2, "format": "html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<html lang="fr">' in page
    assert "<h1>Bilan des clauses sociales d'insertion — 2e trimestre 2026</h1>" in page.replace("&#39;", "'")
    for chart in ("Heures par mois", "Heures par modalité", "Heures par type de structure", "Personnes par sexe",
                  "Personnes par tranche d'âge"):
        assert f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{chart}"' in page, chart
    assert page.count("<svg") == 5
    for heading in ("Synthèse", "Heures réalisées", "Personnes par EPCI", "Contrats par type", "Lots à risque"):
        assert f"<h2>{heading}</h2>" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")


async def test_html_and_pdf_name_buyers_markets_and_lots_never_by_their_uuid(client):
    from pypdf import PdfReader

    w = client.world
    buyer = next(iter(w.markets.values())).buyer_id
    uuid_pattern = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
    for params in ({}, {"buyer_id": str(buyer)}):
        page = (await client.get("/reports/annual", params={"year": YEAR, "format": "html", **params})).text
        assert not uuid_pattern.search(page), uuid_pattern.search(page)
        assert "<th>Clé</th>" not in page
        shown = [m for m in w.markets.values() if f"{m.reference} « {m.title} »" in page]
        assert shown and all(m.buyer_name in page for m in shown)
        pdf = (await client.get("/reports/annual", params={"year": YEAR, "format": "pdf", **params})).content
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        assert not uuid_pattern.search(text.replace("\n", ""))
    buyer_name = next(m.buyer_name for m in w.markets.values() if m.buyer_id == buyer)
    assert f"acheteur : {buyer_name}" in page.replace("&#39;", "'")


async def test_funders_html_hides_small_cells_too(client):
    page = (await client.get("/reports/annual", params={"year": YEAR, "format": "html"},
                             headers=bearer(Role.FUNDER))).text
    assert "&lt; 5" in page


async def test_no_person_id_ever_appears_in_a_report(client):
    people = {str(b) for b in client.world.people}
    for fmt in ("json", "csv", "html"):
        body = (await client.get("/reports/annual", params={"year": YEAR, "format": fmt})).text
        assert not any(p in body for p in people), fmt


async def test_pdf_opens_and_has_the_expected_headings(client):
    from pypdf import PdfReader

    report = (await client.get("/reports/annual", params={"year": YEAR})).json()
    response = await client.get("/reports/annual", params={"year": YEAR, "format": "pdf"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "bilan-2026.pdf" in response.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(response.content))  # a real PDF reader opens it
    assert len(reader.pages) >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    for heading in ("Bilan des clauses sociales d'insertion - Année 2026", "Synthèse", "Heures par mois",
                    "Personnes par tranche d'âge", "Sorties en fin de parcours", "Lots à risque"):
        assert heading in text, heading
    assert formats_fmt(report["totals"]["hours"]) in text
    assert reader.metadata.title == "Bilan des clauses sociales d'insertion - Année 2026"


def formats_fmt(value: float) -> str:
    from services.reporting.formats import fmt

    return fmt(value).replace("\u202f", " ")
