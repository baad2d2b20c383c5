"""Composition of hours: `uvicorn services.hours.app:app --port 8003`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field

from services.hours import service
from services.hours.api import router
from services.hours.handlers import HANDLERS, progress_refreshing_lot_handlers
from services.hours.models import INFRA, metadata
from shared.service import Periodic, ServiceContext, create_service_app
from shared.settings import ServiceSettings, load_settings

SERVICE = "hours"


class Settings(ServiceSettings):
    """Local policy of the territory and limits of the import path (env prefix HOURS_)."""

    monthly_cap_hours: Decimal = Field(default=Decimal("200"), gt=0, description="plafond mensuel par placement")
    training_allowed: bool = Field(default=True, description="les heures de formation comptent-elles ?")
    training_monthly_cap_hours: Decimal = Field(default=Decimal("35"), ge=0)
    at_risk_margin: Decimal = Field(default=Decimal("0.10"), ge=0, lt=1, description="écart toléré à la prévision")
    # Converting a subcontracted amount into hours: the lot's own sizing hourly cost when its clause had one, else
    # these defaults, the same as market_intake's sizing defaults (30 EUR, cleaning 20 EUR).
    subcontracting_hourly_cost_eur: Decimal = Field(default=Decimal("30"), gt=0, le=10_000,
                                                    description="coût horaire par défaut (sous-traitance)")
    subcontracting_hourly_cost_cleaning_eur: Decimal = Field(default=Decimal("20"), gt=0, le=10_000,
                                                             description="coût horaire par défaut, propreté")
    import_max_bytes: int = 200_000_000
    import_chunk_rows: int = Field(default=20_000, ge=1)
    import_max_errors_listed: int = Field(default=1000, ge=1)
    progress_sweep_interval_hours: float = Field(
        default=24, ge=0, description="recalcul des lots à risque (un mois qui se clôt) toutes les N heures (0 : jamais)")


async def sweep_progress(ctx: ServiceContext) -> int:
    """The daily at-risk sweep, as `service.sweep_progress` runs it."""
    async with ctx.db.session() as session:
        return await service.sweep_progress(session, ctx)


def create_app(**overrides: object) -> FastAPI:
    settings = load_settings(Settings, SERVICE, **overrides)
    app = create_service_app(
        settings=settings,
        title="Heures",
        description="Relevés d’heures mensuels, imports, corrections et avancement des lots.",
        metadata=metadata,
        tables=INFRA,
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        handlers=HANDLERS,
        max_body_bytes=settings.import_max_bytes,
        periodic=[Periodic("lots à risque recalculés", settings.progress_sweep_interval_hours * 3600, sweep_progress)]
        if settings.progress_sweep_interval_hours > 0 else [],
    )
    ctx = app.state.ctx
    for spec, handler in progress_refreshing_lot_handlers(ctx).items():  # they need the outbox and the policy
        ctx.bus.on(spec, handler)
    return app


app = create_app()
