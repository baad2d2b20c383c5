"""Pure checks of an imported statement, row by row (no I/O): the same rules as a single entry (the lot's period and
the placement's dates, the kind its modality admits, the caps), plus duplicates inside the file and rows already
recorded (identical ⇒ skipped, so importing a file twice adds nothing).

Built for a million rows: values that repeat (placements, months, hours, kinds) are parsed once per distinct value.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from contracts.codes import HourKind, Modality
from services.hours import rules
from services.hours.sheets import COLUMNS, LABELS, Header, Row

Key = tuple[uuid.UUID, str, str]  # placement, month, kind
_IntKey = tuple[int, str, str]  # the same with the placement's 128-bit integer (hashes in C)
TRAINING = HourKind.TRAINING.value


class ParsedRow(NamedTuple):
    row: int
    placement_id: uuid.UUID
    month: str
    kind: str  # "" when not written: `check_rows` gives accepted rows the kind their placement decides
    hundredths: int


class RowProblem(NamedTuple):
    row: int
    column: str
    message: str


@dataclass
class Checked:
    accepted: list[ParsedRow] = field(default_factory=list)
    already_recorded: int = 0
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({p.row for p in self.problems})


def _column(header: Header, name: str) -> str:
    return header.names.get(name, LABELS.get(name, name))


def _placement(raw: Any) -> uuid.UUID:
    text = str(raw if raw is not None else "").strip()
    if not text:
        raise rules.RuleError("placement_id", "identifiant de placement manquant")
    try:
        return uuid.UUID(text)
    except ValueError:
        raise rules.RuleError("placement_id", f"identifiant de placement invalide « {text} » (UUID attendu)") from None


def _hundredths(raw: Any) -> int:
    return rules.hours_to_hundredths(rules.parse_hours(raw))


def _kind(raw: Any) -> str:
    """The kind written, or "" when the cell is empty: the placement decides (`check_rows`)."""
    kind = rules.parse_kind(raw)
    return "" if kind is None else kind.value


PARSERS: tuple[Callable[[Any], Any], ...] = (_placement, rules.parse_month, _hundredths, _kind)  # in COLUMNS order


def _parse_cell(i: int, raw: Any, cache: dict[Any, Any]) -> Any:
    """The parsed value of one cell, or the RuleError it raised (both cached by raw value when hashable)."""
    try:
        value = PARSERS[i](raw)
    except rules.RuleError as exc:
        value = exc
    try:
        cache[raw] = value
    except TypeError:
        pass
    return value


def parse_rows(header: Header, rows: Iterable[Row]) -> Iterator[ParsedRow | RowProblem]:
    """Each row becomes a ParsedRow, or one RowProblem per bad cell."""
    names = [_column(header, c) for c in COLUMNS]
    c0, c1, c2, c3 = caches = [{}, {}, {}, {}]  # raw cell -> value, or the RuleError it raised
    error = rules.RuleError
    for number, cells in rows:
        try:
            values = (c0[cells[0]], c1[cells[1]], c2[cells[2]], c3[cells[3]])
        except (KeyError, TypeError):
            values = tuple(_parse_cell(i, raw, caches[i]) for i, raw in enumerate(cells))
        if error in (values[0].__class__, values[1].__class__, values[2].__class__, values[3].__class__):
            yield from (RowProblem(number, names[i], v.message) for i, v in enumerate(values) if isinstance(v, error))
        else:
            yield ParsedRow(number, values[0], values[1], values[3], values[2])


@dataclass(frozen=True)
class Known:
    """What the database knows, loaded in bulk before the checks."""

    placements: dict[uuid.UUID, rules.PlacementView]
    lot_missing: frozenset[uuid.UUID]  # placements whose lot market_intake has not published yet
    current: dict[Key, int]  # current hundredths per (placement, month, kind)


def check_rows(header: Header, parsed: Iterable[ParsedRow | RowProblem], known: Known, policy: rules.Policy,
               today: dt.date) -> Checked:
    out = Checked()
    current_month = rules.month_of(today)
    first_row: dict[_IntKey, int] = {}
    current: dict[_IntKey, int] = {(pid.int, month, kind): h for (pid, month, kind), h in known.current.items()}
    month_total: dict[tuple[int, str], int] = {}
    training_total: dict[tuple[int, str], int] = {}
    for (pid_int, month, kind), hundredths in current.items():
        month_total[(pid_int, month)] = month_total.get((pid_int, month), 0) + hundredths
        if kind == TRAINING:
            training_total[(pid_int, month)] = training_total.get((pid_int, month), 0) + hundredths
    active: dict[tuple[int, str], rules.RuleError | None] = {}  # (placement, month) -> refusal, once

    placements = {pid.int: view for pid, view in known.placements.items()}
    lot_missing = {pid.int for pid in known.lot_missing}
    training_placements = {pid_int for pid_int, view in placements.items() if view.modality == Modality.TRAINING}
    work_kind = rules.entry_kind(None, None).value  # an empty kind on any other placement

    def training_kind(written: str) -> str | rules.RuleError:
        try:
            return rules.entry_kind(written or None, Modality.TRAINING).value
        except rules.RuleError as exc:
            return exc

    training_kinds = {written: training_kind(written) for written in ("", *(k.value for k in HourKind))}

    def placement_refusal(pid_int: int, month: str) -> rules.RuleError | None:
        try:
            rules.check_month(month, current_month)
            rules.check_placement(placements.get(pid_int), month)
            if pid_int in lot_missing:
                raise rules.RuleError("placement_id", rules.LOT_UNKNOWN)
        except rules.RuleError as exc:
            return exc
        return None

    def problem(row: int, name: str, message: str) -> None:
        out.problems.append(RowProblem(row, _column(header, name), message))

    accept = out.accepted.append
    for item in parsed:
        if isinstance(item, RowProblem):
            out.problems.append(item)
            continue
        row, pid, month, kind, hundredths = item
        pid_int = pid.int
        if pid_int in training_placements:  # the placement's modality decides the kind, or refuses the one written
            resolved = training_kinds[kind]
            if isinstance(resolved, rules.RuleError):
                problem(row, resolved.field, resolved.message)
                continue
            if resolved != kind:
                kind = resolved
                item = ParsedRow(row, pid, month, kind, hundredths)
        elif not kind:
            kind = work_kind
            item = ParsedRow(row, pid, month, kind, hundredths)
        key = (pid_int, month, kind)
        if key in first_row:
            problem(row, "placement_id", f"doublon de la ligne {first_row[key]} (même placement, mois et type)")
            continue
        first_row[key] = row
        existing = current.get(key)
        if existing is not None:
            if existing == hundredths:
                out.already_recorded += 1
            else:
                problem(row, "hours", f"des heures sont déjà saisies pour ce placement, ce mois et ce type "
                                      f"({rules.format_hours(existing)} h) : faites une correction")
            continue
        pm = (pid_int, month)
        if pm in active:
            refusal = active[pm]
        else:
            refusal = active[pm] = placement_refusal(pid_int, month)
        if refusal is not None:
            problem(row, refusal.field, refusal.message)
            continue
        new_month = month_total.get(pm, 0) + hundredths
        new_training = training_total.get(pm, 0)
        if kind == TRAINING:
            new_training += hundredths
        try:
            rules.check_caps(kind, hundredths, new_month, new_training, policy)
        except rules.RuleError as exc:
            problem(row, exc.field, exc.message)
            continue
        month_total[pm] = new_month
        training_total[pm] = new_training
        accept(item)
    return out
