"""Rebuild the read model from the start of the streams (`POST /admin/rebuild`).

The projection tables and this service's inbox are emptied and every event of MARKETS, MATCHING and HOURS up to the
streams' last sequence at the start is re-applied, through the same batched path as the live consumers
(`EventBus.apply_parsed`: inbox claims in bulk, runs of hour entries in bulk statements; the cubes added up in
memory and written once at the end, decision 9), all in ONE database transaction, so the new tables replace the
old ones at the commit, all at once. On PostgreSQL, readers keep seeing the old tables meanwhile (MVCC) and live
consumers wait on the locked inbox; on SQLite the foundation begins every transaction IMMEDIATE, so readers and live
consumers queue behind the rebuild (busy timeout). Either way the live consumers then apply what arrived after the
rebuild's snapshot of the streams. Events are read with ephemeral pull consumers in batches of a few megabytes; a
malformed message is skipped (the live consumer has dead-lettered it already).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import nats
import nats.js.api as js_api
from nats.js.errors import NotFoundError
from pydantic import ValidationError
from sqlalchemy import delete, text

from services.reporting.handlers import DEFER_CUBES, DeferredCubes, flush_cubes
from services.reporting.models import metadata
from shared.infra import INFRA_TABLE_NAMES
from shared.messaging import Parsed
from shared.service import ServiceContext

log = logging.getLogger(__name__)
PROJECTION_TABLES = [t for t in metadata.sorted_tables if t.name not in INFRA_TABLE_NAMES]


@dataclass
class RebuildResult:
    events: int
    skipped: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        rate = round(self.events / self.seconds) if self.seconds > 0 else None
        return {"events": self.events, "skipped": self.skipped, "seconds": round(self.seconds, 3),
                "events_per_second": rate}


SQLITE_CACHE_KIB = 256 * 1024
FETCH_BYTES = 4_000_000  # read and applied per call: bounds the memory of parsed hour entries, and the bytes in
# flight (nats-server cuts off a client with more than 64 MB pending)
SAFE_FETCH = 16  # the first fetch, before the size of messages is known (at most 1 MB each)


async def rebuild(ctx: ServiceContext, *, fetch_batch: int = 256) -> RebuildResult:
    started = time.monotonic()
    nc = await nats.connect([s.strip() for s in ctx.settings.nats_url.split(",")], connect_timeout=5,
                            max_reconnect_attempts=3)
    applied = skipped = 0
    try:
        js = nc.jetstream()
        async with ctx.db.session() as session, session.begin():
            if ctx.db.is_postgres:  # live consumers wait for the swap instead of writing into the old tables
                await session.execute(text(f"LOCK TABLE {ctx.tables.inbox.name} IN EXCLUSIVE MODE"))
            session.info["serialized"] = True  # no other writer meanwhile: handlers need no finer locks
            session.info[DEFER_CUBES] = DeferredCubes()  # cubes added up in memory, written once at the end
            if not ctx.db.is_postgres:  # a page cache big enough for the indexes being rebuilt (this connection)
                await session.execute(text(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}"))
            for table in reversed(PROJECTION_TABLES):
                await session.execute(delete(table))
            for consumer in ctx.bus.consumers.values():
                await session.execute(delete(ctx.tables.inbox).where(ctx.tables.inbox.c.consumer == consumer.name))
            for consumer in ctx.bus.consumers.values():
                n, k = await _replay(js, session, ctx, consumer, fetch_batch)
                applied += n
                skipped += k
            await flush_cubes(session)
        await _analyze(ctx)
        result = RebuildResult(applied, skipped, time.monotonic() - started)
        log.info("projection reconstruite : %s", result.as_dict())
        return result
    finally:
        await nc.close()


async def _analyze(ctx: ServiceContext) -> None:
    """Fresh planner statistics for the tables just refilled: PostgreSQL's autovacuum would come much later, and
    meanwhile plans made for empty tables turn a 50 ms report into seconds. On PostgreSQL, VACUUM too: it clears the
    row versions the swap left dead (a rebuild over a full projection deletes every row) and marks the pages
    all-visible, so the reports' scans of the cubes read the index alone."""
    if ctx.db.is_postgres:
        async with ctx.db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            for t in PROJECTION_TABLES:
                await conn.execute(text(f"VACUUM (ANALYZE) {t.name}"))
        return
    async with ctx.db.session() as session, session.begin():
        await session.execute(text("ANALYZE"))


async def _replay(js: Any, session: Any, ctx: ServiceContext, consumer: Any, fetch_batch: int) -> tuple[int, int]:
    stream = consumer.stream.name
    try:
        last = (await js.stream_info(stream)).state.last_seq
    except NotFoundError:
        return 0, 0
    if last == 0:
        return 0, 0
    config = js_api.ConsumerConfig(
        deliver_policy=js_api.DeliverPolicy.ALL, ack_policy=js_api.AckPolicy.ALL, inactive_threshold=60,
        max_ack_pending=-1,
    )
    sub = await js.pull_subscribe(consumer.stream.subjects[0], stream=stream, config=config)
    applied = skipped = 0
    batch = SAFE_FETCH
    try:
        seq = 0
        while seq < last:
            try:
                msgs = await sub.fetch(batch, timeout=5)
            except TimeoutError:
                break  # the stream was truncated under us: nothing more to read
            parsed: list[Parsed] = []
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                if seq > last:
                    break
                try:
                    event = consumer.parse(msg.subject, msg.data)
                except ValidationError:
                    skipped += 1
                    continue
                if event is not None:
                    parsed.append(event)
            applied += len(await ctx.bus.apply_parsed(session, consumer.name, parsed))
            if msgs:
                await msgs[-1].ack()
                # next time about FETCH_BYTES: few round trips for small events, bounded memory for big ones
                size = sum(len(m.data) for m in msgs)
                batch = max(1, min(fetch_batch, len(msgs) * FETCH_BYTES // max(size, 1)))
    finally:
        try:
            await sub.unsubscribe()
        except Exception:  # noqa: BLE001 - the ephemeral consumer expires by itself anyway
            log.debug("unsubscribe", exc_info=True)
    return applied, skipped
