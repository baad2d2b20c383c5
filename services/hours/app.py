"""Composition of hours: `uvicorn services.hours.app:app --port 8003`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.hours.api import router
from services.hours.handlers import HANDLERS
from services.hours.models import INFRA, metadata
from shared.service import create_service_app
from shared.settings import ServiceSettings, load_settings

SERVICE = "hours"


class Settings(ServiceSettings):
    pass


def create_app(**overrides: object) -> FastAPI:
    settings = load_settings(Settings, SERVICE, **overrides)
    return create_service_app(
        settings=settings,
        title="Heures",
        description="Relevés d’heures mensuels, imports, corrections et avancement des lots.",
        metadata=metadata,
        tables=INFRA,
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        handlers=HANDLERS,
    )


app = create_app()
