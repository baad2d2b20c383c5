"""Reading monthly statements: CSV (comma, semicolon or tab; UTF-8 with or without BOM, or Windows-1252) and XLSX.

Headers are found by name (French aliases, any case, accents, spaces), even below title rows or merged cells.
Rows come out with their number as the user sees it (the file's line, the sheet's row); blank rows are skipped.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from dataclasses import dataclass
from typing import Any

COLUMNS = ("placement_id", "month", "hours", "kind")
REQUIRED = ("placement_id", "month", "hours")
LABELS = {"placement_id": "placement", "month": "mois", "hours": "heures", "kind": "type"}
ALIASES = {
    "placement_id": {"placement id", "placement", "id placement", "identifiant placement", "parcours",
                     "id parcours", "placement uuid", "n placement", "numero placement"},
    "month": {"month", "mois", "periode", "mois concerne", "mois de travail", "mois annee"},
    "hours": {"hours", "heures", "nb heures", "nombre heures", "nombre d heures", "nombre de heures",
              "heures realisees", "heures effectuees", "total heures", "volume horaire"},
    "kind": {"kind", "type", "type heures", "type d heures", "nature", "nature heures"},
}
HEADER_SEARCH_ROWS = 20


class SheetError(ValueError):
    """The file as a whole cannot be read (format, encoding, headers)."""


@dataclass(frozen=True)
class Header:
    positions: dict[str, int]  # canonical column -> index in the row
    names: dict[str, str]  # canonical column -> header as written in the file
    row: int


def plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", folded).strip()


_CANONICAL = {alias: column for column, aliases in ALIASES.items() for alias in aliases}


def find_header(cells: list[Any], row: int) -> Header | None:
    positions: dict[str, int] = {}
    names: dict[str, str] = {}
    for index, cell in enumerate(cells):
        if cell is None:
            continue
        column = _CANONICAL.get(plain(str(cell)))
        if column is not None and column not in positions:
            positions[column] = index
            names[column] = str(cell).strip()
    if all(c in positions for c in REQUIRED):
        return Header(positions, names, row)
    return None


def blank_cells(cells: list[Any] | tuple[Any, ...]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def blank_texts(cells: list[str]) -> bool:
    return not "".join(cells).strip()


def _missing_header_message() -> str:
    wanted = ", ".join(f"{LABELS[c]} ({c})" for c in REQUIRED)
    return f"en-tête introuvable : le fichier doit avoir les colonnes {wanted}, et type (kind) en option"


Row = tuple[int, tuple[Any, Any, Any, Any]]  # row number, (placement, month, hours, kind) cells


def _picker(header: Header) -> Callable[[Sequence[Any]], tuple[Any, Any, Any, Any]]:
    """cells -> (placement, month, hours, kind), None for an absent column or a short row."""
    positions = [header.positions.get(c, -1) for c in COLUMNS]
    width = max(positions) + 1
    present = [p for p in positions if p >= 0]
    fast = itemgetter(*present)
    missing_kind = positions[3] < 0

    def pick(cells: Sequence[Any]) -> tuple[Any, Any, Any, Any]:
        if len(cells) < width:
            padded = list(cells) + [None] * (width - len(cells))
            return tuple(padded[p] if p >= 0 else None for p in positions)  # type: ignore[return-value]
        values = fast(cells)
        return (*values, None) if missing_kind else values

    return pick


def _rows(numbered: Iterator[tuple[int, Sequence[Any]]], blank: Callable[[Any], bool]) -> Iterator[Header | Row]:
    """First the header, then (row number, cells in COLUMNS order) for every non-blank row."""
    header: Header | None = None
    for number, cells in numbered:
        header = find_header(list(cells), number)
        if header is not None:
            yield header
            break
        if number >= HEADER_SEARCH_ROWS:
            raise SheetError(_missing_header_message())
    if header is None:
        raise SheetError(_missing_header_message())
    pick = _picker(header)
    for number, cells in numbered:
        if not blank(cells):
            yield number, pick(cells)


def decode(data: bytes) -> str:
    """UTF-8 with or without BOM, UTF-16 with BOM (Excel's "Unicode text"), else Windows-1252."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _delimiter(text: str, sample_lines: int = 20) -> str:
    """The separator that wins on most of the first lines (each line votes for the one it holds most of), so a title
    line above the header, or decimal commas in a `;` file, do not mislead it."""
    votes = dict.fromkeys((";", ",", "\t"), 0)
    lines = (line for line in text.splitlines() if line.strip())
    for line, _ in zip(lines, range(sample_lines), strict=False):
        counts = {d: line.count(d) for d in votes}
        best = max(counts, key=lambda d: counts[d])
        if counts[best]:
            votes[best] += 1
    best = max(votes, key=lambda d: votes[d])
    return best if votes[best] else ","


def csv_rows(data: bytes) -> Iterator[Header | Row]:
    text = decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), skipinitialspace=True)
    return _rows(_numbered(reader), blank_texts)


def _numbered(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells); a line the csv module cannot read (a cell over its size limit) is a SheetError."""
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        raise SheetError(f"ligne {reader.line_num} illisible : une cellule dépasse {csv.field_size_limit()} "
                         "caractères (fichier CSV mal formé ?)") from exc



def xlsx_rows(data: bytes) -> Iterator[Header | Row]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SheetError("classeur XLSX illisible : enregistrez-le au format Excel (.xlsx) ou CSV") from exc
    sheet = book.worksheets[0]
    # Merged header cells keep their text in the first cell and leave the others empty: the header is still found
    # by name, and the empty continuation row of a vertical merge is skipped like any blank row.
    numbered = enumerate(sheet.iter_rows(values_only=True), start=1)
    return _rows(((number, list(cells)) for number, cells in numbered), blank_cells)


def read(data: bytes, filename: str) -> Iterator[Header | Row]:
    """The header first, then the rows. Raises SheetError when the file cannot be read at all."""
    if not data.strip():
        raise SheetError("fichier vide")
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith((".xlsx", ".xlsm")):
        return xlsx_rows(data)
    if filename.lower().endswith(".xls"):
        raise SheetError("format .xls (Excel 97-2003) non pris en charge : enregistrez le fichier en .xlsx ou CSV")
    return csv_rows(data)
