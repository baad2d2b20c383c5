"""What facilitators read of people: the file shows the pathway (placements with their end and exit category, then
the follow-ups, oldest first); people are found by name, by facilitators only."""

from __future__ import annotations

import datetime as dt
import uuid

from harness import SECRET, declare_streams, running, wait_ready
from matching_support import COMPANY_SIRET, TODAY, beneficiary, days, lot_upstream, wait_lot

from services.matching.app import create_app
from services.matching.domain.placements import follow_up_due
from shared.auth import Role, issue_token


async def test_beneficiary_file_lists_placements_and_follow_ups(database_url, nats_url):
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("matching"), nats_url=nats_url) as client:
        await wait_ready(client)
        lot_id = await lot_upstream(nats_url)
        await wait_lot(client, lot_id, "awarded")
        rsa = {"code": "RSA", "checked_on": days(-320), "prescriber": "Département d'Ille-et-Vilaine"}
        enrolled = await client.post("/beneficiaries",
                                     json=beneficiary("Nolwenn", "Le Bihan", "1990-02-03", criteria=[rsa]))
        person = enrolled.json()["id"]
        assert (await client.get(f"/beneficiaries/{person}")).json()["placements"] == []

        first = (await client.post("/placements", json={
            "lot_id": str(lot_id), "beneficiary_id": person, "employer_siret": COMPANY_SIRET, "modality": "direct_hire",
            "contract_type": "CDD", "full_time": False, "start_date": days(-300), "end_date": days(-220)})).json()["id"]
        ended = await client.post(f"/placements/{first}/end",
                                  json={"end_date": days(-220), "exit_category": "transition_job"})
        assert ended.status_code == 200, ended.text
        second = (await client.post("/placements", json={
            "lot_id": str(lot_id), "beneficiary_id": person, "employer_siret": COMPANY_SIRET, "modality": "direct_hire",
            "contract_type": "CDI", "start_date": days(-30)})).json()["id"]
        early = await client.post(f"/beneficiaries/{person}/follow-ups", json={
            "followed_up_on": days(-100), "situation": "transition_job", "placement_id": first})
        assert early.status_code == 422 and "le suivi à 6 mois se saisit à partir du" in early.text, early.text
        # No pathway named: the follow-up is of the last ended one (the second is still running).
        followed = await client.post(f"/beneficiaries/{person}/follow-ups", json={
            "followed_up_on": days(-20), "situation": "transition_job"})
        assert followed.status_code == 201, followed.text

        file = (await client.get(f"/beneficiaries/{person}")).json()
        assert [(p["id"], p["contract_type"], p["ended_on"], p["exit_category"]) for p in file["placements"]] == [
            (first, "CDD", days(-220), "transition_job"), (second, "CDI", None, None)]
        due = follow_up_due(dt.date.fromisoformat(days(-220)), 6)  # the rule itself: test_matching_placement_rules
        assert [p["follow_up_due_on"] for p in file["placements"]] == [due.isoformat(), None]
        assert file["placements"][0]["lot_id"] == str(lot_id) and file["placements"][0]["full_time"] is False
        assert [(f["placement_id"], f["followed_up_on"], f["situation"]) for f in file["follow_ups"]] == [
            (first, days(-20), "transition_job")]

        # Each check says who recorded it (the facilitator's token), beside the prescriber who referred the person.
        camille = {"Authorization": f"Bearer {issue_token(SECRET, Role.FACILITATOR, subject='Camille Le Du')}"}
        renewed = await client.post(f"/beneficiaries/{person}/criteria", headers=camille, json={"criteria": [
            {"code": "DELD", "checked_on": days(-1), "prescriber": "France Travail", "proof_type": "attestation"}]})
        assert renewed.status_code == 201, renewed.text
        checks = (await client.get(f"/beneficiaries/{person}")).json()["criteria"]
        assert sorted((c["code"], c["prescriber"], c["recorded_by"]) for c in checks) == [
            ("DELD", "France Travail", "Camille Le Du"),
            ("RSA", "Département d'Ille-et-Vilaine", "bootstrap")]  # `running`'s own token


async def test_facilitators_find_people_by_name_and_no_one_else_does(database_url, nats_url):
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("matching"), nats_url=nats_url) as client:
        ids = {}
        for first, last in (("Maëlle", "Le Goff"), ("Yannick", "Le Gall"), ("Anne", "Goffic"), ("Ana", "Martin_%")):
            ids[first] = (await client.post("/beneficiaries", json=beneficiary(first, last, "1990-02-03"))).json()["id"]

        async def found(q: str) -> list[str]:
            answer = await client.get("/beneficiaries", params={"q": q})
            assert answer.status_code == 200, answer.text
            return [p["first_name"] for p in answer.json()]

        assert await found("le g") == ["Yannick", "Maëlle"]  # every word, in either name, by last name
        assert await found("goff maë") == ["Maëlle"]
        assert await found("GOFF") == ["Anne", "Maëlle"]  # Goffic, Le Goff
        assert await found("n_%") == ["Ana"]  # wildcards are plain characters
        person = (await client.get("/beneficiaries", params={"q": "yannick"})).json()[0]
        assert person == {"id": ids["Yannick"], "first_name": "Yannick", "last_name": "Le Gall",
                          "birth_date": "1990-02-03", "commune_insee": "35238", "enrolled_on": TODAY.isoformat()}

        assert (await client.delete(f"/beneficiaries/{ids['Maëlle']}")).status_code == 204
        assert await found("goff") == ["Anne"]  # erased: nothing left to find her by
        short = await client.get("/beneficiaries", params={"q": "a"})
        assert short.status_code == 422 and short.json()["errors"][0]["field"] == "q"
        buyer = issue_token(SECRET, Role.BUYER, buyer_id=uuid.uuid4())
        refused = await client.get("/beneficiaries", params={"q": "goff"}, headers={"Authorization": f"Bearer {buyer}"})
        assert refused.status_code == 403
