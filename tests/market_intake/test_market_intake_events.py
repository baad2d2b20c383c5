"""On the real NATS server: submit → award → amend → close publishes each expected event exactly once."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import nats
from harness import eventually, running, wait_ready
from market_intake_helpers import award_request, new_buyer, new_market

from contracts import spec_for
from services.market_intake.app import create_app

EXPECTED = ["market.submitted", "lot.clause_sized", "lot.awarded", "lot.amended", "lot.closed"]


async def stream_messages(url: str) -> list[tuple[str, dict, str]]:
    """Every message of the MARKETS stream: (subject, envelope, Nats-Msg-Id)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        count = (await js.stream_info("MARKETS")).state.messages
        messages = [await js.get_msg("MARKETS", seq) for seq in range(1, count + 1)]
    finally:
        await nc.close()
    return [(m.subject, json.loads(m.data), m.headers["Nats-Msg-Id"]) for m in messages]


async def test_life_of_a_lot_reaches_the_markets_stream_once_per_event(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        await wait_ready(client)
        buyer_id = await new_buyer(client)
        market = await new_market(client, buyer_id, "EVT-1")
        lot_id = market["lots"][0]["id"]
        assert (await client.post(f"/lots/{lot_id}/award", json=award_request("1200000"))).status_code == 200
        amended = await client.post(f"/lots/{lot_id}/amendments",
                                    json={"amount_eur": "1500000", "reason": "Avenant n°1"})
        assert amended.status_code == 201
        refused = await client.post(f"/lots/{lot_id}/award", json=award_request())  # refused: writes no event
        assert refused.status_code == 409
        assert (await client.post(f"/lots/{lot_id}/close", json={"closed_on": "2027-07-01"})).status_code == 200

        async def all_published() -> bool:
            return (await client.ctx.relay.backlog())[0] == 0

        await eventually(all_published)
        await asyncio.sleep(0.3)  # several more relay polls (50 ms): nothing is published again
        await client.ctx.relay.stop()
        messages = await stream_messages(nats_url)

    assert [envelope["event_type"] for _, envelope, _ in messages] == EXPECTED
    assert [subject for subject, _, _ in messages] == [spec_for(t, producer="market_intake").subject for t in EXPECTED]
    assert len({msg_id for _, _, msg_id in messages}) == 5
    assert all(msg_id == envelope["event_id"] for _, envelope, msg_id in messages)
    data = {envelope["event_type"]: envelope["data"] for _, envelope, _ in messages}

    submitted = data["market.submitted"]["lots"][0]
    assert (submitted["lot_id"], submitted["version"]) == (lot_id, 1)
    assert Decimal(submitted["owed_hours"]) == Decimal("833.33")
    sized = data["lot.clause_sized"]
    assert sized["parameters"] == {"amount_eur": "1000000", "labour_share": "0.5", "insertion_rate": "0.05",
                                   "hourly_cost_eur": "30"}
    awarded = data["lot.awarded"]
    assert Decimal(awarded["awarded_amount_eur"]) == Decimal("1200000")
    assert (awarded["lot"]["version"], awarded["lot"]["status"], Decimal(awarded["lot"]["owed_hours"])) == (
        2, "awarded", Decimal("1000.00"))
    assert awarded["company_siret"] == "44306184100047"
    amended = data["lot.amended"]
    assert (amended["amendment_number"], amended["reason"]) == (1, "Avenant n°1")
    assert (amended["lot"]["version"], Decimal(amended["lot"]["owed_hours"])) == (3, Decimal("1250.00"))
    closed = data["lot.closed"]
    assert (closed["closed_on"], closed["lot"]["version"], closed["lot"]["status"]) == ("2027-07-01", 4, "closed")
    assert Decimal(closed["lot"]["owed_hours"]) == Decimal("1250.00")
