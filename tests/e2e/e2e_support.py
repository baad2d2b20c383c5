"""The whole product as real processes, and the test's own ledger of what the services accepted.

`System` runs the four services as uvicorn subprocesses (tests/procs.py) on one NATS server, each with its SQLite file,
and gives HTTP clients holding a facilitator's, a buyer's or a funder's token. `settled()` waits until the system is
quiet: every outbox handed to JetStream and every durable consumer caught up.
`Ledger` is written by the test as the services answer; every figure a report should show is computed from it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import nats
from harness import SECRET, TOKEN
from prometheus_client.parser import text_string_to_metric_families
from procs import ServiceProcess

from contracts import STREAMS
from shared.auth import Role, issue_token

SERVICES = ("market_intake", "matching", "hours", "reporting")


def buyer_token(buyer_id: str) -> str:
    return issue_token(SECRET, Role.BUYER, buyer_id=uuid.UUID(buyer_id), subject="ville-de-rennes")


def funder_token() -> str:
    return issue_token(SECRET, Role.FUNDER, subject="dreets-bretagne")


class System:
    """market_intake, matching, hours and reporting as real processes on the NATS server at `nats_url`."""

    def __init__(self, workdir: Path, nats_url: str) -> None:
        self.workdir = workdir
        self.nats_url = nats_url
        self.procs = {name: ServiceProcess(name, workdir, nats_url) for name in SERVICES}
        self.facilitator = {name: self.client(name) for name in SERVICES}  # the bootstrap facilitator's clients

    async def start(self, timeout: float = 180.0) -> None:
        """Start the four processes together; the timeout only guards against a service that never gets ready
        (starting four Python processes on a busy 2-core machine has taken up to two minutes)."""
        for proc in self.procs.values():
            proc.start()
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready, timeout) for p in self.procs.values()))

    async def close(self) -> None:
        for client in self.facilitator.values():
            await client.aclose()
        for proc in self.procs.values():
            proc.stop()

    def client(self, service: str, token: str = TOKEN) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.procs[service].url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30)

    async def ready_checks(self) -> dict[str, dict]:
        """Each service's /health/ready checks (database, outbox backlog, pending dead letters, NATS)."""
        async def one(name: str) -> dict:
            async with self.client(name) as c:
                r = await c.get("/health/ready")
                assert r.status_code == 200, f"{name} : {r.text}"
                return r.json()["checks"]

        checks = await asyncio.gather(*(one(name) for name in SERVICES))
        return dict(zip(SERVICES, checks, strict=True))

    async def metrics(self, service: str) -> dict[str, float]:
        """The service's Prometheus samples, summed over labels: {sample name: value}."""
        async with self.client(service) as c:
            text = (await c.get("/metrics")).text
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
        return out

    async def busy_consumers(self) -> list[str]:
        """Durable consumers with messages left to deliver or awaiting their ack, as "STREAM/durable: n"."""
        nc = await nats.connect(self.nats_url)
        try:
            js = nc.jetstream()
            return [f"{stream}/{info.name}: {info.num_pending} + {info.num_ack_pending}"
                    for stream in STREAMS for info in await js.consumers_info(stream)
                    if info.num_pending or info.num_ack_pending]
        finally:
            await nc.close()

    async def backlogs(self) -> list[str]:
        return [f"outbox {name}: {c['outbox_backlog']}" for name, c in (await self.ready_checks()).items()
                if c["outbox_backlog"]]

    async def settled(self, timeout: float = 60.0) -> None:
        """Wait until every event produced so far has been published and applied by every consumer.
        Consumers are checked on both sides of the outboxes: a handler commits its events before its ack."""
        deadline = time.monotonic() + timeout
        busy: list[str] = []
        while time.monotonic() < deadline:
            busy = await self.busy_consumers() or await self.backlogs() or await self.busy_consumers()
            if not busy:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"système pas au repos en {timeout}s : {busy}")

    def leftovers(self) -> dict[str, tuple[int, int]]:
        """Read in each service's SQLite file: (outbox rows not yet published, dead letters ever written)."""
        out = {}
        for name in SERVICES:
            with closing(sqlite3.connect(f"file:{self.workdir / f'{name}.db'}?mode=ro", uri=True)) as db:
                unpublished = db.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0]
                out[name] = (unpublished, db.execute("SELECT count(*) FROM dead_letters").fetchone()[0])
        return out


# ---- monthly statements -------------------------------------------------------------------------------------------
def french_csv(title: str, rows: Iterable[tuple[str, str, str, str]]) -> bytes:
    """A statement as a spreadsheet exports it: a title row (its empty cells kept), French headers, semicolons,
    decimal commas, BOM."""
    lines = [f"{title};;;", "N° placement;Mois;Nombre d'heures;Nature", *(";".join(r) for r in rows)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


def upload(data: bytes, filename: str) -> dict:
    return {"files": {"file": (filename, io.BytesIO(data), "text/csv")}}


# ---- the ledger ---------------------------------------------------------------------------------------------------
TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Lot:
    id: str
    market_id: str
    buyer_id: str
    sector: str
    clause_kind: str
    owed_hours: Decimal
    company_siret: str
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class Person:
    """The pseudonymous profile a report may use (never the identity)."""

    gender: str
    birth_year: int
    commune: str
    qpv: bool
    education_level: str
    criteria: tuple[str, ...]

    def age_band(self, year: int) -> str:
        age = year - self.birth_year
        return "<26" if age < 26 else "26-49" if age < 50 else "50+"


@dataclass(frozen=True)
class Placement:
    id: str
    person: str
    lot: Lot
    modality: str
    contract_type: str
    structure_id: str | None
    structure_kind: str | None
    start: dt.date


@dataclass(frozen=True)
class Entry:
    placement: Placement
    month: str
    kind: str
    hours: Decimal


@dataclass
class Ledger:
    """What the services accepted, as the test saw it. Hours are keyed by (placement, month, kind): the current
    value, a correction replacing it."""

    people: dict[str, Person] = field(default_factory=dict)
    placements: dict[str, Placement] = field(default_factory=dict)
    hours: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)
    exits: dict[str, str] = field(default_factory=dict)  # placement id -> exit category

    def record(self, placement_id: str, month: str, kind: str, hours: Decimal) -> None:
        assert (placement_id, month, kind) not in self.hours, "déjà saisi : ce serait une correction"
        self.hours[(placement_id, month, kind)] = hours

    def correct(self, placement_id: str, month: str, kind: str, hours: Decimal) -> None:
        assert (placement_id, month, kind) in self.hours
        self.hours[(placement_id, month, kind)] = hours

    def entries(self, first: str = "0000-00", last: str = "9999-99", lot: Lot | None = None) -> list[Entry]:
        return [Entry(self.placements[pid], month, kind, h) for (pid, month, kind), h in self.hours.items()
                if first <= month <= last and (lot is None or self.placements[pid].lot == lot)]

    def total(self, first: str = "0000-00", last: str = "9999-99", lot: Lot | None = None) -> Decimal:
        return sum((e.hours for e in self.entries(first, last, lot)), Decimal(0))

    def hours_by(self, key: Callable[[Entry], str | None], first: str, last: str) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for e in self.entries(first, last):
            k = key(e) or "none"
            out[k] = out.get(k, Decimal(0)) + e.hours
        return out

    def reached(self, first: str, last: str) -> set[str]:
        """People with counted hours in the months [first, last]."""
        return {e.placement.person for e in self.entries(first, last) if e.hours > 0}

    def new_people(self, first: str, last: str) -> set[str]:
        return self.reached(first, last) - self.reached("0000-00", _month_before(first))

    def people_by(self, key: Callable[[Person], str], first: str, last: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for pid in self.reached(first, last):
            k = key(self.people[pid])
            out[k] = out.get(k, 0) + 1
        return out

    def categories(self, first: str, last: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for pid in self.reached(first, last):
            for code in self.people[pid].criteria:
                out[code] = out.get(code, 0) + 1
        return out


def _month_before(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if mon == 1 else f"{year}-{mon - 1:02d}"


def months_from(first: dt.date, last: dt.date) -> int:
    """Calendar months from `first`'s to `last`'s, both included (0 when last is before first)."""
    return max(0, (last.year - first.year) * 12 + last.month - first.month + 1)


def percent(part: Decimal, whole: Decimal) -> Decimal:
    return (part * 100 / whole).quantize(Decimal("0.1"), ROUND_HALF_UP)


def as_decimals(rows: list[dict], value: str = "hours") -> dict[str, Decimal]:
    """A report breakdown [{key, label, <value>}] as {key: Decimal}."""
    return {r["key"]: Decimal(str(r[value])) for r in rows}


def as_counts(rows: list[dict]) -> dict[str, int | str]:
    return {r["key"]: r["people"] for r in rows}
