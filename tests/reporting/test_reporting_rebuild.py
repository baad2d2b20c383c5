"""POST /admin/rebuild replays the streams (real NATS) into fresh tables: the reports after equal the reports before,
even when the read model had been damaged."""

from __future__ import annotations

from decimal import Decimal

from harness import SECRET, declare_streams, eventually, running, wait_ready
from reporting_support import publish_all
from reporting_world import generate
from sqlalchemy import delete, func, select

from contracts import new_envelope
from contracts.events.hours import HoursRecorded
from services.reporting.app import create_app
from services.reporting.models import HoursCube, PersonView
from services.reporting.rebuild import rebuild
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


async def test_an_entry_sent_again_in_another_event_counts_once_live_and_after_a_rebuild(database_url, nats_url):
    """A rebuild first appends a batch of entries whole: an entry already there (here sent again in a new event,
    some of them corrected since) must make it fall back to sorting them out, not count twice nor fail."""
    w = generate(seed=23, year=YEAR, people=40, markets=3)
    recorded = [HoursRecorded.model_validate(e.data) for e in w.events if e.event_type == "hours.recorded"]
    again = [new_envelope("hours.recorded", 1, "hours", HoursRecorded(entries=[*r.entries[:5]])) for r in recorded[:3]]
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        await wait_ready(client)
        inbox = client.ctx.tables.inbox

        async def inbox_count() -> int:
            async with client.ctx.db.session() as s:
                return (await s.execute(select(func.count()).select_from(inbox))).scalar_one()

        await publish_all(nats_url, w.events)
        await eventually(lambda: _equals(inbox_count, len(w.events)), timeout=60)
        before = await _reports(client)
        assert Decimal(str(before[0]["totals"]["hours"])) == w.hours(f"{YEAR}-01", f"{YEAR}-12")

        await publish_all(nats_url, again)
        await eventually(lambda: _equals(inbox_count, len(w.events) + len(again)), timeout=60)
        assert await _reports(client) == before

        body = (await client.post("/admin/rebuild")).json()
        assert body["events"] == len(w.events) + len(again) and body["skipped"] == 0
        assert await _reports(client) == before
        # one message per batch: the entries sent again meet their first copy in the table, not in the batch
        assert (await rebuild(client.ctx, fetch_batch=1)).events == len(w.events) + len(again)
        assert await _reports(client) == before
