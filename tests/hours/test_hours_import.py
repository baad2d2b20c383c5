"""POST /hours/imports: real-world files, all-or-nothing, partial acceptance, re-import, a 50,000-row file."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from decimal import Decimal

import pytest
from harness import published_events, running
from hours_support import apply, csv_bytes, placement_started, post_file, seed_lot, seed_placements, snapshot
from openpyxl import Workbook
from sqlalchemy import select

from contracts.events.hours import MAX_ENTRIES_PER_EVENT, HoursRecorded
from services.hours.app import create_app


async def test_a_messy_csv_is_accepted_and_the_same_file_again_adds_nothing(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx)
        p1, p2 = await seed_placements(client.ctx, market.lots[0].lot_id, count=2)
        text = ("\ufeffPlacement ;Mois; Heures ;Type\r\n"
                f"{p1.placement_id} ;2026-03;151,67; travail \r\n\r\n"
                f"{p2.placement_id};03/2026; 35 ;Formation\r\n ; ; ; \r\n")
        first = await post_file(client, text.encode())
        assert first.status_code == 200, first.text
        assert (first.json()["status"], first.json()["accepted"], first.json()["rejected"]) == ("accepted", 2, 0)
        before = await snapshot(client.ctx)
        assert before["hour_entries"] == 2

        again = await post_file(client, text.encode())
        assert again.json()["status"] == "already_imported"
        assert "rien n'est ajouté" in again.json()["detail"]
        # The same rows in another file (re-saved as cp1252 with commas): each row is recognised.
        other = csv_bytes([[str(p1.placement_id), "2026-03", '"151,67"', "travail"],
                           [str(p2.placement_id), "2026-03", "35", "formation"]], sep=",", encoding="cp1252")
        resaved = await post_file(client, other)
        assert (resaved.json()["accepted"], resaved.json()["already_recorded"]) == (0, 2)
        assert await snapshot(client.ctx) == {**before, "hour_imports": before["hour_imports"] + 1}

        status = (await client.get(f"/hours/imports/{first.json()['import_id']}")).json()
        assert (status["status"], status["rows_total"], status["rows_written"], status["percent"]) == ("done", 2, 2, "100")
        history = (await client.get("/hours", params={"placement_id": str(p1.placement_id)})).json()
        assert (history[0]["source"], history[0]["import_row"], history[0]["hours"]) == ("import", 2, "151.67")


async def test_a_file_with_one_bad_row_is_rejected_whole_and_writes_nothing(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx)
        (p1,) = await seed_placements(client.ctx, market.lots[0].lot_id)
        before = await snapshot(client.ctx)
        data = csv_bytes([[str(p1.placement_id), "2026-03", "7,5", ""], [str(p1.placement_id), "2026-04", "sept", ""],
                          [str(p1.placement_id), "2026-05", "8", ""]])
        response = await post_file(client, data)
        assert response.status_code == 422
        body = response.json()
        assert (body["status"], body["accepted"], body["rejected"]) == ("rejected", 0, 1)
        assert body["errors"] == [{"row": 3, "column": "heures",
                                   "message": "heures invalides « sept » : un nombre est attendu (ex. 7,5)"}]
        assert "aucune heure enregistrée" in body["detail"]
        assert await snapshot(client.ctx) == before

        partial = await post_file(client, data, accept_valid_rows=True)
        assert partial.status_code == 200
        assert (partial.json()["accepted"], partial.json()["rejected"]) == (2, 1)
        assert partial.json()["errors"][0]["row"] == 3


async def test_unreadable_files_get_a_french_message(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        for data, name, message in [(b"", "a.csv", "fichier vide"), (b"nom;age\nx;3\n", "a.csv", "en-tête introuvable"),
                                    (b"PK\x03\x04abc", "a.xlsx", "XLSX illisible")]:
            response = await post_file(client, data, name)
            assert response.status_code == 422
            assert message in response.json()["detail"]
            assert response.json()["errors"][0]["field"] == "file"
        missing = await client.post("/hours/imports", data={"accept_valid_rows": "true"})
        assert missing.status_code == 422 and "file" in missing.text


async def test_an_xlsx_statement_with_merged_header_cells(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx)
        p1, p2 = await seed_placements(client.ctx, market.lots[0].lot_id, count=2)
        book = Workbook()
        ws = book.active
        ws["A1"] = "ETTI Interim 35 — relevé de mars 2026"
        ws.merge_cells("A1:D1")
        ws.append(["N° placement", "Période", "Heures réalisées", "Nature"])
        ws.append([str(p1.placement_id), dt.datetime(2026, 3, 1), 151.67, "travail"])
        ws.append([str(p2.placement_id), "2026-03", "35", "formation"])
        out = io.BytesIO()
        book.save(out)
        response = await post_file(client, out.getvalue(), "releve.xlsx")
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 2


async def test_a_50000_row_statement_is_stored_in_chunks_and_published(database_url, nats_url):
    rows_count, placements_count = 50_000, 2_500  # 20 months × 2,500 placements
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url, import_chunk_rows=10_000) as client:
        market = await seed_lot(client.ctx, start_date=dt.date(2025, 1, 1))  # every month of the file is the lot's
        placements = await seed_placements(client.ctx, market.lots[0].lot_id, count=placements_count,
                                           start_date=dt.date(2025, 1, 1))
        months = [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)][:20]
        lines = ["placement;mois;heures;type"] + [
            f"{p.placement_id};{month};{(i % 150) + 1},5;travail"
            for month in months for i, p in enumerate(placements)]
        data = ("\n".join(lines) + "\n").encode()
        started = time.perf_counter()
        response = await post_file(client, data)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.text[:500]
        assert response.json()["accepted"] == rows_count
        print(f"\n50 000 lignes importées en {elapsed:.1f} s ({rows_count / elapsed:,.0f} lignes/s)")
        snap = await snapshot(client.ctx)
        assert snap["hour_entries"] == rows_count
        published = await published_events(client.ctx)
        events = [HoursRecorded.model_validate(data) for kind, data in published if kind == "hours.recorded"]
        sizes = [len(e.entries) for e in events]
        assert sum(sizes) == rows_count and max(sizes) == MAX_ENTRIES_PER_EVENT
        first = events[0].entries[0]
        assert (first.placement_id, first.month, first.hours, first.modality) == (
            placements[0].placement_id, months[0], Decimal("1.50"), "provision")
        assert (first.market_id, first.buyer_id, first.employer_siret) == (
            market.market_id, market.buyer_id, placements[0].employer_siret)
        assert len({e.entry_id for ev in events for e in ev.entries}) == rows_count
        progress = (await client.get(f"/lots/{market.lots[0].lot_id}/progress")).json()
        expected = sum((i % 150) + 1.5 for i in range(placements_count)) * len(months)
        assert float(progress["realised_hours"]) == pytest.approx(expected)


async def test_a_partly_accepted_file_can_come_back_once_its_placements_are_known(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx)
        (known,) = await seed_placements(client.ctx, market.lots[0].lot_id)
        late = placement_started(market.lots[0].lot_id)  # matching has not sent it yet
        data = csv_bytes([[str(known.placement_id), "2026-03", "7", ""], [str(late.placement_id), "2026-03", "8", ""]])
        partial = await post_file(client, data, accept_valid_rows=True)
        assert (partial.json()["accepted"], partial.json()["rejected"]) == (1, 1)
        assert partial.json()["errors"][0]["message"].startswith("placement inconnu")
        status = (await client.get(f"/hours/imports/{partial.json()['import_id']}")).json()["status"]
        assert status == "partial"
        await apply(client.ctx, "placement.started", late, "matching")
        again = await post_file(client, data)
        assert (again.json()["status"], again.json()["accepted"], again.json()["already_recorded"]) == ("accepted", 1, 1)
        assert again.json()["import_id"] == partial.json()["import_id"]
        assert (await snapshot(client.ctx))["hour_entries"] == 2
        assert (await post_file(client, data)).json()["status"] == "already_imported"


async def test_rows_outside_the_lot_period_and_work_on_a_training_placement_are_refused(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx, start_date=dt.date(2026, 1, 1), end_date=dt.date(2026, 6, 30))
        lot_id = market.lots[0].lot_id
        (worker,) = await seed_placements(client.ctx, lot_id, start_date=dt.date(2026, 1, 1))  # open-ended
        (trainee,) = await seed_placements(client.ctx, lot_id, start_date=dt.date(2026, 1, 1), modality="training",
                                           structure_kind=None, structure_id=None, contract_type="OTHER")
        data = csv_bytes([[str(worker.placement_id), "2026-05", "10", ""], [str(worker.placement_id), "2026-07", "10", ""],
                          [str(trainee.placement_id), "2026-05", "20", ""],
                          [str(trainee.placement_id), "2026-04", "20", "travail"]])
        before = await snapshot(client.ctx)
        refused = await post_file(client, data)
        assert refused.status_code == 422
        assert refused.json()["errors"] == [
            {"row": 3, "column": "mois", "message": "le mois 2026-07 est en dehors de la période du lot (du 01/01/2026 "
                                                    "au 30/06/2026) : seules comptent les heures effectuées sur l'opération"},
            {"row": 5, "column": "type", "message": "ce placement est une formation : il ne déclare que des heures de "
                                                    "formation (type « formation » ou vide), pas des heures de travail"}]
        assert await snapshot(client.ctx) == before

        partial = await post_file(client, data, accept_valid_rows=True)
        assert (partial.json()["accepted"], partial.json()["rejected"]) == (2, 2)
        history = (await client.get("/hours", params={"placement_id": str(trainee.placement_id)})).json()
        assert [(h["month"], h["kind"], h["hours"]) for h in history] == [("2026-05", "training", "20.00")]
        progress = (await client.get(f"/lots/{lot_id}/progress")).json()
        assert progress["realised_hours"] == "30.00"
        # the same rows again: the empty kind is the training placement's, so its row is already recorded
        again = await post_file(client, csv_bytes([[str(trainee.placement_id), "2026-05", "20", ""]]))
        assert (again.json()["accepted"], again.json()["already_recorded"]) == (0, 1)

