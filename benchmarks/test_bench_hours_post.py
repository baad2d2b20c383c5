"""Benchmark (issue #7, item 3): single entries, `POST /hours`, under concurrency, against a real uvicorn process.

The hours database is seeded first (lots and placements, through the service's own handlers), then the service runs
as a process (tests/procs.py) on a real nats-server and BENCH_POST_CLIENTS concurrent clients (default 32, keep-alive
connections) send new entries for BENCH_POST_SECONDS (default 8): sustained rate of accepted entries, p50/p99
latency. Every answer must be 201 (each entry is a new placement × month). Runs on SQLite, and on PostgreSQL when
it answers (BENCH_BACKENDS, as the other benchmarks).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest
from harness import TOKEN, declare_streams, running
from hours.hours_support import seed_lot, seed_placements
from procs import ServiceProcess
from results import Figure, record
from test_bench_hours_import import _backends, _database, _drop, _months, nats_url  # noqa: F401 - shared fixture

from services.hours.app import create_app

CLIENTS = int(os.environ.get("BENCH_POST_CLIENTS", "32"))
SECONDS = float(os.environ.get("BENCH_POST_SECONDS", "8"))
LOTS, PLACEMENTS_PER_LOT = 20, 100  # 2,000 placements × 100 months: room for 200,000 new entries
RATE_TARGET, P99_TARGET_MS = 1000, 100


async def _seed(url: str, nats_url: str) -> list[str]:
    async with running(create_app, database_url=url, nats_url=nats_url, log_level="WARNING") as client:
        market = await seed_lot(client.ctx, LOTS)
        ids = []
        for lot in market.lots:
            placements = await seed_placements(client.ctx, lot.lot_id, PLACEMENTS_PER_LOT, start_date=dt.date(2018, 1, 1))
            ids += [str(p.placement_id) for p in placements]
    return ids


async def _load(service: ServiceProcess, bodies: Iterator[dict[str, str]]) -> tuple[list[float], dict[int, int], float]:
    """CLIENTS loops posting the next body until the time is up: (latencies in s, count per status, elapsed)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=service.url, headers={"Authorization": f"Bearer {TOKEN}"}, limits=limits,
                                 timeout=30) as client:
        started = time.perf_counter()
        deadline = started + SECONDS

        async def worker() -> None:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                response = await client.post("/hours", json=next(bodies))
                latencies.append(time.perf_counter() - began)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        return latencies, statuses, time.perf_counter() - started


@pytest.mark.parametrize("backend", _backends())
async def test_bench_single_entries(backend, nats_url, tmp_path):
    url, pg_name = _database(backend, tmp_path)
    service = ServiceProcess("hours", tmp_path, nats_url, url)
    try:
        ids = await _seed(url, nats_url)
        months = _months(dt.datetime.now(dt.UTC).date())
        bodies = iter({"placement_id": p, "month": m, "hours": "7"} for m in months for p in ids)
        await declare_streams(nats_url)  # hours reads MARKETS and MATCHING: ready once they exist
        service.start()
        await asyncio.to_thread(service.wait_ready, 60)
        async with service.client() as warm:  # first connections, first queries
            for _ in range(20):
                assert (await warm.post("/hours", json=next(bodies))).status_code == 201
        latencies, statuses, elapsed = await _load(service, bodies)
    finally:
        service.stop()
        _drop([pg_name])
    assert set(statuses) == {201}, f"réponses : {statuses} ; {service.log_tail()}"

    rate = len(latencies) / elapsed
    cuts = statistics.quantiles(latencies, n=100)
    p50, p99 = cuts[49] * 1000, cuts[98] * 1000
    print(f"\nPOST /hours [{backend}] : {len(latencies)} saisies en {elapsed:.1f} s par {CLIENTS} clients → "
          f"{rate:,.0f}/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    record(f"hours_post.{backend}.rate", Figure(
        rate, "saisies/s", RATE_TARGET, label=f"Saisie unitaire POST /hours [{backend}] débit soutenu, {CLIENTS} clients"))
    record(f"hours_post.{backend}.p50_ms", Figure(
        p50, "ms", higher_is_better=False, label=f"Saisie unitaire POST /hours [{backend}] latence p50"))
    record(f"hours_post.{backend}.p99_ms", Figure(
        p99, "ms", P99_TARGET_MS, higher_is_better=False, label=f"Saisie unitaire POST /hours [{backend}] latence p99"))
