"""An independent attacker for the funders' small-cell rule: what a funder can work out of a breakdown.

The funder sees each cell ('< N', 'masqué' or a number), knows the rule (`rules.protect_partition`) and knows a sum
of some cells (a partition's total, the "dynamic" exits). From that alone it lists, by brute force over the sums the
other hidden cells can reach, every value each hidden cell can take; a hidden cell with a single possible value is
given away. Independent of the interval arithmetic of `rules.reveals_hidden_cell`; the
only I/O is the communes file (which EPCI each commune belongs to, read again here).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.reporting import rules


def reader_ranges(shown: Mapping[str, int | str], threshold: int, known_sum: int) -> dict[str, range]:
    """What the labels tell of each hidden cell: '< N' is 1 to N−1; 'masqué' is N or more and, as the rule hides the
    smallest cell first, no more than the smallest non-zero cell still shown."""
    ceiling = min((v for v in shown.values() if isinstance(v, int) and v > 0), default=known_sum)
    return {key: range(threshold, ceiling + 1) if value == rules.MASKED else range(1, threshold)
            for key, value in shown.items() if isinstance(value, str)}


def possible_values(ranges: Mapping[str, range], total: int) -> dict[str, set[int]]:
    """Every value each cell can take when the cells (each in its range) add up to `total`."""
    out: dict[str, set[int]] = {}
    for key, own in ranges.items():
        reachable = {0}
        for other, values in ranges.items():
            if other != key:
                reachable = {s + v for s in reachable for v in values if s + v <= total}
        out[key] = {v for v in own if total - v in reachable}
    return out


def given_away(shown: Mapping[str, int | str], threshold: int, known_sum: int,
               keys: Iterable[str] | None = None) -> set[str]:
    """Hidden cells (among `keys`, all by default) whose value a funder who knows the sum of those cells can tell."""
    if rules.MASKED_KEY in shown:
        return set()  # hidden whole: not even which cells are non-zero
    chosen = set(shown) if keys is None else set(keys) & set(shown)
    ranges = {k: r for k, r in reader_ranges(shown, threshold, known_sum).items() if k in chosen}
    rest = known_sum - sum(v for k, v in shown.items() if k in chosen and isinstance(v, int))
    return {key for key, values in possible_values(ranges, rest).items()
            if len(values) == 1 and len(ranges[key]) > 1}


def given_away_by_two(shown_a: Mapping[str, int | str], shown_b: Mapping[str, int | str], threshold: int) -> set[str]:
    """Hidden cells of two breakdowns of one total the funder does not see (contracts by type and by duration) that
    the funder can tell: every total both can reach, and for each, every value of each hidden cell."""
    parts = []
    for shown in (shown_a, shown_b):
        if rules.MASKED_KEY in shown:
            return set()
        exact = sum(v for v in shown.values() if isinstance(v, int))
        ranges = reader_ranges(shown, threshold, 10 * threshold + exact)
        parts.append((exact, ranges))
    low = max(exact + sum(r.start for r in ranges.values()) for exact, ranges in parts)
    high = min(exact + sum(r.stop - 1 for r in ranges.values()) for exact, ranges in parts)
    seen: dict[tuple[int, str], set[int]] = {}
    for total in range(low, high + 1):
        values = [possible_values(ranges, total - exact) for exact, ranges in parts]
        if all(all(v for v in side.values()) for side in values):  # this total is consistent with both
            for side, found in enumerate(values):
                for key, vals in found.items():
                    seen.setdefault((side, key), set()).update(vals)
    return {f"{side}:{key}" for (side, key), vals in seen.items()
            if len(vals) == 1 and len(parts[side][1][key]) > 1}


# people breakdowns that split the people total the funder sees (rules.PEOPLE_PARTITIONS, written again on purpose)
PARTITIONS = ("gender", "age_band", "qpv", "education_level", "epci", "structure_kind")
TARGET_CELLS = {"qpv_share": ("qpv", "true"), "women_share": ("gender", "F")}


def check_cells(counts: Mapping[str, int], shown: Mapping[str, int | str], threshold: int) -> None:
    """Each cell of the funder's breakdown against the facilitator's: true when shown, '< N' exactly for the small
    ones, 'masqué' only for N or more; or the breakdown hidden whole."""
    if rules.MASKED_KEY in shown:
        assert shown == {rules.MASKED_KEY: rules.MASKED}
        return
    assert set(shown) == set(counts), (shown, counts)
    for key, value in counts.items():
        if 0 < value < threshold:
            assert shown[key] == f"< {threshold}", (key, value, shown)
        elif shown[key] == rules.MASKED:
            assert value >= threshold, (key, value)
        else:
            assert shown[key] == value, (key, value, shown)


def epci_of_communes() -> dict[str, str]:
    from reporting_world import epci_of_commune

    return epci_of_commune()


PAYS_DE_RENNES = {"243500139", "243500667", "243500774", "243500659"}  # its 4 EPCI (communes file, pays_de_rennes=1)


def check_communes(full: dict, funder: dict, threshold: int) -> None:
    """People by commune, nested in the EPCI: within each EPCI cell the funder sees, no hidden commune comes out of
    it; an EPCI's communes shown as one row show the EPCI cell exactly as the EPCI breakdown does."""
    epci_of = epci_of_communes()
    counts = {r["key"]: r["people"] for r in full["people_by"]["commune"]}
    shown = {r["key"]: r["people"] for r in funder["people_by"]["commune"]}
    epci_shown = {r["key"]: r["people"] for r in funder["people_by"]["epci"]}
    if rules.MASKED_KEY in epci_shown:
        assert shown == {rules.MASKED_KEY: rules.MASKED}
        return
    groups: dict[str, list[str]] = {}
    for key in counts:
        groups.setdefault(epci_of.get(key, key), []).append(key)
    for epci, communes in groups.items():
        if f"{epci}:detail" in shown:
            assert shown[f"{epci}:detail"] == epci_shown[epci] and not set(communes) & set(shown), epci
            continue
        group_counts = {k: counts[k] for k in communes}
        group_shown = {k: shown[k] for k in communes}
        if len(communes) == 1:
            assert group_shown[communes[0]] == epci_shown[epci], epci
            continue
        assert isinstance(epci_shown[epci], int), (epci, group_shown)  # a hidden EPCI tells nothing of its communes
        check_cells(group_counts, group_shown, threshold)
        assert given_away(group_shown, threshold, epci_shown[epci]) == set(), (epci, group_shown)


def check_pays_de_rennes(full: dict, funder: dict, threshold: int) -> None:
    """The people living in the Pays de Rennes: the sum of its 4 EPCI cells, the rest the sum of the others."""
    value, shown = full["pays_de_rennes"]["people"], funder["pays_de_rennes"]["people"]
    epci = {r["key"]: r["people"] for r in full["people_by"]["epci"]}
    epci_shown = {r["key"]: r["people"] for r in funder["people_by"]["epci"]}
    assert value == sum(n for k, n in epci.items() if k in PAYS_DE_RENNES)
    if isinstance(shown, int):
        rest = sum(epci.values()) - value
        assert shown == value and (shown == 0 or (shown >= threshold and not 0 < rest < threshold))
        if shown:
            inside = [k for k in epci_shown if k in PAYS_DE_RENNES]
            outside = [k for k in epci_shown if k not in PAYS_DE_RENNES]
            assert given_away(epci_shown, threshold, value, inside) == set()
            assert given_away(epci_shown, threshold, rest, outside) == set()
    elif shown == f"< {threshold}":
        assert 0 < value < threshold
        assert all(isinstance(v, int) for k, v in epci_shown.items() if k not in PAYS_DE_RENNES)
    else:
        assert shown == rules.MASKED and value > 0


def assert_nothing_given_away(full: dict, funder: dict, threshold: int = 5) -> None:
    """The funder's report (`funder`) against the facilitator's (`full`) of the same period and scope: every people
    count is protected, and no hidden cell comes out of a total or of the "dynamic" exits sum shown beside it."""
    people = full["totals"]["people"]
    assert funder["totals"]["people"] == rules.suppress(people, threshold)
    check_communes(full, funder, threshold)
    check_pays_de_rennes(full, funder, threshold)
    types = {r["key"]: r["people"] for r in funder["contracts_by_type"]}
    durations = {r["key"]: r["people"] for r in funder["contracts_by_duration"]}
    if rules.MASKED_KEY not in durations:
        full_durations = {r["key"]: r["people"] for r in full["contracts_by_duration"]}
        assert set(durations) == set(full_durations)
        for key, value in full_durations.items():
            assert durations[key] == value or (durations[key] == f"< {threshold}" and 0 < value < threshold) or (
                durations[key] == rules.MASKED and value >= threshold), (key, value, durations)
    assert given_away_by_two(types, durations, threshold) == set(), (types, durations)
    for dimension, rows in funder["people_by"].items():
        if dimension == "commune":
            continue
        counts = {r["key"]: r["people"] for r in full["people_by"][dimension]}
        shown = {r["key"]: r["people"] for r in rows}
        check_cells(counts, shown, threshold)
        if dimension in PARTITIONS and people >= threshold:
            if dimension != "structure_kind":
                assert sum(counts.values()) == people, dimension  # a true partition of the total shown
            assert given_away(shown, threshold, sum(counts.values())) == set(), (dimension, shown)
    for section in ("contracts_by_type",):
        check_cells({r["key"]: r["people"] for r in full[section]}, {r["key"]: r["people"] for r in funder[section]},
                    threshold)
    for moment in ("at_end", "at_6_months"):
        counts = {r["key"]: r["people"] for r in full["exits"][moment]}
        shown = {r["key"]: r["people"] for r in funder["exits"][moment]}
        check_cells(counts, shown, threshold)
        dynamic = funder["exits"][f"{moment}_dynamic"]
        if isinstance(dynamic, int):
            assert dynamic == full["exits"][f"{moment}_dynamic"]
            assert given_away(shown, threshold, dynamic, rules.DYNAMIC_EXITS) == set(), (moment, shown, dynamic)
        else:
            assert dynamic in (f"< {threshold}", rules.MASKED)
    for target in funder["targets"]:
        if target["actual"] is not None:  # a share beside the total is its count: the count must be shown
            dimension, cell = TARGET_CELLS[target["key"]]
            shown = {r["key"]: r["people"] for r in funder["people_by"][dimension]}
            assert isinstance(shown.get(cell, 0), int) and rules.MASKED_KEY not in shown, target
