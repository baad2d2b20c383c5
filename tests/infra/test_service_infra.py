"""The same infrastructure tests for every service, on SQLite and on PostgreSQL, against a real NATS server."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import nats
import pytest
from harness import declare_streams, eventually, publish_raw, running, wait_ready
from sqlalchemy import func, insert, inspect, select, text

from contracts import spec_for
from examples import OWN_EVENT, market_submitted_envelope
from services.hours.app import create_app as hours_app
from services.market_intake.app import create_app as market_intake_app
from services.matching.app import create_app as matching_app
from services.reporting.app import create_app as reporting_app
from shared import inbox

SERVICES = {
    "market_intake": market_intake_app,
    "matching": matching_app,
    "hours": hours_app,
    "reporting": reporting_app,
}
PRODUCERS = ["market_intake", "matching", "hours"]


def migration_head(ctx) -> str:
    from pathlib import Path

    from alembic.script import ScriptDirectory

    import services

    location = Path(services.__file__).parent / ctx.settings.service_name / "migrations"
    return ScriptDirectory(str(location)).get_current_head()
CONSUMERS_OF_MARKETS = ["matching", "hours", "reporting"]


@pytest.mark.parametrize("service", SERVICES)
async def test_starts_migrates_and_reports_health(service, database_url, nats_url):
    await declare_streams(nats_url)  # upstream producers have declared their streams
    async with running(SERVICES[service], database_url=database_url(service), nats_url=nats_url) as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await wait_ready(client)
        assert ready["checks"]["database"] == "ok"
        assert ready["checks"]["nats"] == "ok"
        assert ready["checks"]["outbox_backlog"] == 0
        assert ready["checks"]["dead_letters_pending"] == 0

        async with client.ctx.db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert {"outbox", "inbox", "dead_letters", "alembic_version"} <= tables
        assert version == migration_head(client.ctx)  # the head of this service's own history

        metrics = (await client.get("/metrics")).text
        for name in ("outbox_backlog", "outbox_oldest_age_seconds", "dead_letters_pending",
                     "http_request_duration_seconds_bucket"):
            assert name in metrics, name
        assert 'route="/health/ready"' in metrics


@pytest.mark.parametrize("service", SERVICES)
async def test_readiness_fails_while_nats_is_unreachable(service, database_url):
    from harness import free_port

    dead = f"nats://127.0.0.1:{free_port()}"
    async with running(SERVICES[service], database_url=database_url(service), nats_url=dead) as client:
        response = await client.get("/health/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["nats"] == "déconnecté"
        assert response.json()["checks"]["database"] == "ok"


@pytest.mark.parametrize("service", SERVICES)
async def test_inbox_claims_an_event_once_and_releases_it_on_rollback(service, database_url, nats_url):
    async with running(SERVICES[service], database_url=database_url(service), nats_url=nats_url) as client:
        ctx = client.ctx
        event_id = uuid.uuid4()
        async with ctx.db.session() as session, session.begin():
            assert await inbox.claim(session, ctx.tables, "test", event_id) is True
            assert await inbox.claim(session, ctx.tables, "test", event_id) is False
            assert await inbox.claim(session, ctx.tables, "other-consumer", event_id) is True

        rolled_back = uuid.uuid4()
        async with ctx.db.session() as session:
            async with session.begin():
                assert await inbox.claim(session, ctx.tables, "test", rolled_back) is True
                await session.rollback()
        async with ctx.db.session() as session, session.begin():
            assert await inbox.claim(session, ctx.tables, "test", rolled_back) is True  # the effect never happened


@pytest.mark.parametrize("service", PRODUCERS)
async def test_outbox_relay_publishes_with_event_id_as_msg_id(service, database_url, nats_url):
    event_type, example = OWN_EVENT[service]
    spec = spec_for(event_type, producer=service)
    await declare_streams(nats_url)
    async with running(SERVICES[service], database_url=database_url(service), nats_url=nats_url) as client:
        await wait_ready(client)
        ctx = client.ctx
        async with ctx.db.session() as session, session.begin():
            envelope = await ctx.outbox.emit(session, spec, example())

        async def published() -> bool:
            backlog, _ = await ctx.relay.backlog()
            return backlog == 0

        await eventually(published)
        nc = await nats.connect(nats_url)
        try:
            msg = await nc.jetstream().get_last_msg(spec.stream.name, spec.subject)
        finally:
            await nc.close()
        assert msg.headers["Nats-Msg-Id"] == str(envelope.event_id)
        assert uuid.UUID(json.loads(msg.data)["event_id"]) == envelope.event_id
        assert "outbox_published_total 1.0" in (await client.get("/metrics")).text


@pytest.mark.parametrize("service", CONSUMERS_OF_MARKETS)
async def test_consumer_applies_an_event_once_even_when_delivered_twice(service, database_url, nats_url):
    await declare_streams(nats_url)
    async with running(SERVICES[service], database_url=database_url(service), nats_url=nats_url) as client:
        await wait_ready(client)
        envelope, event = market_submitted_envelope(lots=2)
        subject = spec_for("market.submitted").subject
        body = envelope.model_dump_json().encode()
        # Two different Nats-Msg-Id: JetStream stores both, only the inbox can stop the second.
        await publish_raw(nats_url, subject, body, msg_id=f"{envelope.event_id}-a")
        await publish_raw(nats_url, subject, body, msg_id=f"{envelope.event_id}-b")
        ctx = client.ctx

        async def duplicates_seen() -> bool:
            return f'events_duplicate_total{{consumer="{service}"}} 1.0' in (await client.get("/metrics")).text

        await eventually(duplicates_seen)
        lots = ctx.tables.outbox.metadata.tables["lots"]
        async with ctx.db.session() as session:
            count = (await session.execute(select(func.count()).select_from(lots))).scalar_one()
            claims = (await session.execute(select(func.count()).select_from(ctx.tables.inbox))).scalar_one()
        assert count == 2
        assert claims == 1


@pytest.mark.parametrize("service", CONSUMERS_OF_MARKETS)
async def test_malformed_message_goes_to_dead_letters_without_blocking(service, database_url, nats_url):
    await declare_streams(nats_url)
    async with running(SERVICES[service], database_url=database_url(service), nats_url=nats_url) as client:
        await wait_ready(client)
        subject = spec_for("market.submitted").subject
        await publish_raw(nats_url, subject, b'{"this is": "not an envelope"', msg_id="poison-1")
        envelope, _ = market_submitted_envelope(lots=1)
        await publish_raw(nats_url, subject, envelope.model_dump_json().encode(), msg_id=str(envelope.event_id))
        ctx = client.ctx
        lots = ctx.tables.outbox.metadata.tables["lots"]

        async def settled() -> tuple[int, int] | None:
            async with ctx.db.session() as session:
                dead = (await session.execute(select(func.count()).select_from(ctx.tables.dead_letters))).scalar_one()
                good = (await session.execute(select(func.count()).select_from(lots))).scalar_one()
            return (dead, good) if dead and good else None

        assert await eventually(settled) == (1, 1)
        ready = (await client.get("/health/ready")).json()
        assert ready["checks"]["dead_letters_pending"] == 1
        assert f'dead_letters_total{{consumer="{service}"}} 1.0' in (await client.get("/metrics")).text


async def test_dead_letter_rows_are_counted_per_database(database_url, nats_url):
    """The pending dead-letter count reads the service's own table (not a process-wide counter)."""
    async with running(reporting_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        ctx = client.ctx
        async with ctx.db.session() as session, session.begin():
            await session.execute(insert(ctx.tables.dead_letters).values(
                consumer="reporting", subject="markets.x", payload="{}", error="test", attempts=3,
                created_at=datetime.now(UTC)))
        assert await ctx.bus.pending_dead_letters() == 1
