"""POST /admin/rebuild replays the streams (real NATS) into fresh tables: the reports after equal the reports before,
even when the read model had been damaged."""

from __future__ import annotations

from harness import SECRET, declare_streams, eventually, running, wait_ready
from reporting_support import publish_all
from reporting_world import generate
from sqlalchemy import delete, func, select

from services.reporting.app import create_app
from services.reporting.models import HoursCube, PersonView
from shared.auth import Role, issue_token

YEAR = 2026


async def _reports(client) -> list[dict]:
    out = [(await client.get("/reports/annual", params={"year": YEAR})).json()]
    for q in (1, 4):
        out.append((await client.get("/reports/quarterly", params={"year": YEAR, "quarter": q})).json())
    return out


async def test_rebuild_gives_identical_reports_and_repairs_a_damaged_projection(database_url, nats_url):
    w = generate(seed=17, year=YEAR, people=120, markets=6)
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        await wait_ready(client)
        await publish_all(nats_url, w.events)
        inbox = client.ctx.tables.inbox

        async def inbox_count() -> int:
            async with client.ctx.db.session() as s:
                return (await s.execute(select(func.count()).select_from(inbox))).scalar_one()

        await eventually(lambda: _equals(inbox_count, len(w.events)), timeout=60)
        before = await _reports(client)
        assert before[0]["totals"]["hours"] > 0

        funder = {"Authorization": f"Bearer {issue_token(SECRET, Role.FUNDER)}"}
        assert (await client.post("/admin/rebuild", headers=funder)).status_code == 403

        # damage the read model: lose some cube cells and some profiles
        async with client.ctx.db.session() as s, s.begin():
            await s.execute(delete(HoursCube).where(HoursCube.month <= f"{YEAR}-03"))
            await s.execute(delete(PersonView).where(PersonView.gender == "F"))
        assert await _reports(client) != before

        response = await client.post("/admin/rebuild")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["events"] == len(w.events) and body["skipped"] == 0
        assert await _reports(client) == before
        assert await inbox_count() == len(w.events)

        # a second rebuild changes nothing either
        assert (await client.post("/admin/rebuild")).json()["events"] == len(w.events)
        assert await _reports(client) == before


async def _equals(count, expected: int) -> bool:
    return await count() == expected
