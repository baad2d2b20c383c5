"""Composition of the portal: settings → HTTP client to the four services → pages (FastAPI + Jinja2).

Unlike the other services it has no database and no bus: it only calls their HTTP APIs with the user's token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.portal import auth_pages, buyer, facilitator, funder
from services.portal.clients import Services
from services.portal.rendering import install_error_pages
from services.portal.settings import PortalSettings, portal_settings
from shared.http import RequestContextMiddleware
from shared.logs import configure_logging
from shared.metrics import ServiceMetrics

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    # No CDN, no inline script: everything comes from the portal itself. Inline styles: the reports' SVG charts.
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                 b"img-src 'self' data:; font-src 'self'; frame-ancestors 'none'; form-action 'self'"),
]


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def health_router(settings: PortalSettings, metrics: ServiceMetrics) -> APIRouter:
    router = APIRouter(tags=["santé"], include_in_schema=False)

    @router.get("/health")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready")
    async def ready(request: Request) -> JSONResponse:
        """The portal is ready once it runs; the services' state is reported (a page shows a banner when one is
        down), it does not make the portal unready."""
        services: Services = request.app.state.services

        async def probe(name: str, url: str) -> tuple[str, str]:
            try:
                response = await services.http.get(f"{url}/health", timeout=2)
                return name, "ok" if response.status_code == 200 else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                return name, f"injoignable : {exc.__class__.__name__}"

        checks = dict(await asyncio.gather(*(probe(n, u) for n, u in settings.service_urls().items())))
        return JSONResponse({"status": "ok", "service": "portal", "checks": checks})

    @router.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def create_app(**overrides: Any) -> FastAPI:
    settings = portal_settings(**overrides)
    metrics = ServiceMetrics(settings.service_name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.service_name, settings.log_format, settings.log_level)
        app.state.services = Services(settings.service_urls(), settings.request_timeout_seconds)
        log.info("portail démarré (services : %s)", settings.service_urls())
        try:
            yield
        finally:
            await app.state.services.aclose()

    app = FastAPI(title="Portail — Clauses sociales", version="1.0.0", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=20_000_000)
    install_error_pages(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(health_router(settings, metrics))
    for router in (auth_pages.router, buyer.router, funder.router, facilitator.router):
        app.include_router(router)
    return app


app = create_app()
