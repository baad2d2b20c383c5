"""Composition of one service: settings → database (+ migrations) → outbox, relay, event bus → FastAPI app.

Each service's `app.py` calls `create_service_app` with its own metadata, migrations, routers and event handlers.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from contracts import EventSpec
from shared.db import Database
from shared.errors import install_error_handlers
from shared.http import RequestContextMiddleware, admin_router, health_router
from shared.infra import InfraTables
from shared.logs import configure_logging
from shared.messaging import EventBus, Handler
from shared.metrics import ServiceMetrics
from shared.outbox import Outbox, OutboxRelay
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class ServiceContext:
    settings: ServiceSettings
    db: Database
    tables: InfraTables
    metrics: ServiceMetrics
    outbox: Outbox
    relay: OutboxRelay
    bus: EventBus
    extras: dict[str, Any] = field(default_factory=dict)

    async def refresh_gauges(self) -> None:
        try:
            await self.relay.refresh_metrics()
            self.metrics.dead_letters_pending.set(await self.bus.pending_dead_letters())
        except Exception:
            log.debug("gauges unavailable", exc_info=True)


def build_context(settings: ServiceSettings, tables: InfraTables) -> ServiceContext:
    metrics = ServiceMetrics(settings.service_name)
    holder: dict[str, OutboxRelay] = {}

    def after_commit(session: Session) -> None:
        if session.info.pop("outbox_dirty", False) and "relay" in holder:
            holder["relay"].notify()

    db = Database(settings.effective_database_url, after_commit=after_commit)
    bus = EventBus(settings, db, tables, metrics)
    relay = OutboxRelay(
        db,
        tables,
        bus.publish,
        metrics,
        batch_size=settings.relay_batch_size,
        poll_seconds=settings.relay_poll_seconds,
        max_backoff_seconds=settings.relay_max_backoff_seconds,
        max_batch_bytes=settings.relay_max_batch_bytes,
    )
    holder["relay"] = relay
    bus.when_connected(relay.notify)
    return ServiceContext(settings, db, tables, metrics, Outbox(tables, settings.service_name), relay, bus)


GC_THRESHOLD = 100_000  # allocations between two young-generation collections (CPython's default: 700)


def tune_gc() -> None:
    """The bulk paths (an import of a million rows, a batch of hour entries consumed, a rebuild) allocate millions of
    objects. With CPython's default thresholds the cyclic collector runs every 700 allocations and traverses them
    again and again: measured, it cost more than the parsing itself (reporting: 25 µs per entry instead of 3,
    decision 9). Collect less often; reference counting still frees these objects at once."""
    threshold = gc.get_threshold()
    if threshold[0] < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, *threshold[1:])


@dataclass(frozen=True)
class Periodic:
    """A job a service runs while it is up: first `min(interval, 60 s)` after start (a service restarted daily still
    runs its daily job), then every `interval` seconds. A failure is logged and tried again next time."""

    name: str
    interval_seconds: float
    run: Callable[[ServiceContext], Awaitable[object]]


async def _every(ctx: ServiceContext, job: Periodic) -> None:
    delay = min(job.interval_seconds, 60.0)
    while True:
        await asyncio.sleep(delay)
        delay = job.interval_seconds
        try:
            log.info("%s : %s", job.name, await job.run(ctx))
        except Exception:
            log.exception("tâche périodique « %s » en échec (nouvel essai au prochain tour)", job.name)


def create_service_app(
    *,
    settings: ServiceSettings,
    title: str,
    description: str,
    metadata: MetaData,
    tables: InfraTables,
    migrations: Path,
    routers: Sequence[APIRouter] = (),
    handlers: dict[EventSpec, Handler] | None = None,
    max_body_bytes: int = 10_000_000,
    periodic: Sequence[Periodic] = (),
) -> FastAPI:
    ctx = build_context(settings, tables)
    for spec, handler in (handlers or {}).items():
        ctx.bus.on(spec, handler)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_format, settings.log_level)
        await ctx.db.migrate(migrations, metadata)
        ctx.bus.start()
        ctx.relay.start()
        jobs = [asyncio.create_task(_every(ctx, job), name=job.name) for job in periodic]
        log.info("%s démarré (base %s, NATS %s)", settings.service_name, ctx.db.url.render_as_string(), settings.nats_url)
        try:
            yield
        finally:
            for task in jobs:
                task.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            await ctx.relay.stop()
            await ctx.bus.stop()
            await ctx.db.dispose()

    tune_gc()
    app = FastAPI(title=title, description=description, version="1.0.0", lifespan=lifespan)
    app.state.ctx = ctx
    app.add_middleware(RequestContextMiddleware, metrics=ctx.metrics, max_body_bytes=max_body_bytes)
    install_error_handlers(app)
    app.include_router(health_router())
    app.include_router(admin_router())
    for router in routers:
        app.include_router(router)
    return app


# ---- dependencies for the services' routes ------------------------------------------------------------------------
async def get_ctx(request: Request) -> ServiceContext:  # async: no worker thread (see current_principal)
    return request.app.state.ctx


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.ctx.db.session() as session:
        yield session


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.ctx.db.read_session() as session:
        yield session


Ctx = Annotated[ServiceContext, Depends(get_ctx)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]  # GET routes that only query
