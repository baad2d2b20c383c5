"""Properties (hypothesis), on one running service per module (SQLite, real NATS):
- for any sequence of entries, imports and corrections, realised hours = the sum of the latest versions, and the
  lots' monthly totals (`lot_month_hours`) = the sums of the current entries;
- re-importing any accepted file (the same bytes, or the same rows saved differently) changes nothing;
- a rejected file writes nothing."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
from harness import running
from hours_support import csv_bytes, lot_month_totals, post_file, seed_lot, seed_placements, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.hours.app import create_app

MONTHS = ["2026-02", "2026-03", "2026-04", "2026-05"]
KINDS = ["work", "training"]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, nats_session_url: str):
    """(run, client): `run(coro)` runs on the loop that owns the service."""
    runner = asyncio.Runner()
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('hours') / 'hours.db'}"
    context = running(create_app, database_url=url, nats_url=nats_session_url)
    client = runner.run(context.__aenter__())
    try:
        yield runner.run, client
    finally:
        runner.run(context.__aexit__(None, None, None))
        runner.close()


async def fresh_placements(client: Any, count: int) -> tuple[uuid.UUID, list[str]]:
    market = await seed_lot(client.ctx)
    placements = await seed_placements(client.ctx, market.lots[0].lot_id, count=count)
    return market.lots[0].lot_id, [str(p.placement_id) for p in placements]


def hours_for(kind: str) -> st.SearchStrategy[Decimal]:
    # within the caps: work ≤ 150 h + training ≤ 35 h stays under 200 h a month
    top = 15000 if kind == "work" else 3500
    return st.integers(1, top).map(lambda h: Decimal(h).scaleb(-2))


record_op = st.tuples(st.just("record"), st.integers(0, 2), st.sampled_from(MONTHS), st.sampled_from(KINDS)).flatmap(
    lambda t: st.tuples(st.just(t), hours_for(t[3])))
import_op = st.tuples(st.just("import"), st.lists(
    st.tuples(st.integers(0, 2), st.sampled_from(MONTHS), st.just("work"), st.integers(1, 15000)), min_size=1, max_size=5))
correct_op = st.tuples(st.just("correct"), st.integers(0, 50), st.integers(0, 3500).map(lambda h: Decimal(h).scaleb(-2)))


@SETTINGS
@given(ops=st.lists(st.one_of(record_op, correct_op, import_op), min_size=1, max_size=25))
def test_realised_hours_are_the_sum_of_the_latest_versions(service, ops):
    run, client = service

    async def scenario() -> None:
        lot_id, pids = await fresh_placements(client, 3)
        latest: dict[tuple[str, str, str], tuple[str, Decimal]] = {}
        entries: list[str] = []
        corrected: set[str] = set()
        for op in ops:
            if op[0] == "import":  # a statement of new keys (a key already recorded would be refused or skipped)
                rows, seen = [], set()
                for p, month, kind, h in op[1]:
                    if (pids[p], month, kind) not in latest and (pids[p], month, kind) not in seen:
                        seen.add((pids[p], month, kind))
                        rows.append([pids[p], month, str(Decimal(h).scaleb(-2)), kind])
                if not rows:
                    continue
                response = await post_file(client, csv_bytes(rows))
                assert response.status_code == 200 and response.json()["accepted"] == len(rows), response.text
                for pid in {r[0] for r in rows}:
                    for h in (await client.get("/hours", params={"placement_id": pid})).json():
                        key = (pid, h["month"], h["kind"])
                        if key in seen and h["current"]:
                            latest[key] = (h["id"], Decimal(h["hours"]))
                            entries.append(h["id"])
                continue
            if op[0] == "correct":
                _, index, hours = op
                if not entries:
                    continue
                target = entries[index % len(entries)]
                key = next(k for k, (eid, _) in latest.items() if eid == target) if target not in corrected else None
                response = await client.post(f"/hours/{target}/corrections", json={"hours": str(hours), "reason": "relevé rectifié"})
                if target in corrected:
                    assert response.status_code == 409, response.text
                    continue
                assert response.status_code == 201, response.text
                corrected.add(target)
                latest[key] = (response.json()["id"], hours)
                entries.append(response.json()["id"])
            else:
                (_, p, month, kind), hours = op
                key = (pids[p], month, kind)
                response = await client.post("/hours", json={"placement_id": pids[p], "month": month, "hours": str(hours), "kind": kind})
                if key in latest:
                    assert response.status_code == 409, response.text
                    continue
                assert response.status_code == 201, response.text
                latest[key] = (response.json()["id"], hours)
                entries.append(response.json()["id"])
        expected = sum((h for _, h in latest.values()), Decimal(0))
        progress = (await client.get(f"/lots/{lot_id}/progress")).json()
        assert Decimal(progress["realised_hours"]) == expected
        current = []
        for pid in pids:
            current += [(h["id"], Decimal(h["hours"])) for h in (await client.get("/hours", params={"placement_id": pid})).json()
                        if h["current"]]
        assert sorted(current) == sorted(latest.values())
        kept, summed = await lot_month_totals(client.ctx)
        assert kept == summed  # the lots' monthly totals are the sums of the current entries

    run(scenario())


rows_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(MONTHS), st.sampled_from(KINDS)), min_size=1, max_size=30, unique=True
).flatmap(lambda keys: st.tuples(st.just(keys), st.lists(st.integers(1, 3500), min_size=len(keys), max_size=len(keys))))
layout = st.fixed_dictionaries({"sep": st.sampled_from([";", ",", "\t"]), "comma": st.booleans(), "bom": st.booleans(),
                                "encoding": st.sampled_from(["utf-8", "cp1252"]), "spaces": st.booleans(),
                                "blank_every": st.integers(0, 4), "french_kind": st.booleans()})


def render(rows: list[tuple[str, str, str, int]], fmt: dict[str, Any]) -> bytes:
    lines = []
    for i, (pid, month, kind, hundredths) in enumerate(rows):
        hours = f"{Decimal(hundredths).scaleb(-2)}"
        if fmt["comma"]:
            hours = hours.replace(".", ",")
            if fmt["sep"] == ",":
                hours = f'"{hours}"'
        if fmt["french_kind"]:
            kind = {"work": "Travail", "training": "formation"}[kind]
        pad = "  " if fmt["spaces"] else ""
        lines.append([f"{pid}{pad}", month, f"{pad}{hours}{pad}", f"{kind}{pad}"])
        if fmt["blank_every"] and i % fmt["blank_every"] == 0:
            lines.append(["", "", "", ""])
    return csv_bytes(lines, sep=fmt["sep"], bom=fmt["bom"] and fmt["encoding"] == "utf-8", encoding=fmt["encoding"])


@SETTINGS
@given(data=rows_strategy, first=layout, second=layout)
def test_reimporting_an_accepted_file_changes_nothing(service, data, first, second):
    run, client = service
    keys, hours = data

    async def scenario() -> None:
        _, pids = await fresh_placements(client, 4)
        rows = [(pids[p], month, kind, h) for (p, month, kind), h in zip(keys, hours, strict=True)]
        accepted = await post_file(client, render(rows, first))
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["accepted"] == len(rows)
        before = await snapshot(client.ctx)
        same = await post_file(client, render(rows, first))
        assert same.json()["status"] == "already_imported"
        assert await snapshot(client.ctx) == before
        resaved = await post_file(client, render(rows, second) + b"\n")
        assert resaved.status_code == 200, resaved.text
        assert (resaved.json()["accepted"], resaved.json()["already_recorded"]) == (0, len(rows))
        after = await snapshot(client.ctx)
        kept, summed = await lot_month_totals(client.ctx)
        assert kept == summed
        assert {k: v for k, v in after.items() if k != "hour_imports"} == {k: v for k, v in before.items() if k != "hour_imports"}

    run(scenario())


BAD_ROWS = {
    "uuid": lambda pid: ["pas-un-placement", "2026-03", "7", ""],
    "unknown": lambda pid: [str(uuid.uuid4()), "2026-03", "7", ""],
    "future": lambda pid: [pid, "2999-01", "7", ""],
    "month": lambda pid: [pid, "mars", "7", ""],
    "hours": lambda pid: [pid, "2026-04", "7,555", ""],
    "zero": lambda pid: [pid, "2026-04", "0", ""],
    "kind": lambda pid: [pid, "2026-04", "7", "congés"],
    "cap": lambda pid: [pid, "2026-04", "250", ""],
    "before_start": lambda pid: [pid, "2026-01", "7", ""],
}


@SETTINGS
@given(data=rows_strategy, bad=st.lists(st.sampled_from(sorted(BAD_ROWS)), min_size=1, max_size=3),
       position=st.integers(0, 30), fmt=layout)
def test_a_rejected_file_writes_nothing(service, data, bad, position, fmt):
    run, client = service
    keys, hours = data

    async def scenario() -> None:
        _, pids = await fresh_placements(client, 4)
        rows = [[pids[p], month, kind, str(Decimal(h).scaleb(-2))] for (p, month, kind), h in zip(keys, hours, strict=True)]
        for name in bad:  # bad rows use a fifth month, so they never duplicate a good row
            rows.insert(position % (len(rows) + 1), BAD_ROWS[name](pids[0]))
        before = await snapshot(client.ctx)
        response = await post_file(client, csv_bytes(rows, sep=fmt["sep"] if fmt["sep"] != "," else ";"))
        assert response.status_code == 422, response.text
        assert response.json()["accepted"] == 0 and response.json()["rejected"] >= 1
        assert await snapshot(client.ctx) == before

    run(scenario())
