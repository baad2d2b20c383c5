"""Report rules: pure functions, no I/O (DOMAIN.md, "What reports contain", "Exits", "Privacy").

Periods, age bands, FTE and percentages, roll-ups of pre-aggregated rows, who sees what (audiences), small-cell
suppression for funders (primary and complementary), commune → EPCI mapping and French labels. The SQL in
`service.py` aggregates; these functions shape the answer.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
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
        """Small-cell suppression applies (every people count under the threshold hidden, and its complements).
        Buyers too: on a lot with one or two workers, an exact "QPV: 1" or "under 26: 1" is an eligibility reason
        of a person the company knows (QPV residence and youth are criteria), which buyers must never see."""
        return self is not Audience.FACILITATOR

    @property
    def sees_eligibility_reasons(self) -> bool:
        """The people by public category (eligibility criteria: RSA, AAH, RQTH — health data — …).
        Buyers never see them. Funders do, as protected aggregates: they finance programmes defined by these publics
        (FSE, PLIE, État) and report on them; every cell under the threshold reads "< N", and since a person may meet
        several criteria the breakdown is no partition of a shown total, so no cell can be worked out by subtraction."""
        return self is not Audience.BUYER




# ---- periods ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    kind: str  # "quarter" | "year" | "year_to_date"
    year: int
    quarter: int | None  # a quarter's; a year to date's last quarter; None for a year
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


def check_quarter(quarter: int | None) -> int:
    if quarter is None:
        raise DomainError("Le paramètre « quarter » est obligatoire (1, 2, 3 ou 4).", field="quarter")
    if quarter not in (1, 2, 3, 4):
        raise DomainError(f"Le paramètre « quarter » doit valoir 1, 2, 3 ou 4 (reçu : {quarter}).", field="quarter")
    return quarter


def quarter_end(year: int, quarter: int) -> dt.date:
    """The last day of a quarter: 31/03, 30/06, 30/09 or 31/12 (never February: leap years change nothing)."""
    last = 3 * quarter
    return dt.date(year, last, calendar.monthrange(year, last)[1])


def quarter_of(day: dt.date) -> int:
    return (day.month - 1) // 3 + 1


def quarter_period(year: int | None, quarter: int | None) -> Period:
    y, q = check_year(year), check_quarter(quarter)
    return Period("quarter", y, q, dt.date(y, 3 * q - 2, 1), quarter_end(y, q))


def year_period(year: int | None) -> Period:
    y = check_year(year)
    return Period("year", y, None, dt.date(y, 1, 1), dt.date(y, 12, 31))


def year_to_date_period(year: int | None, quarter: int | None) -> Period:
    """The cumulative of a year (year to date): 1 January to the end of `quarter` (same checks and French messages
    as `quarter_period`)."""
    y, q = check_year(year), check_quarter(quarter)
    return _cumulative(y, q)


def _cumulative(year: int, quarter: int) -> Period:
    return Period("year_to_date", year, quarter, dt.date(year, 1, 1), quarter_end(year, quarter))


def previous_period(period: Period) -> Period:
    """What a report compares its period with: the quarter before, the year before, or for a year to date the same
    span of the year before (1 January to the end of the same quarter)."""
    if period.kind == "quarter":
        assert period.quarter is not None
        return quarter_period(period.year - 1, 4) if period.quarter == 1 else quarter_period(period.year, period.quarter - 1)
    if period.kind == "year_to_date":
        assert period.quarter is not None
        return _cumulative(period.year - 1, period.quarter)
    return year_period(period.year - 1)


def year_to_date(period: Period) -> Period:
    """1 January of the period's year to its end, through the quarter it ends in; a year to date is its own."""
    if period.kind == "year_to_date":
        return period
    return Period("year_to_date", period.year, quarter_of(period.end), dt.date(period.year, 1, 1), period.end)


def file_name(period: Period) -> str:
    """The download's name, without extension: bilan-2026-T3, bilan-2026, bilan-2026-cumul-T3."""
    if period.kind == "quarter":
        return f"bilan-{period.year}-T{period.quarter}"
    if period.kind == "year_to_date":
        return f"bilan-{period.year}-cumul-T{period.quarter}"
    return f"bilan-{period.year}"


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


def adds_up(parts: Iterable[Period], whole: Period) -> bool:
    """Whether `parts`, end to end, cover exactly `whole` (the 1st and 2nd quarters and their year to date): counts
    that add up across periods (new people: each counted in its first month) then make a partition of the whole."""
    ordered = sorted(parts, key=lambda p: p.start)
    return (bool(ordered) and ordered[0].start == whole.start and ordered[-1].end == whole.end
            and all(a.end + dt.timedelta(days=1) == b.start for a, b in itertools.pairwise(ordered)))


def protect_additive(previous: int, current: int, whole: int, adds_up_to_whole: bool, threshold: int
                     ) -> tuple[int | str, int | str, int | str]:
    """Protected (previous, current, whole) of a count that adds up across periods. When the previous and current
    periods make the whole (2nd quarter: 1st + 2nd = year to date), the two are a partition of the whole shown
    beside them: protected as such (`protect_partition`), else each on its own."""
    if not adds_up_to_whole:
        return suppress(previous, threshold), suppress(current, threshold), suppress(whole, threshold)
    split = protect_partition({"previous": previous, "current": current}, threshold)
    if MASKED_KEY in split:
        return MASKED, MASKED, suppress(whole, threshold)
    return split["previous"], split["current"], suppress(whole, threshold)


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


def protect_durations(durations: Mapping[str, int], types: Mapping[str, int], types_shown: Mapping[str, int | str],
                      threshold: int) -> dict[str, int | str]:
    """Aggregates' view of the contracts by duration beside the contracts by type. The open-ended band is exactly
    the CDI count, and the other bands split the other contracts. With every type shown exactly, the reader knows
    that split's total: the fixed-term bands are protected as a partition of it (`protect_partition`), the
    open-ended band shows the CDI count the types already show. With a type hidden, the bands could give it away:
    they are one 'Détail masqué' row."""
    if not any(durations.values()):
        return dict(durations)
    if MASKED_KEY in types_shown or any(is_hidden(types_shown.get(k, 0)) for k in types):
        return {MASKED_KEY: MASKED}
    fixed = {k: v for k, v in durations.items() if k != OPEN_ENDED}
    shown = protect_partition(fixed, threshold) if any(fixed.values()) else dict(fixed)
    return ({OPEN_ENDED: durations[OPEN_ENDED]} if OPEN_ENDED in durations else {}) | shown


def protect_nested(counts: Mapping[str, int], parent_of: Mapping[str, str], parent_shown: Mapping[str, int | str],
                   threshold: int, *, masked_key: Any = None) -> dict[str, int | str]:
    """Funders' view of a breakdown nested in another one they see (people by commune within their EPCI): each
    parent cell shown is the total of its children, so its children are protected as a partition of it
    (`protect_partition`); the children of a hidden parent, or whose partition has to be hidden whole, are one row
    (key `masked_key(parent)`, default `parent + ":detail"`) showing the parent cell exactly as the parent breakdown
    shows it: nothing the reader did not already know. A parent breakdown hidden whole hides this one whole too."""
    if MASKED_KEY in parent_shown:
        return {MASKED_KEY: MASKED} if counts else {}
    group_key = masked_key or (lambda parent: f"{parent}:detail")
    groups: dict[str, dict[str, int]] = {}
    for key, value in counts.items():
        groups.setdefault(parent_of[key], {})[key] = value
    out: dict[str, int | str] = {}
    for parent, children in groups.items():
        whole = parent_shown[parent]
        if len(children) == 1:
            out[next(iter(children))] = whole
            continue
        inner = protect_partition(children, threshold) if not is_hidden(whole) else {MASKED_KEY: MASKED}
        if MASKED_KEY in inner:
            out[group_key(parent)] = whole
        else:
            out.update(inner)
    return out


def protect_part_of_total(counts: Mapping[str, int], shown: Mapping[str, int | str], keys: Iterable[str],
                          threshold: int) -> int | str:
    """Funders' view of the sum of some cells of a partition whose total they see (the people living in the Pays de
    Rennes: the cells of its 4 EPCI): known, it tells the sum of the other cells too. Shown when it gives nothing
    away: 0; N or more with the rest 0 or N or more and no hidden cell of either side worked out from its sum
    (`reveals_hidden_cell`). Under N it reads '< N' only when every other cell is shown (the reader could already
    subtract it: the label bounds nothing new). Otherwise 'masqué', whatever its size (it may be under N)."""
    keys = {k for k in keys if k in counts}
    others = [k for k in counts if k not in keys]
    value, rest = sum(counts[k] for k in keys), sum(counts[k] for k in others)
    if value == 0:
        return 0
    if MASKED_KEY in shown:
        return MASKED
    if value < threshold:
        return suppress(value, threshold) if not any(is_hidden(shown[k]) for k in others) else MASKED
    if 0 < rest < threshold or reveals_hidden_cell(counts, shown, threshold, keys) \
            or reveals_hidden_cell(counts, shown, threshold, others):
        return MASKED
    return value


# Funders: the people breakdowns that split the people total they see (a person is in one cell; by structure kind
# almost always, as a person seldom works through two kinds in a period): a hidden cell must not come out of a
# subtraction. Public categories (a person may meet several criteria), contracts and exits have no total in the
# report: their small cells are hidden, and the "dynamic" exits sum shown beside them is checked (`protect_subtotal`).
PEOPLE_PARTITIONS = ("gender", "age_band", "qpv", "education_level", "epci", "structure_kind")
# Nested in `epci` (protected by `protect_nested`); contracts by duration beside contracts by type
# (`protect_durations`).


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


OUTSIDE = "hors_referentiel"


def commune_of(commune_insee: str | None, communes: Mapping[str, Commune]) -> tuple[str, str]:
    """(key, label) of a person's commune: its INSEE code and name; outside the referential: 'hors_referentiel' (one
    row, as in the EPCI breakdown: the referential is the territory reported on)."""
    if commune_insee is None:
        return UNKNOWN, "Non renseigné"
    commune = communes.get(commune_insee)
    if commune is None:
        return OUTSIDE, "Hors Ille-et-Vilaine / commune inconnue"
    return commune.insee, f"{commune.name} ({commune.insee})"


def pays_de_rennes_epci(communes: Mapping[str, Commune]) -> set[str]:
    """The EPCI whose communes are in the Pays de Rennes (4 EPCI, 76 communes in the referential): the Pays de
    Rennes figure is the sum of their cells of the EPCI breakdown. An EPCI only partly in it would make the figure no
    sum of EPCI cells, so the referential must not have one (checked by `pays_de_rennes_is_whole_epci`)."""
    return {c.epci_siren for c in communes.values() if c.pays_de_rennes}


def pays_de_rennes_is_whole_epci(communes: Mapping[str, Commune]) -> bool:
    inside = pays_de_rennes_epci(communes)
    return all(c.pays_de_rennes for c in communes.values() if c.epci_siren in inside)


# ---- contracts ----------------------------------------------------------------------------------------------------
UNDER_6_MONTHS, SIX_MONTHS_OR_MORE, OPEN_ENDED = "under_6_months", "6_months_or_more", "open_ended"


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def duration_band(contract_type: str | None, start: dt.date | None, planned_end: dt.date | None) -> str:
    """The duration band of a contract started (DOMAIN.md, "Exits": a CDD or temp mission of more than 6 months is a
    durable job, under 6 months a transition job): a CDI is open-ended; otherwise from its start to its planned end,
    under 6 calendar months, or 6 months and more; no planned end (or no start) is 'unknown'."""
    if contract_type == ContractType.CDI.value:
        return OPEN_ENDED
    if start is None or planned_end is None:
        return UNKNOWN
    return UNDER_6_MONTHS if planned_end < add_months(start, 6) else SIX_MONTHS_OR_MORE


# ---- obligations --------------------------------------------------------------------------------------------------
def obligations_by(lots: Iterable[tuple[str, Any, Decimal, Decimal]], labels: Mapping[str, str] | None = None,
                   dimension: str = "") -> list[dict[str, Any]]:
    """Markets and lots with a clause grouped by a key (clause kind, sector, buyer), from (key, market id, owed
    hours, hours realised to date) of each lot: count of markets and lots, owed and realised hours, % realised.
    Biggest obligation first, then by key."""
    groups: dict[str, dict[str, Any]] = {}
    for key, market_id, owed, realised in lots:
        k = UNKNOWN if key is None else str(key)
        g = groups.setdefault(k, {"markets": set(), "lots": 0, "owed": Decimal(0), "realised": Decimal(0)})
        g["markets"].add(market_id)
        g["lots"] += 1
        g["owed"] += Decimal(owed)
        g["realised"] += Decimal(realised)
    rows = [{"key": k, "label": (labels or {}).get(k) or label(dimension, k), "markets": len(g["markets"]),
             "lots": g["lots"], "owed_hours": hours(g["owed"]), "realised_hours": hours(g["realised"]),
             "percent": percent(g["realised"], g["owed"])}
            for k, g in groups.items()]
    return sorted(rows, key=lambda r: (-r["owed_hours"], r["key"]))


def first_in(firsts: Iterable[str], period: Period) -> int:
    """How many first months (e.g. each company's first month with counted hours) fall in the period."""
    return sum(1 for month in firsts if period.first_month <= month <= period.last_month)


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
    "company": {NONE_KIND: "Entreprise non encore connue (lot non reçu ou non attribué)"},
    "contract_duration": {UNDER_6_MONTHS: "Moins de 6 mois", SIX_MONTHS_OR_MORE: "6 mois et plus",
                          OPEN_ENDED: "Sans terme (CDI)"},
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
