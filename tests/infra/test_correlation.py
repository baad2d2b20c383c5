"""The correlation id of a request is echoed, logged as JSON, and carried by the events it causes."""

from __future__ import annotations

import json
import logging

from harness import running
from sqlalchemy import select

from examples import buyer_request, market_request
from services.market_intake.app import create_app as market_intake_app
from shared.logs import JsonFormatter, correlation_id


def test_json_log_lines_carry_service_and_correlation_id():
    token = correlation_id.set("abc-123")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "lot %s attribué", ("7",), None)
        line = json.loads(JsonFormatter("hours").format(record))
    finally:
        correlation_id.reset(token)
    assert line["service"] == "hours"
    assert line["correlation_id"] == "abc-123"
    assert line["message"] == "lot 7 attribué"
    assert line["level"] == "INFO"


async def test_request_correlation_id_reaches_the_event(database_url, nats_url):
    async with running(market_intake_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        await client.ctx.relay.stop()  # keep the rows in the outbox to read them
        buyer_id = (await client.post("/buyers", json=buyer_request())).json()["id"]
        response = await client.post("/markets", json=market_request(buyer_id), headers={"X-Correlation-ID": "req-42"})
        assert response.status_code == 201
        assert response.headers["x-correlation-id"] == "req-42"
        outbox = client.ctx.tables.outbox
        async with client.ctx.db.session() as session:
            payloads = (await session.execute(select(outbox.c.payload))).scalars().all()
        assert payloads and all(json.loads(p)["correlation_id"] == "req-42" for p in payloads)

        generated = await client.get("/buyers")
        assert len(generated.headers["x-correlation-id"]) == 32  # one is made up when the caller sends none
