"""On the real NATS server: a lot from market_intake and a placement from matching → entries → correction →
progress, and the events hours publishes on its HOURS stream."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import nats
from harness import declare_streams, eventually, publish_raw, running, wait_ready
from hours_support import envelope, placement_ended, placement_started

from contracts import spec_for
from examples import market_submitted
from services.hours.app import create_app


async def publish(nats_url: str, event_type: str, data, producer: str) -> None:
    env = envelope(event_type, data, producer)
    await publish_raw(nats_url, spec_for(event_type, producer=producer).subject, env.model_dump_json().encode(),
                      msg_id=str(env.event_id))


async def hours_stream(nats_url: str) -> list[dict]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("hours.>", stream="HOURS")
        messages = []
        while True:
            try:
                batch = await sub.fetch(100, timeout=0.5)
            except nats.errors.TimeoutError:
                break
            messages += [json.loads(m.data) for m in batch]
        return messages
    finally:
        await nc.close()


async def test_placement_to_entries_correction_progress_and_events(database_url, nats_url):
    await declare_streams(nats_url)  # market_intake and matching own their streams
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        await wait_ready(client)
        market = market_submitted()
        lot = market.lots[0].model_copy(update={"start_date": dt.date(2026, 1, 1), "end_date": dt.date(2026, 12, 31),
                                                "owed_hours": Decimal("280")})
        market.lots = [lot]
        started = placement_started(lot.lot_id, start_date=dt.date(2026, 1, 1))
        other = placement_started(lot.lot_id, start_date=dt.date(2026, 1, 1), modality="direct_hire",
                                  structure_kind=None, structure_id=None, contract_type="CDI")
        # matching's end of `other` overtakes its start on the wire
        await publish(nats_url, "placement.ended", placement_ended(other, dt.date(2026, 12, 31)), "matching")
        await publish(nats_url, "placement.started", started, "matching")
        await publish(nats_url, "placement.started", other, "matching")
        await publish(nats_url, "market.submitted", market, "market_intake")

        async def accepted(body: dict) -> dict | None:
            response = await client.post("/hours", json=body)
            return response.json() if response.status_code == 201 else None

        first = await eventually(lambda: accepted({"placement_id": str(started.placement_id), "month": "2026-02",
                                                   "hours": "120"}))
        second = await eventually(lambda: accepted({"placement_id": str(other.placement_id), "month": "2026-02",
                                                    "hours": "100"}))
        correction = await client.post(f"/hours/{first['id']}/corrections",
                                       json={"hours": "190", "reason": "relevé ETTI complété"})
        assert correction.status_code == 201, correction.text

        progress = (await client.get(f"/lots/{lot.lot_id}/progress")).json()
        assert (progress["owed_hours"], progress["realised_hours"], progress["target_reached"]) == ("280.00", "290.00", True)
        assert progress["by_modality"] == {"provision": "190.00", "direct_hire": "100.00"}

        async def published() -> list[dict] | None:
            events = await hours_stream(nats_url)
            return events if sum(e["event_type"] == "lot.progressed" for e in events) == 3 else None

        events = await eventually(published)
        types = [e["event_type"] for e in events]
        assert types.count("hours.recorded") == 2 and types.count("hours.corrected") == 1
        assert types.count("lot.target_reached") == 1
        recorded = [e["data"]["entries"][0] for e in events if e["event_type"] == "hours.recorded"]
        assert recorded[0] | {"entry_id": None} == {
            "entry_id": None, "placement_id": str(started.placement_id), "beneficiary_id": str(started.beneficiary_id),
            "lot_id": str(lot.lot_id), "market_id": str(market.market_id), "buyer_id": str(market.buyer_id),
            "employer_siret": started.employer_siret, "structure_id": str(started.structure_id),
            "structure_kind": "ETTI", "modality": "provision", "month": "2026-02", "hours": "120.00", "kind": "work"}
        corrected = next(e["data"] for e in events if e["event_type"] == "hours.corrected")
        assert (corrected["corrects_entry_id"], corrected["entry"]["hours"]) == (first["id"], "190.00")
        assert corrected["reason"] == ""  # free text stays in the hours service (it may name a person)
        assert "relevé ETTI complété" not in str(events)
        assert second["id"] in {r["entry_id"] for r in recorded}
        last = [e["data"] for e in events if e["event_type"] == "lot.progressed"][-1]
        assert (last["realised_hours"], last["percent"]) == ("290.00", "103.6")
        assert all(e["producer"] == "hours" for e in events)
