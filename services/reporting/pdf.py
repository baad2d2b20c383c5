"""A small PDF writer for the report (pure: report sections in, PDF bytes out).

reportlab is not among the installed dependencies (and pyproject.toml is not ours to change), so this writes
PDF 1.4 directly: A4 pages, the standard Helvetica fonts in WinAnsiEncoding (French accents, « », œ, €), headings
and tables as text. Content streams are left uncompressed, so the text can be checked by tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WIDTH, HEIGHT = 595.28, 841.89  # A4 in points
MARGIN = 50
LINE = 14


def _pdf_text(text: str) -> bytes:
    """A PDF string literal in WinAnsiEncoding (cp1252), with its special characters escaped."""
    text = text.replace("\u202f", " ").replace("\u00a0", " ")
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


class _Page:
    def __init__(self) -> None:
        self.ops: list[bytes] = []
        self.y = HEIGHT - MARGIN

    def text(self, x: float, size: float, value: str, *, bold: bool = False, right: float | None = None) -> None:
        font = b"/F2" if bold else b"/F1"
        if right is not None:  # right-aligned: estimate the width (Helvetica digits are 0.556 em)
            x = right - 0.556 * size * len(value)
        self.ops.append(b"BT " + font + b" %.1f Tf %.2f %.2f Td " % (size, x, self.y) + _pdf_text(value) + b" Tj ET")

    def rule(self) -> None:
        self.ops.append(b"0.12 0.37 0.66 RG 1 w %.2f %.2f m %.2f %.2f l S" % (MARGIN, self.y - 3, WIDTH - MARGIN,
                                                                              self.y - 3))


class _Document:
    def __init__(self) -> None:
        self.pages: list[_Page] = [_Page()]

    @property
    def page(self) -> _Page:
        return self.pages[-1]

    def need(self, height: float) -> None:
        if self.page.y - height < MARGIN:
            self.pages.append(_Page())

    def down(self, amount: float = LINE) -> None:
        self.page.y -= amount


def _cell(value: Any, fmt: Any) -> str:
    return fmt(value) if not isinstance(value, str) else value


def render(title: str, subtitle: str, tables: Iterable[tuple[str, list[str], list[list[Any]]]], fmt: Any) -> bytes:
    """Title, subtitle, then every (heading, headers, rows) table; long tables continue on the next page."""
    doc = _Document()
    doc.page.text(MARGIN, 16, title, bold=True)
    doc.down(20)
    doc.page.text(MARGIN, 10, subtitle)
    doc.down(26)
    for heading, headers, rows in tables:
        doc.need(3 * LINE + 10)
        doc.page.text(MARGIN, 12, heading, bold=True)
        doc.page.rule()
        doc.down(LINE + 4)
        columns = _columns(len(headers))
        _row(doc, headers, columns, bold=True)
        for row in rows or [["Aucune donnée sur la période."] + [""] * (len(headers) - 1)]:
            doc.need(LINE)
            _row(doc, [_cell(v, fmt) for v in row], columns)
        doc.down(10)
    return _serialize(doc)


def _columns(n: int) -> list[tuple[float, bool]]:
    """(x, right-aligned) per column: the first column is wide and left-aligned, the others are figures."""
    usable = WIDTH - 2 * MARGIN
    if n == 1:
        return [(MARGIN, False)]
    first = usable * (0.45 if n <= 4 else 0.3)
    step = (usable - first) / (n - 1)
    return [(MARGIN, False)] + [(MARGIN + first + step * (i + 1), True) for i in range(n - 1)]


def _row(doc: _Document, cells: list[str], columns: list[tuple[float, bool]], *, bold: bool = False) -> None:
    for (x, right), value in zip(columns, cells, strict=False):
        text = str(value)[:60 if not right else 22]
        if right:
            doc.page.text(0, 9, text, bold=bold, right=x)
        else:
            doc.page.text(x, 9, text, bold=bold)
    doc.down(LINE)


def _serialize(doc: _Document) -> bytes:
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled below
    pages_id = add(b"")
    font1 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    font2 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>")
    kids = []
    for page in doc.pages:
        stream = b"\n".join(page.ops)
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>" % (pages_id, WIDTH, HEIGHT, content, font1, font2)
        ))
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    return bytes(out)
