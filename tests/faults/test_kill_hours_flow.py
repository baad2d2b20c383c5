"""Fault injection on the hours flow, all four services as processes: while thousands of hour entries come in
(imported files, single entries, corrections), kill -9 hours, reporting, matching and the NATS server at random
moments and restart them. Then the report totals (over the period and per lot) equal the accepted entries exactly
(nothing lost, nothing doubled), no outbox row stays unpublished and no dead letter was written."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import httpx
from chaos import chaos, consumers_idle, leftovers, request
from harness import eventually
from procs import ServiceProcess

from examples import buyer_request, market_request
from hours.hours_support import csv_bytes  # tests/ is on the path: the other folders' helpers, by folder
from matching.matching_support import AI_SIRET, COMPANY_SIRET, beneficiary, structure

SEED = 7
KILLS_EACH = 2
PEOPLE = 11
LOTS_PER_MARKET = 3
MONTHS = [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)][:23]  # 2025-01 … 2026-11 (the past)
SINGLE_MONTH = MONTHS[-1]  # work hours of that month are entered one by one, the rest comes in files
FILE_ROWS = 300
CORRECTIONS = 12
START = "2025-01-06"

Key = tuple[str, str, str]  # placement id, month, kind


def hours_text(hundredths: int) -> str:
    return f"{hundredths // 100}.{hundredths % 100:02d}"


async def setup(intake: ServiceProcess, matching: ServiceProcess, hours: ServiceProcess) -> dict[str, str]:
    """A buyer, two markets of LOTS_PER_MARKET lots, awarded; an AI; people placed part time on every lot (half
    through the AI, half hired directly). Returns {placement id: lot id} once hours knows every placement and lot."""
    async with intake.client() as client:
        buyer_id = (await client.post("/buyers", json=buyer_request())).json()["id"]
        lots = []
        for m in range(2):
            body = market_request(buyer_id, f"F-2025-00{m}", start_date=START, end_date="2027-06-30")
            body["lots"] += [{**body["lots"][0], "number": n, "title": f"Lot {n}", "sector": "second_oeuvre"}
                             for n in range(2, LOTS_PER_MARKET + 1)]
            created = await client.post("/markets", json=body)
            assert created.status_code == 201, created.text
            lots += [lot["id"] for lot in created.json()["lots"]]
        for lot_id in lots:
            awarded = await client.post(f"/lots/{lot_id}/award", json={
                "company_siret": COMPANY_SIRET, "company_name": "Bâtiments d'Armor", "amount_eur": "900000"})
            assert awarded.status_code == 200, awarded.text

    criteria = [{"code": "RSA", "proof_type": "attestation CAF", "checked_on": "2025-01-02",
                 "prescriber": "Département d'Ille-et-Vilaine"}]
    placements: dict[str, str] = {}
    async with matching.client() as client:
        ai = await client.post("/structures", json=structure(AI_SIRET, "AI", sectors=["gros_oeuvre", "second_oeuvre"],
                                                             capacity=1000))
        assert ai.status_code == 201, ai.text
        via_ai = {"structure_id": ai.json()["id"], "modality": "provision", "employer_siret": AI_SIRET,
                  "contract_type": "CDDI"}
        direct = {"modality": "direct_hire", "employer_siret": COMPANY_SIRET, "contract_type": "CDD"}

        async def place(body: dict) -> None:
            async def placed() -> str | None:  # the award may still be on its way to matching
                r = await client.post("/placements", json=body)
                assert r.status_code in (201, 404, 409), r.text
                return r.json()["id"] if r.status_code == 201 else None

            placements[await eventually(placed, timeout=60, interval=0.2)] = body["lot_id"]

        for n in range(PEOPLE):
            person = await client.post("/beneficiaries", json=beneficiary(
                "Personne", f"Le Bihan {n}", f"19{60 + n}-03-1{n % 10}", criteria=criteria))
            assert person.status_code == 201, person.text
            await asyncio.gather(*(place({"lot_id": lot_id, "beneficiary_id": person.json()["id"], "full_time": False,
                                          "start_date": START, **(via_ai if n % 2 else direct)}) for lot_id in lots))

    unknown = {f"/lots/{lot_id}/progress" for lot_id in lots} | {f"/hours?placement_id={p}" for p in placements}
    async with hours.client() as client:
        async def known() -> bool:
            for path in sorted(unknown):
                if (await client.get(path)).status_code == 200:
                    unknown.discard(path)
            return not unknown

        await eventually(known, timeout=60, interval=0.5)
    return placements


def intended(rng: random.Random, placements: dict[str, str]) -> dict[Key, int]:
    """Work hours (up to 150 h) and training hours (up to the 35 h cap) every month of every placement."""
    return {(p, month, kind): rng.randint(100, 15000 if kind == "work" else 3500)
            for p in sorted(placements) for month in MONTHS for kind in ("work", "training")}


async def import_files(hours: ServiceProcess, rows: list[Key], wanted: dict[Key, int]) -> int:
    """Import `rows` in files of FILE_ROWS rows, re-sending a file until it is in (as a user would after an error),
    then the first file once more. Returns how many answers said "already imported"."""
    files = [csv_bytes([[p, month, hours_text(wanted[p, month, kind]), "formation" if kind == "training" else ""]
                        for p, month, kind in rows[i:i + FILE_ROWS]])
             for i in range(0, len(rows), FILE_ROWS)]
    already = 0
    for n, data in enumerate([*files, files[0]]):
        while True:
            r = await request(hours, "POST", "/hours/imports", files={"file": (f"releve-{n}.csv", data)})
            if r.status_code == 409:  # the interrupted import still running, or a chunk raced it: send it again
                await asyncio.sleep(0.2)
                continue
            assert r.status_code == 200, r.text
            assert r.json()["rejected"] == 0, r.text
            already += r.json()["status"] == "already_imported"
            break
    return already


async def current_entry(hours: ServiceProcess, placement_id: str, month: str, kind: str) -> dict:
    history = (await request(hours, "GET", "/hours", params={"placement_id": placement_id})).json()
    return next(e for e in history if (e["month"], e["kind"], e["current"]) == (month, kind, True))


async def single_entries_and_corrections(rng: random.Random, hours: ServiceProcess, keys: list[Key],
                                         wanted: dict[Key, int]) -> None:
    """POST /hours one by one; then correct some of them. A 409 after a retry means the first attempt committed."""
    entry_ids: dict[Key, str] = {}
    for key in keys:
        p, month, kind = key
        r = await request(hours, "POST", "/hours", json={"placement_id": p, "month": month, "kind": kind,
                                                        "hours": hours_text(wanted[key])})
        assert r.status_code in (201, 409), r.text
        entry_ids[key] = r.json()["id"] if r.status_code == 201 else (await current_entry(hours, *key))["id"]
    for key in rng.sample(keys, CORRECTIONS):
        wanted[key] = rng.randint(0, 15000)
        r = await request(hours, "POST", f"/hours/{entry_ids[key]}/corrections",
                          json={"hours": hours_text(wanted[key]), "reason": "relevé rectifié par l'employeur"})
        assert r.status_code in (201, 409), r.text  # 409: "déjà corrigée", by the attempt a kill interrupted


async def recorded(hours: ServiceProcess, placements: dict[str, str]) -> dict[Key, int]:
    """The current entries as hours holds them: the source of truth of what was accepted."""
    found: dict[Key, int] = {}
    for p in placements:
        for e in (await request(hours, "GET", "/hours", params={"placement_id": p})).json():
            if e["current"]:
                found[p, e["month"], e["kind"]] = int(Decimal(e["hours"]) * 100)
    return found


async def reported(reporting: ServiceProcess) -> tuple[Decimal, dict[str, Decimal]]:
    """Hours over 2025 and 2026, in total and per lot, from the annual reports."""
    total, per_lot = Decimal(0), defaultdict(Decimal)
    for year in (2025, 2026):
        report = (await request(reporting, "GET", "/reports/annual", params={"year": year})).json()
        total += Decimal(str(report["totals"]["hours"]))
        for row in report["hours_by"]["lot"]:
            per_lot[row["key"]] += Decimal(str(row["hours"]))
    return total, dict(per_lot)


async def test_kill_9_hours_reporting_matching_and_nats_loses_and_doubles_no_hour(tmp_path: Path, nats_server):
    rng = random.Random(SEED)
    fast_consumers = {"consumer_ack_wait_seconds": "3"}  # what a killed consumer held comes back quickly
    intake = ServiceProcess("market_intake", tmp_path, nats_server.url)
    matching = ServiceProcess("matching", tmp_path, nats_server.url, **fast_consumers)
    hours = ServiceProcess("hours", tmp_path, nats_server.url, import_chunk_rows="100", **fast_consumers)
    reporting = ServiceProcess("reporting", tmp_path, nats_server.url, **fast_consumers)
    services = [intake, matching, hours, reporting]
    for s in services:
        s.start()
    phases: dict[str, float] = {}
    clock = time.monotonic()

    def phase(name: str) -> None:
        nonlocal clock
        phases[name], clock = round(time.monotonic() - clock, 1), time.monotonic()

    try:
        for s in services:
            await asyncio.to_thread(s.wait_ready, 120)
        placements = await setup(intake, matching, hours)
        phase("setup")
        wanted = intended(rng, placements)
        singles = [k for k in wanted if k[1] == SINGLE_MONTH and k[2] == "work"]
        in_files = [k for k in wanted if k not in set(singles)]
        rng.shuffle(in_files)

        done = asyncio.Event()

        async def workload() -> int:
            try:
                already, _ = await asyncio.gather(import_files(hours, in_files, wanted),
                                                  single_entries_and_corrections(rng, hours, singles, wanted))
                return already
            finally:
                done.set()

        victims = {"hours": hours, "reporting": reporting, "matching": matching, "nats": nats_server}
        already, kills = await asyncio.wait_for(asyncio.gather(workload(), chaos(rng, victims, done, KILLS_EACH)),
                                                timeout=300)
        phase("workload under chaos")
        assert min(kills.values()) >= KILLS_EACH, kills
        assert already >= 1  # the file sent twice on purpose added nothing the second time

        # What hours accepted is exactly what the workload meant: every entry once, corrections applied.
        assert len(wanted) > 3000
        assert await recorded(hours, placements) == wanted

        async def settled() -> bool:
            return leftovers(tmp_path / "hours.db")["outbox_unpublished"] == 0 and await consumers_idle(nats_server.url)

        await eventually(settled, timeout=120, interval=0.5)
        phase("settling")
        total, per_lot = await reported(reporting)
        expected_per_lot: dict[str, Decimal] = defaultdict(Decimal)
        for (p, _, _), hundredths in wanted.items():
            expected_per_lot[placements[p]] += Decimal(hundredths) / 100
        assert total == sum(expected_per_lot.values())
        assert per_lot == {lot: h for lot, h in expected_per_lot.items() if h}
        for s in services:
            assert leftovers(tmp_path / f"{s.name}.db") == {"outbox_unpublished": 0, "dead_letters": 0}, s.name
        print(f"{len(wanted)} entrées, arrêts {kills}, durées {phases}")
    except (AssertionError, httpx.HTTPError, TimeoutError):
        for s in services:
            print(f"--- {s.name} ---\n{s.log_tail(40)}")
        raise
    finally:
        for s in services:
            s.stop()
