"""Reading real-world statements (CSV and XLSX) and checking their rows, without a database."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

import pytest
from hours_support import csv_bytes
from openpyxl import Workbook

from services.hours import import_rules, sheets
from services.hours.import_rules import Known, ParsedRow, RowProblem
from services.hours.rules import PlacementView, Policy

P1, P2 = uuid.uuid4(), uuid.uuid4()
TODAY = dt.date(2026, 11, 22)


def read_all(data: bytes, filename: str = "releve.csv") -> tuple[sheets.Header, list]:
    stream = sheets.read(data, filename)
    header = next(stream)
    return header, list(stream)


def test_semicolons_bom_decimal_commas_blank_lines_and_trailing_spaces():
    text = ("\ufeffPlacement ; Mois ;Heures  ; Type \r\n"
            f"{P1} ; 2026-03 ; 7,5 ; travail  \r\n"
            "\r\n"
            " ; ; ; \r\n"
            f"{P2};03/2026;151,67;formation\r\n")
    header, rows = read_all(text.encode("utf-8"))
    assert header.names == {"placement_id": "Placement", "month": "Mois", "hours": "Heures", "kind": "Type"}
    assert [n for n, _ in rows] == [2, 5]
    parsed = list(import_rules.parse_rows(header, rows))
    assert parsed == [ParsedRow(2, P1, "2026-03", "work", 750), ParsedRow(5, P2, "2026-03", "training", 15167)]


def test_windows_1252_with_accented_headers_and_commas():
    data = csv_bytes([[str(P1), "2026-03", '"7,5"', "Travail"]], sep=",", encoding="cp1252",
                     header=["Identifiant placement", "Période", "Nombre d'heures", "Nature"])
    assert "é".encode("cp1252") in data
    header, rows = read_all(data)
    assert header.names["month"] == "Période"
    assert list(import_rules.parse_rows(header, rows)) == [ParsedRow(2, P1, "2026-03", "work", 750)]


def test_utf16_tab_separated_text_as_excel_saves_it():
    data = f"placement\tmois\theures\n{P1}\t2026-03\t7,5\n".encode("utf-16")
    header, rows = read_all(data, "releve.txt")
    # no kind written: "" until the checks, where the placement's modality decides (work, or training)
    assert list(import_rules.parse_rows(header, rows)) == [ParsedRow(2, P1, "2026-03", "", 750)]


def test_title_lines_above_the_header_and_missing_kind_column():
    data = f"Relevé mensuel ETTI Interim 35;;\n;;\nplacement_id;month;hours\n{P1};2026-04;12\n".encode()
    header, rows = read_all(data)
    assert header.row == 3
    assert list(import_rules.parse_rows(header, rows)) == [ParsedRow(4, P1, "2026-04", "", 1200)]


@pytest.mark.parametrize("title", ["Relevé mensuel — Propreté Bretonne", "Relevé d'heures, mars 2026"])
def test_a_bare_title_line_does_not_mislead_the_separator(title):
    data = f"{title}\n\nplacement;mois;heures\n{P1};2026-04;7,5\n{P2};2026-04;12,25\n".encode()
    header, rows = read_all(data)
    assert header.row == 3
    assert list(import_rules.parse_rows(header, rows)) == [
        ParsedRow(4, P1, "2026-04", "", 750), ParsedRow(5, P2, "2026-04", "", 1225),
    ]


def test_every_bad_cell_is_named_by_row_and_column():
    data = csv_bytes([["pas-un-id", "2026-13", "7,555", "congés"], ["", "", "", ""], [str(P1), "", "-3", ""]])
    header, rows = read_all(data)
    problems = list(import_rules.parse_rows(header, rows))
    assert problems == [
        RowProblem(2, "placement", "identifiant de placement invalide « pas-un-id » (UUID attendu)"),
        RowProblem(2, "mois", "mois invalide « 2026-13 » : format attendu AAAA-MM (ex. 2026-03)"),
        RowProblem(2, "heures", "heures « 7.555 » : au plus 2 décimales"),
        RowProblem(2, "type", "type d'heures inconnu « congés » : valeurs admises travail (work) ou formation (training)"),
        RowProblem(4, "mois", "mois manquant : format attendu AAAA-MM (ex. 2026-03)"),
        RowProblem(4, "heures", "les heures doivent être supérieures à 0"),
    ]


@pytest.mark.parametrize(("data", "filename", "message"), [
    (b"", "x.csv", "fichier vide"),
    (b"nom;prenom\nDupont;Jean\n", "x.csv", "en-tête introuvable"),
    (b"PK\x03\x04garbage", "x.xlsx", "classeur XLSX illisible"),
    (b"\xd0\xcf\x11\xe0", "x.xls", "format .xls"),
])
def test_unreadable_files_are_refused_as_a_whole(data, filename, message):
    with pytest.raises(sheets.SheetError, match=message):
        read_all(data, filename)


def xlsx(build) -> bytes:
    book = Workbook()
    build(book.active)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_with_merged_title_and_vertically_merged_header_cells():
    def build(ws):
        ws["A1"] = "Relevé d'heures — mars 2026"
        ws.merge_cells("A1:D1")
        for col, name in zip("ABCD", ["Placement", "Mois", "Heures", "Type"], strict=True):
            ws[f"{col}2"] = name
            ws.merge_cells(f"{col}2:{col}3")  # header cells spanning two rows
        for row, values in ((4, [str(P1), dt.datetime(2026, 3, 1), 7.5, "Travail"]), (5, [None, None, None, None]),
                            (6, [str(P2), "2026-03", "12,25", None])):
            for col, value in enumerate(values, start=1):
                ws.cell(row, col, value)

    header, rows = read_all(xlsx(build), "releve.xlsx")
    assert header.row == 2
    assert list(import_rules.parse_rows(header, rows)) == [
        ParsedRow(4, P1, "2026-03", "work", 750), ParsedRow(6, P2, "2026-03", "", 1225)]


def test_xlsx_with_a_header_merged_across_columns():
    def build(ws):
        ws.append(["Placement", "Mois", "Heures", None, "Type"])
        ws.merge_cells("C1:D1")  # "Heures" spans the value and a unit column
        ws.append([str(P1), "2026-05", 35, "h", "formation"])

    header, rows = read_all(xlsx(build), "releve.xlsx")
    assert list(import_rules.parse_rows(header, rows)) == [ParsedRow(2, P1, "2026-05", "training", 3500)]


KNOWN = Known(
    placements={P1: PlacementView(dt.date(2026, 2, 1), None, "provision"),
                P2: PlacementView(dt.date(2026, 2, 1), dt.date(2026, 4, 30), "provision")},
    lot_missing=frozenset(),
    current={(P1, "2026-03", "work"): 1000},
)


def check(rows: list[list[str]], known: Known = KNOWN, policy: Policy = Policy()) -> import_rules.Checked:
    header, raw = read_all(csv_bytes(rows))
    return import_rules.check_rows(header, import_rules.parse_rows(header, raw), known, policy, TODAY)


def test_rows_already_recorded_identically_are_skipped_others_need_a_correction():
    checked = check([[str(P1), "2026-03", "10", ""], [str(P1), "2026-03", "11", "formation"],
                     [str(P2), "2026-04", "5", ""]])
    assert checked.already_recorded == 1
    assert [r.row for r in checked.accepted] == [3, 4]
    assert not checked.problems
    refused = check([[str(P1), "2026-03", "10,5", ""]])
    assert refused.problems == [RowProblem(2, "heures", "des heures sont déjà saisies pour ce placement, ce mois "
                                                        "et ce type (10 h) : faites une correction")]


def test_duplicates_inside_the_file_future_months_inactive_and_unknown_placements():
    unknown = uuid.uuid4()
    checked = check([
        [str(P2), "2026-03", "5", ""], [str(P2), "2026-03", "6", "travail"], [str(P2), "2026-05", "5", ""],
        [str(P1), "2026-12", "5", ""], [str(unknown), "2026-03", "5", ""],
    ])
    assert [r.row for r in checked.accepted] == [2]
    assert [(p.row, p.column, p.message) for p in checked.problems] == [
        (3, "placement", "doublon de la ligne 2 (même placement, mois et type)"),
        (4, "mois", "le placement a pris fin le 30/04/2026, avant le mois 2026-05"),
        (5, "mois", "le mois 2026-12 est dans le futur : on ne déclare que des heures effectuées"),
        (6, "placement", "placement inconnu : il doit d'abord être créé dans l'appariement"),
    ]
    assert checked.rejected_rows == 4


def test_caps_add_up_existing_hours_and_the_file_rows():
    checked = check([[str(P1), "2026-03", "30", "formation"], [str(P1), "2026-04", "40", ""],
                     [str(P1), "2026-04", "10", "formation"]], policy=Policy(monthly_cap_hours=Decimal(45)))
    # March: 10 h already recorded + 30 h = 40 h ≤ 45 h; April: 40 h then 10 h more = 50 h > 45 h
    assert [r.row for r in checked.accepted] == [2, 3]
    assert [(p.row, p.column, p.message) for p in checked.problems] == [
        (4, "heures", "plafond mensuel dépassé : au plus 45 h par mois et par placement (total 50 h)")]
    over = check([[str(P1), "2026-03", "36", "formation"], [str(P1), "2026-04", "200,01", ""]])
    assert [p.message.split(" :")[0] for p in over.problems] == ["plafond de formation dépassé", "plafond mensuel dépassé"]


def test_placement_whose_lot_is_unknown():
    known = Known(KNOWN.placements, frozenset({P2}), {})
    checked = check([[str(P2), "2026-03", "5", ""]], known)
    assert checked.problems[0].message == "le lot de ce placement est inconnu (marché pas encore reçu)"


P3 = uuid.uuid4()  # a training placement (formation qualifiante)
LOT_H1 = (dt.date(2026, 1, 5), dt.date(2026, 6, 30))  # the lot's period: 2026-01 .. 2026-06
WITH_LOTS = Known(
    placements={P1: PlacementView(dt.date(2025, 1, 1), None, "provision", *LOT_H1),
                P3: PlacementView(dt.date(2026, 2, 1), None, "training", *LOT_H1)},
    lot_missing=frozenset(),
    current={},
)


def test_rows_outside_the_lot_period_are_refused_with_the_period():
    checked = check([[str(P1), "2025-12", "5", ""], [str(P1), "2026-01", "5", ""], [str(P1), "2026-06", "5", ""],
                     [str(P1), "2026-07", "5", ""], [str(P1), "2026-08", "6", "travail"]], WITH_LOTS)
    assert [r.row for r in checked.accepted] == [3, 4]
    period = "est en dehors de la période du lot (du 05/01/2026 au 30/06/2026) : seules comptent les heures effectuées sur l'opération"
    assert [(p.row, p.column, p.message) for p in checked.problems] == [
        (2, "mois", f"le mois 2025-12 {period}"), (5, "mois", f"le mois 2026-07 {period}"),
        (6, "mois", f"le mois 2026-08 {period}")]


def test_the_placement_modality_decides_the_kind_of_a_row():
    checked = check([[str(P3), "2026-03", "20", ""], [str(P3), "2026-04", "20", "formation"],
                     [str(P3), "2026-05", "20", "travail"], [str(P1), "2026-03", "20", ""],
                     [str(P1), "2026-03", "5", "formation"]], WITH_LOTS)
    assert [(r.row, r.kind) for r in checked.accepted] == [(2, "training"), (3, "training"), (5, "work"), (6, "training")]
    assert [(p.row, p.column, p.message) for p in checked.problems] == [
        (4, "type", "ce placement est une formation : il ne déclare que des heures de formation (type « formation » "
                    "ou vide), pas des heures de travail")]


def test_an_empty_kind_and_its_written_name_are_the_same_key():
    checked = check([[str(P3), "2026-03", "20", ""], [str(P3), "2026-03", "20", "formation"],
                     [str(P1), "2026-03", "20", ""], [str(P1), "2026-03", "20", "Travail"]], WITH_LOTS)
    assert [r.row for r in checked.accepted] == [2, 4]
    assert [(p.row, p.message) for p in checked.problems] == [
        (3, "doublon de la ligne 2 (même placement, mois et type)"),
        (5, "doublon de la ligne 4 (même placement, mois et type)")]
    known = Known(WITH_LOTS.placements, frozenset(), {(P3, "2026-03", "training"): 2000})
    again = check([[str(P3), "2026-03", "20", ""]], known)  # a file sent again: already recorded
    assert (again.already_recorded, again.accepted, again.problems) == (1, [], [])


def test_a_training_placement_follows_the_training_policy_whatever_the_kind_cell():
    closed = check([[str(P3), "2026-03", "20", ""], [str(P3), "2026-04", "20", "travail"]], WITH_LOTS,
                   policy=Policy(training_allowed=False))
    assert closed.accepted == []
    assert [(p.row, p.column, p.message.split(" :")[0]) for p in closed.problems] == [
        (2, "type", "les heures de formation ne sont pas comptées sur ce territoire"),
        (3, "type", "ce placement est une formation")]
    capped = check([[str(P3), "2026-03", "35,01", ""]], WITH_LOTS)
    assert capped.problems[0].message.startswith("plafond de formation dépassé : au plus 35 h de formation")
