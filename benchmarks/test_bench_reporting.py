"""Benchmark of reporting (issues #6 and #7, items 4 and 5): rebuild rate and report latency over 1,000,000 entries.

A real nats-server holds a generated history (markets with hundreds of lots, thousands of people and placements,
1,000,000 hour entries over 100 months in `hours.recorded` events of 1000 entries). The projection is loaded by the
rebuild itself (`services.reporting.rebuild.rebuild`, the code behind `POST /admin/rebuild`, live consumers stopped so
it is measured alone), which gives the rebuild rate; then the quarterly report is asked through HTTP (in-process
ASGI) several times, warm, and its median JSON latency and its XLSX time are recorded.
Runs on SQLite, and on PostgreSQL when it answers (BENCH_BACKENDS, as the other benchmarks). BENCH_ENTRIES (default
1,000,000) scales the history down for a quick look.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import statistics
import time
import uuid

import nats
import psycopg
import pytest
from harness import declare_streams, running
from results import Figure, record
from test_bench_hours_import import PG_ADMIN, _backends, _database, nats_url  # noqa: F401 - shared fixture

from contracts import spec_for
from services.reporting.app import create_app
from services.reporting.rebuild import rebuild

ENTRIES = int(os.environ.get("BENCH_ENTRIES", "1000000"))
PER_EVENT = 1000
MONTHS = [f"{y:04d}-{m:02d}" for y in range(2018, 2027) for m in range(1, 13)][7:107]  # 2018-08 … 2026-11
BUYERS, MARKETS, LOTS_PER_MARKET, PEOPLE, ACTIVE_MONTHS = 6, 120, 3, 6000, 40
YEAR, QUARTER = 2024, 2
TARGETS = {"sqlite": {"quarterly_ms": 500}, "postgres": {"quarterly_ms": 200}}
XLSX_TARGET_MS, REBUILD_TARGET = 3000, 20000
NOW = "2026-11-30T12:00:00+00:00"


def _envelope(event_type: str, producer: str, data: dict) -> tuple[str, bytes, str]:
    event_id = str(uuid.uuid4())
    body = {"event_id": event_id, "event_type": event_type, "event_version": 1, "occurred_at": NOW,
            "producer": producer, "correlation_id": None, "data": data}
    return spec_for(event_type, producer=producer).subject, json.dumps(body).encode(), event_id


def history(entries: int, seed: int = 6) -> tuple[list[tuple[str, bytes, str]], int]:
    """The events as the producers would have published them (raw JSON, built without pydantic to be quick)."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes, str]] = []
    buyers = [(str(uuid.uuid4()), f"Acheteur {b}") for b in range(BUYERS)]
    lots: list[dict] = []
    for m in range(MARKETS):
        buyer_id, buyer_name = buyers[m % BUYERS]
        market_id = str(uuid.uuid4())
        market_lots = [{
            "lot_id": str(uuid.uuid4()), "market_id": market_id, "buyer_id": buyer_id, "number": n,
            "title": f"Lot {n}", "sector": "gros_oeuvre", "clause_kind": "execution_condition", "method": "rate",
            "amount_eur": "500000", "start_date": f"{MONTHS[rng.randrange(60)]}-01",
            "end_date": f"{MONTHS[-1]}-28", "owed_hours": str(rng.randint(2000, 20000)), "status": "submitted",
            "version": 1,
        } for n in range(1, LOTS_PER_MARKET + 1)]
        out.append(_envelope("market.submitted", "market_intake", {
            "market_id": market_id, "buyer_id": buyer_id, "buyer_name": buyer_name, "buyer_kind": "collectivite",
            "reference": f"M{m:04d}", "title": f"Marché {m}", "cpv_code": "45214200", "commune_insee": "35238",
            "lots": market_lots}))
        for i, lot in enumerate(market_lots):
            siret = f"{55210055400000 + len(lots)}"
            lot = {**lot, "status": "awarded", "version": 2, "company_siret": siret, "company_name": f"E{i}"}
            out.append(_envelope("lot.awarded", "market_intake", {
                "lot": lot, "company_siret": siret, "company_name": f"E{i}", "awarded_amount_eur": "500000"}))
            lots.append(lot)
    structures = []
    for i, kind in enumerate(["EI", "ETTI", "AI", "ACI", "GEIQ", "PLIE"] * 3):
        s = {"structure_id": str(uuid.uuid4()), "siret": f"{44306184100000 + i}", "name": f"Structure {i}",
             "kind": kind, "sectors": ["gros_oeuvre"], "communes": ["35238"], "capacity": 20}
        structures.append(s)
        out.append(_envelope("structure.registered", "matching", s))
    placements = []
    for p in range(PEOPLE):
        person = str(uuid.uuid4())
        out.append(_envelope("beneficiary.enrolled", "matching", {
            "beneficiary_id": person, "gender": rng.choice("FMM"), "birth_year": rng.randint(1960, 2005),
            "commune_insee": "35238", "qpv": rng.random() < 0.25, "education_level": "cap_bep",
            "categories": rng.sample(["DELD", "RSA", "RQTH"], rng.randint(0, 2)), "enrolled_on": "2018-01-01"}))
        lot, s = rng.choice(lots), rng.choice(structures)
        first = rng.randrange(len(MONTHS) - ACTIVE_MONTHS)
        placement = {"placement_id": str(uuid.uuid4()), "lot_id": lot["lot_id"], "beneficiary_id": person,
                     "employer_siret": s["siret"], "structure_id": s["structure_id"], "structure_kind": s["kind"],
                     "modality": "provision", "contract_type": "CDDI", "start_date": f"{MONTHS[first]}-01",
                     "end_date": None}
        out.append(_envelope("placement.started", "matching", placement))
        placements.append((placement, lot, first))
    batch: list[dict] = []
    for n in range(entries):
        placement, lot, first = placements[n % PEOPLE]
        batch.append({
            "entry_id": str(uuid.uuid4()), "placement_id": placement["placement_id"],
            "beneficiary_id": placement["beneficiary_id"], "lot_id": lot["lot_id"], "market_id": lot["market_id"],
            "buyer_id": lot["buyer_id"], "employer_siret": placement["employer_siret"],
            "structure_id": placement["structure_id"], "structure_kind": placement["structure_kind"],
            "modality": "provision", "month": MONTHS[first + (n // PEOPLE) % ACTIVE_MONTHS],
            "hours": f"{(n % 35) + 1}.5", "kind": "work"})
        if len(batch) == PER_EVENT:
            out.append(_envelope("hours.recorded", "hours", {"entries": batch}))
            batch = []
    if batch:
        out.append(_envelope("hours.recorded", "hours", {"entries": batch}))
    return out, entries


async def publish(url: str, events: list[tuple[str, bytes, str]], window: int = 256) -> None:
    """Bulk insert into JetStream: a window of publishes in flight, their acks awaited together."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for i in range(0, len(events), window):
            await asyncio.gather(*(js.publish(subject, body, headers={"Nats-Msg-Id": event_id}, timeout=30)
                                   for subject, body, event_id in events[i:i + window]))
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def stream_url(nats_url):  # noqa: F811 - the module-scoped nats-server of the benchmarks
    events, _ = history(ENTRIES)

    async def fill() -> None:
        await declare_streams(nats_url)
        started = time.perf_counter()
        await publish(nats_url, events)
        print(f"\n{len(events):,} événements ({ENTRIES:,} saisies d'heures) publiés en "
              f"{time.perf_counter() - started:.1f} s")

    asyncio.run(fill())
    return nats_url, len(events)


async def _timed(call) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


@pytest.mark.parametrize("backend", _backends())
async def test_bench_reporting(backend, stream_url, tmp_path):
    url, published = stream_url
    database, pg_name = _database(backend, tmp_path, "reporting")
    try:
        async with running(create_app, database_url=database, nats_url=url, log_level="WARNING") as client:
            await client.ctx.bus.stop()  # no live consumer: the rebuild alone loads the projection
            await client.ctx.relay.stop()  # (nor the idle outbox relay, which would queue behind it on SQLite)
            cpu = time.process_time()
            result = await rebuild(client.ctx)
            cpu = time.process_time() - cpu  # this process only (not PostgreSQL's): shows what a busy machine hides
            assert result.events == published and result.skipped == 0
            params = {"year": YEAR, "quarter": QUARTER}

            async def quarterly(fmt: str = "json") -> None:
                response = await client.get("/reports/quarterly", params={**params, "format": fmt})
                assert response.status_code == 200, response.text

            first = await _timed(quarterly)
            json_ms = statistics.median([await _timed(quarterly) for _ in range(7)])
            xlsx_ms = statistics.median([await _timed(lambda: quarterly("xlsx")) for _ in range(3)])
            report = (await client.get("/reports/quarterly", params=params)).json()
            assert report["totals"]["people"] > 0 and report["totals"]["hours"] > 0
    finally:
        if pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    facts_per_second = (published - ENTRIES // PER_EVENT + ENTRIES) / result.seconds
    print(f"\nbilans [{backend}] : reconstruction de {published:,} événements ({ENTRIES:,} saisies) en "
          f"{result.seconds:.1f} s ({cpu:.1f} s de CPU) ; bilan trimestriel 1er appel {first:.0f} ms, médian {json_ms:.0f} ms ; "
          f"XLSX {xlsx_ms:.0f} ms")
    record(f"reporting.{backend}.quarterly_ms", Figure(
        json_ms, "ms", TARGETS[backend]["quarterly_ms"], higher_is_better=False,
        label=f"Bilan trimestriel JSON sur {ENTRIES:,} saisies [{backend}] (médiane, à chaud)"))
    record(f"reporting.{backend}.xlsx_ms", Figure(
        xlsx_ms, "ms", XLSX_TARGET_MS, higher_is_better=False,
        label=f"Bilan trimestriel XLSX sur {ENTRIES:,} saisies [{backend}]"))
    record(f"reporting.{backend}.rebuild_rate", Figure(
        facts_per_second, "événements/s", REBUILD_TARGET,
        label=f"Reconstruction [{backend}] (une saisie d'heures comptée comme un événement)"))
    record(f"reporting.{backend}.rebuild_rate_per_cpu_second", Figure(
        (published - ENTRIES // PER_EVENT + ENTRIES) / cpu, "événements/s",
        label=f"Reconstruction [{backend}] par seconde de CPU du service (hors serveur PostgreSQL)"))
    record(f"reporting.{backend}.rebuild_messages_rate", Figure(
        published / result.seconds, "messages/s",
        label=f"Reconstruction [{backend}] : messages NATS appliqués par seconde"))
