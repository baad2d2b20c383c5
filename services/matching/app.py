"""Composition of matching: `uvicorn services.matching.app:app --port 8002`."""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field, field_validator

from services.matching import service
from services.matching.api import router
from services.matching.domain.eligibility import SIAE_KINDS, EligibilityPolicy
from services.matching.domain.ranking import Weights
from services.matching.domain.territory import Territory
from services.matching.handlers import HANDLERS
from services.matching.models import INFRA, metadata
from shared.territory import default_communes_csv, load_communes
from shared.service import Periodic, ServiceContext, create_service_app
from shared.settings import ServiceSettings, load_settings

SERVICE = "matching"
# <repo>/../shared/data: the handout folder beside the repository.


class Settings(ServiceSettings):
    """Local policy of matching (env prefix `MATCHING_`). Defaults: Rennes."""

    communes_csv: Path = Field(default_factory=default_communes_csv)
    clause_window_months: int = Field(default=24, ge=1, description="éligibilité depuis le 1er contrat de clause")
    recheck_after_months: int = Field(default=6, ge=1, description="contrôle à renouveler avant un 1er parcours")
    diagnosis_validity_months: int = Field(default=6, ge=1, description="validité du diagnostic IAE")
    iae_level2_required: dict[str, int] = Field(default_factory=lambda: dict(EligibilityPolicy().level2_required),
                                                description="critères de niveau 2 exigés par type de SIAE")
    low_qualification_levels: list[str] = Field(
        default_factory=lambda: sorted(EligibilityPolicy().low_qualification_levels),
        description="niveaux de formation des « jeunes peu qualifiés » (Rennes : sous le CAP/BEP)")
    qpv_priority: bool = Field(default=True, description="Plan Emploi Quartier : priorité aux habitants des QPV")
    weight_structure_sector: int = 40
    weight_structure_commune: int = 30
    weight_structure_epci: int = 15
    weight_structure_per_place: int = 2
    weight_structure_places_cap: int = 10
    weight_eligible: int = 50
    weight_sector_wish: int = 30
    weight_same_commune: int = 20
    weight_same_epci: int = 10
    weight_qpv: int = 15
    candidates_limit: int = Field(default=50, ge=1, le=10_000)
    follow_up_months: int = Field(default=6, ge=1, description="suivi de la situation N mois après la sortie (FSE)")
    retention_months: int = Field(default=24, ge=1, description="dossier anonymisé après N mois sans contact")
    retention_interval_hours: float = Field(
        default=24, ge=0, description="l'anonymisation des dossiers sans contact passe toutes les N heures (0 : jamais)")

    @field_validator("iae_level2_required")
    @classmethod
    def _siae_thresholds(cls, value: dict[str, int]) -> dict[str, int]:
        for kind, needed in value.items():
            if kind not in SIAE_KINDS:
                raise ValueError(f"{kind} n'est pas une SIAE ({', '.join(sorted(SIAE_KINDS))})")
            if not 1 <= needed <= 5:
                raise ValueError(f"{kind} : entre 1 et 5 critères de niveau 2, pas {needed}")
        return value

    def policy(self) -> EligibilityPolicy:
        return EligibilityPolicy(
            clause_window_months=self.clause_window_months,
            recheck_after_months=self.recheck_after_months,
            diagnosis_validity_months=self.diagnosis_validity_months,
            level2_required=dict(self.iae_level2_required),
            low_qualification_levels=frozenset(self.low_qualification_levels),
        )

    def weights(self) -> Weights:
        return Weights(
            structure_sector=self.weight_structure_sector,
            structure_commune=self.weight_structure_commune,
            structure_epci=self.weight_structure_epci,
            structure_per_place=self.weight_structure_per_place,
            structure_places_cap=self.weight_structure_places_cap,
            eligible=self.weight_eligible,
            sector_wish=self.weight_sector_wish,
            same_commune=self.weight_same_commune,
            same_epci=self.weight_same_epci,
            qpv=self.weight_qpv,
            qpv_priority=self.qpv_priority,
        )


def load_territory(path: Path) -> Territory:
    return Territory(load_communes(path))


async def anonymise_stale_files(ctx: ServiceContext) -> int:
    """The retention sweep (DOMAIN.md, "Privacy"), as `POST /beneficiaries/retention` runs it."""
    async with ctx.db.session() as session:
        return await service.anonymise_stale_files(session, ctx)


def create_app(**overrides: object) -> FastAPI:
    settings = load_settings(Settings, SERVICE, **overrides)
    app = create_service_app(
        settings=settings,
        title="Appariement",
        description="Structures d’insertion, bénéficiaires, candidats classés, parcours et sorties.",
        metadata=metadata,
        tables=INFRA,
        migrations=Path(__file__).parent / "migrations",
        routers=[router],
        handlers=HANDLERS,
        periodic=[Periodic("dossiers sans contact anonymisés", settings.retention_interval_hours * 3600,
                           anonymise_stale_files)] if settings.retention_interval_hours > 0 else [],
    )
    extras = app.state.ctx.extras
    extras["territory"] = load_territory(settings.communes_csv)
    extras["policy"] = settings.policy()
    extras["weights"] = settings.weights()
    extras["candidates_limit"] = settings.candidates_limit
    extras["retention_months"] = settings.retention_months
    extras["follow_up_months"] = settings.follow_up_months
    return app


app = create_app()
# What is loaded by now (modules, classes, settings, the territory) lives as long as the process: frozen out of the
# garbage collector's full passes, which the thousands of objects of each candidates' call otherwise trigger every
# few calls, each scanning this whole heap (≈ 100 ms per pass measured with benchmarks/test_matching_bench.py).
gc.freeze()
