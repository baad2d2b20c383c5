"""A consumer started again under a new durable name (`consumer_durable_version`) with an empty database reads the
streams from their start and rebuilds the same projection: reporting's report, hours' lots and placements."""

from __future__ import annotations

from typing import Any

from harness import declare_streams, eventually, running, wait_ready
from sqlalchemy import select

from reporting.reporting_support import consumers_drained, publish_all  # tests/ is on the path: by folder
from reporting.reporting_world import by_stream, generate
from services.hours.app import create_app as hours_app
from services.hours.models import LotRef, Placement
from services.reporting.app import create_app as reporting_app

YEAR = 2026


async def caught_up(client: Any, url: str) -> None:
    await wait_ready(client)
    await eventually(lambda: consumers_drained(url, client.ctx.bus), timeout=60, interval=0.2)


async def reporting_view(client: Any) -> list[Any]:
    """The annual report and every quarter's, as the API gives them."""
    answers = [await client.get("/reports/annual", params={"year": YEAR})]
    answers += [await client.get("/reports/quarterly", params={"year": YEAR, "quarter": q}) for q in range(1, 5)]
    assert all(a.status_code == 200 for a in answers)
    return [a.json() for a in answers]


async def hours_view(client: Any) -> dict[str, Any]:
    """The lots and placements hours keeps from MARKETS and MATCHING, and every lot's progress."""
    async with client.ctx.db.session() as session:
        lots = sorted(map(dict, (await session.execute(select(LotRef.__table__))).mappings()), key=str)
        placements = sorted(map(dict, (await session.execute(select(Placement.__table__))).mappings()), key=str)
    progress = [(await client.get(f"/lots/{lot['lot_id']}/progress")).json() for lot in lots]
    return {"lots": lots, "placements": placements, "progress": progress}


async def test_a_new_durable_on_an_empty_database_rebuilds_the_same_projection(database_url, nats_url):
    world = generate(seed=11, year=YEAR, people=30, markets=3)
    await declare_streams(nats_url)  # the producers are not part of this test: the world plays them
    published = await publish_all(nats_url, world.events)
    assert published == len(world.events)
    assert set(by_stream(world.events)) == {"MARKETS", "MATCHING", "HOURS"}

    views = []
    for version, suffix in (("v1", ""), ("v2", "_rebuilt")):
        settings = {"nats_url": nats_url, "consumer_durable_version": version}
        async with (running(reporting_app, database_url=database_url(f"reporting{suffix}"), **settings) as reporting,
                    running(hours_app, database_url=database_url(f"hours{suffix}"), **settings) as hours):
            await caught_up(reporting, nats_url)
            await caught_up(hours, nats_url)
            assert {c.durable for c in reporting.ctx.bus.consumers.values()} == {
                f"reporting_{s}_{version}" for s in ("markets", "matching", "hours")}
            views.append((await reporting_view(reporting), await hours_view(hours)))

    (report, hours), (rebuilt_report, rebuilt_hours) = views
    assert report[0]["totals"]["hours"] > 0 and hours["placements"], "the first projection must not be empty"
    assert rebuilt_report == report
    assert rebuilt_hours == hours
    assert len(hours["placements"]) == len(world.placements)
