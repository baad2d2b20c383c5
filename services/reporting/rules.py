"""Report rules: pure functions, no I/O (DOMAIN.md, "What reports contain", "Exits", "Privacy").

Periods, age bands, FTE and percentages, roll-ups of pre-aggregated rows, who sees what (audiences), small-cell
suppression for funders (primary and complementary), commune → EPCI mapping and French labels. The SQL in
`service.py` aggregates; these functions shape the answer.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from contracts.codes import AgeBand, ContractType, ExitCategory, Gender, Modality, StructureKind
from shared.errors import DomainError
from shared.territory import Commune

TWO_PLACES = Decimal("0.01")
UNKNOWN = "unknown"
NONE_KIND = "none"
SMALL_CELL = "< 5"  # the text shown; the threshold itself is a setting (small_cell_threshold)
MASKED = "masqué"  # a cell of at least N people hidden so that no "< N" cell can be worked out from a total
MASKED_KEY = "masked"  # the one row left of a breakdown that has to be hidden whole


# ---- audiences ----------------------------------------------------------------------------------------------------
class Audience(StrEnum):
    """Who reads a report (DOMAIN.md, "Privacy" and "What reports contain")."""

    FACILITATOR = "facilitator"  # everything
    BUYER = "buyer"  # its own markets and pseudonymous counts, never eligibility reasons
    FUNDER = "funder"  # aggregates only: small cells hidden

    @property
    def aggregates_only(self) -> bool:
        """Small-cell suppression applies (every people count under the threshold hidden, and its complements)."""
        return self is Audience.FUNDER

    @property
    def sees_eligibility_reasons(self) -> bool:
        """The people by public category (eligibility criteria: RSA, AAH, RQTH — health data — …).
        Buyers never see them. Funders do, as protected aggregates: they finance programmes defined by these publics
        (FSE, PLIE, État) and report on them; every cell under the threshold reads "< N", and since a person may meet
        several criteria the breakdown is no partition of a shown total, so no cell can be worked out by subtraction."""
        return self is not Audience.BUYER


ELIGIBILITY_BREAKDOWNS = ("category",)  # people_by dimensions that are eligibility reasons


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


def fte(total_hours: Decimal, annual_fte_hours: Decimal) -> Decimal:
    """Full-time equivalents (DOMAIN.md): hours ÷ annual FTE hours, whatever the length of the period, so the FTE of
    the four quarters add up to the year's (within rounding)."""
    if annual_fte_hours <= 0:
        return Decimal("0.00")
    return (total_hours / annual_fte_hours).quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


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


def is_hidden(shown: int | str) -> bool:
    """A cell the funder does not see: "< N" or "masqué"."""
    return isinstance(shown, str)


def protect_cells(counts: Mapping[str, int], threshold: int) -> dict[str, int | str]:
    """Funders' view of a breakdown whose total they cannot know (contracts by type, exits, public categories):
    each cell under the threshold reads '< N'."""
    return {key: suppress(value, threshold) for key, value in counts.items()}


def protect_partition(counts: Mapping[str, int], threshold: int) -> dict[str, int | str]:
    """Funders' view of a breakdown that splits a total they see (people by gender, age band, QPV, education level,
    EPCI, structure kind): a hidden cell must not come out of `total − the cells shown`.

    1. Each cell under the threshold reads '< N' (a 0 is shown: it protects nobody and hides nothing).
    2. While a hidden cell can be worked out exactly (`reveals_hidden_cell`: one hidden cell is the subtraction
       itself; the labels narrow the others), the smallest non-zero cell still shown is hidden too and reads
       'masqué' (it has N people or more, so '< N' would be untrue).
    3. If a cell can still be worked out once every cell is hidden (e.g. 1 + 5, or five cells of 1), the breakdown
       is one row, `{MASKED_KEY: MASKED}`.
    When the total itself is under the threshold it reads '< N' too: there is nothing to subtract from."""
    shown = protect_cells(counts, threshold)
    if sum(counts.values()) < threshold:
        return shown
    while reveals_hidden_cell(counts, shown, threshold):
        still_shown = [(value, key) for key, value in counts.items() if not is_hidden(shown[key]) and value > 0]
        if not still_shown:
            return {MASKED_KEY: MASKED}
        shown[min(still_shown)[1]] = MASKED
    return shown


def reveals_hidden_cell(counts: Mapping[str, int], shown: Mapping[str, int | str], threshold: int,
                        keys: Iterable[str] | None = None) -> bool:
    """Whether a reader who knows the sum of `counts` over `keys` (all of them by default), sees `shown` and knows the
    rule can work out a hidden cell among `keys` exactly. What the reader knows of a hidden cell: '< N' is 1 to N−1;
    'masqué' is at least N and at most the smallest non-zero cell still shown (`protect_partition` hides the smallest
    first); together the hidden cells add up to the known sum minus the cells shown. Each cell then lies between
    `max(low, rest − the others' highs)` and `min(high, rest − the others' lows)`; one such range of a single value
    gives the cell away (a range the label alone fixes, e.g. '< 2', is the threshold's own choice)."""
    chosen = list(counts) if keys is None else [k for k in keys if k in counts]
    secret = [k for k in chosen if is_hidden(shown[k])]
    if not secret:
        return False
    rest = sum(counts[k] for k in secret)
    ceiling = min((v for k, v in counts.items() if not is_hidden(shown[k]) and v > 0), default=rest)
    bounds = [(threshold, min(ceiling, rest)) if shown[k] == MASKED else (1, threshold - 1) for k in secret]
    lows, highs = sum(lo for lo, _ in bounds), sum(hi for _, hi in bounds)
    for lo, hi in bounds:
        least, most = max(lo, rest - (highs - hi)), min(hi, rest - (lows - lo))
        if least == most and lo < hi:
            return True
    return False


# Funders: the people breakdowns that split the people total they see (a person is in one cell; by structure kind
# almost always, as a person seldom works through two kinds in a period): a hidden cell must not come out of a
# subtraction. Public categories (a person may meet several criteria), contracts and exits have no total in the
# report: their small cells are hidden, and the "dynamic" exits sum shown beside them is checked (`protect_subtotal`).
PEOPLE_PARTITIONS = ("gender", "age_band", "qpv", "education_level", "epci", "structure_kind")


def protect_breakdown(dimension: str, counts: Mapping[str, int], threshold: int) -> dict[str, int | str]:
    """Funders' view of a people breakdown (`people_by` dimensions, "contract_type", "exit")."""
    if dimension in PEOPLE_PARTITIONS:
        return protect_partition(counts, threshold)
    return protect_cells(counts, threshold)


def protect_subtotal(counts: Mapping[str, int], shown: Mapping[str, int | str], keys: Iterable[str],
                     threshold: int) -> int | str:
    """Funders' view of a sum of some cells of a breakdown (e.g. the "dynamic" exits: durable + transition +
    positive): '< N' under the threshold; 'masqué' when, known, it would give one of its hidden cells away (e.g.
    durable '< 5' beside transition and positive shown) or when the breakdown is hidden whole."""
    keys = list(keys)
    value = sum(counts.get(k, 0) for k in keys)
    if 0 < value < threshold:
        return suppress(value, threshold)
    if value and (MASKED_KEY in shown or reveals_hidden_cell(counts, shown, threshold, keys)):
        return MASKED
    return value


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
    if key == MASKED_KEY:
        return "Détail masqué (effectifs trop faibles)"
    return LABELS.get(dimension, {}).get(key, key)


def rows_of(dimension: str, values: Mapping[str, Any], field: str, labels: Mapping[str, str] | None = None,
            *, order: str = "value") -> list[dict[str, Any]]:
    """A breakdown as rows {key, label, <field>}, biggest first (or by key for months). Hidden cells ('< N',
    'masqué') come last, by key: their order must not tell which is bigger."""
    items = list(values.items())
    if order == "key":
        items.sort(key=lambda kv: kv[0])
    else:
        items.sort(key=lambda kv: (1, 0.0, kv[0]) if is_hidden(kv[1]) else (0, -float(kv[1]), kv[0]))
    return [{"key": k, "label": (labels or {}).get(k) or label(dimension, k), field: v} for k, v in items]
