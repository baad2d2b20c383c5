"""`GET /admin/dead-letters`: every service lists its unresolved dead letters, to facilitators only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from harness import SECRET, running
from sqlalchemy import insert

from services.hours.app import create_app as hours_app
from shared.auth import Role, issue_token


async def test_lists_pending_dead_letters_newest_first_to_facilitators_only(database_url, nats_url):
    async with running(hours_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        ctx = client.ctx
        now = datetime.now(UTC)
        event_id = uuid.uuid4()
        async with ctx.db.session() as session, session.begin():
            await session.execute(insert(ctx.tables.dead_letters), [
                {"consumer": "hours", "subject": "markets.lot.awarded.v1", "event_id": event_id, "payload": "{}",
                 "error": "ValueError('lot inconnu')", "attempts": 3, "created_at": now, "resolved_at": None},
                {"consumer": "hours", "subject": "markets.market.submitted.v1", "event_id": None, "payload": "{",
                 "error": "message invalide : " + "x" * 900, "attempts": 1, "created_at": now, "resolved_at": None},
                {"consumer": "hours", "subject": "matching.placement.started.v1", "event_id": None, "payload": "{}",
                 "error": "réglé", "attempts": 3, "created_at": now, "resolved_at": now},
            ])

        answer = await client.get("/admin/dead-letters")
        assert answer.status_code == 200
        body = answer.json()
        assert body["service"] == "hours"
        assert body["pending"] == 2
        assert [i["subject"] for i in body["items"]] == ["markets.market.submitted.v1", "markets.lot.awarded.v1"]
        newest, oldest = body["items"]
        assert len(newest["error"]) == 500 and newest["event_id"] is None
        assert oldest["event_id"] == str(event_id) and oldest["attempts"] == 3
        assert "payload" not in oldest

        assert len((await client.get("/admin/dead-letters", params={"limit": 1})).json()["items"]) == 1
        buyer = issue_token(SECRET, Role.BUYER, buyer_id=uuid.uuid4())
        refused = await client.get("/admin/dead-letters", headers={"Authorization": f"Bearer {buyer}"})
        assert refused.status_code == 403
        assert (await client.get("/admin/dead-letters", headers={"Authorization": ""})).status_code == 401
