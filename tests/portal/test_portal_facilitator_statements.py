"""The pure parts of the facilitator's pages: a service's refusal placed next to the form's fields, the rejected rows of a statement laid out cell by cell under the file's
own header (numbered as the hours service numbers them), the corrected CSV rebuilt from the form, the lots ending
soon."""

from __future__ import annotations

import datetime as dt

from starlette.datastructures import FormData

from services.portal.clients import ServiceError
from services.portal.facilitator import ENROLMENT_FIELDS, PLACEMENT_FIELDS, corrected_csv, ending_soon, fix_table, refused

PLACEMENT = "0b9d3a4e-5f0e-4c1e-9d55-2f7a1c3e8b11"


def test_rejected_rows_are_laid_out_under_the_files_own_header_below_a_title_row():
    data = ("Relevé mensuel — Propreté Bretonne;;;\n"  # as Excel saves a title row
            "\n"
            "Placement;Mois;Nb heures;Type\n"
            f"{PLACEMENT};2026-09;35;travail\n"
            f"{PLACEMENT};2026-13;trente;travail\n"
            f"{PLACEMENT};2026-10;12\n").encode("cp1252")
    errors = [{"row": 5, "column": "Nb heures", "message": "heures invalides « trente »"},
              {"row": 5, "column": "Mois", "message": "mois invalide « 2026-13 »"},
              {"row": 6, "column": "placement", "message": "placement inconnu"}]  # a column under another name
    table = fix_table(data, errors)
    assert table is not None
    assert table.header == ["Placement", "Mois", "Nb heures", "Type"]
    assert [r.row for r in table.rows] == [5, 6]
    bad, short = table.rows
    assert bad.cells == [PLACEMENT, "2026-13", "trente", "travail"]
    assert bad.problems == {2: "heures invalides « trente »", 1: "mois invalide « 2026-13 »"}
    assert short.cells == [PLACEMENT, "2026-10", "12", ""]  # padded to the header's width
    assert short.problems == {0: "placement inconnu"}  # header names compare without case


def test_no_table_for_a_workbook_or_without_errors():
    assert fix_table(b"PK\x03\x04 un classeur", [{"row": 2, "column": "heures", "message": "x"}]) is None
    assert fix_table(b"placement;mois;heures\n", []) is None


def test_the_corrected_rows_become_a_semicolon_csv_under_the_same_header():
    form = FormData([("header", "placement"), ("header", "mois"), ("header", "heures"),
                     ("row", "3"), ("cell-3-0", PLACEMENT), ("cell-3-1", " 2026-10 "), ("cell-3-2", "30"),
                     ("row", "7"), ("cell-3-9", "ignored"), ("cell-7-0", PLACEMENT), ("cell-7-1", "2026-11"),
                     ("cell-7-2", "7,5; pas de guillemets oubliés")])
    assert corrected_csv(form).decode() == (
        "placement;mois;heures\r\n"
        f"{PLACEMENT};2026-10;30\r\n"
        f'{PLACEMENT};2026-11;"7,5; pas de guillemets oubliés"\r\n')


def test_lots_ending_soon_are_the_awarded_ones_ending_within_three_months():
    today = dt.date(2026, 11, 22)

    def lot(number: int, status: str, end: str) -> dict:
        return {"id": str(number), "number": number, "status": status, "end_date": end}

    markets = [{"reference": "B", "lots": [lot(1, "awarded", "2027-02-21"), lot(2, "awarded", "2027-02-23"),
                                           lot(3, "submitted", "2026-12-01"), lot(4, "closed", "2026-12-01")]},
               {"reference": "A", "lots": [lot(1, "awarded", "2026-11-22"), lot(2, "awarded", "2026-11-21")]}]
    assert [(x["market_reference"], x["number"]) for x in ending_soon(markets, today)] == [("A", 1), ("B", 1)]


def test_a_refusal_goes_next_to_its_fields_and_above_the_form_only_when_it_has_no_field_there():
    missing = ServiceError(422, "Données invalides — criteria[0].prescriber : champ obligatoire",
                           {"criteria[0].prescriber": "champ obligatoire", "commune_insee": "code INSEE invalide"})
    state = refused({"first_name": "Maëlle"}, missing, ENROLMENT_FIELDS)
    assert state.errors == {"prescriber": "champ obligatoire", "commune_insee": "code INSEE invalide"}
    assert state.detail == "Corrigez les champs signalés ci-dessous."
    assert state.values == {"first_name": "Maëlle"}
    not_eligible = ServiceError(422, "personne non éligible le 2026-09-01", {"beneficiary_id": "personne non éligible"})
    assert refused({}, not_eligible, PLACEMENT_FIELDS[1:]).detail == "personne non éligible le 2026-09-01"
    conflict = ServiceError(409, "le lot n'est pas attribué (statut : soumis)")  # no field at all
    assert refused({}, conflict, PLACEMENT_FIELDS).detail == "le lot n'est pas attribué (statut : soumis)"
