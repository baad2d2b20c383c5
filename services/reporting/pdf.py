"""The report as a PDF (reportlab): A4 pages, a title, then every section as a headed table.

Long labels wrap inside their column, figures are right-aligned, a table running over a page repeats its header.
Pure: report sections in, PDF bytes out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

BLUE = colors.HexColor("#1f5fa8")
MARGIN = 18 * mm
_STYLES = getSampleStyleSheet()
TITLE = ParagraphStyle("titre", parent=_STYLES["Title"], fontSize=16, alignment=0, spaceAfter=4)
SUBTITLE = ParagraphStyle("sous-titre", parent=_STYLES["Normal"], fontSize=9, textColor=colors.HexColor("#555555"))
HEADING = ParagraphStyle("section", parent=_STYLES["Heading2"], fontSize=12, textColor=colors.black, spaceBefore=10,
                         spaceAfter=4)
CELL = ParagraphStyle("cellule", parent=_STYLES["Normal"], fontSize=8, leading=10)
HEAD = ParagraphStyle("entete", parent=CELL, fontName="Helvetica-Bold")
NUMBER = ParagraphStyle("nombre", parent=CELL, alignment=2)
HEAD_NUMBER = ParagraphStyle("entete-nombre", parent=HEAD, alignment=2)

Section = tuple[str, list[str], list[list[Any]]]


def render(title: str, subtitle: str, tables: Iterable[Section], fmt: Callable[[Any], str]) -> bytes:
    out = BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN,
                            bottomMargin=MARGIN, title=title, lang="fr")
    story: list[Any] = [Paragraph(escape(title), TITLE), Paragraph(escape(subtitle), SUBTITLE), Spacer(1, 6 * mm)]
    for heading, headers, rows in tables:
        block = [Paragraph(escape(heading), HEADING), _table(headers, rows, fmt, doc.width)]
        # A short section stays on one page; a long table flows over pages, its header repeated.
        story.extend([KeepTogether(block)] if len(rows) < 15 else block)
    doc.build(story, onLaterPages=_page_number, onFirstPage=_page_number)
    return out.getvalue()


def _table(headers: list[str], rows: list[list[Any]], fmt: Callable[[Any], str], width: float) -> Table:
    # A column of figures is right-aligned and narrow; the first column is always text.
    figures = [i > 0 and bool(rows) and all(not isinstance(row[i], str) for row in rows) for i in range(len(headers))]
    if not rows:
        rows = [["Aucune donnée sur la période."] + [""] * (len(headers) - 1)]
    data = [[Paragraph(escape(h), HEAD_NUMBER if figures[i] else HEAD) for i, h in enumerate(headers)]]
    for row in rows:
        data.append([Paragraph(escape(v if isinstance(v, str) else fmt(v)), NUMBER if figures[i] else CELL)
                     for i, v in enumerate(row)])
    table = Table(data, colWidths=_widths(figures, width), repeatRows=1)
    table.setStyle(TableStyle([
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, BLUE),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#dddddd")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]))
    return table


def _widths(figures: list[bool], width: float) -> list[float]:
    """Figure columns get a fixed width; text columns share what is left."""
    figure = min(30 * mm, width * 0.6 / max(1, sum(figures)))
    text_width = (width - figure * sum(figures)) / max(1, figures.count(False))
    return [figure if is_figure else text_width for is_figure in figures]


def _page_number(canvas: Any, doc: Any) -> None:
    canvas.saveState()
    canvas.setFont("Helvetica", 7)
    canvas.drawRightString(A4[0] - MARGIN, 10 * mm, f"page {doc.page}")
    canvas.restoreState()
