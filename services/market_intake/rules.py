"""Clause sizing and identifier checks: pure functions, no I/O (DOMAIN.md, "Sizing a clause").

Every computed figure keeps the formula and the parameters it used, so a buyer can see how it was obtained.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from contracts.codes import Sector, SizingMethod

TWO_PLACES = Decimal("0.01")
MAX_HOURS = Decimal("9999999999.99")  # what the lots table can hold
MAX_AMOUNT_EUR = Decimal("999999999999.99")
DEFAULT_LABOUR_SHARES: dict[str, Decimal] = {
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
DEFAULT_WORKS_SECTORS = frozenset(
    {Sector.GROS_OEUVRE, Sector.SECOND_OEUVRE, Sector.PEINTURE, Sector.CHARPENTE_METALLIQUE, Sector.VOIRIE_RESEAUX}
)


@dataclass(frozen=True)
class Territory:
    """Local policy of one territory (defaults: Rennes). The service builds it from its settings."""

    labour_share: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_LABOUR_SHARES))
    works_sectors: frozenset[str] = DEFAULT_WORKS_SECTORS
    insertion_rate_works: Decimal = Decimal("0.05")  # Rennes charter
    insertion_rate_services: Decimal = Decimal("0.10")
    hourly_cost_eur: Decimal = Decimal("30")
    hourly_cost_cleaning_eur: Decimal = Decimal("20")
    minimum_hours: Decimal = Decimal("150")  # under it: a warning, not a block
    cleaning_constant: Decimal = Decimal("25")  # C of the cleaning-sector transferred-staff formula
    fallback_labour_share: Decimal = Decimal("0.40")  # a sector missing from `labour_share`

    def default_rate(self, sector: str) -> Decimal:
        return self.insertion_rate_works if sector in self.works_sectors else self.insertion_rate_services

    def default_hourly_cost(self, sector: str) -> Decimal:
        return self.hourly_cost_cleaning_eur if sector == Sector.NETTOYAGE else self.hourly_cost_eur

    def default_labour_share(self, sector: str) -> Decimal:
        return self.labour_share.get(sector, self.fallback_labour_share)


@dataclass(frozen=True)
class Sizing:
    hours: Decimal
    formula: str
    parameters: dict[str, str]
    warnings: list[str]
    defaults_used: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClauseInput:
    """Everything a clause's size depends on; `None` parameters take the territory's defaults."""

    method: str
    sector: str = Sector.AUTRE
    amount_eur: Decimal | None = None
    months: int | None = None
    labour_share: Decimal | None = None
    insertion_rate: Decimal | None = None
    hourly_cost_eur: Decimal | None = None
    hours: Decimal | None = None
    eur_per_hour: Decimal | None = None
    transferred_monthly_hours: Decimal | None = None
    invoiced_eur: Decimal = Decimal("0")


def _hours(value: Decimal) -> Decimal:
    return max(Decimal("0"), value).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def _warn_small(hours: Decimal, territory: Territory) -> list[str]:
    if hours < territory.minimum_hours:
        return [f"{hours} h est sous le seuil de {territory.minimum_hours} h : une clause n'est pas conseillée."]
    return []


def _pick(given: Decimal | None, default: Decimal, name: str, defaults: list[str]) -> Decimal:
    if given is not None:
        return given
    defaults.append(name)
    return default


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
    defaults: list[str] = []
    share = _pick(labour_share, territory.default_labour_share(sector), "labour_share", defaults)
    rate = _pick(insertion_rate, territory.default_rate(sector), "insertion_rate", defaults)
    cost = _pick(hourly_cost_eur, territory.default_hourly_cost(sector), "hourly_cost_eur", defaults)
    hours = _hours(amount_eur * share * rate / cost)
    return Sizing(
        hours=hours,
        formula="heures = montant HT × part de main-d'œuvre × taux d'insertion ÷ coût horaire",
        parameters={"amount_eur": str(amount_eur), "labour_share": str(share), "insertion_rate": str(rate),
                    "hourly_cost_eur": str(cost)},
        warnings=_warn_small(hours, territory),
        defaults_used=tuple(defaults),
    )


def size_cleaning(
    amount_eur: Decimal,
    months: int,
    transferred_monthly_hours: Decimal,
    territory: Territory,
    *,
    insertion_rate: Decimal | None = None,
) -> Sizing:
    """Cleaning with staff transferred from the previous contractor (DOMAIN.md):
    P = 1 − (S × C) / (A / N); hours = P × A / C × rate; P ≤ 0 leaves no room for a clause."""
    defaults: list[str] = []
    rate = _pick(insertion_rate, territory.default_rate(Sector.NETTOYAGE), "insertion_rate", defaults)
    c = territory.cleaning_constant
    room = 1 - (transferred_monthly_hours * c) / (amount_eur / months)
    parameters = {"amount_eur": str(amount_eur), "months": str(months),
                  "transferred_monthly_hours": str(transferred_monthly_hours), "cleaning_constant": str(c),
                  "insertion_rate": str(rate), "room_share": str(room.quantize(Decimal("0.0001")))}
    formula = ("P = 1 − (heures mensuelles reprises × C) ÷ (montant HT ÷ mois) ; "
               "heures = P × montant HT ÷ C × taux d'insertion")
    if room <= 0:
        warning = ("Le personnel repris absorbe tout le montant mensuel du marché (P ≤ 0) : "
                   "aucune place pour une clause d'insertion.")
        return Sizing(Decimal("0.00"), formula, parameters, [warning], tuple(defaults))
    hours = _hours(room * amount_eur / c * rate)
    return Sizing(hours, formula, parameters, _warn_small(hours, territory), tuple(defaults))


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


def size_clause(clause: ClauseInput, territory: Territory) -> Sizing:
    """Size a clause by its method. Callers have checked that the method's parameters are present."""
    if clause.method == SizingMethod.FIXED_HOURS:
        assert clause.hours is not None
        return size_fixed(clause.hours, territory)
    if clause.method == SizingMethod.PER_AMOUNT_INVOICED:
        assert clause.eur_per_hour is not None
        return size_per_amount_invoiced(clause.invoiced_eur, clause.eur_per_hour)
    assert clause.amount_eur is not None
    if clause.transferred_monthly_hours is not None:
        assert clause.months is not None
        return size_cleaning(clause.amount_eur, clause.months, clause.transferred_monthly_hours, territory,
                             insertion_rate=clause.insertion_rate)
    return size_by_rate(clause.amount_eur, clause.sector, territory, labour_share=clause.labour_share,
                        insertion_rate=clause.insertion_rate, hourly_cost_eur=clause.hourly_cost_eur)


_KEPT = ("labour_share", "insertion_rate", "hourly_cost_eur", "hours", "eur_per_hour", "transferred_monthly_hours")


def resize(
    method: str, sector: str, parameters: dict[str, str], *, amount_eur: Decimal, months: int, invoiced_eur: Decimal
) -> ClauseInput:
    """The clause of a lot with new figures (award, amendment, invoice): the parameters it was sized with are kept,
    only the amount, the duration and the invoiced total change."""
    kept = {name: Decimal(parameters[name]) for name in _KEPT if name in parameters}
    return ClauseInput(method=method, sector=sector, amount_eur=amount_eur, months=months, invoiced_eur=invoiced_eur,
                       **kept)


def months_between(start: dt.date, end: dt.date) -> int:
    """Whole months a lot lasts (at least one): both dates included, 30.4375 days a month, rounded."""
    days = Decimal((end - start).days + 1)
    return max(1, int((days / Decimal("30.4375")).quantize(Decimal("1"), rounding=ROUND_HALF_UP)))


def hours_error(hours: Decimal) -> str | None:
    if hours > MAX_HOURS:
        return f"le nombre d'heures calculé ({hours}) est hors d'échelle : vérifiez le montant et les paramètres"
    return None


# ---- lot life cycle --------------------------------------------------------------------------------------------
DRAFT_REFUSAL = "ce lot est en brouillon : soumettez d'abord le marché"


def award_refusal(status: str) -> str | None:
    if status == "draft":
        return DRAFT_REFUSAL
    if status == "closed":
        return "ce lot est clos : il ne peut plus être attribué"
    if status == "awarded":
        return "ce lot est déjà attribué ; passez par un avenant pour le modifier"
    return None


def change_refusal(status: str, action: str) -> str | None:
    """Amendments and invoices need an awarded lot that is not closed."""
    if status == "closed":
        return f"ce lot est clos : {action} refusé(e)"
    if status != "awarded":
        return f"ce lot n'est pas encore attribué : {action} impossible"
    return None


def close_refusal(status: str) -> str | None:
    if status == "draft":
        return DRAFT_REFUSAL
    return "ce lot est déjà clos" if status == "closed" else None


def market_status(lot_statuses: list[str]) -> str:
    """A draft stays a draft; then a market is closed when all its lots are, awarded when none is left to award,
    submitted otherwise."""
    if "draft" in lot_statuses:
        return "draft"
    if lot_statuses and all(s == "closed" for s in lot_statuses):
        return "closed"
    if lot_statuses and all(s in ("awarded", "closed") for s in lot_statuses):
        return "awarded"
    return "submitted"


# ---- identifiers -----------------------------------------------------------------------------------------------
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


def commune_error(insee: str, known: Mapping[str, object]) -> str | None:
    """French message when `insee` is not a commune of the configured list."""
    if insee in known:
        return None
    return f"commune inconnue : le code INSEE {insee} ne figure pas dans la liste des communes du territoire"
