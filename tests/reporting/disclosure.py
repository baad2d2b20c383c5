"""An independent attacker for the funders' small-cell rule: what a funder can work out of a breakdown.

The funder sees each cell ('< N', 'masqué' or a number), knows the rule (`rules.protect_partition`) and knows a sum
of some cells (a partition's total, the "dynamic" exits). From that alone it lists, by brute force over the sums the
other hidden cells can reach, every value each hidden cell can take; a hidden cell with a single possible value is
given away. Pure, no I/O; independent of the interval arithmetic of `rules.reveals_hidden_cell`.
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


def assert_nothing_given_away(full: dict, funder: dict, threshold: int = 5) -> None:
    """The funder's report (`funder`) against the facilitator's (`full`) of the same period and scope: every people
    count is protected, and no hidden cell comes out of a total or of the "dynamic" exits sum shown beside it."""
    people = full["totals"]["people"]
    assert funder["totals"]["people"] == rules.suppress(people, threshold)
    for dimension, rows in funder["people_by"].items():
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
