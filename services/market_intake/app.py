"""Composition of market_intake: `uvicorn services.market_intake.app:app --port 8001`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.market_intake.api import router
from services.market_intake.handlers import HANDLERS
from services.market_intake.models import INFRA, metadata
from shared.service import create_service_app
from shared.settings import ServiceSettings, load_settings

SERVICE = "market_intake"


class Settings(ServiceSettings):
    pass


def create_app(**overrides: object) -> FastAPI:
    settings = load_settings(Settings, SERVICE, **overrides)
    return create_service_app(
        settings=settings,
        title="Marchés et clauses",
        description="Acheteurs publics, marchés, lots et dimensionnement des clauses sociales d'insertion.",
        metadata=metadata,
        tables=INFRA,
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        handlers=HANDLERS,
    )


app = create_app()
