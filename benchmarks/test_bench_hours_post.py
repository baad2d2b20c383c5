"""Benchmark (issue #7, item 3): single entries, `POST /hours`, under concurrency, against a real uvicorn process.

The hours database is seeded first (lots and placements, through the service's own handlers), then the service runs
as a process (tests/procs.py) on a real nats-server and BENCH_POST_CLIENTS concurrent clients (default 32, keep-alive
connections; benchmarks/loadgen.py, a lean client, so the load generator does not eat the shared cores) send new
entries for BENCH_POST_SECONDS (default 8): sustained rate of accepted entries, p50/p99 latency. Every answer must be 201 (each entry is a new placement × month). Runs on SQLite, and on PostgreSQL when
it answers (BENCH_BACKENDS, as the other benchmarks).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import time

import pytest
from harness import TOKEN, declare_streams, running
from hours.hours_support import seed_lot, seed_placements
from loadgen import post_for
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
        market = await seed_lot(client.ctx, LOTS, start_date=dt.date(2018, 1, 1))  # entries go back to 2018
        ids = []
        for lot in market.lots:
            placements = await seed_placements(client.ctx, lot.lot_id, PLACEMENTS_PER_LOT, start_date=dt.date(2018, 1, 1))
            ids += [str(p.placement_id) for p in placements]
    return ids


@pytest.mark.parametrize("backend", _backends())
async def test_bench_single_entries(backend, nats_url, tmp_path):
    url, pg_name = _database(backend, tmp_path)
    service = ServiceProcess("hours", tmp_path, nats_url, url)
    try:
        ids = await _seed(url, nats_url)
        months = _months(dt.datetime.now(dt.UTC).date())
        bodies = ({"placement_id": p, "month": m, "hours": "7"} for m in months for p in ids)
        await declare_streams(nats_url)  # hours reads MARKETS and MATCHING: ready once they exist
        service.start()
        await asyncio.to_thread(service.wait_ready, 60)
        async with service.client() as warm:  # first connections, first queries
            for _ in range(20):
                assert (await warm.post("/hours", json=next(bodies))).status_code == 201
        load = await post_for("127.0.0.1", service.port, "/hours", (json.dumps(b).encode() for b in bodies),
                              {"Authorization": f"Bearer {TOKEN}"}, clients=CLIENTS, seconds=SECONDS)
    finally:
        service.stop()
        _drop([pg_name])
    assert set(load.statuses) == {201}, f"réponses : {load.statuses} {load.samples} ; {service.log_tail()}"
    latencies, elapsed = load.latencies, load.elapsed

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
