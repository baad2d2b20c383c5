"""Transactional outbox: events are written in the same transaction as the state change, then relayed to JetStream.

`emit()` adds the outbox row inside the caller's session. The `OutboxRelay` publishes pending rows in id order, in
windows of concurrent publishes, with the event id as `Nats-Msg-Id` (JetStream drops a re-publish inside its
duplicate window), deletes them once JetStream has stored them (the stream, not the outbox, is the history), and
retries failures with exponential backoff. A batch is bounded in rows and in bytes, so a backlog of large bulk events
is never loaded whole. On PostgreSQL it claims rows with `FOR UPDATE SKIP LOCKED`, so several replicas can relay at
once; on SQLite run one relay per database file.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Row, Select, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from contracts import EventSpec, new_envelope
from contracts.envelope import Envelope
from shared.db import Database
from shared.infra import InfraTables
from shared.logs import correlation_id
from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)

# publish(subject, payload, event_id) -> True when JetStream stored it (or already had it).
Publisher = Callable[[str, bytes, str], Awaitable[Any]]
CLAIM_FETCH_ROWS = 16  # rows per fetch of the claiming cursor


class NotPublished(Exception):
    def __init__(self, errors: list[BaseException]) -> None:
        super().__init__(f"{len(errors)} publication(s) en échec : {errors[0]!r}")
        self.count = len(errors)
        self.disconnected = all(isinstance(e, ConnectionError) for e in errors)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Writes events into the outbox table of one service."""

    def __init__(self, tables: InfraTables, producer: str) -> None:
        self.table = tables.outbox
        self.producer = producer

    def envelope(self, spec: EventSpec, data: BaseModel) -> Envelope:
        if spec.producer != self.producer:
            raise ValueError(f"{self.producer} cannot emit {spec.event_type}: it belongs to {spec.producer}")
        return new_envelope(spec.event_type, spec.version, self.producer, data, correlation_id.get())

    async def emit(self, session: AsyncSession, spec: EventSpec, data: BaseModel) -> Envelope:
        """Add one event to the caller's transaction."""
        env = self.envelope(spec, data)
        await session.execute(insert(self.table).values(self._row(spec, env)))
        session.info["outbox_dirty"] = True
        return env

    async def emit_many(self, session: AsyncSession, spec: EventSpec, items: Sequence[BaseModel]) -> list[Envelope]:
        """Add several events in one batched insert (bulk paths)."""
        envs = [self.envelope(spec, d) for d in items]
        await self.add_rows(session, [self._row(spec, e) for e in envs])
        return envs

    def rows(self, spec: EventSpec, items: Sequence[BaseModel]) -> list[dict[str, Any]]:
        """The outbox rows of several events, for `add_rows`: CPU work only, so a bulk path may run it in a thread."""
        return [self._row(spec, self.envelope(spec, d)) for d in items]

    async def add_rows(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        """Add rows made by `rows()` to the caller's transaction, in one batched insert."""
        if rows:
            await session.execute(insert(self.table), rows)
            session.info["outbox_dirty"] = True

    @staticmethod
    def _row(spec: EventSpec, env: Envelope) -> dict[str, Any]:
        return {
            "event_id": env.event_id,
            "subject": spec.subject,
            "payload": env.model_dump_json(),
            "created_at": env.occurred_at,
            "attempts": 0,
        }


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        tables: InfraTables,
        publish: Publisher,
        metrics: ServiceMetrics,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.5,
        max_backoff_seconds: float = 30.0,
        max_batch_bytes: int = 8_000_000,
    ) -> None:
        self.db = db
        self.table = tables.outbox
        self.publish = publish
        self.metrics = metrics
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.max_batch_bytes = max_batch_bytes
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failures = 0

    # Called by the session's after_commit hook (same thread as the event loop).
    def notify(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                published = await self.relay_once()
                self._failures = 0
                if published:
                    continue  # there may be more waiting: go on at once
                await self.refresh_metrics()
                delay = self.poll_seconds
            except NotPublished as exc:
                await self._safe_refresh_metrics()
                if exc.disconnected:  # woken again by the bus on reconnection (and by each commit)
                    delay = self.max_backoff_seconds
                    log.info("outbox relay: NATS absent, %d événement(s) en attente", exc.count)
                else:
                    delay = self._backoff(exc)
            except Exception as exc:  # the database is away: back off, keep the rows, try again
                delay = self._backoff(exc)
                await self._safe_refresh_metrics()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
            except TimeoutError:
                pass

    def _backoff(self, exc: Exception) -> float:
        self._failures += 1
        delay = min(self.max_backoff_seconds, 0.2 * 2 ** min(self._failures, 10))
        log.warning("outbox relay: %s (nouvel essai dans %.1fs)", exc, delay)
        return delay

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; return how many were published.

        PostgreSQL: rows are claimed `FOR UPDATE SKIP LOCKED` for the whole batch (row locks do not block the
        services' inserts). SQLite: the claim and the marking are two short transactions, so a slow or absent NATS
        never holds SQLite's single write lock while HTTP requests wait for it.
        """
        if self.db.is_postgres:
            async with self.db.session() as session, session.begin():
                rows = await self._claim(session, lock=True)
                results = await self._publish_rows(rows)
                await self._mark(session, rows, results)
        else:
            async with self.db.session() as session:
                rows = await self._claim(session, lock=False)
            results = await self._publish_rows(rows)
            if rows:
                async with self.db.session() as session, session.begin():
                    await self._mark(session, rows, results)
        failed = [res for res in results if isinstance(res, BaseException)]
        self.metrics.outbox_published.inc(len(rows) - len(failed))
        if failed:
            self.metrics.outbox_publish_errors.inc(len(failed))
            raise NotPublished(failed)
        return len(rows)

    async def _claim(self, session: AsyncSession, *, lock: bool) -> list[Row[Any]]:
        """The next pending rows, at most `batch_size` of them and `max_batch_bytes` of payload (at least one).

        Rows are read through a cursor and the reading stops at the byte bound: each payload is read once, and only
        the payloads of the batch (sizing the next `batch_size` rows first would read up to `batch_size` large
        payloads per batch, a million-row import's 500 MB read again and again)."""
        query = self._pending_query()
        if lock:  # rows another replica is relaying are skipped; ours stay locked until the batch commits
            query = query.with_for_update(skip_locked=True)
        chosen: list[Row[Any]] = []
        total = 0
        result = await session.stream(query.execution_options(yield_per=CLAIM_FETCH_ROWS))
        try:
            async for row in result:
                size = len(row.payload)
                if chosen and total + size > self.max_batch_bytes:
                    break
                chosen.append(row)
                total += size
        finally:
            await result.close()
        return chosen

    def _pending_query(self) -> Select[Any]:
        t = self.table
        return select(t.c.id, t.c.event_id, t.c.subject, t.c.payload).order_by(t.c.id).limit(self.batch_size)

    async def _publish_rows(self, rows: Sequence[Row[Any]]) -> list[Any]:
        # One window of concurrent publishes; nats-py writes them in order on one connection.
        return await asyncio.gather(
            *(self.publish(r.subject, r.payload.encode(), str(r.event_id)) for r in rows), return_exceptions=True
        )

    async def _mark(self, session: AsyncSession, rows: Sequence[Row[Any]], results: list[Any]) -> None:
        t = self.table
        done = [r.id for r, res in zip(rows, results, strict=True) if not isinstance(res, BaseException)]
        if done:  # stored by JetStream: the outbox's job is done
            await session.execute(delete(t).where(t.c.id.in_(done)))
        for r, res in zip(rows, results, strict=True):
            if isinstance(res, BaseException):
                await session.execute(
                    update(t).where(t.c.id == r.id).values(attempts=t.c.attempts + 1, last_error=str(res)[:2000])
                )

    async def backlog(self) -> tuple[int, float]:
        """Number of unpublished rows and age in seconds of the oldest one."""
        async with self.db.session() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(), func.min(self.table.c.created_at))
                )
            ).one()
        age = 0.0
        if oldest is not None:
            if oldest.tzinfo is None:  # SQLite gives naive datetimes back
                oldest = oldest.replace(tzinfo=UTC)
            age = max(0.0, (_utcnow() - oldest).total_seconds())
        return int(count), age

    async def refresh_metrics(self) -> None:
        count, age = await self.backlog()
        self.metrics.outbox_backlog.set(count)
        self.metrics.outbox_oldest_age.set(age)

    async def _safe_refresh_metrics(self) -> None:
        try:
            await self.refresh_metrics()
        except Exception:  # the database itself may be the thing that is down
            log.debug("outbox metrics unavailable", exc_info=True)
