"""matching on the real NATS server and real databases: a lot awarded upstream → candidates → placement → end →
follow-up → erasure. Every event once; no identity in any event read back from the MATCHING stream nor in any log
line; after erasure, no identity left in any table of the database. Files without contact for 2 years are anonymised."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter

from harness import declare_streams, eventually, running, wait_ready
from matching_support import (
    AI_SIRET,
    COMPANY_SIRET,
    EI_SIRET,
    TODAY,
    beneficiary,
    days,
    leaks,
    lot_upstream,
    matching_events,
    published_all,
    structure,
    wait_lot,
)
from sqlalchemy import insert, select, update

from services.matching.app import Settings, create_app
from services.matching.domain.eligibility import add_months
from services.matching.models import Beneficiary, BeneficiaryIdentity, Placement, metadata

ANNE = ("Maëlle", "Le Goff-Tréguier", "1998-04-17", "06 11 22 33 44")
BOB = ("Yannick", "Kerhervé", "1969-11-02", "07 98 76 54 32")


def identity_values(first: str, last: str, birth: str, phone: str) -> list[str]:
    y, m, d = birth.split("-")
    return [first, last, birth, f"{d}/{m}/{y}", f"{first.lower()}.", phone]


async def database_leaks(client, secrets: list[str]) -> list[str]:
    """Every cell of every table of matching's database that holds one of `secrets`."""
    found = []
    async with client.ctx.db.session() as session:
        for table in metadata.sorted_tables:
            for row in (await session.execute(select(table))).mappings():
                found += [f"{table.name}{p}" for p in leaks(dict(row), secrets) if "(champ)" not in p]
    return found


def test_the_leak_detector_finds_values_and_field_names() -> None:
    secrets = identity_values(*ANNE)
    assert list(leaks({"data": {"note": "née le 17/04/1998"}}, secrets)) == [".data.note = 'née le 17/04/1998'"]
    assert list(leaks({"data": {"first_name": "X"}}, secrets)) == [".data.first_name (champ)"]
    assert list(leaks({"data": [{"beneficiary_id": "1", "birth_year": 1998}]}, secrets)) == []


async def test_lot_to_follow_up_then_erasure(database_url, nats_url, caplog):
    caplog.set_level(logging.DEBUG)  # every log line the service writes, at every level
    await declare_streams(nats_url)  # MARKETS exists, as market_intake would have declared it
    async with running(create_app, database_url=database_url("matching"), nats_url=nats_url) as client:
        await wait_ready(client)
        lot_id = await lot_upstream(nats_url)
        await wait_lot(client, lot_id, "awarded")

        ai = (await client.post("/structures", json=structure(AI_SIRET, "AI", communes=["35238"]))).json()["id"]
        ei = await client.post("/structures", json=structure(EI_SIRET, "EI", modalities=["subcontracting"],
                                                             epcis=["243500139"], communes=[], capacity=2))
        assert ei.status_code == 201, ei.text
        # ASS checked 9 months ago covers the pathway that started then; RSA, checked recently, her candidacy today.
        ass = {"code": "ASS", "proof_type": "attestation France Travail", "checked_on": days(-260),
               "prescriber": "France Travail"}
        anne = await client.post("/beneficiaries", json=beneficiary(*ANNE[:3], phone=ANNE[3], criteria=[
            *beneficiary(*ANNE[:3])["criteria"], ass]))
        assert anne.status_code == 201, anne.text
        anne_id = anne.json()["id"]
        bob = await client.post("/beneficiaries", json=beneficiary(*BOB[:3], phone=BOB[3], gender="M", qpv=False,
                                                                   commune_insee="35002", sectors=[]))
        bob_id = bob.json()["id"]
        secrets = identity_values(*ANNE) + identity_values(*BOB)
        assert await database_leaks(client, secrets), "identity must be on file before erasure"

        # Candidates: Anne (QPV, same commune, wishes the sector) first; the AI first among structures.
        found = await client.get(f"/lots/{lot_id}/candidates", params={"modality": "provision"})
        assert found.status_code == 200, found.text
        body = found.json()
        assert [c["id"] for c in body["structures"]] == [ai]
        assert [c["id"] for c in body["beneficiaries"]] == [anne_id, bob_id]
        assert body["beneficiaries"][0]["eligible"] is True
        assert "habite un quartier prioritaire (QPV) : prioritaire" in body["beneficiaries"][0]["reasons"]
        assert body["beneficiaries"][0]["score"] > body["beneficiaries"][1]["score"]
        assert body["qpv_priority"] is True
        no_qpv = (await client.get(f"/lots/{lot_id}/candidates", params={"qpv_priority": "false"})).json()
        assert no_qpv["beneficiaries"][0]["score"] == body["beneficiaries"][0]["score"] - Settings().weight_qpv
        assert not any("QPV" in r for r in no_qpv["beneficiaries"][0]["reasons"])
        assert {s["id"] for s in no_qpv["structures"]} == {ai, ei.json()["id"]}  # no modality asked: both kinds

        placement = await client.post("/placements", json={
            "lot_id": str(lot_id), "beneficiary_id": anne_id, "employer_siret": COMPANY_SIRET, "structure_id": ai,
            "modality": "provision", "contract_type": "INTERIM", "start_date": days(-250), "end_date": days(100)})
        assert placement.status_code == 201, placement.text
        placement_id = placement.json()["id"]
        # Anne is now placed full time: no longer a candidate; the AI has one place less.
        again = (await client.get(f"/lots/{lot_id}/candidates", params={"modality": "provision"})).json()
        assert [c["id"] for c in again["beneficiaries"]] == [bob_id]
        assert again["structures"][0]["free_places"] == 3

        ended = await client.post(f"/placements/{placement_id}/end",
                                  json={"end_date": days(-200), "exit_category": "durable_job"})
        assert ended.status_code == 200, ended.text  # the situation 6 months later is due by now
        followed = await client.post(f"/beneficiaries/{anne_id}/follow-ups", json={
            "followed_up_on": days(-1), "situation": "durable_job", "placement_id": placement_id})
        assert followed.status_code == 201, followed.text

        assert (await client.delete(f"/beneficiaries/{anne_id}")).status_code == 204
        assert (await client.delete(f"/beneficiaries/{anne_id}")).status_code == 204  # erasing twice: no new event
        profile = (await client.get(f"/beneficiaries/{anne_id}")).json()
        assert profile["identity"] is None and profile["erased_on"] is not None and profile["birth_year"] == 1998

        # Erasure leaves no identity of Anne in any table (outbox included); Bob's is still there.
        assert await database_leaks(client, identity_values(*ANNE)) == []
        assert await database_leaks(client, identity_values(*BOB))
        async with client.ctx.db.session() as session:
            rows = (await session.scalars(select(BeneficiaryIdentity.beneficiary_id))).all()
        assert [str(r) for r in rows] == [bob_id]

        await eventually(lambda: published_all(client))
        events = await matching_events(nats_url)

    counts = Counter(e["event_type"] for e in events)
    assert counts == {"structure.registered": 2, "beneficiary.enrolled": 2, "placement.started": 1,
                      "placement.ended": 1, "beneficiary.followed_up": 1, "beneficiary.erased": 1}
    assert len({e["event_id"] for e in events}) == len(events)
    enrolled = next(e["data"] for e in events if e["event_type"] == "beneficiary.enrolled")
    assert set(enrolled) == {"beneficiary_id", "gender", "birth_year", "commune_insee", "qpv", "education_level",
                             "categories", "enrolled_on"}
    assert (enrolled["beneficiary_id"], enrolled["birth_year"], enrolled["categories"]) == (anne_id, 1998, ["ASS", "RSA"])
    started = next(e["data"] for e in events if e["event_type"] == "placement.started")
    assert started["structure_kind"] == "AI" and started["beneficiary_id"] == anne_id
    # her first clause contract opens her 24-month window: hours count up to its last day's month
    start = dt.date.fromisoformat(days(-250))
    assert started["eligible_until"] == (add_months(start, 24) - dt.timedelta(days=1)).isoformat()
    # No identity (field names or Anne's / Bob's values) in any event this service emitted, nor in any log line.
    assert [p for e in events for p in leaks(e, secrets)] == []
    assert any(r.name == "shared.service" for r in caplog.records)  # the capture does see the service's lines
    assert [line for line in caplog.text.splitlines() if list(leaks(line, secrets))] == []


async def test_files_without_contact_for_two_years_are_anonymised(database_url, nats_url):
    """DOMAIN.md, "Privacy": a file is kept 2 years after the last contact, then anonymised like an erasure."""
    await declare_streams(nats_url)
    long_ago = (TODAY - dt.timedelta(days=800)).isoformat()
    async with running(create_app, database_url=database_url("matching"), nats_url=nats_url) as client:
        await wait_ready(client)
        old_check = [{"code": "RSA", "checked_on": long_ago, "prescriber": "CAF"}]
        anne = (await client.post("/beneficiaries", json=beneficiary(*ANNE[:3], phone=ANNE[3],
                                                                      criteria=old_check))).json()["id"]
        bob = (await client.post("/beneficiaries", json=beneficiary(*BOB[:3], phone=BOB[3], qpv=False))).json()["id"]
        async with client.ctx.db.session() as session, session.begin():
            # Both enrolled long ago; Anne's one placement, planned until next year, ended early 800 days ago.
            await session.execute(update(Beneficiary).values(enrolled_on=TODAY - dt.timedelta(days=900)))
            await session.execute(insert(Placement).values(
                id=uuid.uuid4(), lot_id=uuid.uuid4(), beneficiary_id=uuid.UUID(anne), employer_siret=COMPANY_SIRET,
                modality="direct_hire", contract_type="CDD", start_date=TODAY - dt.timedelta(days=850),
                end_date=TODAY + dt.timedelta(days=100), ended_on=TODAY - dt.timedelta(days=800)))

        swept = await client.post("/beneficiaries/retention")
        assert swept.status_code == 200 and swept.json() == {"anonymised": 1}, swept.text
        assert (await client.post("/beneficiaries/retention")).json() == {"anonymised": 0}
        assert (await client.get(f"/beneficiaries/{anne}")).json()["identity"] is None
        assert await database_leaks(client, identity_values(*ANNE)) == []
        assert (await client.get(f"/beneficiaries/{bob}")).json()["identity"]["last_name"] == BOB[1]  # checked lately
        await eventually(lambda: published_all(client))
        erased = [e["data"] for e in await matching_events(nats_url) if e["event_type"] == "beneficiary.erased"]
    assert erased == [{"beneficiary_id": anne, "erased_on": TODAY.isoformat()}]


async def test_the_service_anonymises_stale_files_by_itself(database_url, nats_url):
    """Nobody has to call the retention endpoint: the service sweeps every MATCHING_RETENTION_INTERVAL_HOURS (here a
    second), once shortly after it starts and then at each interval."""
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("matching"), nats_url=nats_url,
                       retention_interval_hours=1 / 3600) as client:
        await wait_ready(client)
        old_check = [{"code": "RSA", "checked_on": (TODAY - dt.timedelta(days=800)).isoformat(), "prescriber": "CAF"}]
        anne = (await client.post("/beneficiaries", json=beneficiary(*ANNE[:3], phone=ANNE[3],
                                                                      criteria=old_check))).json()["id"]
        bob = (await client.post("/beneficiaries", json=beneficiary(*BOB[:3], phone=BOB[3], qpv=False))).json()["id"]
        async with client.ctx.db.session() as session, session.begin():  # both enrolled long ago, Bob checked lately
            await session.execute(update(Beneficiary).values(enrolled_on=TODAY - dt.timedelta(days=900)))

        async def anne_erased() -> bool:
            return (await client.get(f"/beneficiaries/{anne}")).json()["identity"] is None

        await eventually(anne_erased, 15)
        assert await database_leaks(client, identity_values(*ANNE)) == []
        assert (await client.get(f"/beneficiaries/{bob}")).json()["identity"]["last_name"] == BOB[1]
