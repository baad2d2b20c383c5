"""Report rules: pure functions, no I/O (DOMAIN.md, "What reports contain", "Exits", "Privacy").

Periods, age bands, FTE and percentages, roll-ups of pre-aggregated rows, small-cell suppression for funders,
commune → EPCI mapping and French labels. The SQL in `service.py` aggregates; these functions shape the answer.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from contracts.codes import AgeBand, ContractType, ExitCategory, Gender, Modality, StructureKind
from shared.errors import DomainError
from shared.territory import Commune

TWO_PLACES = Decimal("0.01")
UNKNOWN = "unknown"
NONE_KIND = "none"
SMALL_CELL = "< 5"  # the text shown; the threshold itself is a setting (small_cell_threshold)


# ---- periods ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    kind: str  # "quarter" | "year" | "year_to_date"
    year: int
    quarter: int | None
    start: dt.date
    end: dt.date

    @property
    def first_month(self) -> str:
        return f"{self.start:%Y-%m}"

    @property
    def last_month(self) -> str:
        return f"{self.end:%Y-%m}"

    @property
    def months(self) -> list[str]:
        return [f"{self.year:04d}-{m:02d}" for m in range(self.start.month, self.end.month + 1)]

    @property
    def label(self) -> str:
        if self.kind == "quarter":
            return f"{'1er' if self.quarter == 1 else f'{self.quarter}e'} trimestre {self.year}"
        if self.kind == "year_to_date":
            return f"Cumul {self.year} au {self.end:%d/%m/%Y}"
        return f"Année {self.year}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "year": self.year, "quarter": self.quarter, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "label": self.label}


MIN_YEAR, MAX_YEAR = 2000, 2100


def check_year(year: int | None) -> int:
    if year is None:
        raise DomainError("Le paramètre « year » est obligatoire (année sur 4 chiffres, ex. 2026).", field="year")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise DomainError(f"Le paramètre « year » doit être une année entre {MIN_YEAR} et {MAX_YEAR} (reçu : {year}).",
                          field="year")
    return year


def quarter_period(year: int | None, quarter: int | None) -> Period:
    y = check_year(year)
    if quarter is None:
        raise DomainError("Le paramètre « quarter » est obligatoire (1, 2, 3 ou 4).", field="quarter")
    if quarter not in (1, 2, 3, 4):
        raise DomainError(f"Le paramètre « quarter » doit valoir 1, 2, 3 ou 4 (reçu : {quarter}).", field="quarter")
    first = 3 * (quarter - 1) + 1
    last = first + 2
    return Period("quarter", y, quarter, dt.date(y, first, 1), dt.date(y, last, calendar.monthrange(y, last)[1]))


def year_period(year: int | None) -> Period:
    y = check_year(year)
    return Period("year", y, None, dt.date(y, 1, 1), dt.date(y, 12, 31))


def previous_period(period: Period) -> Period:
    if period.kind == "quarter":
        assert period.quarter is not None
        return quarter_period(period.year - 1, 4) if period.quarter == 1 else quarter_period(period.year, period.quarter - 1)
    return year_period(period.year - 1)


def year_to_date(period: Period) -> Period:
    return Period("year_to_date", period.year, None, dt.date(period.year, 1, 1), period.end)


def parse_as_of(value: str | None) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"Le paramètre « as_of » doit être une date AAAA-MM-JJ (reçu : {value!r}).",
                          field="as_of") from None


# ---- figures ------------------------------------------------------------------------------------------------------
def hours(value: Any) -> Decimal:
    """An hours figure from SQL (Decimal, float on SQLite, or NULL) rounded to the hundredth."""
    if value is None:
        return Decimal("0.00")
    return Decimal(str(value)).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def fte(total_hours: Decimal, annual_fte_hours: Decimal, months: int = 12) -> Decimal:
    """Full-time equivalents over the period: hours ÷ (annual FTE hours × months / 12)."""
    if annual_fte_hours <= 0 or months <= 0:
        return Decimal("0.00")
    return (total_hours / (annual_fte_hours * months / 12)).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    if whole <= 0:
        return None
    return (100 * part / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def age_band(birth_year: int | None, at: dt.date) -> str:
    """Age band at the period end; events carry the birth year only, so age = end year − birth year."""
    if birth_year is None:
        return UNKNOWN
    age = at.year - birth_year
    if age < 26:
        return AgeBand.UNDER_26.value
    if age < 50:
        return AgeBand.FROM_26_TO_49.value
    return AgeBand.OVER_50.value


def rollup(rows: Iterable[tuple[Any, Any]]) -> dict[str, Decimal]:
    """Sum pre-aggregated (key, value) pairs by key (None → 'none')."""
    out: dict[str, Decimal] = {}
    for key, value in rows:
        k = NONE_KIND if key is None else str(key)
        out[k] = out.get(k, Decimal(0)) + Decimal(value)
    return out


def count_by(rows: Iterable[tuple[Any, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in rows:
        k = UNKNOWN if key is None else str(key)
        out[k] = out.get(k, 0) + int(value)
    return out


def suppress(value: int, threshold: int) -> int | str:
    """Funders' view: a people count under the threshold is shown as '< N' (0 stays 0: nobody to protect)."""
    return f"< {threshold}" if 0 < value < threshold else value


def share_reveals_small_cell(count: int, total: int, threshold: int) -> bool:
    """Funders' view: a share `count / total` shown beside the total gives `count` and `total - count` away, so it is
    hidden when either is a small cell (under the threshold, 0 excepted)."""
    return 0 < count < threshold or 0 < total - count < threshold


# ---- territory ----------------------------------------------------------------------------------------------------
def epci_of(commune_insee: str | None, communes: Mapping[str, Commune]) -> tuple[str, str]:
    """(key, label) of the EPCI of a commune; outside the referential: 'hors_referentiel'."""
    if commune_insee is None:
        return UNKNOWN, "Non renseigné"
    commune = communes.get(commune_insee)
    if commune is None:
        return "hors_referentiel", "Hors Ille-et-Vilaine / commune inconnue"
    return commune.epci_siren, commune.epci_name


# ---- labels (French, what people read) ----------------------------------------------------------------------------
LABELS: dict[str, dict[str, str]] = {
    "gender": {Gender.F: "Femmes", Gender.M: "Hommes"},
    "age_band": {AgeBand.UNDER_26: "Moins de 26 ans", AgeBand.FROM_26_TO_49: "26 à 49 ans",
                 AgeBand.OVER_50: "50 ans et plus"},
    "qpv": {"true": "Résident d'un QPV", "false": "Hors QPV"},
    "modality": {Modality.DIRECT_HIRE: "Embauche directe", Modality.PROVISION: "Mise à disposition",
                 Modality.SUBCONTRACTING: "Sous-traitance", Modality.CO_CONTRACTING: "Cotraitance",
                 Modality.TRAINING: "Formation"},
    "structure_kind": {**{k.value: k.value for k in StructureKind}, StructureKind.OTHER: "Autre",
                       NONE_KIND: "Sans structure d'insertion"},
    "contract_type": {ContractType.CDI: "CDI", ContractType.CDD: "CDD", ContractType.CDDI: "CDDI",
                      ContractType.INTERIM: "Intérim", ContractType.PRO: "Contrat de professionnalisation",
                      ContractType.APPRENTICESHIP: "Apprentissage", ContractType.OTHER: "Autre"},
    "exit": {ExitCategory.DURABLE_JOB: "Emploi durable", ExitCategory.TRANSITION_JOB: "Emploi de transition",
             ExitCategory.POSITIVE_EXIT: "Sortie positive", ExitCategory.OTHER: "Autre",
             ExitCategory.UNKNOWN: "Inconnue"},
    "clause_kind": {"execution_condition": "Condition d'exécution (L2112-2)",
                    "award_criterion": "Critère d'attribution (L2152-7)",
                    "reserved_siae": "Marché réservé SIAE (L2113-13)",
                    "reserved_ea_esat": "Marché réservé EA/ESAT (L2113-12)",
                    "reserved_both": "Marché réservé SIAE et EA/ESAT (L2113-14)",
                    "reserved_ess": "Marché réservé ESS (L2113-15)",
                    "insertion_service": "Marché d'insertion"},
    "sector": {"gros_oeuvre": "Gros œuvre", "second_oeuvre": "Second œuvre", "peinture": "Peinture",
               "charpente_metallique": "Charpente métallique", "voirie_reseaux": "Voirie et réseaux",
               "nettoyage": "Nettoyage", "espaces_verts": "Espaces verts", "collecte_dechets": "Collecte des déchets",
               "restauration": "Restauration", "logistique": "Logistique",
               "services_personne": "Services à la personne",
               "prestations_intellectuelles": "Prestations intellectuelles", "numerique": "Numérique",
               "autre": "Autre"},
}
DYNAMIC_EXITS = (ExitCategory.DURABLE_JOB.value, ExitCategory.TRANSITION_JOB.value, ExitCategory.POSITIVE_EXIT.value)


def label(dimension: str, key: str) -> str:
    if key == UNKNOWN:
        return "Non renseigné"
    return LABELS.get(dimension, {}).get(key, key)


def rows_of(dimension: str, values: Mapping[str, Any], field: str, labels: Mapping[str, str] | None = None,
            *, order: str = "value") -> list[dict[str, Any]]:
    """A breakdown as rows {key, label, <field>}, biggest first (or by key for months)."""
    items = list(values.items())
    if order == "key":
        items.sort(key=lambda kv: kv[0])
    else:
        items.sort(key=lambda kv: (-float(kv[1]), kv[0]))
    return [{"key": k, "label": (labels or {}).get(k) or label(dimension, k), field: v} for k, v in items]
