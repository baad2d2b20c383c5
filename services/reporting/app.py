"""Composition of reporting: `uvicorn services.reporting.app:app --port 8004`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field

from services.reporting.api import router
from services.reporting.handlers import HANDLERS
from services.reporting.models import INFRA, metadata
from services.reporting.service import Policy
from shared.territory import default_communes_csv, load_communes
from shared.service import create_service_app
from shared.settings import ServiceSettings, load_settings

SERVICE = "reporting"


class Settings(ServiceSettings):
    """Local policy of the reports (env prefix REPORTING_)."""

    annual_fte_hours: Decimal = Field(default=Decimal("1607"), gt=0, description="hours of one full-time equivalent")
    small_cell_threshold: int = Field(default=5, ge=1, description="funders see people counts under it as '< N'")
    targets: dict[str, Decimal] = Field(
        default_factory=lambda: {"qpv_share": Decimal("25"), "women_share": Decimal("20")},
        description="territorial targets in % shown beside the figures (qpv_share, women_share)",
    )
    communes_csv: Path = Field(default_factory=default_communes_csv)


def policy_of(settings: Settings) -> Policy:
    return Policy(
        annual_fte_hours=settings.annual_fte_hours,
        small_cell_threshold=settings.small_cell_threshold,
        targets=dict(settings.targets),
        communes=load_communes(settings.communes_csv),
    )


def create_app(**overrides: object) -> FastAPI:
    settings = load_settings(Settings, SERVICE, **overrides)
    app = create_service_app(
        settings=settings,
        title="Bilans",
        description="Bilans trimestriels et annuels des clauses sociales, construits à partir des événements.",
        metadata=metadata,
        tables=INFRA,
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        handlers=HANDLERS,
    )
    app.state.ctx.extras["policy"] = policy_of(settings)
    app.state.ctx.extras["handlers"] = HANDLERS
    return app


app = create_app()
