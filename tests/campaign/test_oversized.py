"""Oversized requests and hostile files are refused cleanly: 413 with a French message before the body is kept,
whether the client announces its size (Content-Length) or streams it (chunked); an import file over the hours
upload limit writes nothing; a CSV with a gigantic line or a flood of bad rows, a broken XLSX or a garbled multipart
form get a French 4xx, never a 500."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from campaign.campaign_support import assert_french_refusal
from harness import running
from hours.hours_support import csv_bytes, post_file, snapshot

from examples import buyer_request
from services.hours import sheets
from services.hours.app import create_app as hours_app
from services.market_intake.app import create_app as market_intake_app

LIMIT = 10_000_000  # create_service_app's default body limit (market_intake keeps it)


def sqlite(tmp_path: Path, service: str) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}"


def oversized_json() -> bytes:
    return b'{"name": "' + b"x" * LIMIT + b'", "siret": "24350013900189", "kind": "collectivite"}'


async def chunks(data: bytes, size: int = 1_000_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def test_a_json_body_over_the_limit_is_refused_with_413(tmp_path, nats_url):
    async with running(market_intake_app, database_url=sqlite(tmp_path, "market_intake"), nats_url=nats_url) as client:
        announced = await client.post("/buyers", content=oversized_json(), headers={"content-type": "application/json"})
        assert_french_refusal(announced, 413)
        assert "10 Mo" in announced.json()["detail"]

        streamed = await client.post("/buyers", content=chunks(oversized_json()),
                                     headers={"content-type": "application/json"})
        assert "content-length" not in streamed.request.headers
        assert_french_refusal(streamed, 413)
        assert (await client.get("/buyers")).json() == []
        # just under the limit, the same request is an ordinary one
        assert (await client.post("/buyers", json=buyer_request())).status_code == 201


async def test_an_import_over_the_upload_limit_is_refused_and_writes_nothing(tmp_path, nats_url):
    async with running(hours_app, database_url=sqlite(tmp_path, "hours"), nats_url=nats_url,
                       import_max_bytes=50_000) as client:
        before = await snapshot(client.ctx)
        rows = [["00000000-0000-0000-0000-000000000001", "2026-03", "7", "travail"]] * 2000
        response = await post_file(client, csv_bytes(rows))
        assert_french_refusal(response, 413)
        assert "Mo" in response.json()["detail"]
        form = httpx.Request("POST", "/hours/imports", files={"file": ("releve.csv", csv_bytes(rows))})
        streamed = await client.post("/hours/imports", content=chunks(form.read(), 10_000),
                                     headers={"content-type": form.headers["content-type"]})
        assert_french_refusal(streamed, 413)
        assert await snapshot(client.ctx) == before


async def test_hostile_files_get_a_french_4xx(tmp_path, nats_url):
    async with running(hours_app, database_url=sqlite(tmp_path, "hours"), nats_url=nats_url) as client:
        before = await snapshot(client.ctx)
        huge_line = csv_bytes([["x" * 2_000_000, "2026-03", "7", "travail"]])
        no_newline = b"placement;mois;heures;type;" + b"y" * 3_000_000
        flood = csv_bytes([[f"inconnu-{i}", "2026-13", "-1", "?"] for i in range(5_000)])
        nul_bytes = b"placement;mois;heures\x00;type\r\n\x00\x00;\x00;\x00\r\n"
        for name, data in (("ligne géante", huge_line), ("sans fin de ligne", no_newline), ("octets nuls", nul_bytes)):
            response = await post_file(client, data)
            assert_french_refusal(response)
            assert response.status_code in (400, 413, 422), (name, response.status_code, response.text[:300])
        flooded = await post_file(client, flood)
        assert_french_refusal(flooded, 422)
        assert (flooded.json()["rejected"], flooded.json()["errors_truncated"], len(flooded.json()["errors"])) == (
            5_000, True, 1000)
        broken_xlsx = await client.post("/hours/imports", files={"file": ("releve.xlsx", io.BytesIO(b"PK\x03\x04junk"))})
        assert_french_refusal(broken_xlsx, 422)
        # Regression: the framework's own 400 ("Invalid multipart data.") used to reach the user in English.
        garbled = await client.post("/hours/imports", content=b"--x\r\npas une partie",
                                    headers={"content-type": "multipart/form-data; boundary=x"})
        assert_french_refusal(garbled, 400)
        assert await snapshot(client.ctx) == before


def test_a_csv_cell_over_the_csv_module_limit_is_a_sheet_error_naming_its_line():
    """Regression: `_csv.Error: field larger than field limit` used to escape as a 500."""
    with pytest.raises(sheets.SheetError, match=r"ligne 2 illisible : une cellule dépasse 131072 caractères"):
        list(sheets.read(csv_bytes([["x" * 200_000, "2026-03", "7", "travail"]]), "releve.csv"))
