"""Reports over HTTP: parameters, role rules (funder, buyer, facilitator) and the CSV / XLSX formats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
from decimal import ROUND_HALF_UP, Decimal

import pytest
from disclosure import assert_nothing_given_away
from harness import SECRET, running
from ledger import check_breakdowns, check_obligations, check_totals
from openpyxl import load_workbook
from reporting_support import apply_directly
from reporting_world import generate

from contracts import Envelope, new_envelope
from contracts.events.hours import HourEntry, HoursRecorded
from contracts.events.markets import LotAwarded, LotState, MarketSubmitted
from contracts.events.matching import BeneficiaryEnrolled, PlacementEnded, PlacementStarted
from services.reporting.app import create_app
from services.reporting.rules import MASKED, suppress
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
    ("/reports/year-to-date", {"quarter": 2}, "year", "« year » est obligatoire"),
    ("/reports/year-to-date", {"year": YEAR}, "quarter", "« quarter » est obligatoire"),
    ("/reports/year-to-date", {"year": YEAR, "quarter": 0}, "quarter", "1, 2, 3 ou 4 (reçu : 0)"),
    ("/reports/year-to-date", {"year": YEAR, "quarter": "T2"}, "quarter", "nombre entier"),
    ("/reports/year-to-date", {"year": 2101, "quarter": 1}, "year", "entre 2000 et 2100"),
    ("/reports/year-to-date", {"year": "deux-mille", "quarter": 1}, "year", "nombre entier"),
    ("/reports/year-to-date", {"year": YEAR, "quarter": 2, "buyer_id": "rennes"}, "buyer_id", "identifiant"),
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
    hours = Decimal(str(report["totals"]["hours"]))
    assert Decimal(str(report["totals"]["fte"])) == (hours / 1607).quantize(Decimal("0.01"), ROUND_HALF_UP)


async def test_the_fte_of_the_four_quarters_add_up_to_the_year(client):
    """FTE = hours ÷ annual FTE hours whatever the period (DOMAIN.md): no pro rata of the months."""
    year = (await client.get("/reports/annual", params={"year": YEAR})).json()["totals"]
    quarters = [(await client.get("/reports/quarterly", params={"year": YEAR, "quarter": q})).json()["totals"]
                for q in (1, 2, 3, 4)]
    assert sum(Decimal(str(q["hours"])) for q in quarters) == Decimal(str(year["hours"]))
    assert abs(sum(Decimal(str(q["fte"])) for q in quarters) - Decimal(str(year["fte"]))) <= Decimal("0.02")
    assert Decimal(str(year["fte"])) == (Decimal(str(year["hours"])) / 1607).quantize(Decimal("0.01"), ROUND_HALF_UP)


async def test_fte_hours_and_small_cell_threshold_are_settings(database_url, nats_url):
    w = generate(seed=21, year=YEAR, people=60, markets=6)
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url,
                       annual_fte_hours=Decimal("1600"), small_cell_threshold=10) as c:
        await apply_directly(c.ctx, w.events)
        report = (await c.get("/reports/annual", params={"year": YEAR})).json()
        assert report["totals"]["fte"] == pytest.approx(round(report["totals"]["hours"] / 1600, 2), abs=0.01)
        funder = (await c.get("/reports/annual", params={"year": YEAR}, headers=bearer(Role.FUNDER))).json()
        cells = [r["people"] for rows in funder["people_by"].values() for r in rows]
        assert "< 10" in cells and all(c in ("< 10", MASKED) or c >= 10 for c in cells)
        assert_nothing_given_away(report, funder, threshold=10)


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
    assert all(c in ("< 5", MASKED) or (isinstance(c, int) and c >= 5) for c in cells)
    assert_nothing_given_away(full, funder)  # and no hidden cell comes out of a subtraction
    assert funder["hours_by"] == full["hours_by"]  # hours are not people: shown as they are
    assert funder["totals"]["hours"] == full["totals"]["hours"]
    assert funder["people_by"]["category"]  # funders keep the public categories, as protected aggregates


async def test_no_hidden_cell_comes_out_of_any_quarter_of_the_funders(client):
    for q in (1, 2, 3, 4):
        params = {"year": YEAR, "quarter": q}
        full = (await client.get("/reports/quarterly", params=params)).json()
        funder = (await client.get("/reports/quarterly", params=params, headers=bearer(Role.FUNDER))).json()
        assert_nothing_given_away(full, funder)


async def test_a_buyer_sees_its_own_markets_only(client):
    w = client.world
    mine, other = list(dict.fromkeys(m.buyer_id for m in w.markets.values()))[:2]
    as_buyer = bearer(Role.BUYER, mine)
    own = (await client.get("/reports/annual", params={"year": YEAR}, headers=as_buyer)).json()
    assert own["buyer_id"] == str(mine)
    assert {r["key"] for r in own["hours_by"]["buyer"]} == {str(mine)}
    assert Decimal(str(own["totals"]["hours"])) == w.hours(f"{YEAR}-01", f"{YEAR}-12", mine)
    facilitator = (await client.get("/reports/annual", params={"year": YEAR, "buyer_id": str(mine)})).json()
    assert facilitator["people_by"]["category"]  # the facilitator sees the public categories, the buyer never
    # a buyer reads its people as aggregates (small cells hidden: an exact "QPV: 1" on a lot is a person's
    # eligibility reason), the funder's view of the same buyer without the categories
    funder = (await client.get("/reports/annual", params={"year": YEAR, "buyer_id": str(mine)},
                               headers=bearer(Role.FUNDER))).json()
    del funder["people_by"]["category"]
    assert own == funder
    assert own["totals"]["hours"] == facilitator["totals"]["hours"]
    small = [(dim, r["key"]) for dim, rows in facilitator["people_by"].items() if dim != "category"
             for r in rows if 0 < r["people"] < 5]
    assert small  # the world has small cells to hide
    shown = {(dim, r["key"]): r["people"] for dim, rows in own["people_by"].items() for r in rows}
    assert all(isinstance(shown.get(cell, "absent: nested in a hidden row"), str) for cell in small), small

    refused = await client.get("/reports/annual", params={"year": YEAR, "buyer_id": str(other)}, headers=as_buyer)
    assert refused.status_code == 403
    assert "ses propres marchés" in refused.json()["detail"]
    market_of_other = next(m.market_id for m in w.markets.values() if m.buyer_id == other)
    assert (await client.get(f"/reports/markets/{market_of_other}", headers=as_buyer)).status_code == 404


CATEGORY_CODES = ("RQTH", "DELD", "JEUNE_PEU_QUALIFIE")  # eligibility criteria of the generated world


async def test_a_buyer_never_sees_eligibility_reasons_in_any_format(client):
    """DOMAIN.md, "Privacy": buyers see their own markets and pseudonymous counts, never eligibility reasons (public
    categories such as RQTH or AAH are health data)."""
    from pypdf import PdfReader

    mine = next(iter(client.world.markets.values())).buyer_id
    as_buyer = bearer(Role.BUYER, mine)
    params = {"year": YEAR}
    full = (await client.get("/reports/annual", params={**params, "buyer_id": str(mine)})).json()
    assert any(r["key"] in CATEGORY_CODES for r in full["people_by"]["category"])  # there is something to keep back
    for path, extra in (("/reports/annual", {}), ("/reports/quarterly", {"quarter": 2})):
        own = await client.get(path, params={**params, **extra}, headers=as_buyer)
        assert own.status_code == 200 and "category" not in own.json()["people_by"]
        assert not any(code in own.text for code in CATEGORY_CODES)
        for fmt in ("csv", "html"):
            text = (await client.get(path, params={**params, **extra, "format": fmt}, headers=as_buyer)).text
            assert "Personnes par public" not in text and not any(code in text for code in CATEGORY_CODES), fmt
        xlsx = (await client.get(path, params={**params, **extra, "format": "xlsx"}, headers=as_buyer)).content
        book = load_workbook(io.BytesIO(xlsx))
        assert "Personnes par public" not in book.sheetnames and "Personnes par sexe" in book.sheetnames
        cells = {str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row}
        assert not any(code in cell for cell in cells for code in CATEGORY_CODES)
        pdf = (await client.get(path, params={**params, **extra, "format": "pdf"}, headers=as_buyer)).content
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")
        assert "Personnes par public" not in text and "Personnes par sexe" in text
        assert not any(code in text for code in CATEGORY_CODES)


def nine_people(year: int = YEAR) -> list[Envelope]:
    """One lot, nine people in May: 8 men and 1 woman, 8 aged 26-49 and 1 under 26, 1 living in a QPV, 1 RQTH;
    seven ends of pathway in June: 6 in a durable job, 1 in a transition job."""
    events: list[Envelope] = []

    def emit(event_type: str, producer: str, data) -> None:
        events.append(new_envelope(event_type, 1, producer, data))

    buyer_id, market_id = uuid.uuid4(), uuid.uuid4()
    lot = LotState(lot_id=uuid.uuid4(), market_id=market_id, buyer_id=buyer_id, number=1, title="Gros œuvre",
                   sector="gros_oeuvre", clause_kind="execution_condition", method="rate",
                   amount_eur=Decimal("800000"), start_date=dt.date(year, 1, 1), end_date=dt.date(year, 12, 31),
                   owed_hours=Decimal("2000"), status="submitted", version=1)
    emit("market.submitted", "market_intake", MarketSubmitted(
        market_id=market_id, buyer_id=buyer_id, buyer_name="Rennes Métropole", buyer_kind="collectivite",
        reference=f"{year}-009", title="Groupe scolaire", cpv_code="45214200", commune_insee="35238", lots=[lot]))
    siret = "35600000000048"
    lot = LotState.model_validate({**lot.model_dump(), "status": "awarded", "version": 2, "company_siret": siret,
                                   "company_name": "Bâtiments de Bretagne"})
    emit("lot.awarded", "market_intake", LotAwarded(lot=lot, company_siret=siret, company_name="Bâtiments de Bretagne",
                                                    awarded_amount_eur=lot.amount_eur))
    entries = []
    for p in range(9):
        beneficiary_id, placement_id = uuid.uuid4(), uuid.uuid4()
        emit("beneficiary.enrolled", "matching", BeneficiaryEnrolled(
            beneficiary_id=beneficiary_id, gender="F" if p == 0 else "M", birth_year=year - (22 if p == 1 else 35),
            commune_insee="35238", qpv=p == 2, education_level="cap_bep",
            categories=["DELD", "RQTH"] if p == 3 else ["DELD"], enrolled_on=dt.date(year, 3, 1)))
        emit("placement.started", "matching", PlacementStarted(
            placement_id=placement_id, lot_id=lot.lot_id, beneficiary_id=beneficiary_id, employer_siret=siret,
            structure_id=None, structure_kind=None, modality="direct_hire", contract_type="CDD" if p == 4 else "CDI",
            start_date=dt.date(year, 5, 4)))
        entries.append(HourEntry(
            entry_id=uuid.uuid4(), placement_id=placement_id, beneficiary_id=beneficiary_id, lot_id=lot.lot_id,
            market_id=market_id, buyer_id=buyer_id, employer_siret=siret, structure_id=None, structure_kind=None,
            modality="direct_hire", month=f"{year}-05", hours=Decimal("120"), kind="work"))
        if p < 7:
            emit("placement.ended", "matching", PlacementEnded(
                placement_id=placement_id, lot_id=lot.lot_id, beneficiary_id=beneficiary_id,
                end_date=dt.date(year, 6, 26), exit_category="transition_job" if p == 5 else "durable_job"))
    emit("hours.recorded", "hours", HoursRecorded(entries=entries))
    return events


async def test_a_funder_cannot_work_out_a_hidden_cell_from_the_totals(database_url, nats_url):
    """9 people, 8 men and 1 woman: "< 5" women beside 8 men and a total of 9 is 1 woman; both cells are hidden.
    Likewise the 6 + 1 exits: the "dynamic" sum 7 beside 6 durable would give the transition job away."""
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as c:
        await apply_directly(c.ctx, nine_people())
        params = {"year": YEAR, "quarter": 2}
        full = (await c.get("/reports/quarterly", params=params)).json()
        funder = (await c.get("/reports/quarterly", params=params, headers=bearer(Role.FUNDER))).json()

    def cells(rows: list[dict]) -> dict:
        return {r["key"]: r["people"] for r in rows}

    assert full["totals"]["people"] == funder["totals"]["people"] == 9
    assert cells(full["people_by"]["gender"]) == {"M": 8, "F": 1}
    assert cells(funder["people_by"]["gender"]) == {"M": MASKED, "F": "< 5"}
    assert cells(funder["people_by"]["age_band"]) == {"26-49": MASKED, "<26": "< 5"}
    assert cells(funder["people_by"]["qpv"]) == {"false": MASKED, "true": "< 5"}
    assert cells(funder["people_by"]["education_level"]) == {"cap_bep": 9}
    assert cells(funder["people_by"]["epci"]) == {"243500139": 9}
    assert cells(funder["people_by"]["category"]) == {"DELD": 9, "RQTH": "< 5"}  # no total: a person has several
    assert cells(funder["contracts_by_type"]) == {"CDI": 8, "CDD": "< 5"}
    assert cells(full["exits"]["at_end"]) == {"durable_job": 6, "transition_job": 1}
    assert cells(funder["exits"]["at_end"]) == {"durable_job": 6, "transition_job": "< 5"}
    assert full["exits"]["at_end_dynamic"] == 7 and funder["exits"]["at_end_dynamic"] == MASKED
    assert [t["actual"] for t in funder["targets"]] == [None, None]
    # the figures added after the 2026-12 audit: 9 × 120 h on one lot of Bâtiments de Bretagne, 2,000 h owed
    assert cells(funder["people_by"]["commune"]) == {"35238": 9}
    assert funder["pays_de_rennes"] == {"people": 9, "epci": 4, "communes": 76}
    assert cells(full["contracts_by_duration"]) == {"open_ended": 8, "unknown": 1}  # the CDD has no planned end
    assert cells(funder["contracts_by_duration"]) == {"masked": MASKED}  # a contract type is hidden
    for report in (full, funder):  # hours and companies are not people: shown as they are
        assert [(r["key"], r["label"], r["hours"]) for r in report["hours_by"]["company"]] == [
            ("35600000000048", "Bâtiments de Bretagne (SIRET 35600000000048)", 1080.0)]
        assert (report["totals"]["companies"], report["totals"]["new_companies"]) == (1, 1)
        assert report["previous_period"]["totals"]["new_companies"] == 0
        for dimension, key, label in (("clause_kind", "execution_condition", "Condition d'exécution (L2112-2)"),
                                      ("sector", "gros_oeuvre", "Gros œuvre")):
            assert report["obligations_by"][dimension] == [
                {"key": key, "label": label, "markets": 1, "lots": 1, "owed_hours": 2000.0,
                 "realised_hours": 1080.0, "percent": 54.0}]
        assert [(r["label"], r["percent"]) for r in report["obligations_by"]["buyer"]] == [("Rennes Métropole", 54.0)]
    assert_nothing_given_away(full, funder)


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
    assert "« masqué » quand un effectif caché pourrait se déduire d'un total" in page.replace("&#39;", "'")


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


async def test_every_download_has_the_figures_added_after_the_audit(client):
    """Hours by company, markets and lots by clause kind, sector and buyer, people by commune and in the Pays de
    Rennes, contracts by duration; exits headed by what they count; the CSV's lots at risk with every figure."""
    from pypdf import PdfReader

    params = {"year": YEAR}
    report = (await client.get("/reports/annual", params=params)).json()
    assert report["lots_at_risk"]
    text = (await client.get("/reports/annual", params={**params, "format": "csv"})).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    for lot in report["lots_at_risk"]:
        key = f"{lot['market_reference']} lot {lot['number']}"
        got = {r[3].rsplit(" — ", 1)[1]: r[4] for r in rows if r[0] == "Lots à risque" and r[2] == key}
        assert got.pop("Fin") == lot["end_date"]
        assert {k: Decimal(v.replace(",", ".")) for k, v in got.items()} == {
            "Heures dues": Decimal(str(lot["owed_hours"])), "Heures réalisées": Decimal(str(lot["realised_hours"])),
            "Prévision": Decimal(str(lot["forecast_hours"])), "Taux (%)": Decimal(str(lot["percent"]))}
    companies = {r[2]: Decimal(r[4].replace(",", ".")) for r in rows if r[0] == "Heures par entreprise"}
    assert companies == {r["key"]: Decimal(str(r["hours"])) for r in report["hours_by"]["company"]}
    by_sector = {(r[2], r[3].rsplit(" — ", 1)[1]): r[4] for r in rows if r[0] == "Marchés et lots par secteur"}
    for r in report["obligations_by"]["sector"]:
        assert by_sector[(r["key"], "Lots")] == str(r["lots"])
        assert Decimal(by_sector[(r["key"], "Heures dues")].replace(",", ".")) == Decimal(str(r["owed_hours"]))
    assert next(r[4] for r in rows if r[0] == "Synthèse" and r[1] == "Année 2026"
                and r[3] == "Nouvelles entreprises") == str(report["totals"]["new_companies"])
    assert {r[2]: int(r[4]) for r in rows if r[0] == "Personnes par commune"} == {
        r["key"]: r["people"] for r in report["people_by"]["commune"]}
    assert [int(r[4]) for r in rows if r[0] == "Personnes du Pays de Rennes"] == [report["pays_de_rennes"]["people"]]
    assert {r[2]: int(r[4]) for r in rows if r[0] == "Contrats par durée"} == {
        r["key"]: r["people"] for r in report["contracts_by_duration"]}

    book = load_workbook(io.BytesIO((await client.get("/reports/annual",
                                                      params={**params, "format": "xlsx"})).content))
    for sheet in ("Heures par entreprise", "Marchés et lots par clause", "Marchés et lots par secteur",
                  "Marchés et lots par acheteur", "Personnes par commune", "Personnes du Pays de Rennes",
                  "Contrats par durée"):
        assert sheet in book.sheetnames, sheet
    assert [c.value for c in book["Marchés et lots par acheteur"][1]] == [
        "Clé", "Libellé", "Marchés", "Lots", "Heures dues", "Heures réalisées à date", "Taux (%)"]
    assert [c.value for c in book["Sorties en fin de parcours"][1]] == ["Clé", "Libellé", "Parcours terminés"]
    assert [c.value for c in book["Sorties à 6 mois"][1]] == ["Clé", "Libellé", "Parcours suivis à 6 mois"]
    page = (await client.get("/reports/annual", params={**params, "format": "html"})).text.replace("&#39;", "'")
    pdf = (await client.get("/reports/annual", params={**params, "format": "pdf"})).content
    pdf_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")
    for heading in ("Heures par entreprise", "Marchés et lots par clause", "Personnes par commune",
                    "Personnes du Pays de Rennes", "Contrats par durée"):
        assert f"<h2>{heading}</h2>" in page and heading in pdf_text, heading
    assert ">Parcours terminés</th>" in page and "Parcours terminés" in pdf_text


# ---- the year to date: 1 January to the end of a quarter -----------------------------------------------------------
H1 = (f"{YEAR}-01", f"{YEAR}-06", dt.date(YEAR, 1, 1), dt.date(YEAR, 6, 30))  # months, then days, of Q1 + Q2
YTD_LABEL, PREVIOUS_YTD_LABEL = f"Cumul {YEAR} au 30/06/{YEAR}", f"Cumul {YEAR - 1} au 30/06/{YEAR - 1}"


async def year_to_date(client, year: int = YEAR, quarter: int = 2, headers: dict | None = None, **params) -> dict:
    response = await client.get("/reports/year-to-date", params={"year": year, "quarter": quarter, **params},
                                headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_year_to_date_of_the_second_quarter_is_both_quarters_figure_by_figure(client):
    """Every figure of the cumulative to 30 June, computed from the generated world's own ledger: hours of Q1 plus
    hours of Q2, each person once over both quarters, and every breakdown over January to June."""
    w = client.world
    report = await year_to_date(client)
    assert report["period"] == {"kind": "year_to_date", "year": YEAR, "quarter": 2, "start": f"{YEAR}-01-01",
                                "end": f"{YEAR}-06-30", "label": YTD_LABEL}
    assert report["year_to_date"] == {"period": report["period"], "totals": report["totals"]}  # itself
    assert report["previous_period"]["period"] == {
        "kind": "year_to_date", "year": YEAR - 1, "quarter": 2, "start": f"{YEAR - 1}-01-01",
        "end": f"{YEAR - 1}-06-30", "label": PREVIOUS_YTD_LABEL}

    q1, q2 = (f"{YEAR}-01", f"{YEAR}-03"), (f"{YEAR}-04", f"{YEAR}-06")
    totals = report["totals"]
    assert Decimal(str(totals["hours"])) == w.hours(*q1) + w.hours(*q2)
    both = w.people_in(*q1) & w.people_in(*q2)
    assert both, "the world must have people working in both quarters"
    assert totals["people"] == len(w.people_in(*q1) | w.people_in(*q2)) < len(w.people_in(*q1)) + len(
        w.people_in(*q2))  # counted once
    assert totals["new_people"] == len(w.new_people(*q1) | w.new_people(*q2))
    assert Decimal(str(totals["fte"])) == ((w.hours(*q1) + w.hours(*q2)) / 1607).quantize(Decimal("0.01"),
                                                                                          ROUND_HALF_UP)
    check_totals(totals, w, *H1)
    check_obligations(report, w, w.active_lots(*H1[2:]), H1[1])
    check_breakdowns(report, w, *H1)
    assert [r["key"] for r in report["hours_by"]["month"]] == [f"{YEAR}-{m:02d}" for m in range(1, 7)]
    # the comparison period: January to June of the year before (the world has no hours then), and a year later
    check_totals(report["previous_period"]["totals"], w, f"{YEAR - 1}-01", f"{YEAR - 1}-06",
                 dt.date(YEAR - 1, 1, 1), dt.date(YEAR - 1, 6, 30))
    later = await year_to_date(client, YEAR + 1)
    assert later["previous_period"] == {"period": report["period"], "totals": report["totals"]}
    # the same cumulative as the quarterly report's year to date
    quarterly = (await client.get("/reports/quarterly", params={"year": YEAR, "quarter": 2})).json()
    assert quarterly["year_to_date"] == report["year_to_date"]

    # one buyer, asked by the facilitator and by the buyer itself (who never gets the public categories)
    mine = next(iter(w.markets.values())).buyer_id
    scoped = await year_to_date(client, buyer_id=str(mine))
    assert scoped["buyer_id"] == str(mine)
    check_totals(scoped["totals"], w, *H1, buyer_id=mine)
    own = await year_to_date(client, headers=bearer(Role.BUYER, mine))
    assert "category" not in own["people_by"]
    funder = await year_to_date(client, buyer_id=str(mine), headers=bearer(Role.FUNDER))
    del funder["people_by"]["category"]
    assert own == funder  # the buyer reads its people as aggregates, as a funder reads that buyer
    assert own["totals"]["hours"] == scoped["totals"]["hours"]
    other = next(m.buyer_id for m in w.markets.values() if m.buyer_id != mine)
    refused = await client.get("/reports/year-to-date", params={"year": YEAR, "quarter": 2, "buyer_id": str(other)},
                               headers=bearer(Role.BUYER, mine))
    assert refused.status_code == 403 and "ses propres marchés" in refused.json()["detail"]


async def test_a_funders_year_to_date_has_the_same_figures_with_small_cells_protected(client):
    w = client.world
    full = await year_to_date(client)
    funder = await year_to_date(client, headers=bearer(Role.FUNDER))
    reached = w.people_in(*H1[:2])
    assert funder["totals"]["people"] == suppress(len(reached), 5) == len(reached)
    assert Decimal(str(funder["totals"]["hours"])) == w.hours(*H1[:2])
    assert funder["hours_by"] == full["hours_by"]  # hours are not people: shown as they are
    assert funder["people_by"]["category"]  # funders keep the public categories, protected
    assert any(isinstance(c, int) and 0 < c < 5 for c in _people_cells(full))  # there is something to hide
    assert "< 5" in _people_cells(funder)
    assert_nothing_given_away(full, funder)  # each cell checked against the facilitator's, checked against the ledger
    assert funder["previous_period"]["period"]["label"] == PREVIOUS_YTD_LABEL
    for buyer in dict.fromkeys(m.buyer_id for m in w.markets.values()):  # one buyer at a time, protected too
        one = await year_to_date(client, buyer_id=str(buyer), headers=bearer(Role.FUNDER))
        assert one["buyer_id"] == str(buyer)
        assert Decimal(str(one["totals"]["hours"])) == w.hours(*H1[:2], buyer)
        assert_nothing_given_away(await year_to_date(client, buyer_id=str(buyer)), one)


@pytest.mark.parametrize("role", [Role.FACILITATOR, Role.FUNDER])
async def test_the_year_to_date_downloads_carry_the_cumulative_label(client, role):
    from pypdf import PdfReader

    headers = bearer(role)
    hours = client.world.hours(*H1[:2])
    params = {"year": YEAR, "quarter": 2}
    response = await client.get("/reports/year-to-date", params={**params, "format": "csv"}, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="bilan-{YEAR}-cumul-T2.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert {r[1] for r in rows[1:] if r[0] == "Synthèse"} == {YTD_LABEL, PREVIOUS_YTD_LABEL}  # no column twice
    assert {r[1] for r in rows[1:] if r[0] != "Synthèse"} == {YTD_LABEL}
    total = next(r for r in rows if r[:2] == ["Synthèse", YTD_LABEL] and r[3] == "Heures réalisées")
    assert Decimal(total[4].replace(",", ".")) == hours
    months = {r[2]: Decimal(r[4].replace(",", ".")) for r in rows if r[0] == "Heures par mois"}
    assert list(months) == [f"{YEAR}-{m:02d}" for m in range(1, 7)] and sum(months.values()) == hours
    if role == Role.FUNDER:
        assert "< 5" in {r[4] for r in rows}

    response = await client.get("/reports/year-to-date", params={**params, "format": "xlsx"}, headers=headers)
    assert response.headers["content-disposition"] == f'attachment; filename="bilan-{YEAR}-cumul-T2.xlsx"'
    book = load_workbook(io.BytesIO(response.content))
    assert [c.value for c in book["Synthèse"][1]] == ["Indicateur", YTD_LABEL, PREVIOUS_YTD_LABEL]
    hours_row = next(r for r in book["Synthèse"].iter_rows(values_only=True) if r[0] == "Heures réalisées")
    assert hours_row[1] == pytest.approx(float(hours))
    assert len(list(book["Heures par mois"].iter_rows(min_row=2))) == 6

    page = (await client.get("/reports/year-to-date", params={**params, "format": "html"}, headers=headers)).text
    assert f"<h1>Bilan des clauses sociales d'insertion — {YTD_LABEL}</h1>" in page.replace("&#39;", "'")
    assert page.count(f'<th class="n">{YTD_LABEL}</th>') == 1
    response = await client.get("/reports/year-to-date", params={**params, "format": "pdf"}, headers=headers)
    assert response.headers["content-disposition"] == f'attachment; filename="bilan-{YEAR}-cumul-T2.pdf"'
    assert PdfReader(io.BytesIO(response.content)).metadata.title == (
        f"Bilan des clauses sociales d'insertion - {YTD_LABEL}")
