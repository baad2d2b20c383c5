"""HTTP plumbing shared by the services: request metrics + correlation id middleware, body size limit,
and the `/health`, `/health/ready` and `/metrics` routes."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Facilitator
from shared.logs import correlation_id
from shared.metrics import ServiceMetrics

if TYPE_CHECKING:
    from shared.service import ServiceContext

CORRELATION_HEADER = "x-correlation-id"


class RequestContextMiddleware:
    """Times every request into `http_request_duration_seconds` (labelled by route template, not raw path),
    sets the correlation id (from `X-Correlation-ID` or a new one) for logs and emitted events, echoes it back,
    and refuses bodies larger than `max_body_bytes` before reading them (or, for a streamed body that announces no
    Content-Length, as soon as what was received passes the limit)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.too_large = f"Requête trop volumineuse (limite {max_body_bytes / 1_000_000:g} Mo)."

    def limited(self, receive: Receive) -> Receive:
        """`receive` that raises 413 once the body received so far is over the limit."""
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise HTTPException(413, self.too_large)
            return message

        return receive_within_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        cid = headers.get(CORRELATION_HEADER.encode(), b"").decode("latin-1")[:100] or uuid.uuid4().hex
        token = correlation_id.set(cid)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (CORRELATION_HEADER.encode(), cid.encode("latin-1"))]
            await send(message)

        try:
            length = headers.get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                body = json.dumps({"detail": self.too_large}).encode()
                await send_wrapper({"type": "http.response.start", "status": 413,
                                    "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
            await self.app(scope, self.limited(receive), send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "non_routée"
            self.metrics.http_duration.labels(scope.get("method", ""), template, str(status)).observe(
                time.perf_counter() - start
            )
            correlation_id.reset(token)


def health_router() -> APIRouter:
    router = APIRouter(tags=["santé"])

    @router.get("/health", summary="Vivacité du processus")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready", summary="Prêt : base de données, NATS, flux, outbox")
    async def ready(request: Request) -> JSONResponse:
        ctx: ServiceContext = request.app.state.ctx
        checks: dict[str, Any] = {}
        ok = True
        try:
            await ctx.db.ping()
            checks["database"] = "ok"
            backlog, age = await ctx.relay.backlog()
            checks["outbox_backlog"] = backlog
            checks["outbox_oldest_age_seconds"] = round(age, 3)
            checks["dead_letters_pending"] = await ctx.bus.pending_dead_letters()
        except Exception as exc:
            ok = False
            checks["database"] = f"indisponible : {exc.__class__.__name__}"
        checks["nats"] = "ok" if ctx.bus.connected else "déconnecté"
        waiting = ctx.bus.waiting_for()
        checks["streams"] = "ok" if not waiting else "en attente : " + ", ".join(waiting)
        ok = ok and ctx.bus.ready
        return JSONResponse({"status": "ok" if ok else "indisponible", "service": ctx.settings.service_name,
                             "checks": checks}, status_code=200 if ok else 503)

    @router.get("/metrics", summary="Métriques Prometheus", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        ctx: ServiceContext = request.app.state.ctx
        await ctx.refresh_gauges()
        return Response(generate_latest(ctx.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def admin_router() -> APIRouter:
    """Facilitator-only reads of the service's own infrastructure tables."""
    router = APIRouter(tags=["administration"])

    @router.get("/admin/dead-letters", summary="Messages non traités (lettres mortes) en attente")
    async def dead_letters(request: Request, _: Facilitator,
                           limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        """The unresolved dead letters, newest first (without their payload: only what identifies them)."""
        ctx: ServiceContext = request.app.state.ctx
        t = ctx.tables.dead_letters
        pending = t.c.resolved_at.is_(None)
        async with ctx.db.session() as session:
            total = (await session.execute(select(func.count()).where(pending))).scalar_one()
            rows = (await session.execute(
                select(t.c.id, t.c.consumer, t.c.subject, t.c.event_id, t.c.error, t.c.attempts, t.c.created_at)
                .where(pending).order_by(t.c.id.desc()).limit(limit)
            )).all()
        items = [{"id": r.id, "consumer": r.consumer, "subject": r.subject,
                  "event_id": str(r.event_id) if r.event_id else None, "error": r.error[:500],
                  "attempts": r.attempts, "created_at": r.created_at.isoformat()} for r in rows]
        return {"service": ctx.settings.service_name, "pending": int(total), "items": items}

    return router
