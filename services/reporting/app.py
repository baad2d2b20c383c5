"""Composition of reporting: `uvicorn services.reporting.app:app --port 8004`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.reporting.api import router
from services.reporting.handlers import HANDLERS
from services.reporting.models import INFRA, metadata
from shared.service import create_service_app
from shared.settings import ServiceSettings, load_settings

SERVICE = "reporting"


class Settings(ServiceSettings):
    pass


def create_app(**overrides: object) -> FastAPI:
    settings = load_settings(Settings, SERVICE, **overrides)
    return create_service_app(
        settings=settings,
        title="Bilans",
        description="Bilans trimestriels et annuels des clauses sociales, construits à partir des événements.",
        metadata=metadata,
        tables=INFRA,
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        handlers=HANDLERS,
    )


app = create_app()
