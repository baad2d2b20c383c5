"""Fault injection on the market flow: while markets are submitted, kill -9 the producer, the consumer and the
NATS server at random moments and restart them; then every accepted market is in reporting exactly once,
no outbox row stays unpublished, and no dead letter was written."""

from __future__ import annotations

import asyncio
import random

from chaos import chaos, leftovers, request
from harness import declare_streams, eventually
from procs import ServiceProcess

from examples import buyer_request, market_request

MARKETS = 120
SEED = 20121
KILLS_EACH = 2


async def test_kill_9_producer_consumer_and_nats_loses_and_doubles_nothing(tmp_path, nats_server):
    rng = random.Random(SEED)
    await declare_streams(nats_server.url)  # MATCHING and HOURS, whose owners are not part of this test
    producer = ServiceProcess("market_intake", tmp_path, nats_server.url)
    consumer = ServiceProcess("reporting", tmp_path, nats_server.url)
    for p in (producer, consumer):
        p.start()
    try:
        producer.wait_ready(120)
        consumer.wait_ready(120)
        async with producer.client() as client:
            buyer_id = (await client.post("/buyers", json=buyer_request())).json()["id"]

        accepted: dict[str, str] = {}  # reference -> market id
        done = asyncio.Event()

        async def workload() -> None:
            for i in range(MARKETS):
                reference = f"K-{i:04d}"
                r = await request(producer, "POST", "/markets", json=market_request(buyer_id, reference))
                if r.status_code == 201:
                    accepted[reference] = r.json()["id"]
                elif r.status_code == 409:  # committed before a kill ate the answer
                    page = (await request(producer, "GET", "/markets", params={"limit": 200})).json()
                    accepted[reference] = next(m["id"] for m in page["items"] if m["reference"] == reference)
                else:
                    raise AssertionError(f"{r.status_code} {r.text}")
            done.set()

        victims = {"market_intake": producer, "reporting": consumer, "nats": nats_server}
        _, kills = await asyncio.wait_for(asyncio.gather(workload(), chaos(rng, victims, done, KILLS_EACH)),
                                          timeout=240)
        assert len(accepted) == MARKETS
        assert min(kills.values()) >= KILLS_EACH, kills

        async with consumer.client() as reporting, producer.client() as intake:
            async def all_projected() -> bool:
                results = await asyncio.gather(*(reporting.get(f"/reports/markets/{mid}") for mid in accepted.values()))
                return all(r.status_code == 200 for r in results)

            await eventually(all_projected, timeout=60, interval=0.5)

            async def drained() -> dict | None:
                ready = (await intake.get("/health/ready")).json()
                return ready if ready["checks"].get("outbox_backlog") == 0 else None

            await eventually(drained, timeout=30, interval=0.2)
            consumer_ready = (await reporting.get("/health/ready")).json()
            assert consumer_ready["checks"]["dead_letters_pending"] == 0
            metrics = (await reporting.get("/metrics")).text

        # Exactly once: the projection holds each accepted market once (primary key), and the lots once each.
        for mid in accepted.values():
            async with consumer.client() as reporting:
                report = (await reporting.get(f"/reports/markets/{mid}")).json()
            assert len(report["lots"]) == 1
        assert "events_consumed_total" in metrics
        for p in (producer, consumer):
            assert leftovers(tmp_path / f"{p.name}.db") == {"outbox_unpublished": 0, "dead_letters": 0}, p.name
    finally:
        for p in (producer, consumer):
            p.stop()
