"""Clause sizing and identifier checks: pure functions, no I/O (DOMAIN.md, "Sizing a clause").

Every computed figure keeps the formula and the parameters it used, so a buyer can see how it was obtained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from contracts.codes import Sector

TWO_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class Territory:
    """Local policy of one territory (defaults: Rennes). Every value is a setting, not a constant."""

    labour_share: dict[str, Decimal] = field(
        default_factory=lambda: {
            Sector.PEINTURE: Decimal("0.70"),
            Sector.GROS_OEUVRE: Decimal("0.50"),
            Sector.SECOND_OEUVRE: Decimal("0.40"),
            Sector.CHARPENTE_METALLIQUE: Decimal("0.20"),
            Sector.NETTOYAGE: Decimal("0.80"),
            Sector.ESPACES_VERTS: Decimal("0.60"),
            Sector.VOIRIE_RESEAUX: Decimal("0.40"),
            Sector.COLLECTE_DECHETS: Decimal("0.60"),
            Sector.RESTAURATION: Decimal("0.50"),
            Sector.LOGISTIQUE: Decimal("0.50"),
            Sector.SERVICES_PERSONNE: Decimal("0.80"),
            Sector.PRESTATIONS_INTELLECTUELLES: Decimal("0.60"),
            Sector.NUMERIQUE: Decimal("0.50"),
            Sector.AUTRE: Decimal("0.40"),
        }
    )
    works_sectors: frozenset[str] = frozenset(
        {Sector.GROS_OEUVRE, Sector.SECOND_OEUVRE, Sector.PEINTURE, Sector.CHARPENTE_METALLIQUE, Sector.VOIRIE_RESEAUX}
    )
    insertion_rate_works: Decimal = Decimal("0.05")  # Rennes charter
    insertion_rate_services: Decimal = Decimal("0.10")
    hourly_cost_eur: Decimal = Decimal("30")
    hourly_cost_cleaning_eur: Decimal = Decimal("20")
    minimum_hours: Decimal = Decimal("150")  # under it: a warning, not a block

    def default_rate(self, sector: str) -> Decimal:
        return self.insertion_rate_works if sector in self.works_sectors else self.insertion_rate_services

    def default_hourly_cost(self, sector: str) -> Decimal:
        return self.hourly_cost_cleaning_eur if sector == Sector.NETTOYAGE else self.hourly_cost_eur


@dataclass(frozen=True)
class Sizing:
    hours: Decimal
    formula: str
    parameters: dict[str, str]
    warnings: list[str]


def _hours(value: Decimal) -> Decimal:
    return max(Decimal("0"), value).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def _warn_small(hours: Decimal, territory: Territory) -> list[str]:
    if hours < territory.minimum_hours:
        return [f"{hours} h est sous le seuil de {territory.minimum_hours} h : une clause n'est pas conseillée."]
    return []


def size_by_rate(
    amount_eur: Decimal,
    sector: str,
    territory: Territory,
    *,
    labour_share: Decimal | None = None,
    insertion_rate: Decimal | None = None,
    hourly_cost_eur: Decimal | None = None,
) -> Sizing:
    """hours = amount × labour share × insertion rate ÷ hourly cost (defaults from the territory)."""
    share = labour_share if labour_share is not None else territory.labour_share.get(sector, Decimal("0.40"))
    rate = insertion_rate if insertion_rate is not None else territory.default_rate(sector)
    cost = hourly_cost_eur if hourly_cost_eur is not None else territory.default_hourly_cost(sector)
    hours = _hours(amount_eur * share * rate / cost)
    return Sizing(
        hours=hours,
        formula="heures = montant HT × part de main-d'œuvre × taux d'insertion ÷ coût horaire",
        parameters={"amount_eur": str(amount_eur), "labour_share": str(share), "insertion_rate": str(rate),
                    "hourly_cost_eur": str(cost)},
        warnings=_warn_small(hours, territory),
    )


def size_fixed(hours: Decimal, territory: Territory) -> Sizing:
    h = _hours(hours)
    return Sizing(h, "heures fixées dans le marché", {"hours": str(hours)}, _warn_small(h, territory))


def size_per_amount_invoiced(invoiced_eur: Decimal, eur_per_hour: Decimal) -> Sizing:
    """Framework contracts: one insertion hour owed per `eur_per_hour` invoiced; grows with each invoice."""
    return Sizing(
        hours=_hours(invoiced_eur / eur_per_hour),
        formula="heures = montant facturé ÷ montant par heure d'insertion",
        parameters={"invoiced_eur": str(invoiced_eur), "eur_per_hour": str(eur_per_hour)},
        warnings=[],
    )


SIRET_RE = re.compile(r"^\d{14}$")
CPV_RE = re.compile(r"^\d{8}(-\d)?$")
INSEE_RE = re.compile(r"^(\d{5}|2[AB]\d{3})$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def siret_error(siret: str) -> str | None:
    """French message when `siret` is not a valid SIRET (14 digits, Luhn key; La Poste's are summed by 5)."""
    if not SIRET_RE.match(siret):
        return "le SIRET doit compter 14 chiffres"
    if siret.startswith("356000000"):  # La Poste establishments: digit sum multiple of 5
        return None if sum(int(c) for c in siret) % 5 == 0 else "clé de contrôle du SIRET invalide"
    return None if luhn_ok(siret) else "clé de contrôle du SIRET invalide"
