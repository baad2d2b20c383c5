"""Building a report from the read model: SQL aggregates (GROUP BY), shaped by the pure rules.

Hours and people come from cubes the handlers keep up to date (`hours_cube`: counted hours per buyer, market,
lot, modality, structure kind and month; `person_months`: per person, month, buyer and structure; `lot_months`:
per lot and month; `person_firsts`: each person's first month with counted hours, for new people), so a report
reads
a few thousand pre-aggregated rows instead of every entry; Python only rolls up small grouped rows and applies the
funders' small-cell rule. Definitions:
- hours: counted hours (latest version of each entry) whose month is in the period;
- people: distinct pseudonymous ids with counted hours > 0 in the period; new people: those with none before;
- companies: distinct awarded companies (SIRET) of the lots with hours in the period; new companies: those whose
  first month with counted hours (on the scope's lots) falls in the period; hours by company: the hours by lot rolled
  up by each lot's winning company; structures: distinct insertion structures with hours in the period;
- owed hours, lots, markets: lots awarded or closed whose dates overlap the period; percent: hours realised on those
  lots up to the period end ÷ their obligation; the same by clause kind, sector and buyer (`obligations_by`);
  pipeline: hours sized on lots not yet awarded;
- people by commune (nested in the EPCI), by EPCI, and living in the Pays de Rennes (its 4 EPCI);
- contracts: placements started in the period, by type and by duration band (`rules.duration_band`); exits at end:
  placements ended in the period (one per placement); at 6 months: follow-ups dated in the period;
- FTE: hours ÷ the annual FTE hours (1,607 by default), whatever the length of the period (DOMAIN.md): a quarter's
  FTE are a quarter of a year's at the same pace, and the four quarters add up to the year.
Who reads what (`rules.Audience`): buyers never get the people by public category (eligibility reasons); funders get
aggregates only — every people count under the threshold reads "< N", and in a breakdown of a total they see, more
cells are hidden ("masqué") until no hidden cell can be worked out by subtraction (`rules.protect_partition`).
"As of" a date: hours are recomputed from the entries recorded by then, minus the corrections recorded by then;
placements and follow-ups dated after it are left out; lots keep their current state (the projection keeps the
newest version of a lot only).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Uuid, case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from services.reporting import rules
from services.reporting.models import (
    FollowUpView,
    HourFact,
    HoursCube,
    LotMonth,
    LotProgressView,
    LotView,
    MarketView,
    PersonCategory,
    PersonFirst,
    PersonMonth,
    PersonView,
    PlacementView,
    StructureView,
    Supersession,
)
from shared.territory import Commune

F = HourFact.__table__
L = LotView.__table__
M = MarketView.__table__
P = PersonView.__table__
PC = PersonCategory.__table__
PL = PlacementView.__table__
FU = FollowUpView.__table__
LP = LotProgressView.__table__
S = Supersession.__table__
ST = StructureView.__table__
HC = HoursCube.__table__
PM = PersonMonth.__table__
LM = LotMonth.__table__
PF = PersonFirst.__table__
NIL = uuid.UUID(int=0)

ACTIVE = ("awarded", "closed")
NOT_AWARDED = ("draft", "submitted")


@dataclass(frozen=True)
class Policy:
    """Local policy values (settings)."""

    annual_fte_hours: Decimal = Decimal("1607")
    small_cell_threshold: int = 5
    targets: dict[str, Decimal] = field(default_factory=dict)  # e.g. {"qpv_share": 25, "women_share": 20} in %
    communes: dict[str, Commune] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    buyer_id: uuid.UUID | None = None
    as_of: dt.date | None = None

    @property
    def as_of_end(self) -> dt.datetime | None:
        if self.as_of is None:
            return None
        return dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def counted(scope: Scope) -> list[ColumnElement[bool]]:
    """Conditions selecting the counted hour entries as the history stood at `scope.as_of`: recorded by then and not
    replaced by a correction recorded by then."""
    assert scope.as_of_end is not None
    return [
        F.c.recorded_at < scope.as_of_end,
        ~exists().where(S.c.corrected_entry_id == F.c.entry_id, S.c.corrected_at < scope.as_of_end),
    ]


@dataclass(frozen=True)
class Sources:
    """Where the hours come from: the cubes the handlers maintain, or (for an "as of" date) the same shapes
    aggregated from the entries as they stood then. Both have a `centi` column (hours × 100)."""

    cube: Any  # buyer_id, market_id, lot_id, modality, structure_kind, month, centi
    people: Any  # beneficiary_id, month, buyer_id, structure_id, structure_kind, centi
    lots: Any  # lot_id, month, centi
    firsts: Any = None  # buyer_id (nil: all buyers), beneficiary_id, first_month; None: derived from `people`

    @staticmethod
    def of(scope: Scope) -> Sources:
        if scope.as_of is None:
            return Sources(HC, PM, LM, PF)
        where = counted(scope)
        kind = func.coalesce(F.c.structure_kind, "").label("structure_kind")
        sid = func.coalesce(F.c.structure_id, literal(NIL, type_=Uuid)).label("structure_id")
        cube = (select(F.c.buyer_id, F.c.market_id, F.c.lot_id, F.c.modality, kind, F.c.month,
                       func.sum(F.c.centi).label("centi"))
                .where(*where).group_by(F.c.buyer_id, F.c.market_id, F.c.lot_id, F.c.modality, kind, F.c.month)
                .subquery("cube_as_of"))
        people = (select(F.c.beneficiary_id, F.c.month, F.c.buyer_id, sid, kind, func.sum(F.c.centi).label("centi"))
                  .where(*where).group_by(F.c.beneficiary_id, F.c.month, F.c.buyer_id, sid, kind)
                  .subquery("people_as_of"))
        lots = (select(F.c.lot_id, F.c.month, func.sum(F.c.centi).label("centi"))
                .where(*where).group_by(F.c.lot_id, F.c.month).subquery("lots_as_of"))
        return Sources(cube, people, lots)


def _in(src: Any, scope: Scope, period: rules.Period | None = None, *, until: str | None = None
        ) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if period is not None:
        where.append(src.c.month.between(period.first_month, period.last_month))
    if until is not None:
        where.append(src.c.month <= until)
    if scope.buyer_id is not None:
        where.append(src.c.buyer_id == scope.buyer_id)
    return where


def hours_of(centi: Any) -> Decimal:
    return rules.hours(Decimal(int(centi or 0)) / 100)


def _lot_scope(scope: Scope) -> list[ColumnElement[bool]]:
    return [L.c.buyer_id == scope.buyer_id] if scope.buyer_id is not None else []


def _active_lots(scope: Scope, period: rules.Period) -> list[ColumnElement[bool]]:
    return [L.c.status.in_(ACTIVE), L.c.start_date <= period.end, L.c.end_date >= period.start, *_lot_scope(scope)]


async def _new_people(session: AsyncSession, scope: Scope, period: rules.Period, src: Sources) -> int:
    """People reached in the period with no counted hours before it, from `src.people` (probed once per person
    reached)."""
    pm = src.people
    reached = [*_in(pm, scope, period), pm.c.centi > 0]
    persons = select(pm.c.beneficiary_id).where(*reached).distinct().subquery("reached")
    earlier = pm.alias("earlier")
    before = [earlier.c.beneficiary_id == persons.c.beneficiary_id, earlier.c.month < period.first_month,
              earlier.c.centi > 0]
    if scope.buyer_id is not None:
        before.append(earlier.c.buyer_id == scope.buyer_id)
    return int((await session.execute(
        select(func.count()).select_from(persons).where(~exists().where(*before))
    )).scalar_one())


@dataclass(frozen=True)
class Obligations:
    """The lots awarded or closed of the scope, and the hours realised on each up to each period's end (hundredths,
    one column per period of `totals_of`)."""

    lots: list[Any]  # lot_id, market_id, buyer_id, sector, clause_kind, owed_hours, start_date, end_date
    realised: dict[uuid.UUID, tuple[Any, ...]]

    def active(self, period: rules.Period) -> list[Any]:
        return [r for r in self.lots if r.start_date <= period.end and r.end_date >= period.start]

    def realised_on(self, lot_id: uuid.UUID, i: int) -> Decimal:
        return hours_of(self.realised[lot_id][i] if lot_id in self.realised else 0)


async def obligations_of(session: AsyncSession, scope: Scope, periods: list[rules.Period], src: Sources
                         ) -> Obligations:
    lm = src.lots
    awarded = (await session.execute(
        select(L.c.lot_id, L.c.market_id, L.c.buyer_id, L.c.sector, L.c.clause_kind, L.c.owed_hours, L.c.start_date,
               L.c.end_date)
        .where(L.c.status.in_(ACTIVE), *_lot_scope(scope)))).all()
    untils = [p.last_month for p in periods]
    realised = {row[0]: row[1:] for row in (await session.execute(
        select(lm.c.lot_id, *(func.sum(case((lm.c.month <= u, lm.c.centi), else_=0)) for u in untils))
        .where(lm.c.month <= max(untils), lm.c.lot_id.in_(select(L.c.lot_id).where(L.c.status.in_(ACTIVE),
                                                                                    *_lot_scope(scope))))
        .group_by(lm.c.lot_id))).all()}
    return Obligations(list(awarded), realised)


async def totals(session: AsyncSession, scope: Scope, period: rules.Period, policy: Policy,
                 src: Sources | None = None) -> dict[str, Any]:
    """The headline figures of a period."""
    return (await totals_of(session, scope, [period], policy, src))[0]


async def totals_of(session: AsyncSession, scope: Scope, periods: list[rules.Period], policy: Policy,
                    src: Sources | None = None, obligations: Obligations | None = None) -> list[dict[str, Any]]:
    """The headline figures of several periods (a report's period, the previous one, the year to date) read
    together: one scan of the months they span per figure, each row flagged with the periods it falls in, instead
    of one set of queries per period."""
    src = src or Sources.of(scope)
    cube, pm, lm = src.cube, src.people, src.lots
    first, last = min(p.first_month for p in periods), max(p.last_month for p in periods)

    def span(t: Any) -> list[ColumnElement[bool]]:
        where = [t.c.month.between(first, last)]
        if scope.buyer_id is not None:
            where.append(t.c.buyer_id == scope.buyer_id)
        return where

    def flags(month: Any) -> list[Any]:
        return [func.max(case((month.between(p.first_month, p.last_month), 1), else_=0)).label(f"in_{i}")
                for i, p in enumerate(periods)]

    async def count_flagged(flagged: Any) -> list[int]:
        """How many rows of `flagged` (one per key, with in_<i> flags) are flagged in each period."""
        row = (await session.execute(select(*(func.coalesce(func.sum(flagged.c[f"in_{i}"]), 0)
                                              for i in range(len(periods)))))).one()
        return [int(v) for v in row]

    in_period = [lambda month, p=p: p.first_month <= month <= p.last_month for p in periods]
    centi_by_month = (await session.execute(
        select(cube.c.month, func.sum(cube.c.centi)).where(*span(cube)).group_by(cube.c.month))).all()
    hours_total = [hours_of(sum(int(c or 0) for m, c in centi_by_month if within(m))) for within in in_period]

    reached = [*span(pm), pm.c.centi > 0]
    people = await count_flagged(select(pm.c.beneficiary_id, *flags(pm.c.month))
                                 .where(*reached).group_by(pm.c.beneficiary_id).subquery())
    structures = await count_flagged(select(pm.c.structure_id, *flags(pm.c.month))
                                     .where(*reached, pm.c.structure_id != NIL).group_by(pm.c.structure_id).subquery())
    new_people = await _new_people_of(session, scope, periods, src)
    # companies (and new companies): the lots with hours in each period, read once, and each lot's company
    with_hours = {r[0]: r[1:] for r in (await session.execute(
        select(cube.c.lot_id, *flags(cube.c.month)).where(*span(cube), cube.c.centi > 0).group_by(cube.c.lot_id)
    )).all()}
    companies, new_companies = await _companies_of(session, scope, periods, src, with_hours)

    # lots awarded or closed, and the hours realised on each up to each period's end
    obligations = obligations or await obligations_of(session, scope, periods, src)
    out = []
    for i, period in enumerate(periods):
        active = obligations.active(period)
        owed_hours = rules.hours(sum((r.owed_hours for r in active), Decimal(0)) if active else None)
        realised_on_active = sum((obligations.realised_on(r.lot_id, i) for r in active), Decimal("0.00"))
        out.append({
            "hours": hours_total[i],
            "owed_hours": owed_hours,
            "realised_to_date_on_active_lots": realised_on_active,
            "percent": rules.percent(realised_on_active, owed_hours),
            "fte": rules.fte(hours_total[i], policy.annual_fte_hours),
            "people": people[i],
            "new_people": new_people[i],
            "companies": companies[i],
            "new_companies": new_companies[i],
            "structures": structures[i],
            "markets": len({r.market_id for r in active}),
            "lots": len(active),
        })
    return out


async def _companies_of(session: AsyncSession, scope: Scope, periods: list[rules.Period], src: Sources,
                        with_hours: dict[Any, tuple[int, ...]]) -> tuple[list[int], list[int]]:
    """Companies (SIRET of the lots' winners) with hours in each period (`with_hours`: lot → one flag per period),
    and the new ones: whose first month with counted hours on the scope's lots falls in the period — with hours in
    it and none on any of their lots before it, one index probe of `lot_months` per lot and period, stopping at the
    first month with hours. "As of" a date (no cubes), each company's first month is read from the entries."""
    lm, n = src.lots, len(periods)
    cube_probe = src.firsts is not None
    rows = (await session.execute(
        select(L.c.lot_id, L.c.company_siret,
               *((exists().where(lm.c.lot_id == L.c.lot_id, lm.c.month < p.first_month, lm.c.centi > 0)
                  for p in periods) if cube_probe else ()))
        .where(L.c.company_siret.is_not(None), *_lot_scope(scope)))).all()
    none = (0,) * n
    reached = [{r.company_siret for r in rows if with_hours.get(r.lot_id, none)[i]} for i in range(n)]
    if cube_probe:
        before = [{r.company_siret for r in rows if r[2 + i]} for i in range(n)]
        return [len(c) for c in reached], [len(reached[i] - before[i]) for i in range(n)]
    firsts = [m for (m,) in (await session.execute(
        select(func.min(lm.c.month)).select_from(lm.join(L, L.c.lot_id == lm.c.lot_id))
        .where(lm.c.month <= max(p.last_month for p in periods), lm.c.centi > 0,
               L.c.company_siret.is_not(None), *_lot_scope(scope))
        .group_by(L.c.company_siret))).all()]
    return [len(c) for c in reached], [rules.first_in(firsts, p) for p in periods]


async def _new_people_of(session: AsyncSession, scope: Scope, periods: list[rules.Period], src: Sources
                         ) -> list[int]:
    """People reached in each period with no counted hours before it: those whose first month falls in it
    (`person_firsts`, one index range); "as of" a date, probed once per person reached."""
    if src.firsts is None:
        return [await _new_people(session, scope, p, src) for p in periods]
    pf = src.firsts
    row = (await session.execute(
        select(*(func.coalesce(func.sum(case((pf.c.first_month.between(p.first_month, p.last_month), 1), else_=0)), 0)
                 for p in periods))
        .where(pf.c.buyer_id == (scope.buyer_id or NIL),
               pf.c.first_month.between(min(p.first_month for p in periods), max(p.last_month for p in periods)))
    )).one()
    return [int(v) for v in row]


async def hours_by(session: AsyncSession, scope: Scope, period: rules.Period, src: Sources
                   ) -> dict[str, list[dict[str, Any]]]:
    """One GROUP BY per dimension over the period's cube cells (sector and clause kind through the lots)."""
    c = src.cube
    where = _in(c, scope, period)

    async def by(column: Any, *, join_lots: bool = False) -> dict[str, Decimal]:
        query = select(column, func.sum(c.c.centi)).where(*where).group_by(column).having(func.sum(c.c.centi) != 0)
        if join_lots:
            query = query.select_from(c.outerjoin(L, L.c.lot_id == c.c.lot_id))
        rows = (await session.execute(query)).all()
        return {(rules.NONE_KIND if k in (None, "") else str(k)): hours_of(v) for k, v in rows}

    totals_by = {
        "buyer": await by(c.c.buyer_id),
        "market": await by(c.c.market_id),
        "lot": await by(c.c.lot_id),
        "sector": await by(L.c.sector, join_lots=True),
        "clause_kind": await by(L.c.clause_kind, join_lots=True),
        "modality": await by(c.c.modality),
        "structure_kind": await by(c.c.structure_kind),
        "month": {m: Decimal("0.00") for m in period.months} | await by(c.c.month),
    }
    lot_ids = [uuid.UUID(k) for k in totals_by["lot"]]
    lots = (await session.execute(
        select(L.c.lot_id, L.c.number, L.c.title, L.c.company_siret, L.c.company_name, M.c.reference)
        .select_from(L.outerjoin(M, M.c.market_id == L.c.market_id)).where(L.c.lot_id.in_(lot_ids))
    )).all() if lot_ids else []
    market_ids = [uuid.UUID(k) for k in totals_by["market"]]
    markets = (await session.execute(
        select(M.c.market_id, M.c.reference, M.c.title, M.c.buyer_id, M.c.buyer_name).where(M.c.market_id.in_(market_ids))
    )).all() if market_ids else []
    buyer_ids = [uuid.UUID(k) for k in totals_by["buyer"]]
    buyers = (await session.execute(
        select(M.c.buyer_id, func.max(M.c.buyer_name)).where(M.c.buyer_id.in_(buyer_ids)).group_by(M.c.buyer_id)
    )).all() if buyer_ids else []
    # hours by company: the hours by lot rolled up by each lot's winning company (none: lot not received or not
    # awarded yet); its name is the greatest of the names its lots carry (one SIRET, one row)
    company_of = {str(r.lot_id): r.company_siret for r in lots}
    totals_by["company"] = rules.rollup((company_of.get(lot), h) for lot, h in totals_by["lot"].items())
    company_names: dict[str, str] = {}
    for r in lots:
        if r.company_siret and r.company_name:
            company_names[r.company_siret] = max(company_names.get(r.company_siret, ""), r.company_name)
    labels = {
        "company": {siret: f"{name} (SIRET {siret})" for siret, name in company_names.items()},
        "buyer": {str(b): name for b, name in buyers},
        "market": {str(m.market_id): f"{m.reference} « {m.title} »" for m in markets},
        "lot": {str(r.lot_id): f"{r.reference or ''} — lot {r.number} « {r.title} »".strip(" —") for r in lots},
    }
    not_received = {"buyer": "Acheteur non encore reçu", "market": "Marché non encore reçu", "lot": "Lot non encore reçu"}
    for dim, names in labels.items():  # hours may arrive before their market: never show its bare UUID
        for key in totals_by[dim] if dim in not_received else ():
            names.setdefault(key, not_received[dim])
    for siret in totals_by["company"]:
        if siret != rules.NONE_KIND:
            labels["company"].setdefault(siret, f"SIRET {siret}")
    return {
        dim: rules.rows_of(dim, values, "hours", labels.get(dim), order="key" if dim == "month" else "value")
        for dim, values in totals_by.items()
    }


async def people_by(session: AsyncSession, scope: Scope, period: rules.Period, policy: Policy, src: Sources,
                    *, eligibility: bool = True) -> dict[str, dict[str, int]]:
    """People with counted hours in the period, by profile (counts of distinct pseudonymous ids); by public category
    (eligibility criteria) only if `eligibility` — the key is then absent, not empty."""
    pm = src.people
    reached = select(pm.c.beneficiary_id).where(*_in(pm, scope, period), pm.c.centi > 0).distinct().subquery()
    profiles = (await session.execute(
        select(P.c.gender, P.c.birth_year, P.c.qpv, P.c.education_level, P.c.commune_insee, func.count())
        .select_from(reached.outerjoin(P, P.c.beneficiary_id == reached.c.beneficiary_id))
        .group_by(P.c.gender, P.c.birth_year, P.c.qpv, P.c.education_level, P.c.commune_insee)
    )).all()
    categories = (await session.execute(
        select(PC.c.code, func.count())
        .select_from(reached.join(PC, PC.c.beneficiary_id == reached.c.beneficiary_id))
        .group_by(PC.c.code)
    )).all() if eligibility else None
    per_kind = select(pm.c.beneficiary_id, pm.c.structure_kind).where(*_in(pm, scope, period), pm.c.centi > 0) \
        .distinct().subquery()
    kinds = (await session.execute(
        select(per_kind.c.structure_kind, func.count()).group_by(per_kind.c.structure_kind)
    )).all()
    epci: dict[str, int] = {}
    by_commune: dict[str, int] = {}
    for *_, commune, n in profiles:
        key = rules.epci_of(commune, policy.communes)[0]
        epci[key] = epci.get(key, 0) + int(n)
        key = rules.commune_of(commune, policy.communes)[0]
        by_commune[key] = by_commune.get(key, 0) + int(n)
    out = {
        "gender": rules.count_by((r[0], r[5]) for r in profiles),
        "age_band": rules.count_by((rules.age_band(r[1], period.end), r[5]) for r in profiles),
        "qpv": rules.count_by((None if r[2] is None else str(bool(r[2])).lower(), r[5]) for r in profiles),
        "education_level": rules.count_by((r[3], r[5]) for r in profiles),
        "category": rules.count_by((r[0], r[1]) for r in categories) if categories is not None else None,
        "epci": epci,
        "commune": by_commune,
        "structure_kind": {(k or rules.NONE_KIND): int(n) for k, n in kinds},
    }
    return {dim: counts for dim, counts in out.items() if counts is not None}


def _placements_scope(scope: Scope) -> list[ColumnElement[bool]]:
    if scope.buyer_id is None:
        return []
    return [PL.c.lot_id.in_(select(L.c.lot_id).where(L.c.buyer_id == scope.buyer_id))]


def _known_by(column: Any, scope: Scope) -> list[ColumnElement[bool]]:
    return [] if scope.as_of is None else [column <= scope.as_of]


async def contracts_and_exits(session: AsyncSession, scope: Scope, period: rules.Period) -> dict[str, dict[str, int]]:
    contracts = (await session.execute(
        select(PL.c.contract_type, PL.c.start_date, PL.c.planned_end_date, func.count())
        .where(PL.c.start_date.between(period.start, period.end), *_placements_scope(scope),
               *_known_by(PL.c.start_date, scope))
        .group_by(PL.c.contract_type, PL.c.start_date, PL.c.planned_end_date)
    )).all()
    at_end = (await session.execute(
        select(PL.c.exit_category, func.count())
        .where(PL.c.ended_on.between(period.start, period.end), *_placements_scope(scope),
               *_known_by(PL.c.ended_on, scope))
        .group_by(PL.c.exit_category)
    )).all()
    follow_scope: list[ColumnElement[bool]] = []
    if scope.buyer_id is not None:
        follow_scope = [FU.c.placement_id.in_(select(PL.c.placement_id).where(*_placements_scope(scope)))]
    at_6_months = (await session.execute(
        select(FU.c.situation, func.count())
        .where(FU.c.followed_up_on.between(period.start, period.end), *follow_scope,
               *_known_by(FU.c.followed_up_on, scope))
        .group_by(FU.c.situation)
    )).all()
    return {
        "contracts_by_type": rules.count_by((r[0], r[3]) for r in contracts),
        "contracts_by_duration": rules.count_by((rules.duration_band(*r[:3]), r[3]) for r in contracts),
        "at_end": rules.count_by(at_end),
        "at_6_months": rules.count_by(at_6_months),
    }


async def lots_at_risk(session: AsyncSession, scope: Scope, period: rules.Period) -> list[dict[str, Any]]:
    rows = (await session.execute(
        select(L.c.lot_id, L.c.market_id, L.c.number, L.c.title, L.c.end_date, LP.c.owed_hours, LP.c.realised_hours,
               LP.c.forecast_hours, LP.c.percent, LP.c.as_of, M.c.reference, M.c.buyer_name)
        .select_from(LP.join(L, L.c.lot_id == LP.c.lot_id).outerjoin(M, M.c.market_id == L.c.market_id))
        .where(LP.c.at_risk.is_(True), *_active_lots(scope, period))
        .order_by(M.c.reference, L.c.number)
    )).all()
    return [
        {"lot_id": str(r.lot_id), "market_id": str(r.market_id), "market_reference": r.reference,
         "buyer_name": r.buyer_name, "number": r.number, "title": r.title, "end_date": r.end_date.isoformat(),
         "owed_hours": rules.hours(r.owed_hours), "realised_hours": rules.hours(r.realised_hours),
         "forecast_hours": rules.hours(r.forecast_hours), "percent": rules.hours(r.percent),
         "as_of": r.as_of.isoformat()}
        for r in rows
    ]


async def pipeline(session: AsyncSession, scope: Scope) -> dict[str, Any]:
    owed, lots = (await session.execute(
        select(func.sum(L.c.owed_hours), func.count()).where(L.c.status.in_(NOT_AWARDED), *_lot_scope(scope))
    )).one()
    return {"hours": rules.hours(owed), "lots": int(lots)}


async def structures_by_kind(session: AsyncSession, scope: Scope, period: rules.Period, src: Sources) -> dict[str, int]:
    pm = src.people
    used = select(pm.c.structure_id).where(*_in(pm, scope, period), pm.c.centi > 0, pm.c.structure_id != NIL) \
        .distinct().subquery()
    rows = (await session.execute(
        select(ST.c.kind, func.count())
        .select_from(used.outerjoin(ST, ST.c.structure_id == used.c.structure_id))
        .group_by(ST.c.kind)
    )).all()
    return rules.count_by(rows)


async def buyer_name(session: AsyncSession, buyer_id: uuid.UUID) -> str | None:
    return (await session.execute(select(func.max(M.c.buyer_name)).where(M.c.buyer_id == buyer_id))).scalar()


def _people_rows(dimension: str, counts: dict[str, int], protect: bool, threshold: int,
                 labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    shown: dict[str, Any] = rules.protect_breakdown(dimension, counts, threshold) if protect else counts
    return rules.rows_of(dimension, shown, "people", labels)


async def obligations_by(session: AsyncSession, period: rules.Period, obligations: Obligations
                         ) -> dict[str, list[dict[str, Any]]]:
    """The markets and lots the report counts as active in the period (awarded or closed, dates overlapping it), by
    clause kind, sector and buyer: markets, lots, owed hours, hours realised on them up to the period end, %."""
    active = obligations.active(period)
    buyer_ids = sorted({r.buyer_id for r in active})
    names = dict((await session.execute(
        select(M.c.buyer_id, func.max(M.c.buyer_name)).where(M.c.buyer_id.in_(buyer_ids)).group_by(M.c.buyer_id)
    )).all()) if buyer_ids else {}
    buyer_labels = {str(b): names.get(b) or "Acheteur non encore reçu" for b in buyer_ids}
    return {
        dim: rules.obligations_by(((str(getattr(r, column)), r.market_id, r.owed_hours,
                                    obligations.realised_on(r.lot_id, 0)) for r in active),
                                  buyer_labels if dim == "buyer" else None, dim)
        for dim, column in (("clause_kind", "clause_kind"), ("sector", "sector"), ("buyer", "buyer_id"))
    }


def territory_labels(policy: Policy) -> dict[str, dict[str, str]]:
    """French labels of the EPCI and commune keys (`rules.epci_of`, `rules.commune_of`), outside the referential
    included."""
    epci = {c.epci_siren: c.epci_name for c in policy.communes.values()}
    commune = {c.insee: rules.commune_of(c.insee, policy.communes)[1] for c in policy.communes.values()}
    outside = rules.epci_of("00000", {})
    epci[outside[0]] = outside[1]
    commune[rules.OUTSIDE] = rules.commune_of("00000", {})[1]
    return {"epci": epci, "commune": commune}


def epci_of_commune_key(key: str, policy: Policy) -> str:
    """The EPCI key of a commune key of the report (unknown and outside the referential stay as they are)."""
    commune = policy.communes.get(key)
    return commune.epci_siren if commune is not None else key


async def build_report(session: AsyncSession, period: rules.Period, scope: Scope, policy: Policy,
                       *, audience: rules.Audience) -> dict[str, Any]:
    """The whole report of a period, for a scope, as `audience` may read it: funders get the small-cell rule
    (`rules.protect_partition`, `rules.protect_cells`, `rules.protect_nested`, `rules.protect_part_of_total`,
    `rules.protect_durations`), buyers no eligibility reasons (`people_by.category`)."""
    threshold = policy.small_cell_threshold
    protect_people = audience.aggregates_only
    src = Sources.of(scope)
    previous = rules.previous_period(period)
    ytd = rules.year_to_date(period)  # a year to date's is itself: read once
    periods = [period, previous] + ([ytd] if ytd != period else [])
    obligations = await obligations_of(session, scope, periods, src)
    head, previous_totals, *rest = await totals_of(session, scope, periods, policy, src, obligations)
    ytd_totals = rest[0] if rest else head
    people = await people_by(session, scope, period, policy, src, eligibility=audience.sees_eligibility_reasons)
    ce = await contracts_and_exits(session, scope, period)

    # new people add up across periods (each counted in its first month): the previous period's, the period's and
    # the year to date's must not give one another away (2nd quarter: 1st + 2nd = year to date)
    new_people = rules.protect_additive(previous_totals["new_people"], head["new_people"], ytd_totals["new_people"],
                                        rules.adds_up([previous, period], ytd), threshold)

    def protect_totals(t: dict[str, Any], new: int | str) -> dict[str, Any]:
        if protect_people:
            t = {**t, "people": rules.suppress(t["people"], threshold), "new_people": new}
        return t

    labels = territory_labels(policy)
    people_rows = {
        dim: _people_rows(dim, counts, protect_people, threshold, labels.get(dim))
        for dim, counts in people.items() if dim != "commune"
    }
    epci_shown = rules.protect_breakdown("epci", people["epci"], threshold) if protect_people else people["epci"]
    # people by commune: nested in the EPCI breakdown, so protected within each EPCI cell the funder sees
    commune_shown = rules.protect_nested(
        people["commune"], {k: epci_of_commune_key(k, policy) for k in people["commune"]}, epci_shown, threshold,
    ) if protect_people else people["commune"]
    commune_labels = {**labels["commune"], **{
        f"{epci}:detail": f"Communes de {labels['epci'].get(epci) or rules.label('epci', epci)} (détail masqué)"
        for epci in people["epci"]}}
    people_rows = {**{k: v for k, v in people_rows.items() if k != "structure_kind"},
                   "commune": rules.rows_of("commune", commune_shown, "people", commune_labels),
                   "structure_kind": people_rows["structure_kind"]}
    pays_epci = rules.pays_de_rennes_epci(policy.communes)
    pays_people = sum(n for k, n in people["epci"].items() if k in pays_epci)
    pays_de_rennes = {
        "people": rules.protect_part_of_total(people["epci"], epci_shown, pays_epci, threshold)
        if protect_people else pays_people,
        "epci": len(pays_epci),
        "communes": sum(1 for c in policy.communes.values() if c.pays_de_rennes),
    }
    exits: dict[str, Any] = {
        moment: _people_rows("exit", ce[moment], protect_people, threshold) for moment in ("at_end", "at_6_months")
    }
    for moment in ("at_end", "at_6_months"):
        dynamic = sum(v for k, v in ce[moment].items() if k in rules.DYNAMIC_EXITS)
        # shown beside its parts, the sum of the dynamic exits must not give a hidden part away
        exits[f"{moment}_dynamic"] = rules.protect_subtotal(
            ce[moment], rules.protect_breakdown("exit", ce[moment], threshold), rules.DYNAMIC_EXITS, threshold,
        ) if protect_people else dynamic
    by_type = ce["contracts_by_type"]
    # the same contracts by duration: beside the types, it must not give a hidden cell of either away
    by_duration: dict[str, Any] = rules.protect_durations(
        ce["contracts_by_duration"], by_type, rules.protect_breakdown("contract_type", by_type, threshold), threshold,
    ) if protect_people else ce["contracts_by_duration"]
    return {
        "period": period.as_dict(),
        "buyer_id": str(scope.buyer_id) if scope.buyer_id else None,
        "buyer_name": await buyer_name(session, scope.buyer_id) if scope.buyer_id else None,
        "as_of": scope.as_of.isoformat() if scope.as_of else None,
        "totals": protect_totals(head, new_people[1]),
        "obligations_by": await obligations_by(session, period, obligations),
        "hours_by": await hours_by(session, scope, period, src),
        "people_by": people_rows,
        "pays_de_rennes": pays_de_rennes,
        "structures_by_kind": rules.rows_of("structure_kind", await structures_by_kind(session, scope, period, src),
                                            "structures"),
        "contracts_by_type": _people_rows("contract_type", by_type, protect_people, threshold),
        "contracts_by_duration": rules.rows_of("contract_duration", by_duration, "people"),
        "exits": exits,
        "lots_at_risk": await lots_at_risk(session, scope, period),
        "pipeline": await pipeline(session, scope),
        "targets": targets(policy, people, head, protect=protect_people),
        "previous_period": {"period": previous.as_dict(),
                            "totals": protect_totals(previous_totals, new_people[0])},
        "year_to_date": {"period": ytd.as_dict(), "totals": protect_totals(ytd_totals, new_people[2])},
    }


def targets(policy: Policy, people: dict[str, dict[str, int]], head: dict[str, Any], *, protect: bool = False
            ) -> list[dict[str, Any]]:
    """Territorial targets shown beside the figures (settings), e.g. the share of people living in a QPV.
    `protect` (funders): a share that would give a small cell away is not shown (None) — a share beside the total is
    its count, so it is hidden whenever the funder's breakdown hides that count (`rules.protect_breakdown`)."""
    total = head["people"]
    cells = {"qpv_share": ("qpv", "true"), "women_share": ("gender", "F")}
    counts = {key: people[dim].get(cell, 0) for key, (dim, cell) in cells.items()}

    def gives_away(key: str) -> bool:
        dim, cell = cells[key]
        shown = rules.protect_breakdown(dim, people[dim], policy.small_cell_threshold)
        return (rules.share_reveals_small_cell(counts[key], total, policy.small_cell_threshold)
                or rules.MASKED_KEY in shown or rules.is_hidden(shown.get(cell, 0)))

    actual = {
        key: None if protect and gives_away(key) else rules.percent(Decimal(n), Decimal(total))
        for key, n in counts.items()
    }
    names = {"qpv_share": "Part des personnes résidant en QPV (%)", "women_share": "Part des femmes (%)"}
    return [
        {"key": key, "label": names.get(key, key), "target": target, "actual": actual.get(key)}
        for key, target in sorted(policy.targets.items())
    ]

