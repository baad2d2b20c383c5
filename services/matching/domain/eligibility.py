"""Who counts (DOMAIN.md, "Who counts"): the ONE module holding the eligibility rules. Pure functions, no I/O.

Boundaries, all inclusive of the first day and exclusive of the last:
- clause window: a person is eligible from the start S of their first clause contract until the day before
  S + `clause_window_months` (S = 2026-01-05, 24 months: eligible up to 2028-01-04 included);
- a check made on C is recent on D while D <= C + `recheck_after_months` (C = 2026-01-15, 6 months: recent up to
  2026-07-15 included); an older check must be renewed before a FIRST placement ("à revérifier");
- IAE routes (EI, ACI, EITI, AI, ETTI): one level-1 criterion, or `level2_required[kind]` distinct level-2 criteria,
  each from a prescriber's diagnosis still valid on D (D <= C + `diagnosis_validity_months`).
A check dated after D does not count on D.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from contracts.codes import CriterionCode as C
from contracts.codes import StructureKind as K


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day `months` later, clamped to the month's last day (31 Aug + 6 months = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def fr(day: dt.date) -> str:
    """25/01/2026 (what `day.strftime("%d/%m/%Y")` gives, several times faster: the ranking formats thousands)."""
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


class Criterion(NamedTuple):  # a named tuple: built 10,000 times per ranking, several times faster than a dataclass
    code: str
    checked_on: dt.date
    proof_type: str = ""
    prescriber: str = ""


# The national IAE rule (DOMAIN.md, "Who counts"): the structures it applies to (the SIAE) and how many level-2
# criteria each needs without a level-1 one. A setting may change a threshold, never take a SIAE out of the rule.
IAE_LEVEL2_REQUIRED: dict[str, int] = {K.EI: 3, K.ACI: 3, K.EITI: 3, K.AI: 2, K.ETTI: 2}
SIAE_KINDS = frozenset(IAE_LEVEL2_REQUIRED)


@dataclass(frozen=True)
class EligibilityPolicy:
    """Local policy (settings) and the national IAE levels."""

    clause_window_months: int = 24
    recheck_after_months: int = 6
    diagnosis_validity_months: int = 6
    level1: frozenset[str] = frozenset({C.RSA, C.ASS, C.AAH, C.DETLD})
    level2: frozenset[str] = frozenset({C.DELD, C.RQTH, C.JEUNE_PEU_QUALIFIE, C.SENIOR_50, C.QPV})
    level2_required: dict[str, int] = field(default_factory=lambda: dict(IAE_LEVEL2_REQUIRED))
    # "young people under 26 with low qualification (below CAP/BEP in Rennes)": the education levels that count as low
    low_qualification_levels: frozenset[str] = frozenset({"infra_3", "1", "2", "sans_diplome"})


class Status(StrEnum):
    ELIGIBLE = "eligible"
    TO_RECHECK = "to_recheck"
    NOT_ELIGIBLE = "not_eligible"


STATUS_LABELS = {Status.ELIGIBLE: "éligible", Status.TO_RECHECK: "à revérifier", Status.NOT_ELIGIBLE: "non éligible"}


@dataclass(frozen=True)
class Eligibility:
    status: Status
    reasons: tuple[str, ...]
    window_ends: dt.date | None = None  # last eligible day of the 24-month window, once it has started

    @property
    def eligible(self) -> bool:
        return self.status == Status.ELIGIBLE

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


def clause_eligibility(
    criteria: Sequence[Criterion], first_start: dt.date | None, on: dt.date, policy: EligibilityPolicy
) -> Eligibility:
    """Eligibility for the clause on `on`, given the checks and the start of the first clause contract (if any)."""
    if first_start is not None and first_start <= on:
        last_day = add_months(first_start, policy.clause_window_months) - dt.timedelta(days=1)
        if on <= last_day:
            return Eligibility(
                Status.ELIGIBLE,
                (f"dans la fenêtre de {policy.clause_window_months} mois ouverte le {fr(first_start)} "
                 f"(jusqu'au {fr(last_day)})",),
                last_day,
            )
        return Eligibility(
            Status.NOT_ELIGIBLE,
            (f"fenêtre de {policy.clause_window_months} mois close le {fr(last_day)} "
             f"(premier contrat le {fr(first_start)})",),
            last_day,
        )
    known = [c for c in criteria if c.checked_on <= on]
    if not known:
        return Eligibility(Status.NOT_ELIGIBLE, ("aucun critère d'éligibilité vérifié à cette date",))
    latest = max(known, key=lambda c: (c.checked_on, c.code))
    codes = ", ".join(sorted({c.code for c in known}))
    if on > add_months(latest.checked_on, policy.recheck_after_months):
        return Eligibility(
            Status.TO_RECHECK,
            (f"critères {codes} : dernier contrôle le {fr(latest.checked_on)}, plus de "
             f"{policy.recheck_after_months} mois — à revérifier avant une première mise en parcours",),
        )
    return Eligibility(Status.ELIGIBLE, (f"critères {codes} vérifiés le {fr(latest.checked_on)}",))


def window_last_day(first_start: dt.date | None, start: dt.date, policy: EligibilityPolicy) -> dt.date:
    """The last day of the clause window a placement starting on `start` falls in: `clause_window_months` from the
    first clause contract's start (this one, if it is the first or starts earlier)."""
    opening = start if first_start is None else min(first_start, start)
    return add_months(opening, policy.clause_window_months) - dt.timedelta(days=1)


@dataclass(frozen=True)
class ClauseDay:
    """The status `clause_eligibility` gives on day `on`, its two thresholds worked out once: what the ranking needs
    to judge thousands of people fast (same statuses, no reasons: tests/matching/test_matching_properties.py)."""

    on: dt.date
    window_open_from: dt.date  # a first clause contract started on this day or later is still in its window on `on`
    recent_from: dt.date  # a check made on this day or later is recent on `on`

    @classmethod
    def of(cls, on: dt.date, policy: EligibilityPolicy) -> ClauseDay:
        window, recheck = policy.clause_window_months, policy.recheck_after_months
        return cls(
            on,
            _first_day(lambda start: on <= add_months(start, window) - dt.timedelta(days=1), add_months(on, -window)),
            _first_day(lambda checked: on <= add_months(checked, recheck), add_months(on, -recheck)),
        )

    def status(self, criteria: Sequence[Criterion], first_start: dt.date | None) -> Status:
        if first_start is not None and first_start <= self.on:
            return Status.ELIGIBLE if first_start >= self.window_open_from else Status.NOT_ELIGIBLE
        latest = max((c.checked_on for c in criteria if c.checked_on <= self.on), default=None)
        if latest is None:
            return Status.NOT_ELIGIBLE
        return Status.ELIGIBLE if latest >= self.recent_from else Status.TO_RECHECK


def _first_day(holds: Callable[[dt.date], bool], near: dt.date) -> dt.date:
    """The first day on which `holds` (false, then true for good, as days go by), searched from a day `near` it."""
    day = near
    while holds(day - dt.timedelta(days=1)):
        day -= dt.timedelta(days=1)
    while not holds(day):
        day += dt.timedelta(days=1)
    return day


YOUNG_UNDER, SENIOR_FROM = 26, 50  # DOMAIN.md, "Who counts": young people under 26, job seekers over 50


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def criterion_error(code: str, checked_on: dt.date, birth_date: dt.date, qpv: bool, education_level: str,
                    policy: EligibilityPolicy) -> str | None:
    """Why a criterion cannot be the person's on the day it was checked (None when it can): the age of the young and
    senior publics on that day, the low qualification of the young, the priority neighbourhood of the QPV public."""
    age = age_on(birth_date, checked_on)
    if code == C.JEUNE_PEU_QUALIFIE and age >= YOUNG_UNDER:
        return f"critère {code} réservé aux moins de {YOUNG_UNDER} ans : {age} ans au contrôle du {fr(checked_on)}"
    if code == C.JEUNE_PEU_QUALIFIE and education_level not in policy.low_qualification_levels:
        levels = ", ".join(sorted(policy.low_qualification_levels))
        return (f"critère {code} réservé aux jeunes peu qualifiés (niveau de formation {levels}) : "
                f"niveau déclaré « {education_level} »")
    if code == C.SENIOR_50 and age < SENIOR_FROM:
        return f"critère {code} réservé aux {SENIOR_FROM} ans et plus : {age} ans au contrôle du {fr(checked_on)}"
    if code == C.QPV and not qpv:
        return f"critère {code} : la personne n'habite pas un quartier prioritaire (qpv : non)"
    return None


def proof_error(code: str, proof_type: str | None) -> str | None:
    """DOMAIN.md: "other people with particular difficulties, validated by the facilitator on a prescriber's reasoned
    opinion": that opinion is the proof of AUTRE_VALIDE, so it must be named (other criteria: the proof type is
    recommended, not required)."""
    if code == C.AUTRE_VALIDE and not (proof_type or "").strip():
        return "critère AUTRE_VALIDE : indiquez l'avis motivé du prescripteur sur lequel il est validé (proof_type)"
    return None


def iae_applies(kind: str | None, policy: EligibilityPolicy) -> bool:
    """The IAE rule applies to every route through an SIAE, whatever the settings hold."""
    return kind in SIAE_KINDS


def level2_needed(kind: str, policy: EligibilityPolicy) -> int:
    return policy.level2_required.get(kind, IAE_LEVEL2_REQUIRED[kind])


def iae_eligibility(criteria: Sequence[Criterion], kind: str, on: dt.date, policy: EligibilityPolicy) -> Eligibility:
    """IAE eligibility for a route through a structure of `kind` on `on` (national rule)."""
    if not iae_applies(kind, policy):
        return Eligibility(Status.ELIGIBLE, (f"pas de règle IAE pour une structure {kind}",))
    valid = {
        c.code
        for c in criteria
        if c.checked_on <= on <= add_months(c.checked_on, policy.diagnosis_validity_months)
    }
    level1 = sorted(valid & policy.level1)
    if level1:
        return Eligibility(Status.ELIGIBLE, (f"IAE : critère de niveau 1 ({', '.join(level1)})",))
    level2 = sorted(valid & policy.level2)
    needed = level2_needed(kind, policy)
    if len(level2) >= needed:
        return Eligibility(
            Status.ELIGIBLE, (f"IAE : {len(level2)} critères de niveau 2 ({', '.join(level2)}) pour {kind}",)
        )
    stale = {c.code for c in criteria if c.checked_on <= on} - valid
    reason = (f"IAE : ni critère de niveau 1 ni {needed} critères de niveau 2 pour {kind} "
              f"({len(level2)} valide(s) : {', '.join(level2) or 'aucun'})")
    if stale & (policy.level1 | policy.level2):
        reason += f" ; diagnostic de plus de {policy.diagnosis_validity_months} mois pour {', '.join(sorted(stale))}"
    return Eligibility(Status.NOT_ELIGIBLE, (reason,))


def placement_eligibility(
    criteria: Sequence[Criterion],
    first_start: dt.date | None,
    structure_kind: str | None,
    on: dt.date,
    policy: EligibilityPolicy,
) -> Eligibility:
    """Clause eligibility, plus the IAE rule when the route goes through an SIAE."""
    clause = clause_eligibility(criteria, first_start, on, policy)
    if not clause.eligible or not iae_applies(structure_kind, policy):
        return clause
    assert structure_kind is not None
    iae = iae_eligibility(criteria, structure_kind, on, policy)
    return Eligibility(iae.status, clause.reasons + iae.reasons, clause.window_ends)
