"""Delivery guarantees on a real nats-server: nothing lost, nothing counted twice.

market_intake (producer, outbox) → NATS JetStream → reporting (consumer, inbox), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
from harness import FAST, SECRET, TOKEN, declare_streams, eventually, running, wait_ready
from sqlalchemy import func, select

from contracts import spec_for
from examples import buyer_request, market_request
from services.market_intake.app import create_app as market_intake_app
from services.reporting import handlers as reporting_handlers
from services.reporting.app import create_app as reporting_app
from services.reporting.models import INFRA, MarketView, metadata
from shared.service import create_service_app
from shared.settings import ServiceSettings, load_settings

MARKET_SUBMITTED = spec_for("market.submitted")


async def create_buyer(client) -> str:
    response = await client.post("/buyers", json=buyer_request())
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def submit(client, buyer_id: str, reference: str) -> str:
    response = await client.post("/markets", json=market_request(buyer_id, reference))
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def market_rows(reporting) -> dict[str, int]:
    """reference -> number of rows in reporting's projection."""
    async with reporting.ctx.db.session() as session:
        rows = (await session.execute(select(MarketView.reference, func.count()).group_by(MarketView.reference))).all()
    return {ref: n for ref, n in rows}


def consumed(metrics_text: str, event_type: str) -> float:
    prefix = f'events_consumed_total{{consumer="reporting",event_type="{event_type}"}} '
    for line in metrics_text.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


async def test_event_reaches_consumer_once_when_producer_dies_between_commit_and_publish(database_url, nats_url):
    producer_db = database_url("market_intake")
    async with running(reporting_app, database_url=database_url("reporting"), nats_url=nats_url) as reporting:
        async with running(market_intake_app, database_url=producer_db, nats_url=nats_url) as producer:
            await wait_ready(producer)
            await producer.ctx.relay.stop()  # the relay dies: commits still happen, nothing is published
            buyer_id = await create_buyer(producer)
            await submit(producer, buyer_id, "CRASH-1")
            backlog, _ = await producer.ctx.relay.backlog()
            assert backlog == 2  # market.submitted + lot.clause_sized, committed with the market
        # The producer process is gone. Nothing reached reporting.
        await asyncio.sleep(0.5)
        assert await market_rows(reporting) == {}

        # A new producer process on the same database publishes what the dead one committed.
        async with running(market_intake_app, database_url=producer_db, nats_url=nats_url) as restarted:
            await eventually(lambda: market_rows(reporting))
            await eventually(lambda: _backlog_is_zero(restarted))
        assert await market_rows(reporting) == {"CRASH-1": 1}
        assert consumed((await reporting.get("/metrics")).text, "market.submitted") == 1.0


async def _backlog_is_zero(client) -> bool:
    backlog, _ = await client.ctx.relay.backlog()
    return backlog == 0


async def test_republish_after_a_crash_before_marking_is_dropped_by_jetstream(database_url, nats_url):
    async with running(reporting_app, database_url=database_url("reporting"), nats_url=nats_url) as reporting:
        async with running(market_intake_app, database_url=database_url("market_intake"), nats_url=nats_url) as producer:
            await wait_ready(producer)
            relay = producer.ctx.relay
            await relay.stop()
            await submit(producer, await create_buyer(producer), "TWICE-1")
            # Publish the pending rows, then "crash" before marking them published...
            async with producer.ctx.db.session() as session:
                rows = (await session.execute(relay._pending_query())).all()
            first = await relay._publish_rows(rows)
            assert all(ack.duplicate is not True for ack in first)
            # ...so the next relay publishes them again: JetStream recognises the Nats-Msg-Id.
            second = await relay._publish_rows(rows)
            assert all(ack.duplicate is True for ack in second)
            assert await relay.relay_once() == 2
            nc = await nats.connect(nats_url)
            try:
                info = await nc.jetstream().stream_info("MARKETS")
            finally:
                await nc.close()
            assert info.state.messages == 2
        await eventually(lambda: market_rows(reporting))
        await asyncio.sleep(0.3)
        assert await market_rows(reporting) == {"TWICE-1": 1}


async def test_nats_killed_mid_flow_loses_nothing_and_writes_go_on(database_url, nats_server):
    url = nats_server.url
    await declare_streams(url)  # MATCHING and HOURS, whose owners are not part of this test
    async with (
        running(reporting_app, database_url=database_url("reporting"), nats_url=url) as reporting,
        running(market_intake_app, database_url=database_url("market_intake"), nats_url=url) as producer,
    ):
        await wait_ready(producer)
        await wait_ready(reporting)
        buyer_id = await create_buyer(producer)
        for i in range(3):
            await submit(producer, buyer_id, f"FLOW-{i}")

        nats_server.kill()  # kill -9, mid-flow
        for i in range(3, 7):  # HTTP writes still succeed while NATS is down
            await submit(producer, buyer_id, f"FLOW-{i}")
        assert (await producer.get("/health/ready")).status_code == 503
        backlog, _ = await producer.ctx.relay.backlog()
        assert backlog > 0

        nats_server.start()  # same port, same store
        for i in range(7, 10):
            await submit(producer, buyer_id, f"FLOW-{i}")

        expected = {f"FLOW-{i}": 1 for i in range(10)}

        async def all_arrived() -> bool:
            return await market_rows(reporting) == expected

        await eventually(all_arrived, timeout=40)
        await eventually(lambda: _backlog_is_zero(producer))
        await asyncio.sleep(0.5)  # any late redelivery would show now
        assert await market_rows(reporting) == expected
        assert consumed((await reporting.get("/metrics")).text, "market.submitted") == 10.0
        assert await reporting.ctx.bus.pending_dead_letters() == 0
        await wait_ready(producer)


async def test_poison_event_lands_in_dead_letters_after_max_attempts_without_blocking(database_url, nats_url):
    attempts: dict[str, int] = {}

    async def fragile(session, event, envelope):
        attempts[event.reference] = attempts.get(event.reference, 0) + 1
        if event.reference == "POISON":
            raise RuntimeError("règle métier violée")
        await reporting_handlers.on_market_submitted(session, event, envelope)

    settings = load_settings(
        ServiceSettings, "reporting", database_url=database_url("reporting"), nats_url=nats_url,
        facilitator_token=TOKEN, token_secret=SECRET, **FAST,
    )
    app = create_service_app(
        settings=settings, title="t", description="t", metadata=metadata, tables=INFRA,
        migrations=Path(reporting_handlers.__file__).parent / "migrations", handlers={MARKET_SUBMITTED: fragile},
    )
    async with app.router.lifespan_context(app):
        ctx = app.state.ctx
        async with running(market_intake_app, database_url=database_url("market_intake"), nats_url=nats_url) as producer:
            buyer_id = await create_buyer(producer)
            await submit(producer, buyer_id, "BEFORE")
            await submit(producer, buyer_id, "POISON")
            for i in range(5):
                await submit(producer, buyer_id, f"AFTER-{i}")

            async def settled() -> bool:
                return await ctx.bus.pending_dead_letters() == 1 and len(attempts) == 7

            await eventually(settled, timeout=30)
        async with ctx.db.session() as session:
            dead = (await session.execute(select(ctx.tables.dead_letters))).one()
            refs = set((await session.execute(select(MarketView.reference))).scalars())
        assert dead.attempts == settings.consumer_max_deliver == 3
        assert "règle métier violée" in dead.error
        assert dead.subject == MARKET_SUBMITTED.subject
        assert attempts["POISON"] == 3  # bounded: tried exactly max_deliver times
        assert refs == {"BEFORE", *(f"AFTER-{i}" for i in range(5))}
        await asyncio.sleep(0.5)
        assert attempts["POISON"] == 3  # and never again once dead-lettered
