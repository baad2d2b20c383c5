"""Benchmark: bulk import of monthly hour statements, stored and published to a real NATS server.

`make bench` (or `.venv/bin/pytest -q -s benchmarks`) prints the throughput and writes var/bench/hours_import.json.
BENCH_ROWS (default 1,000,000) and BENCH_BACKENDS (default "sqlite,postgres"; PostgreSQL when it answers at
TEST_POSTGRES_URL or 127.0.0.1:5432) tune the run. This is a measurement, not a pass/fail timing test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from harness import NatsProcess, free_port, running

from contracts import new_envelope, spec_for
from contracts.events.matching import PlacementStarted
from examples import market_submitted
from services.hours import imports
from services.hours.app import create_app
from services.hours.handlers import HANDLERS

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
MONTHS = 100  # 2018-08 … 2026-11
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
OUT = Path(os.environ.get("VAR_DIR", "var")) / "bench" / "hours_import.json"


def _months(today: dt.date) -> list[str]:
    out, year, month = [], today.year, today.month
    for _ in range(MONTHS):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _backends() -> list[str]:
    return [b.strip() for b in os.environ.get("BENCH_BACKENDS", "sqlite,postgres").split(",") if b.strip()]


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory):
    server = NatsProcess(tmp_path_factory.mktemp("nats"), free_port())
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _database(backend: str, tmp: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'hours.db'}", None
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True) as conn:
            name = f"bench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL injoignable ({exc.__class__.__name__})")
    return f"{PG_ADMIN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}", name


async def _seed(ctx, placements: int) -> list[uuid.UUID]:
    market = market_submitted()
    spec = spec_for("placement.started")
    ids = [uuid.uuid4() for _ in range(placements)]
    async with ctx.db.session() as session, session.begin():
        await HANDLERS[spec_for("market.submitted")](session, market, new_envelope("market.submitted", 1, "market_intake", market))
        for pid in ids:
            event = PlacementStarted(placement_id=pid, lot_id=market.lots[0].lot_id, beneficiary_id=uuid.uuid4(),
                                     employer_siret="55210055400013", structure_kind="ETTI", modality="provision",
                                     contract_type="INTERIM", start_date=dt.date(2018, 1, 1))
            await HANDLERS[spec](session, event, new_envelope("placement.started", 1, "matching", event))
    return ids


def _csv(ids: list[uuid.UUID], months: list[str], rows: int) -> bytes:
    lines = ["placement;mois;heures;type"]
    for n in range(rows):
        lines.append(f"{ids[n % len(ids)]};{months[n // len(ids)]};{(n % 150) + 1},5;travail")
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("backend", _backends())
async def test_bench_import_throughput(backend, nats_url, tmp_path):
    url, pg_name = _database(backend, tmp_path)
    placements = max(1, -(-ROWS // MONTHS))
    try:
        async with running(create_app, database_url=url, nats_url=nats_url, log_level="WARNING") as client:
            ctx = client.ctx
            ids = await _seed(ctx, placements)
            data = _csv(ids, _months(dt.datetime.now(dt.UTC).date()), ROWS)
            started = time.perf_counter()
            answer, status = await imports.import_file(ctx, data, "bench.csv", "bench", accept_valid_rows=False)
            stored = time.perf_counter() - started
            assert status == 200 and answer.accepted == ROWS, answer.detail
            while (await ctx.relay.backlog())[0]:
                await asyncio.sleep(0.05)
            published = time.perf_counter() - started
    finally:
        if pg_name:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    result = {"backend": backend, "rows": ROWS, "bytes": len(data), "stored_seconds": round(stored, 2),
              "stored_and_published_seconds": round(published, 2), "rows_per_second": round(ROWS / published),
              "target_seconds_for_1M": 20}
    print(f"\nimport heures [{backend}] : {ROWS:,} lignes stockées en {stored:.1f} s, publiées en {published:.1f} s "
          f"→ {ROWS / published:,.0f} lignes/s (cible : 1 000 000 en ≤ 20 s)")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    previous[backend] = result
    OUT.write_text(json.dumps(previous, indent=2))
