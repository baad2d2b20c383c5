"""Composition of matching: `uvicorn services.matching.app:app --port 8002`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.matching.api import router
from services.matching.handlers import HANDLERS
from services.matching.models import INFRA, metadata
from shared.service import create_service_app
from shared.settings import ServiceSettings, load_settings

SERVICE = "matching"


class Settings(ServiceSettings):
    pass


def create_app(**overrides: object) -> FastAPI:
    settings = load_settings(Settings, SERVICE, **overrides)
    return create_service_app(
        settings=settings,
        title="Appariement",
        description="Structures d’insertion, bénéficiaires, candidats classés, parcours et sorties.",
        metadata=metadata,
        tables=INFRA,
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        handlers=HANDLERS,
    )


app = create_app()
