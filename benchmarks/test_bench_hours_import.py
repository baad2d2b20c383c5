"""Benchmark (issues #5 and #7): 1,000,000 hour rows end to end, and the raw limit of the same database.

The file is sent to the hours service (in-process, `POST /hours/imports`), which stores it and publishes its
`hours.recorded` events to a real nats-server, the only service running: that is issue #5's figure (accepted, stored
and published). Then reporting starts as a real process on the same NATS and the same backend, and the clock stops
again when its projection holds every entry (its `hour_facts` count): file → hours → NATS → projection is issue #7's
end-to-end figure, the two services' times added (on two cores, running them at the same time measured the same
total: both are CPU-bound). In the same run, the same rows are written straight into a twin of `hour_entries` (same
columns, same indexes) of the same database by the fastest bulk path (COPY on PostgreSQL, executemany on SQLite,
`services.hours.bulk`): the raw limit, and the ratio.
The CPU time of the whole machine is read around both phases (`cpu.py`): divided by the cores, it is the shortest
time the same work could take however well the two services overlapped, hence the best end-to-end rate this design
can reach on this machine (the "CPU bound" figure).
BENCH_ROWS (default 1,000,000) and BENCH_BACKENDS (default "sqlite,postgres"; PostgreSQL when it answers at
TEST_POSTGRES_URL or 127.0.0.1:5432) tune the run. A measurement: it fails only when the work itself fails.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import cpu
import psycopg
import pytest
from harness import NatsProcess, declare_streams, free_port, running
from hours.hours_support import post_file, seed_lot, seed_placements
from procs import ServiceProcess
from results import Figure, record
from sqlalchemy import text
from sqlalchemy.engine import make_url

from services.hours import bulk, imports
from services.hours.app import create_app
from services.hours.import_rules import ParsedRow

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
MONTHS = 100  # 2018-08 … 2026-11: each placement has one row per month
PG_ADMIN = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IMPORT_TARGET = 50_000  # rows/s: 1,000,000 rows in 20 s (issue #5)
RATIO_TARGET = 25  # %
# reporting's projection speed is its own (benchmarks/test_bench_reporting.py): past this wait, the end-to-end figure
# is the rate of what it projected so far, so `make bench` stays bounded
PROJECTION_TIMEOUT = float(os.environ.get("BENCH_PROJECTION_TIMEOUT", "60"))
RAW_TABLE = "hour_entries_raw"


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


def _database(backend: str, tmp: Path, name: str = "hours") -> tuple[str, str | None]:
    """(SQLAlchemy URL, PostgreSQL database to drop afterwards or None); skips when PostgreSQL does not answer."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / f'{name}.db'}", None
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3, autocommit=True) as conn:
            pg_name = f"bench_{uuid.uuid4().hex[:8]}"
            conn.execute(f'CREATE DATABASE "{pg_name}"')
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL injoignable ({exc.__class__.__name__})")
    return f"{PG_ADMIN.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://', 1)}/{pg_name}", pg_name


def _drop(pg_names: list[str | None]) -> None:
    for name in filter(None, pg_names):
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _counter(url: str, table: str) -> Callable[[], int]:
    """Counts the rows of a table of another process's database (sync; SQLite file or PostgreSQL)."""
    parsed = make_url(url)
    plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)

    def count() -> int:
        if parsed.get_backend_name() == "sqlite":
            with closing(sqlite3.connect(parsed.database)) as conn:
                return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        with psycopg.connect(plain) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    return count


def _csv(ids: list[uuid.UUID], months: list[str], rows: int) -> bytes:
    lines = ["placement;mois;heures;type"]
    for n in range(rows):
        lines.append(f"{ids[n % len(ids)]};{months[n // len(ids)]};{(n % 150) + 1},5;travail")
    return ("\n".join(lines) + "\n").encode()


async def _seed(ctx) -> list[uuid.UUID]:
    market = await seed_lot(ctx, start_date=dt.date(2018, 1, 1))  # the rows go back to 2018-08
    placements = await seed_placements(ctx, market.lots[0].lot_id, max(1, -(-ROWS // MONTHS)),
                                       start_date=dt.date(2018, 1, 1))
    return [p.placement_id for p in placements]


async def _create_twin_table(ctx) -> None:
    """`hour_entries_raw`: the columns, keys and indexes of `hour_entries`."""
    async with ctx.db.session() as session, session.begin():
        if ctx.db.is_postgres:
            await session.execute(text(f"CREATE TABLE {RAW_TABLE} (LIKE hour_entries INCLUDING ALL)"))
            return
        ddl = (await session.execute(text(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'hour_entries' AND sql IS NOT NULL ORDER BY type DESC"
        ))).scalars().all()  # the table, then its indexes
        for statement in ddl:
            statement = re.sub(r"(INDEX \"?)(\w+)", r"\1\2_raw", statement)
            await session.execute(text(re.sub(r"\bhour_entries\b", RAW_TABLE, statement)))


async def _raw_limit(ctx, ids: list[uuid.UUID], months: list[str]) -> float:
    """Rows/s of the same rows (made by the import's own Preparer, untimed) written straight into the twin table,
    one transaction per chunk of the import's size."""
    await _create_twin_table(ctx)
    _, placements, lots = await imports.load_known(ctx, set(ids))
    prepare = imports.Preparer(ctx, uuid.uuid4(), "bench", placements, lots)
    size, elapsed = ctx.settings.import_chunk_rows, 0.0
    for start in range(0, ROWS, size):
        chunk = [ParsedRow(n + 2, ids[n % len(ids)], months[n // len(ids)], "work", (n % 150) * 100 + 150)
                 for n in range(start, min(start + size, ROWS))]
        _, rows, _, _ = prepare(chunk)
        began = time.perf_counter()
        async with ctx.db.session() as session, session.begin():
            await bulk.insert_entries(session, rows, table=RAW_TABLE)
        elapsed += time.perf_counter() - began
    return ROWS / elapsed


async def _until(check: Callable[[], int], expected: int, timeout: float) -> int:
    """Polls the count until it reaches `expected` or the time is up; returns the last count."""
    deadline = time.monotonic() + timeout
    while (count := await asyncio.to_thread(check)) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return count


@pytest.mark.parametrize("backend", _backends())
async def test_bench_import_end_to_end(backend, nats_url, tmp_path):
    hours_url, hours_pg = _database(backend, tmp_path, "hours")
    reporting_url, reporting_pg = _database(backend, tmp_path, "reporting")
    reporting = ServiceProcess("reporting", tmp_path, nats_url, reporting_url)
    try:
        async with running(create_app, database_url=hours_url, nats_url=nats_url, log_level="WARNING") as client:
            await declare_streams(nats_url)  # MARKETS and MATCHING too: reporting reads them all
            ids = await _seed(client.ctx)
            months = _months(dt.datetime.now(dt.UTC).date())
            data = _csv(ids, months, ROWS)

            cpu_started, started = cpu.busy_seconds(), time.perf_counter()
            response = await post_file(client, data, "bench.csv")
            stored = time.perf_counter() - started
            assert response.status_code == 200 and response.json()["accepted"] == ROWS, response.text[:500]
            while (await client.ctx.relay.backlog())[0]:
                await asyncio.sleep(0.05)
            published = time.perf_counter() - started
            hours_cpu = cpu.busy_seconds() - cpu_started

            cpu_started, started = cpu.busy_seconds(), time.perf_counter()  # reporting's start-up is counted too
            reporting.start()
            await asyncio.to_thread(reporting.wait_ready, 60)
            projected_rows = await _until(_counter(reporting_url, "hour_facts"), ROWS, PROJECTION_TIMEOUT)
            caught_up = time.perf_counter() - started
            reporting_cpu = cpu.busy_seconds() - cpu_started
            assert projected_rows > 0, "reporting n'a rien projeté"
            reporting.stop()  # the raw limit is measured on a quiet machine

            raw = await _raw_limit(client.ctx, ids, months)
    finally:
        reporting.stop()
        _drop([hours_pg, reporting_pg])

    projected = published + caught_up
    print(f"\nimport heures [{backend}] : {ROWS:,} lignes ({len(data) / 1e6:.0f} Mo) stockées en {stored:.1f} s, "
          f"publiées en {published:.1f} s ; puis {projected_rows:,} projetées par reporting en {caught_up:.1f} s")
    end_to_end, in_hours = projected_rows / projected, ROWS / published
    partial = "" if projected_rows == ROWS else f" (partiel : {projected_rows} lignes projetées en {projected:.0f} s)"
    record(f"hours_import.{backend}.end_to_end", Figure(
        end_to_end, "lignes/s", IMPORT_TARGET, limit=raw,
        label=f"Import d'heures [{backend}] fichier → base → NATS → projection reporting{partial}"))
    record(f"hours_import.{backend}.stored_published", Figure(
        in_hours, "lignes/s", IMPORT_TARGET, limit=raw,
        label=f"Import d'heures [{backend}] fichier → base → NATS (service heures, 1M lignes en ≤ 20 s)"))
    record(f"hours_import.{backend}.raw_limit", Figure(
        raw, "lignes/s", label=f"Limite brute [{backend}] mêmes lignes, même base, {'COPY' if backend == 'postgres' else 'executemany'}"))
    print(f"CPU [{backend}] (machine entière) : import {hours_cpu:.1f} cœur·s, projection {reporting_cpu:.1f} cœur·s "
          f"pour {projected_rows:,} lignes ; {cpu.cores()} cœurs")
    bound = projected_rows / ((hours_cpu * projected_rows / ROWS + reporting_cpu) / cpu.cores())
    record(f"hours_import.{backend}.cpu_bound", Figure(
        bound, "lignes/s", IMPORT_TARGET, limit=raw,
        label=f"Borne CPU [{backend}] bout en bout si les deux services se recouvraient parfaitement "
              f"({cpu.cores()} cœurs)"))
    record(f"hours_import.{backend}.ratio", Figure(
        100 * end_to_end / raw, "%", RATIO_TARGET, label=f"Import d'heures [{backend}] bout en bout / limite brute"))
