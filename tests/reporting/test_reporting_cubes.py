"""The in-memory cube cells (live batches and the rebuild's DeferredCubes) follow the cubes' tables exactly."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from contracts.events.hours import HourEntry
from services.reporting.handlers import CUBES, FACT_COLUMNS, NIL, _cells, _fact_row, _firsts
from services.reporting.models import HourFact


def test_cell_keys_are_in_the_order_of_each_cube_primary_key():
    # flush_cubes writes sorted cells straight into the tables: their keys must be the primary keys, in order
    for table, keys in CUBES:
        assert keys == tuple(c.name for c in table.primary_key.columns)
    assert FACT_COLUMNS == tuple(c.name for c in HourFact.__table__.columns)


def _entry(person: uuid.UUID, month: str, hours: str, structure: uuid.UUID | None = None) -> HourEntry:
    lot, market, buyer = uuid.UUID(int=7), uuid.UUID(int=8), uuid.UUID(int=9)
    return HourEntry(entry_id=uuid.uuid4(), placement_id=uuid.uuid4(), beneficiary_id=person, lot_id=lot,
                     market_id=market, buyer_id=buyer, employer_siret="12345678900011", structure_id=structure,
                     structure_kind="ACI" if structure else None, modality="provision" if structure else "direct_hire",
                     month=month, hours=Decimal(hours), kind="work")


def test_cells_add_hours_per_cell_and_first_months_ignore_cells_without_hours():
    a, b, s = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [_fact_row(_entry(a, "2026-02", "1.25", s), at), _fact_row(_entry(a, "2026-02", "2.50", s), at),
            _fact_row(_entry(a, "2026-01", "0"), at), _fact_row(_entry(b, "2026-03", "7.5"), at)]
    cube, people, lots = _cells(rows)
    buyer = 9
    assert people == {("2026-02", buyer, a.int, s.int, "ACI"): 375, ("2026-01", buyer, a.int, NIL.int, ""): 0,
                      ("2026-03", buyer, b.int, NIL.int, ""): 750}
    assert lots == {(7, "2026-02"): 375, (7, "2026-01"): 0, (7, "2026-03"): 750}
    assert sum(cube.values()) == 1125
    # a's January has no hours: a is first reached in February
    assert _firsts(people) == {(buyer, a.int): "2026-02", (0, a.int): "2026-02",
                               (buyer, b.int): "2026-03", (0, b.int): "2026-03"}
    # taking the same rows away leaves every cell at zero
    _cells(rows, -1, (cube, people, lots))
    assert set(cube.values()) == set(people.values()) == set(lots.values()) == {0}
