"""The HTML report in a real headless Chromium (Debian's package): it renders, in colour, with its charts.

Screenshots are kept under var/screenshots/ (not committed) for a person to look at."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from harness import running
from reporting_support import apply_directly
from reporting_world import generate

from services.reporting.app import create_app

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "var" / "screenshots"
YEAR = 2026


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.skip("Chromium absent : `apt-get install chromium` (.ci/run l'installe)")


def screenshot(page: Path, out: Path, tmp: Path, width: int = 1280, height: int = 2400) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         f"--user-data-dir={tmp / 'profile'}", f"--window-size={width},{height}", f"--screenshot={out}",
         page.as_uri()],
        check=True, capture_output=True, timeout=60,
    )


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes): width, height, rows of raw pixel bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "pas un PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, rows, previous = zlib.decompress(idat), width * channels, [], bytes(width * channels)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                row[i] = (row[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(bytes(row))
        previous = row
    return width, height, [bytes(r[i] for i in range(len(r)) if i % channels < 3) for r in rows]


async def test_html_report_renders_in_chromium_with_its_charts(database_url, nats_url, tmp_path):
    world = generate(seed=21, year=YEAR, people=60, markets=6)
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        await apply_directly(client.ctx, world.events)
        response = await client.get("/reports/quarterly", params={"year": YEAR, "quarter": 2, "format": "html"})
    assert response.status_code == 200
    page = tmp_path / "bilan.html"
    page.write_text(response.text, encoding="utf-8")

    out = SHOTS / f"bilan-trimestriel-T2-{tmp_path.name}.png"
    screenshot(page, out, tmp_path)
    width, height, rows = png_pixels(out.read_bytes())
    assert (width, height) == (1280, 2400)

    # The page painted: far from blank, with text (dark pixels) and coloured chart bars (saturated pixels).
    sample = [row[x * 3:x * 3 + 3] for row in rows[::8] for x in range(0, width, 8)]
    white = sum(1 for p in sample if min(p) > 245)
    dark = sum(1 for p in sample if max(p) < 90)
    coloured = sum(1 for p in sample if max(p) - min(p) > 60)
    assert white < 0.97 * len(sample), "page presque blanche"
    assert dark > 200, "aucun texte visible"
    assert coloured > 200, "aucun graphique en couleur visible"

    dom = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom",
         page.as_uri()],
        check=True, capture_output=True, timeout=60, text=True,
    ).stdout
    assert dom.count("<svg") == 5 and "Heures par mois" in dom and "Synthèse" in dom
