"""Pure rules of hour accounting: parsing, validation of one entry, progress and forecast. No I/O.

Every check answers a precise French message; callers attach the field (API) or the file row and column (imports).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from contracts.codes import HourKind, Modality, Sector

HUNDRED = Decimal(100)
PLACEMENT_UNKNOWN = "placement inconnu : il doit d'abord être créé dans l'appariement"
LOT_UNKNOWN = "le lot de ce placement est inconnu (marché pas encore reçu)"
_MONTH_ISO = re.compile(r"^(\d{4})-(\d{1,2})$")
_MONTH_FR = re.compile(r"^(\d{1,2})[/.-](\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[ T].*)?$")
_DATE_FR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


class RuleError(ValueError):
    """One refused value: `field` names the input (placement_id, month, hours, kind)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Policy:
    """Local policy (settings of the service)."""

    monthly_cap_hours: Decimal = Decimal("200")
    training_allowed: bool = True
    training_monthly_cap_hours: Decimal = Decimal("35")
    at_risk_margin: Decimal = Decimal("0.10")
    # Subcontracted amounts of a lot whose sizing carried no hourly cost (fixed hours, per amount invoiced): the
    # same defaults as market_intake's sizing (DOMAIN.md: 20-30 EUR, the cleaning sector uses 20 EUR).
    subcontracting_hourly_cost_eur: Decimal = Decimal("30")
    subcontracting_hourly_cost_cleaning_eur: Decimal = Decimal("20")

    @functools.cached_property
    def monthly_cap_hundredths(self) -> int:
        return int(self.monthly_cap_hours * HUNDRED)

    @functools.cached_property
    def training_cap_hundredths(self) -> int:
        return int(self.training_monthly_cap_hours * HUNDRED)


# ---- parsing (forgiving with real spreadsheets) -------------------------------------------------------------------
def _month(year: int, month: int, raw: str) -> str:
    if not 1 <= month <= 12 or not 2000 <= year <= 2100:
        raise RuleError("month", f"mois invalide « {raw} » : format attendu AAAA-MM (ex. 2026-03)")
    return f"{year:04d}-{month:02d}"


def parse_month(value: object) -> str:
    """`2026-03`, `2026-3`, `03/2026`, `2026-03-01`, `01/03/2026` or a date cell → `2026-03`."""
    if isinstance(value, dt.date):  # datetime is a date too
        return _month(value.year, value.month, str(value))
    raw = str(value if value is not None else "").strip()
    if not raw:
        raise RuleError("month", "mois manquant : format attendu AAAA-MM (ex. 2026-03)")
    for pattern, year_group, month_group in ((_MONTH_ISO, 1, 2), (_MONTH_FR, 2, 1), (_DATE_ISO, 1, 2), (_DATE_FR, 3, 2)):
        if m := pattern.match(raw):
            return _month(int(m.group(year_group)), int(m.group(month_group)), raw)
    raise RuleError("month", f"mois invalide « {raw} » : format attendu AAAA-MM (ex. 2026-03)")


def parse_hours(value: object) -> Decimal:
    """`7,5`, `7.50`, `1 234,5` (spaces or non-breaking spaces as thousands separators), or a number cell."""
    if isinstance(value, bool):
        raise RuleError("hours", "heures invalides : un nombre est attendu (ex. 7,5)")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    raw = str(value if value is not None else "").strip()
    if not raw:
        raise RuleError("hours", "heures manquantes")
    text = raw.replace("\u00a0", "").replace("\u202f", "").replace(" ", "").replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise RuleError("hours", f"heures invalides « {raw} » : un nombre est attendu (ex. 7,5)") from None
    if not number.is_finite():
        raise RuleError("hours", f"heures invalides « {raw} » : un nombre est attendu (ex. 7,5)")
    return number


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", folded).strip()


KIND_ALIASES = {
    "work": HourKind.WORK, "travail": HourKind.WORK, "heures travaillees": HourKind.WORK, "emploi": HourKind.WORK,
    "production": HourKind.WORK, "training": HourKind.TRAINING, "formation": HourKind.TRAINING,
}


def parse_kind(value: object) -> HourKind | None:
    """French names are accepted (travail, formation). Empty gives None: the placement decides (`entry_kind`)."""
    raw = str(value if value is not None else "").strip()
    if not raw:
        return None
    kind = KIND_ALIASES.get(_plain(raw))
    if kind is None:
        raise RuleError("kind", f"type d'heures inconnu « {raw} » : valeurs admises travail (work) ou formation (training)")
    return kind


# ---- months ---------------------------------------------------------------------------------------------------------
def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@functools.lru_cache(maxsize=4096)
def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    year, mon = int(month[:4]), int(month[5:7])
    first = dt.date(year, mon, 1)
    following = dt.date(year + mon // 12, mon % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def months_between(first: str, last: str) -> int:
    """Number of months from `first` to `last`, both included (0 when last < first)."""
    count = (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7]) + 1
    return max(0, count)


# ---- validation of one entry ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlacementView:
    """What the rules need to know about a placement (None fields: `placement.started` not received yet) and the
    period of its lot (None: the lot is not known yet, which callers refuse with LOT_UNKNOWN)."""

    start_date: dt.date | None
    end_date: dt.date | None  # actual end when ended, else the planned end
    modality: str | None
    lot_start: dt.date | None = None
    lot_end: dt.date | None = None
    eligible_until: dt.date | None = None  # the person's clause window ends (None: not known)

    @functools.cached_property
    def last_eligible_month(self) -> str | None:
        return month_of(self.eligible_until) if self.eligible_until is not None else None

    @functools.cached_property
    def lot_months(self) -> tuple[str, str] | None:
        """The lot's first and last months (`AAAA-MM`), once: an import checks a million rows against them."""
        if self.lot_start is None or self.lot_end is None:
            return None
        return month_of(self.lot_start), month_of(self.lot_end)


MONTH_HOURS = Decimal(744)  # 31 days × 24 h: more hours in one month is a typing error (and overflows quantize)


def hours_to_hundredths(hours: Decimal, *, allow_zero: bool = False) -> int:
    if hours < 0 or (hours == 0 and not allow_zero):
        raise RuleError("hours", "les heures doivent être supérieures à 0" if not allow_zero else
                        "les heures ne peuvent pas être négatives")
    if hours > MONTH_HOURS:
        raise RuleError("hours", f"heures « {hours} » : un mois compte au plus {MONTH_HOURS} h (31 jours × 24 h)")
    if hours != hours.quantize(Decimal("0.01")):
        raise RuleError("hours", f"heures « {hours} » : au plus 2 décimales")
    return int(hours * HUNDRED)


def check_month(month: str, current_month: str) -> None:
    """`current_month`: this month, `AAAA-MM` (months compare as text)."""
    if month > current_month:
        raise RuleError("month", f"le mois {month} est dans le futur : on ne déclare que des heures effectuées")


def _outside_lot(month: str, lot_start: dt.date | None, lot_end: dt.date | None) -> RuleError:
    return RuleError("month", f"le mois {month} est en dehors de la période du lot (du {lot_start:%d/%m/%Y} au "
                              f"{lot_end:%d/%m/%Y}) : seules comptent les heures effectuées sur l'opération")


def check_lot_period(month: str, lot_start: dt.date, lot_end: dt.date) -> None:
    """Hours count only on the operation that carries the clause (DOMAIN.md): a month from the lot's first month to
    its last, as market_intake last published them (an award or an amendment may move them)."""
    if not month_of(lot_start) <= month <= month_of(lot_end):
        raise _outside_lot(month, lot_start, lot_end)


def check_placement(placement: PlacementView | None, month: str) -> None:
    """The placement is known, `month` is within its lot's period (when the lot is known) and the person's clause
    eligibility window (when matching sent it: DOMAIN.md, "only hours of validated eligible people count"; the month
    in which the window closes still counts), and the placement was active that month."""
    if placement is None or placement.start_date is None:
        raise RuleError("placement_id", PLACEMENT_UNKNOWN)
    lot_months = placement.lot_months
    if lot_months is not None and not lot_months[0] <= month <= lot_months[1]:
        raise _outside_lot(month, placement.lot_start, placement.lot_end)
    if placement.last_eligible_month is not None and month > placement.last_eligible_month:
        raise RuleError("month", f"le mois {month} est après la fin de la fenêtre d'éligibilité de la personne (le "
                                 f"{placement.eligible_until:%d/%m/%Y}) : seules comptent les heures de personnes "
                                 "éligibles")
    first, last = month_bounds(month)
    if placement.start_date > last:
        raise RuleError("month", f"le placement commence le {placement.start_date:%d/%m/%Y}, après le mois {month}")
    if placement.end_date is not None and placement.end_date < first:
        raise RuleError("month", f"le placement a pris fin le {placement.end_date:%d/%m/%Y}, avant le mois {month}")


TRAINING_PLACEMENT_WORK = ("ce placement est une formation : il ne déclare que des heures de formation (type "
                           "« formation » ou vide), pas des heures de travail")


def entry_kind(kind: str | None, modality: str | None) -> HourKind:
    """The kind an entry counts as on a placement of `modality` (`kind` None: not given).

    A training placement (formation qualifiante, DOMAIN.md) declares training hours only: no kind means training,
    and work is refused, else its hours would count as work and escape the training policy (allowed, capped).
    Any other placement: no kind means work; training hours are accepted (the training time of an apprenticeship,
    a professionalisation contract, a GEIQ pathway) and fall under the same training policy in `check_caps`.
    """
    if modality == Modality.TRAINING:
        if kind is None or kind == HourKind.TRAINING:
            return HourKind.TRAINING
        raise RuleError("kind", TRAINING_PLACEMENT_WORK)
    return HourKind.WORK if kind is None else HourKind(kind)


def check_correction(month: str, kind: str, modality: str | None, lot_start: dt.date, lot_end: dt.date) -> None:
    """A correction to more than 0 h must leave an entry that counts: in the lot's period (an amendment may have
    moved it) and of a kind its placement declares. Cancelling (0 h) is always possible: it only takes hours away."""
    try:
        check_lot_period(month, lot_start, lot_end)
        entry_kind(kind, modality)
    except RuleError as exc:
        raise RuleError("hours", f"{exc.message} ; cette entrée ne peut qu'être annulée (correction à 0)") from None


def check_caps(kind: str, hundredths: int, month_total_hundredths: int, training_total_hundredths: int,
               policy: Policy) -> None:
    """`month_total` and `training_total`: the placement's current hours that month once this entry counts."""
    if kind == HourKind.TRAINING:
        if not policy.training_allowed:
            raise RuleError("kind", "les heures de formation ne sont pas comptées sur ce territoire")
        if training_total_hundredths > policy.training_cap_hundredths:
            raise RuleError("hours", f"plafond de formation dépassé : au plus {policy.training_monthly_cap_hours} h "
                                     f"de formation par mois et par placement (total {format_hours(training_total_hundredths)} h)")
    if month_total_hundredths > policy.monthly_cap_hundredths:
        raise RuleError("hours", f"plafond mensuel dépassé : au plus {policy.monthly_cap_hours} h par mois et par "
                                 f"placement (total {format_hours(month_total_hundredths)} h)")


def from_hundredths(hundredths: int) -> Decimal:
    """12500 → Decimal('125.00'): always two decimals."""
    return Decimal(hundredths).scaleb(-2)


def format_hours(hundredths: int) -> str:
    """1250 → '12,5' (French decimal comma)."""
    text = f"{from_hundredths(hundredths):f}".removesuffix(".00")
    return text.replace(".", ",")


def sizing_hourly_cost(parameters: dict[str, str]) -> Decimal | None:
    """The hourly cost a lot's clause was sized with (`lot.clause_sized` parameters): `hourly_cost_eur` of the rate
    method. None for a clause sized without one (fixed hours, per amount invoiced, cleaning with transferred staff:
    its C, 25, is the hourly cost over the labour share, 20 € ÷ 80 %, not an hourly cost) or an unreadable value."""
    raw = parameters.get("hourly_cost_eur")
    try:
        cost = Decimal(raw) if raw is not None else None
    except InvalidOperation:
        return None
    if cost is None or not cost.is_finite() or not Decimal("0.01") <= cost <= Decimal(10_000):
        return None
    return cost.quantize(Decimal("0.01"), ROUND_HALF_UP)


def subcontracting_hourly_cost(lot_hourly_cost: Decimal | None, sector: str, policy: Policy) -> Decimal:
    """The hourly cost converting a subcontracted amount into hours on a lot: the one its clause was sized with, so
    hours are counted as the obligation was computed; else the policy's default (cleaning has its own)."""
    if lot_hourly_cost is not None:
        return lot_hourly_cost
    if sector == Sector.NETTOYAGE:
        return policy.subcontracting_hourly_cost_cleaning_eur
    return policy.subcontracting_hourly_cost_eur


def hours_from_subcontracted_amount(amount_eur: Decimal, hourly_cost_eur: Decimal) -> Decimal:
    """Subcontracting counted by amount: labour amount ÷ hourly cost, rounded to the hundredth."""
    if amount_eur <= 0:
        raise RuleError("amount_eur", "le montant sous-traité doit être supérieur à 0")
    hours = amount_eur / hourly_cost_eur
    if hours > MONTH_HOURS:
        raise RuleError("amount_eur", f"montant « {amount_eur} » : plus de {MONTH_HOURS} h de main-d'œuvre dans un mois")
    return hours.quantize(Decimal("0.01"), ROUND_HALF_UP)


def counts_by_amount(modality: str | None) -> bool:
    return modality in (Modality.SUBCONTRACTING, Modality.CO_CONTRACTING)


# ---- progress -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    owed: Decimal
    realised: Decimal
    percent: Decimal
    forecast: Decimal
    at_risk: bool
    target_reached: bool
    monthly: dict[str, Decimal] = field(default_factory=dict)


def previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def progress(owed: Decimal, start: dt.date, end: dt.date, monthly_hundredths: dict[str, int], today: dt.date,
             margin: Decimal, awarded: bool = True) -> Progress:
    """Realised = sum of the months; the forecast extends the lot's pace over its closed months to its end date.

    Closed months: the lot's months before the current one. Statements are declared once a month is over, so the
    current month is not counted as elapsed (on 1 February, a 12-month lot with 100 h declared for January is on
    pace for 1,200 h, not 600 h), and hours already declared for it stay out of the pace (a month under way would
    otherwise weigh as a whole one); they still count in `realised`, and the forecast is never below `realised`.
    The pace is not taken up to the last declared month instead: a lot where nothing is declared for months must
    fall behind, not keep the pace of its last statement.
    pace = hours of the months up to the last closed one ÷ number of closed months;
    forecast = max(pace × months of the lot, realised); before the first month is over, forecast = realised.

    At risk: the lot is awarded (before that, no company owes anything yet), the target is not reached, at least
    one month is closed, and the forecast falls short of the obligation by more than `margin` (a share of it).
    """
    monthly = {m: from_hundredths(h) for m, h in sorted(monthly_hundredths.items())}
    realised = sum(monthly.values(), Decimal("0.00"))  # "0.00" with no hours, as with some
    first, last = month_of(start), month_of(end)
    closed_last = min(previous_month(month_of(today)), last)
    elapsed = months_between(first, closed_last)
    total = months_between(first, last)
    if elapsed == 0:
        forecast = realised
    else:
        paced = sum((hours for month, hours in monthly.items() if month <= closed_last), Decimal(0))
        forecast = paced * total / elapsed
    forecast = max(forecast, realised).quantize(Decimal("0.01"), ROUND_HALF_UP)
    percent = Decimal(0) if owed <= 0 else (realised * 100 / owed).quantize(Decimal("0.1"), ROUND_HALF_UP)
    reached = owed > 0 and realised >= owed
    at_risk = awarded and owed > 0 and not reached and elapsed > 0 and forecast < owed * (1 - margin)
    return Progress(owed, realised, percent, forecast, at_risk, reached, monthly)
