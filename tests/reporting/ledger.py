"""A report's figures checked against the generated world's own ledger (`reporting_world.World`), computed here
independently of the reporting service: totals, markets and lots, and every breakdown of any period."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from reporting_world import COMMUNES_CSV, World, epci_of_commune


def rows(report_rows: list[dict], value: str = "hours") -> dict[str, Decimal]:
    return {r["key"]: Decimal(str(r[value])) for r in report_rows}


def money(values: dict[str, Decimal]) -> dict[str, Decimal]:
    return {k: v.quantize(Decimal("0.01")) for k, v in values.items()}


def check_totals(t: dict, w: World, first: str, last: str, start: dt.date, end: dt.date,
                 buyer_id=None) -> None:  # noqa: ANN001 - a uuid or None
    """The headline figures of a period (months `first` to `last`, days `start` to `end`)."""
    assert Decimal(str(t["hours"])) == w.hours(first, last, buyer_id)
    assert t["people"] == len(w.people_in(first, last, buyer_id))
    assert t["new_people"] == len(w.new_people(first, last, buyer_id))
    positive = [e for e in w.counted(first, last, buyer_id) if e.hours > 0]
    assert t["structures"] == len({e.structure_id for e in positive if e.structure_id})
    assert t["companies"] == len({w.lots[e.lot_id].company_siret for e in positive})
    active = w.active_lots(start, end, buyer_id)
    assert Decimal(str(t["owed_hours"])) == sum((lot.owed_hours for lot in active), Decimal("0"))
    assert t["lots"] == len(active)
    assert t["markets"] == len({lot.market_id for lot in active})
    # new companies: first month with counted hours (> 0) of each company, over the whole history
    firsts: dict[str, str] = {}
    for e in w.entries.values():
        if e.hours > 0 and (buyer_id is None or e.buyer_id == buyer_id):
            siret = w.lots[e.lot_id].company_siret
            firsts[siret] = min(firsts.get(siret, "9999-99"), e.month)
    assert t["new_companies"] == sum(1 for m in firsts.values() if first <= m <= last)


def check_period(report: dict, w: World, first: str, last: str, start: dt.date, end: dt.date) -> None:
    check_totals(report["totals"], w, first, last, start, end)
    check_obligations(report, w, w.active_lots(start, end), last)


def share(part: Decimal, whole: Decimal) -> float | None:
    return None if whole <= 0 else float((100 * part / whole).quantize(Decimal("0.1"), ROUND_HALF_UP))


def check_obligations(report: dict, w: World, active: list, last: str) -> None:
    """Markets and lots active in the period by clause kind, sector and buyer: counts, owed, realised to date, %."""
    realised = {lot.lot_id: sum((e.hours for e in w.entries.values() if e.lot_id == lot.lot_id and e.month <= last),
                                Decimal(0)) for lot in active}
    for dimension, key_of in (("clause_kind", lambda lot: lot.clause_kind.value),
                              ("sector", lambda lot: lot.sector.value), ("buyer", lambda lot: str(lot.buyer_id))):
        expected: dict[str, tuple] = {}
        for key in {key_of(lot) for lot in active}:
            lots = [lot for lot in active if key_of(lot) == key]
            owed = sum((lot.owed_hours for lot in lots), Decimal(0))
            done = sum((realised[lot.lot_id] for lot in lots), Decimal(0))
            expected[key] = (len({lot.market_id for lot in lots}), len(lots), float(owed), float(done),
                             share(done, owed))
        got = {r["key"]: (r["markets"], r["lots"], r["owed_hours"], r["realised_hours"], r["percent"])
               for r in report["obligations_by"][dimension]}
        assert got == expected, dimension
    buyers = {str(m.buyer_id): m.buyer_name for m in w.markets.values()}
    assert all(r["label"] == buyers[r["key"]] for r in report["obligations_by"]["buyer"])


def _key(value: object) -> str:
    """An enum member's value, or the value itself, as the report's key."""
    return str(getattr(value, "value", value))


def _count(keys: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key in keys:
        out[key] = out.get(key, 0) + 1
    return out


def _age_band(age: int) -> str:
    return "<26" if age < 26 else "26-49" if age < 50 else "50+"


def check_breakdowns(report: dict, w: World, first: str, last: str, start: dt.date, end: dt.date) -> None:
    """Every breakdown of a facilitator's report of all buyers (hours, people, structures, contracts, exits, Pays
    de Rennes) against the ledger, for the months `first` to `last` (days `start` to `end`)."""
    counted = w.counted(first, last)
    def hours_by(key_of) -> dict[str, Decimal]:  # noqa: ANN001 - entry → key
        out: dict[str, Decimal] = {}
        for e in counted:
            out[key_of(e)] = out.get(key_of(e), Decimal(0)) + e.hours
        return money({k: v for k, v in out.items() if v != 0})

    hours = report["hours_by"]
    assert rows(hours["buyer"]) == hours_by(lambda e: str(e.buyer_id))
    assert rows(hours["market"]) == hours_by(lambda e: str(e.market_id))
    assert rows(hours["lot"]) == hours_by(lambda e: str(e.lot_id))
    assert rows(hours["company"]) == hours_by(lambda e: w.lots[e.lot_id].company_siret)
    assert rows(hours["sector"]) == hours_by(lambda e: _key(w.lots[e.lot_id].sector))
    assert rows(hours["clause_kind"]) == hours_by(lambda e: _key(w.lots[e.lot_id].clause_kind))
    assert rows(hours["modality"]) == hours_by(lambda e: _key(e.modality))
    assert rows(hours["structure_kind"]) == hours_by(lambda e: _key(e.structure_kind) if e.structure_kind else "none")
    months = [f"{start.year}-{m:02d}" for m in range(start.month, end.month + 1)]
    by_month = hours_by(lambda e: e.month)
    assert rows(hours["month"]) == {m: by_month.get(m, Decimal("0.00")) for m in months}
    assert [r["key"] for r in hours["month"]] == months

    reached = sorted(w.people_in(first, last))
    people = report["people_by"]
    profile = [w.people[b] for b in reached]
    epci = epci_of_commune()
    assert rows(people["gender"], "people") == _count([_key(p.gender) for p in profile])
    assert rows(people["age_band"], "people") == _count([_age_band(end.year - p.birth_year) for p in profile])
    assert rows(people["qpv"], "people") == _count([str(p.qpv).lower() for p in profile])
    assert rows(people["education_level"], "people") == _count([_key(p.education_level) for p in profile])
    assert rows(people["category"], "people") == _count([c for b in reached for c in w.categories[b]])
    assert rows(people["epci"], "people") == _count([epci.get(p.commune_insee, "hors_referentiel") for p in profile])
    assert rows(people["commune"], "people") == _count(
        [p.commune_insee if p.commune_insee in epci else "hors_referentiel" for p in profile])
    kinds = {(e.beneficiary_id, _key(e.structure_kind) if e.structure_kind else "none") for e in counted if e.hours > 0}
    assert rows(people["structure_kind"], "people") == _count([kind for _, kind in kinds])
    with COMMUNES_CSV.open(encoding="utf-8") as f:
        pays = {r["insee_code"] for r in csv.DictReader(f) if r["pays_de_rennes"] == "1"}
    assert report["pays_de_rennes"]["people"] == sum(1 for p in profile if p.commune_insee in pays)

    structures = {e.structure_id for e in counted if e.hours > 0 and e.structure_id}
    assert rows(report["structures_by_kind"], "structures") == _count(
        [_key(w.structures[s].kind) for s in structures])
    started = [p for p in w.placements.values() if start <= p.start_date <= end]
    assert rows(report["contracts_by_type"], "people") == _count([_key(p.contract_type) for p in started])
    assert sum(r["people"] for r in report["contracts_by_duration"]) == len(started)
    assert rows(report["exits"]["at_end"], "people") == _count(
        [_key(e.exit_category) for e in w.ended.values() if start <= e.end_date <= end])
    assert rows(report["exits"]["at_6_months"], "people") == _count(
        [_key(f.situation) for f in w.follow_ups.values() if start <= f.followed_up_on <= end])
