"""Output formats of a report (pure: report dict in, bytes or JSON-ready data out).

JSON keeps numbers as numbers; CSV is French-friendly (`;` separator, decimal comma, UTF-8 with BOM so spreadsheet
software opens it right); XLSX has one sheet per section with real headers and numbers stored as numbers; HTML is a
self-contained page (jinja2, inline SVG charts).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader
from markupsafe import Markup
from openpyxl import Workbook
from openpyxl.styles import Font

from services.reporting import charts as charts_svg
from services.reporting import pdf

TOTAL_LABELS = {
    "hours": "Heures réalisées",
    "owed_hours": "Heures dues (lots actifs)",
    "realised_to_date_on_active_lots": "Heures réalisées à date sur les lots actifs",
    "percent": "Taux de réalisation (%)",
    "fte": "Équivalents temps plein",
    "people": "Personnes",
    "new_people": "Nouvelles personnes",
    "companies": "Entreprises",
    "new_companies": "Nouvelles entreprises",
    "structures": "Structures d'insertion",
    "markets": "Marchés",
    "lots": "Lots",
}
HOURS_SECTIONS = {
    "buyer": "Heures par acheteur",
    "market": "Heures par marché",
    "lot": "Heures par lot",
    "company": "Heures par entreprise",
    "sector": "Heures par secteur",
    "clause_kind": "Heures par type de clause",
    "modality": "Heures par modalité",
    "structure_kind": "Heures par type de structure",
    "month": "Heures par mois",
}
OBLIGATION_SECTIONS = {
    "clause_kind": "Marchés et lots par clause",
    "sector": "Marchés et lots par secteur",
    "buyer": "Marchés et lots par acheteur",
}
OBLIGATION_HEADERS = ["Marchés", "Lots", "Heures dues", "Heures réalisées à date", "Taux (%)"]
PEOPLE_SECTIONS = {
    "gender": "Personnes par sexe",
    "age_band": "Personnes par tranche d'âge",
    "qpv": "Personnes par résidence QPV",
    "education_level": "Personnes par niveau de formation",
    "category": "Personnes par public",
    "epci": "Personnes par EPCI",
    "commune": "Personnes par commune",
    "structure_kind": "Personnes par type de structure",
}


def plain(value: Any) -> Any:
    """JSON-ready: Decimals become numbers."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def to_json(report: dict[str, Any]) -> dict[str, Any]:
    return plain(report)


def summary_columns(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The periods of the summary table: the report's, the previous one and the year to date — once only when the
    report is itself a year to date."""
    ytd = report["year_to_date"]
    columns = [{"period": report["period"], "totals": report["totals"]}, report["previous_period"]]
    return columns if ytd["period"] == report["period"] else [*columns, ytd]


def sections(report: dict[str, Any]) -> Iterator[tuple[str, list[str], list[list[Any]]]]:
    """(title, headers, rows) of every section, in reading order; shared by CSV, XLSX and HTML."""
    columns = summary_columns(report)
    yield (
        "Synthèse",
        ["Indicateur", *(c["period"]["label"] for c in columns)],
        [[label, *(c["totals"].get(k) for c in columns)] for k, label in TOTAL_LABELS.items()],
    )
    yield ("Réserve (lots non attribués)", ["Indicateur", "Valeur"],
           [["Heures dimensionnées sur des lots non attribués", report["pipeline"]["hours"]],
            ["Lots non attribués", report["pipeline"]["lots"]]])
    for key, title in OBLIGATION_SECTIONS.items():
        yield (title, ["Clé", "Libellé", *OBLIGATION_HEADERS],
               [[r["key"], r["label"], r["markets"], r["lots"], r["owed_hours"], r["realised_hours"], r["percent"]]
                for r in report["obligations_by"][key]])
    for key, title in HOURS_SECTIONS.items():
        yield title, ["Clé", "Libellé", "Heures"], [[r["key"], r["label"], r["hours"]] for r in report["hours_by"][key]]
    for key, title in PEOPLE_SECTIONS.items():
        if key not in report["people_by"]:  # a buyer's report has no people by public category
            continue
        yield title, ["Clé", "Libellé", "Personnes"], [[r["key"], r["label"], r["people"]]
                                                        for r in report["people_by"][key]]
        if key == "commune":
            pays = report["pays_de_rennes"]
            yield ("Personnes du Pays de Rennes", ["Clé", "Libellé", "Personnes"],
                   [["pays_de_rennes", f"Résidant dans le Pays de Rennes ({pays['epci']} EPCI, {pays['communes']} "
                                       "communes)", pays["people"]]])
    yield ("Structures par type", ["Clé", "Libellé", "Structures"],
           [[r["key"], r["label"], r["structures"]] for r in report["structures_by_kind"]])
    yield ("Contrats par type", ["Clé", "Libellé", "Contrats"],
           [[r["key"], r["label"], r["people"]] for r in report["contracts_by_type"]])
    yield ("Contrats par durée", ["Clé", "Libellé", "Contrats"],
           [[r["key"], r["label"], r["people"]] for r in report["contracts_by_duration"]])
    # exits are counted per placement (a person may end two pathways), follow-ups per placement followed up
    yield ("Sorties en fin de parcours", ["Clé", "Libellé", "Parcours terminés"],
           [[r["key"], r["label"], r["people"]] for r in report["exits"]["at_end"]]
           + [["dynamic", "Sorties dynamiques", report["exits"]["at_end_dynamic"]]])
    yield ("Sorties à 6 mois", ["Clé", "Libellé", "Parcours suivis à 6 mois"],
           [[r["key"], r["label"], r["people"]] for r in report["exits"]["at_6_months"]]
           + [["dynamic", "Sorties dynamiques", report["exits"]["at_6_months_dynamic"]]])
    yield ("Lots à risque", ["Marché", "Lot", "Intitulé", "Fin", "Heures dues", "Heures réalisées", "Prévision",
                             "Taux (%)"],
           [[r["market_reference"], r["number"], r["title"], r["end_date"], r["owed_hours"], r["realised_hours"],
             r["forecast_hours"], r["percent"]] for r in report["lots_at_risk"]])
    yield ("Objectifs territoriaux", ["Objectif", "Cible (%)", "Réalisé (%)"],
           [[r["label"], r["target"], r["actual"]] for r in report["targets"]])


def readable(section: tuple[str, list[str], list[list[Any]]]) -> tuple[str, list[str], list[list[Any]]]:
    """A section as people read it (HTML, PDF): the "Clé" column holds identifiers for machines (CSV, XLSX) —
    UUIDs of buyers, markets, lots — so it is left out; the "Libellé" column names the same thing."""
    title, headers, rows = section
    if headers[:2] == ["Clé", "Libellé"]:
        return title, headers[1:], [row[1:] for row in rows]
    return section


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float | Decimal):
        return f"{value}".replace(".", ",")
    return str(value)


def to_csv(report: dict[str, Any]) -> bytes:
    """One table: Section ; Période ; Clé ; Libellé ; Valeur (numbers with a decimal comma). A section with several
    figures per row (lots at risk, markets and lots by clause, sector or buyer) has one line per figure, the figure
    named after the label ("Libellé — Heures dues")."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Section", "Période", "Clé", "Libellé", "Valeur"])
    period = report["period"]["label"]
    for title, headers, rows in sections(report):
        if title == "Synthèse":
            for label, *values in rows:
                for header, value in zip(headers[1:], values, strict=True):
                    writer.writerow([title, header, "", label, _csv_cell(value)])
        elif title == "Lots à risque":
            for row in rows:
                for header, value in zip(headers[3:], row[3:], strict=True):
                    writer.writerow([title, period, f"{row[0]} lot {row[1]}", f"{row[2]} — {header}",
                                     _csv_cell(value)])
        elif headers[:2] == ["Clé", "Libellé"] and len(headers) > 3:
            for key, label, *values in rows:
                for header, value in zip(headers[2:], values, strict=True):
                    writer.writerow([title, period, key, f"{label} — {header}", _csv_cell(value)])
        elif title in ("Réserve (lots non attribués)", "Objectifs territoriaux"):
            for row in rows:
                writer.writerow([title, period, "", row[0], _csv_cell(row[-1])])
        else:
            for key, label, value in rows:
                writer.writerow([title, period, key, label, _csv_cell(value)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _sheet_title(title: str, used: set[str]) -> str:
    name = "".join(c for c in title if c not in "[]:*?/\\")[:31]
    while name in used:
        name = name[:29] + f"{len(used) % 100:02d}"
    used.add(name)
    return name


def to_xlsx(report: dict[str, Any]) -> bytes:
    wb = Workbook(write_only=False)
    wb.remove(wb.active)
    used: set[str] = set()
    bold = Font(bold=True)
    for title, headers, rows in sections(report):
        ws = wb.create_sheet(_sheet_title(title, used))
        ws.append(headers)
        for cell in ws[1]:
            cell.font = bold
        for row in rows:
            ws.append([float(v) if isinstance(v, Decimal) else v for v in row])
        for i, header in enumerate(headers, start=1):
            width = max([len(str(header))] + [len(str(r[i - 1])) for r in rows]) + 2
            ws.column_dimensions[ws.cell(1, i).column_letter].width = min(60, width)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                         trim_blocks=True, lstrip_blocks=True)
CARDS = [("hours", "Heures réalisées"), ("fte", "Équivalents temps plein"), ("people", "Personnes"),
         ("percent", "Taux de réalisation (%)"), ("companies", "Entreprises"), ("structures", "Structures"),
         ("markets", "Marchés"), ("lots", "Lots")]


def fmt(value: Any) -> str:
    """French number formatting for people to read (thin space for thousands, decimal comma)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")
    if isinstance(value, float | Decimal):
        return f"{float(value):,.2f}".replace(",", "\u202f").replace(".", ",")
    return str(value)


def to_html(report: dict[str, Any]) -> bytes:
    """A clean page: headline cards, the comparison table, inline SVG charts (hours by month, by modality, by
    structure kind; people by gender and age band) and every section as a table."""
    all_sections = list(sections(report))
    charts = {
        "month": charts_svg.vbar("Heures par mois", report["hours_by"]["month"], "hours"),
        "modality": charts_svg.hbar("Heures par modalité", report["hours_by"]["modality"], "hours"),
        "structure_kind": charts_svg.hbar("Heures par type de structure", report["hours_by"]["structure_kind"],
                                          "hours"),
        "gender": charts_svg.hbar("Personnes par sexe", report["people_by"]["gender"], "people", width=460),
        "age_band": charts_svg.hbar("Personnes par tranche d'âge", report["people_by"]["age_band"], "people",
                                    width=460),
    }
    page = _TEMPLATES.get_template("report.html.j2").render(
        period=report["period"], buyer_id=report["buyer_id"], buyer_name=report["buyer_name"], as_of=report["as_of"], totals=report["totals"],
        columns=summary_columns(report), pipeline=report["pipeline"],
        cards=CARDS, total_labels=TOTAL_LABELS, charts={k: Markup(v) for k, v in charts.items()},  # noqa: S704 - our own SVG, every text escaped
        tables=[readable(s) for s in all_sections if s[0] not in ("Synthèse", "Réserve (lots non attribués)")],
        fmt=fmt,
    )
    return page.encode("utf-8")


def to_pdf(report: dict[str, Any]) -> bytes:
    """The same sections as the spreadsheet, as headed tables on A4 pages."""
    period = report["period"]
    subtitle = f"Du {period['start']} au {period['end']}"
    if report["buyer_id"]:
        subtitle += f" - acheteur : {report['buyer_name'] or 'non encore reçu'}"
    if report["as_of"]:
        subtitle += f" - historique au {report['as_of']}"
    return pdf.render(f"Bilan des clauses sociales d'insertion - {period['label']}", subtitle,
                      (readable(s) for s in sections(report)), fmt)
