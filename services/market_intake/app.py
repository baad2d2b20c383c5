"""Composition of market_intake: `uvicorn services.market_intake.app:app --port 8001`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from fastapi import FastAPI
from typing import Annotated

from pydantic import Field, ValidationError

from contracts.codes import Sector
from services.market_intake import rules
from services.market_intake.api import router
from services.market_intake.handlers import HANDLERS
from services.market_intake.models import INFRA, metadata
from shared.errors import french_message
from shared.territory import default_communes_csv, load_communes
from shared.service import create_service_app
from shared.settings import ServiceSettings, load_settings

SERVICE = "market_intake"
_DEFAULT = rules.Territory()


Rate = Annotated[Decimal, Field(gt=0, le=1)]
HourlyCost = Annotated[Decimal, Field(gt=0, le=10_000)]


class Settings(ServiceSettings):
    """Territory policy (DOMAIN.md "local policy"), editable with MARKET_INTAKE_* variables (JSON for the maps).
    Every value is bounded: a value out of bounds stops the service at start-up (`load_market_settings`)."""

    communes_csv: Path = Field(default_factory=default_communes_csv)
    labour_shares: dict[Sector, Rate] = Field(
        default_factory=dict,
        description="part de main-d'œuvre par secteur, remplaçant celle par défaut, plus de 0 et au plus 1, "
                    "ex. {\"nettoyage\": 0.75}",
    )
    works_sectors: list[Sector] = Field(
        default=sorted(_DEFAULT.works_sectors),
        description="secteurs classés travaux quand le code CPV du marché n'est pas connu — calculateur sans code "
                    "CPV ; sinon le code CPV décide : division 45 travaux, toute autre services",
    )
    insertion_rate_works: Rate = Field(default=_DEFAULT.insertion_rate_works,
                                       description="taux d'insertion des marchés de travaux, plus de 0 et au plus 1")
    insertion_rate_services: Rate = Field(
        default=_DEFAULT.insertion_rate_services,
        description="taux d'insertion des marchés de services, plus de 0 et au plus 1")
    hourly_cost_eur: HourlyCost = Field(default=_DEFAULT.hourly_cost_eur,
                                        description="coût horaire chargé par défaut, en €, plus de 0 et au plus 10 000")
    hourly_cost_cleaning_eur: HourlyCost = Field(
        default=_DEFAULT.hourly_cost_cleaning_eur,
        description="coût horaire chargé du nettoyage, en €, plus de 0 et au plus 10 000")
    minimum_hours: Decimal = Field(default=_DEFAULT.minimum_hours, ge=0, le=rules.MAX_HOURS,
                                   description="seuil d'heures sous lequel une clause n'est pas conseillée")
    cleaning_constant: HourlyCost = Field(
        default=_DEFAULT.cleaning_constant,
        description="constante C de la formule du nettoyage avec reprise de personnel, en € par heure "
                    "(plus de 0, au plus 10 000)")
    fallback_labour_share: Rate = Field(
        default=_DEFAULT.fallback_labour_share,
        description="part de main-d'œuvre d'un secteur sans part configurée, plus de 0 et au plus 1")

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


def settings_refusal(exc: ValidationError) -> str:
    """The French message of settings refused at start-up: each variable, what it is, what is wrong."""
    lines = []
    for err in exc.errors():
        name, *rest = [str(part) for part in err["loc"]] or ["?"]
        variable = f"{SERVICE.upper()}_{name.upper()}" + "".join(f"[{part}]" for part in rest if part != "[key]")
        field = Settings.model_fields.get(name)
        what = f" ({field.description})" if field is not None and field.description else ""
        lines.append(f"{variable}{what} : {french_message(err)}")
    return "réglages de market_intake refusés au démarrage — " + " ; ".join(lines)


def load_market_settings(**overrides: object) -> Settings:
    """The settings from the environment (keyword overrides win); a value out of bounds stops the service with a
    French message naming the variable, instead of a division by zero at the first sizing."""
    try:
        return load_settings(Settings, SERVICE, **overrides)
    except ValidationError as exc:
        raise RuntimeError(settings_refusal(exc)) from exc


def create_app(**overrides: object) -> FastAPI:
    settings = load_market_settings(**overrides)
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
