"""Inline SVG bar charts for the HTML report (pure: rows in, SVG text out; no JavaScript, no external file)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

PALETTE = ("#1f5fa8", "#e07b24", "#3c9a5f", "#b8433a", "#7a5ba6", "#8c6d3f", "#d16fa9", "#6b6b6b", "#b5a22c", "#2aa0b0")


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _number(value: Any) -> float:
    if isinstance(value, int | float | Decimal):
        return float(value)
    return 0.0  # "< 5": hidden small cell, drawn as an empty bar with its label


def _fmt(value: Any) -> str:
    if isinstance(value, float | Decimal):
        text = f"{float(value):,.0f}" if float(value) >= 100 else f"{float(value):,.2f}"
        return text.replace(",", "\u202f").replace(".", ",")
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")
    return str(value)


def hbar(title: str, rows: list[dict[str, Any]], field: str, *, width: int = 560) -> str:
    """Horizontal bars, one per row, labelled with the row label and its value."""
    bar_h, gap, left, right = 22, 6, 190, 90
    height = 34 + len(rows) * (bar_h + gap)
    top = max([_number(r[field]) for r in rows] + [0.0]) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_attr(title)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" class="chart">',
             f'<text x="0" y="18" class="chart-title">{escape(title)}</text>']
    for i, row in enumerate(rows):
        y = 30 + i * (bar_h + gap)
        w = (width - left - right) * _number(row[field]) / top
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" class="chart-label">'
                     f'{escape(str(row["label"]))[:32]}</text>')
        parts.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}" rx="2"/>')
        parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 15}" class="chart-value">{escape(_fmt(row[field]))}</text>')
    if not rows:
        parts.append('<text x="0" y="46" class="chart-label">Aucune donnée sur la période</text>')
    parts.append("</svg>")
    return "".join(parts)


def vbar(title: str, rows: list[dict[str, Any]], field: str, *, width: int = 720, height: int = 260) -> str:
    """Vertical bars (e.g. hours by month), labelled under each bar."""
    left, bottom, top_margin = 10, 40, 36
    n = max(len(rows), 1)
    slot = (width - 2 * left) / n
    top = max([_number(r[field]) for r in rows] + [0.0]) or 1.0
    plot = height - bottom - top_margin
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{_attr(title)}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" class="chart">',
             f'<text x="0" y="18" class="chart-title">{escape(title)}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}" stroke="#999"/>']
    for i, row in enumerate(rows):
        h = plot * _number(row[field]) / top
        x = left + i * slot + slot * 0.15
        y = height - bottom - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{PALETTE[0]}" '
                     f'rx="2"><title>{escape(str(row["label"]))} : {escape(_fmt(row[field]))}</title></rect>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                     f'class="chart-label">{escape(str(row["label"]))[-7:]}</text>')
        parts.append(f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                     f'class="chart-value">{escape(_fmt(row[field]))}</text>')
    parts.append("</svg>")
    return "".join(parts)
