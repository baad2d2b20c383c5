"""Composition of market_intake: `uvicorn services.market_intake.app:app --port 8001`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from fastapi import FastAPI
from typing import Annotated

from pydantic import Field

from contracts.codes import Sector
from services.market_intake import rules
from services.market_intake.api import router
from services.market_intake.handlers import HANDLERS
from services.market_intake.models import INFRA, metadata
from shared.territory import default_communes_csv, load_communes
from shared.service import create_service_app
from shared.settings import ServiceSettings, load_settings

SERVICE = "market_intake"
_DEFAULT = rules.Territory()


class Settings(ServiceSettings):
    """Territory policy (DOMAIN.md "local policy"), editable with MARKET_INTAKE_* variables (JSON for the maps)."""

    communes_csv: Path = Field(default_factory=default_communes_csv)
    labour_shares: dict[Sector, Annotated[Decimal, Field(gt=0, le=1)]] = Field(
        default_factory=dict, description="per-sector labour share overriding the defaults, e.g. {\"nettoyage\": 0.75}"
    )
    works_sectors: list[Sector] = sorted(_DEFAULT.works_sectors)
    insertion_rate_works: Decimal = _DEFAULT.insertion_rate_works
    insertion_rate_services: Decimal = _DEFAULT.insertion_rate_services
    hourly_cost_eur: Decimal = _DEFAULT.hourly_cost_eur
    hourly_cost_cleaning_eur: Decimal = _DEFAULT.hourly_cost_cleaning_eur
    minimum_hours: Decimal = _DEFAULT.minimum_hours
    cleaning_constant: Decimal = _DEFAULT.cleaning_constant
    fallback_labour_share: Decimal = _DEFAULT.fallback_labour_share

    def territory(self) -> rules.Territory:
        return rules.Territory(
            labour_share={**rules.DEFAULT_LABOUR_SHARES, **self.labour_shares},
            works_sectors=frozenset(self.works_sectors),
            insertion_rate_works=self.insertion_rate_works,
            insertion_rate_services=self.insertion_rate_services,
            hourly_cost_eur=self.hourly_cost_eur,
            hourly_cost_cleaning_eur=self.hourly_cost_cleaning_eur,
            minimum_hours=self.minimum_hours,
            cleaning_constant=self.cleaning_constant,
            fallback_labour_share=self.fallback_labour_share,
        )


def create_app(**overrides: object) -> FastAPI:
    settings = load_settings(Settings, SERVICE, **overrides)
    app = create_service_app(
        settings=settings,
        title="Marchés et clauses",
        description="Acheteurs publics, marchés, lots et dimensionnement des clauses sociales d'insertion.",
        metadata=metadata,
        tables=INFRA,
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        handlers=HANDLERS,
    )
    app.state.ctx.extras["territory"] = settings.territory()
    app.state.ctx.extras["communes"] = load_communes(settings.communes_csv)
    return app


app = create_app()
