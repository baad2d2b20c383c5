"""Helpers of the fault tests: kill -9 processes at random moments and restart them, clients that retry as a user
would, and what a process left behind in its SQLite database."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import httpx
import nats
from procs import ServiceProcess


class Victim(Protocol):
    def kill(self) -> None: ...

    def start(self) -> None: ...


async def chaos(rng: random.Random, victims: Mapping[str, Victim], done: asyncio.Event, kills_each: int,
                pause: tuple[float, float] = (0.2, 0.8), down: tuple[float, float] = (0.05, 0.4)) -> dict[str, int]:
    """Kill -9 every victim `kills_each` times in a random order, then random victims until the workload is `done`:
    each time after a random `pause`, left down a random moment, then restarted (a service: until it answers ready
    again). Returns the number of kills of each victim."""
    kills = dict.fromkeys(victims, 0)
    schedule = [name for name in sorted(victims) for _ in range(kills_each)]
    rng.shuffle(schedule)
    while schedule or not done.is_set():
        await asyncio.sleep(rng.uniform(*pause))
        name = schedule.pop() if schedule else rng.choice(sorted(victims))
        victim = victims[name]
        kills[name] += 1
        victim.kill()
        await asyncio.sleep(rng.uniform(*down))
        await asyncio.to_thread(victim.start)
        if isinstance(victim, ServiceProcess):
            await asyncio.to_thread(victim.wait_ready, 120)
    return kills


async def request(service: ServiceProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One HTTP call to a service that may be down for a moment: retried on transport errors, as a user would.
    The caller must tell "already done" answers apart (the first attempt may have committed before the kill)."""
    while True:
        try:
            async with service.client() as client:
                return await client.request(method, path, **kwargs)
        except httpx.TransportError:
            await asyncio.sleep(0.05)


def scalar(database: Path, sql: str) -> Any:
    """One value read from a service's SQLite file (WAL: readable while the service writes)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10) as conn:
        return conn.execute(sql).fetchone()[0]


def leftovers(database: Path) -> dict[str, int]:
    """What a service left undone: outbox rows never handed to NATS, and dead letters."""
    return {
        "outbox_unpublished": scalar(database, "SELECT count(*) FROM outbox WHERE published_at IS NULL"),
        "dead_letters": scalar(database, "SELECT count(*) FROM dead_letters"),
    }


async def busy_consumers(url: str) -> dict[str, tuple[int, int]]:
    """{durable: (pending, unacknowledged)} of every durable consumer of every stream that has work left."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        busy = {}
        for stream in await js.streams_info():
            for info in await js.consumers_info(stream.config.name):
                if info.num_pending or info.num_ack_pending:
                    busy[info.name] = (info.num_pending, info.num_ack_pending)
        return busy
    finally:
        await nc.close()


async def consumers_idle(url: str) -> bool:
    return not await busy_consumers(url)
