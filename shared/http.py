"""HTTP plumbing shared by the services: request metrics + correlation id middleware, body size limit,
and the `/health`, `/health/ready` and `/metrics` routes."""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logs import correlation_id
from shared.metrics import ServiceMetrics

if TYPE_CHECKING:
    from shared.service import ServiceContext

CORRELATION_HEADER = "x-correlation-id"


class RequestContextMiddleware:
    """Times every request into `http_request_duration_seconds` (labelled by route template, not raw path),
    sets the correlation id (from `X-Correlation-ID` or a new one) for logs and emitted events, echoes it back,
    and refuses bodies larger than `max_body_bytes` before reading them."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

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
                limit_mb = self.max_body_bytes / 1_000_000
                body = json.dumps({"detail": f"Requête trop volumineuse (limite {limit_mb:g} Mo)."}).encode()
                await send_wrapper({"type": "http.response.start", "status": 413,
                                    "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
            await self.app(scope, receive, send_wrapper)
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
