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
# Sectors taken for works when the market's nature is unknown (no CPV code: the calculator used without one).
DEFAULT_WORKS_SECTORS = frozenset(
    {Sector.GROS_OEUVRE, Sector.SECOND_OEUVRE, Sector.PEINTURE, Sector.CHARPENTE_METALLIQUE, Sector.VOIRIE_RESEAUX}
)
WORKS_CPV_DIVISION = "45"  # CPV division 45 « Travaux de construction »: a works market


def is_works_cpv(cpv_code: str) -> bool:
    """A market's nature is given by its CPV code: division 45 is works, anything else is taken for services."""
    return cpv_code.startswith(WORKS_CPV_DIVISION)


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

    def default_rate(self, sector: str, cpv_code: str | None = None) -> tuple[Decimal, str]:
        """The charter's insertion rate for the market's nature (Rennes: 5 % on works, 10 % on services), and the rule
        that chose it, in French, for the parameters a facilitator reads.

        The nature is the market's: its CPV code when known (division 45 is works, anything else services), so a
        green-spaces lot of a works market takes the works rate. Only without a CPV code (the calculator used
        without one) is it guessed from the lot's sector (`works_sectors`)."""
        if cpv_code:
            if is_works_cpv(cpv_code):
                return self.insertion_rate_works, (
                    f"taux travaux : marché de travaux (code CPV {cpv_code}, division {WORKS_CPV_DIVISION})")
            return self.insertion_rate_services, (
                f"taux services : marché hors travaux (code CPV {cpv_code}, hors division {WORKS_CPV_DIVISION})")
        if sector in self.works_sectors:
            return self.insertion_rate_works, f"taux travaux : code CPV inconnu, secteur {sector} classé travaux"
        return self.insertion_rate_services, f"taux services : code CPV inconnu, secteur {sector} classé services"

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
    cpv_code: str | None = None  # the market's: it gives the default insertion rate (works or services)
    insertion_rate_rule: str | None = None  # the rule that chose a default rate, kept through recomputations


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


def _pick_rate(
    given: Decimal | None, given_rule: str | None, sector: str, cpv_code: str | None, territory: Territory,
    defaults: list[str],
) -> tuple[Decimal, dict[str, str]]:
    """The insertion rate and, when it is a default, the parameter naming the rule that chose it. A recomputation
    passes the rate the lot was sized with and its rule (`given_rule`), so the rule stays visible."""
    if given is not None:
        return given, ({"insertion_rate_rule": given_rule} if given_rule else {})
    defaults.append("insertion_rate")
    rate, rule = territory.default_rate(sector, cpv_code)
    return rate, {"insertion_rate_rule": rule}


def size_by_rate(
    amount_eur: Decimal,
    sector: str,
    territory: Territory,
    *,
    labour_share: Decimal | None = None,
    insertion_rate: Decimal | None = None,
    hourly_cost_eur: Decimal | None = None,
    cpv_code: str | None = None,
    insertion_rate_rule: str | None = None,
) -> Sizing:
    """hours = amount × labour share × insertion rate ÷ hourly cost (defaults from the territory; the default rate
    follows the market's CPV code, see `Territory.default_rate`)."""
    defaults: list[str] = []
    share = _pick(labour_share, territory.default_labour_share(sector), "labour_share", defaults)
    rate, rule = _pick_rate(insertion_rate, insertion_rate_rule, sector, cpv_code, territory, defaults)
    cost = _pick(hourly_cost_eur, territory.default_hourly_cost(sector), "hourly_cost_eur", defaults)
    hours = _hours(amount_eur * share * rate / cost)
    return Sizing(
        hours=hours,
        formula="heures = montant HT × part de main-d'œuvre × taux d'insertion ÷ coût horaire",
        parameters={"amount_eur": str(amount_eur), "labour_share": str(share), "insertion_rate": str(rate), **rule,
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
    cpv_code: str | None = None,
    insertion_rate_rule: str | None = None,
) -> Sizing:
    """Cleaning with staff transferred from the previous contractor (DOMAIN.md):
    P = 1 − (S × C) / (A / N); hours = P × A / C × rate; P ≤ 0 leaves no room for a clause.

    Only S, A, N, C and the rate enter it: C (25, setting `cleaning_constant`) stands for the hourly cost over the
    labour share (20 €/h ÷ 80 % = 25) and P for the share left to new hires, so a lot's own labour share or hourly
    cost has no place here (the HTTP models refuse them beside `transferred_monthly_hours`)."""
    defaults: list[str] = []
    rate, rule = _pick_rate(insertion_rate, insertion_rate_rule, Sector.NETTOYAGE, cpv_code, territory, defaults)
    c = territory.cleaning_constant
    room = 1 - (transferred_monthly_hours * c) / (amount_eur / months)
    parameters = {"amount_eur": str(amount_eur), "months": str(months),
                  "transferred_monthly_hours": str(transferred_monthly_hours), "cleaning_constant": str(c),
                  "insertion_rate": str(rate), **rule, "room_share": str(room.quantize(Decimal("0.0001")))}
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


def size_per_amount_invoiced(
    invoiced_eur: Decimal, eur_per_hour: Decimal, territory: Territory, *, expected_eur: Decimal | None = None
) -> Sizing:
    """Framework contracts: one insertion hour owed per `eur_per_hour` invoiced; grows with each invoice.

    The small-clause warning (DOMAIN.md: under the threshold, a warning, not a block) applies to what the lot is
    expected to owe, not to what is owed so far: at submission nothing is invoiced yet, and warning on 0 h would
    flag every such lot. The expected total is the lot's amount (the estimated or maximum amount of the framework
    contract; `expected_eur`), or the invoiced total once it is larger; the warning says so, and the parameters keep
    `expected_amount_eur` and `expected_hours`. Without an expected amount there is nothing to warn on."""
    hours = _hours(invoiced_eur / eur_per_hour)
    formula = "heures = montant facturé ÷ montant par heure d'insertion"
    parameters = {"invoiced_eur": str(invoiced_eur), "eur_per_hour": str(eur_per_hour)}
    warnings: list[str] = []
    if expected_eur is not None:
        formula += " ; heures attendues = montant attendu ÷ montant par heure d'insertion"
        expected = max(expected_eur, invoiced_eur)
        expected_hours = _hours(expected / eur_per_hour)
        parameters |= {"expected_amount_eur": str(expected), "expected_hours": str(expected_hours)}
        if expected_hours < territory.minimum_hours:
            warnings.append(
                f"Au rythme d'une heure pour {eur_per_hour} € facturés, le montant attendu de {expected} € "
                f"ne donnerait que {expected_hours} h, sous le seuil de {territory.minimum_hours} h : "
                "une clause n'est pas conseillée.")
    return Sizing(hours=hours, formula=formula, parameters=parameters, warnings=warnings)


def size_clause(clause: ClauseInput, territory: Territory) -> Sizing:
    """Size a clause by its method. Callers have checked that the method's parameters are present."""
    if clause.method == SizingMethod.FIXED_HOURS:
        assert clause.hours is not None
        return size_fixed(clause.hours, territory)
    if clause.method == SizingMethod.PER_AMOUNT_INVOICED:
        assert clause.eur_per_hour is not None
        return size_per_amount_invoiced(clause.invoiced_eur, clause.eur_per_hour, territory,
                                        expected_eur=clause.amount_eur)
    assert clause.amount_eur is not None
    if clause.transferred_monthly_hours is not None:
        assert clause.months is not None
        return size_cleaning(clause.amount_eur, clause.months, clause.transferred_monthly_hours, territory,
                             insertion_rate=clause.insertion_rate, cpv_code=clause.cpv_code,
                             insertion_rate_rule=clause.insertion_rate_rule)
    return size_by_rate(clause.amount_eur, clause.sector, territory, labour_share=clause.labour_share,
                        insertion_rate=clause.insertion_rate, hourly_cost_eur=clause.hourly_cost_eur,
                        cpv_code=clause.cpv_code, insertion_rate_rule=clause.insertion_rate_rule)


_KEPT = ("labour_share", "insertion_rate", "hourly_cost_eur", "hours", "eur_per_hour", "transferred_monthly_hours")


def resize(
    method: str, sector: str, parameters: dict[str, str], *, amount_eur: Decimal, months: int, invoiced_eur: Decimal,
    cpv_code: str | None = None,
) -> ClauseInput:
    """The clause of a lot with new figures (award, amendment, invoice): the parameters it was sized with are kept
    (a default insertion rate with the rule that chose it), only the amount, the duration and the invoiced total
    change."""
    kept = {name: Decimal(parameters[name]) for name in _KEPT if name in parameters}
    return ClauseInput(method=method, sector=sector, amount_eur=amount_eur, months=months, invoiced_eur=invoiced_eur,
                       cpv_code=cpv_code, insertion_rate_rule=parameters.get("insertion_rate_rule"), **kept)


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
