"""matching's HTTP surface on real infrastructure: French refusals that name the field and write nothing, filters,
roles, and lot events applied whatever their order."""

from __future__ import annotations

import asyncio
import uuid

from harness import SECRET, declare_streams, eventually, published_events, running, wait_ready
from matching_support import (
    AI_SIRET,
    COMPANY_SIRET,
    EI_SIRET,
    TODAY,
    beneficiary,
    days,
    lot_status,
    lot_upstream,
    publish,
    structure,
    wait_lot,
)
from sqlalchemy import func, select

from contracts.codes import LotStatus
from contracts.events.markets import LotAwarded, MarketSubmitted
from examples import lot_state
from services.matching.app import create_app
from services.matching.models import INFRA, MarketRef
from shared.auth import Role, issue_token

GEIQ_SIRET = "38012986643097"


async def outbox_count(client) -> int:
    """Events matching has emitted (published to its stream)."""
    return len(await published_events(client.ctx))


def refused(response, status: int, field: str, words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert words in body["detail"], body
    assert field in [e["field"] for e in body.get("errors", [])], body


def placement(lot_id, person_id, **changes):
    body = {"lot_id": str(lot_id), "beneficiary_id": person_id, "employer_siret": COMPANY_SIRET,
            "modality": "direct_hire", "contract_type": "CDD", "start_date": days(-5), "end_date": days(60)}
    body.update(changes)
    return body


async def test_bad_input_is_refused_in_french_and_writes_nothing(database_url, nats_url):
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("matching"), nats_url=nats_url) as client:
        await wait_ready(client)
        awarded, submitted, closed = [await lot_upstream(nats_url, status=s) for s in ("awarded", "submitted", "closed")]
        await wait_lot(client, awarded, "awarded")
        await wait_lot(client, submitted, "submitted")
        await wait_lot(client, closed, "closed")
        ei = (await client.post("/structures", json=structure(EI_SIRET, "EI", modalities=["subcontracting"]))).json()
        fresh = (await client.post("/beneficiaries", json=beneficiary("Anne", "Durand", "1990-01-01"))).json()["id"]
        level2_only = (await client.post("/beneficiaries", json=beneficiary("Paul", "Morel", "1985-05-05", criteria=[
            {"code": c, "proof_type": "attestation", "checked_on": days(-20), "prescriber": "France Travail"}
            for c in ("DELD", "QPV")]))).json()["id"]
        stale = (await client.post("/beneficiaries", json=beneficiary("Léa", "Petit", "1992-02-02", criteria=[
            {"code": "RSA", "proof_type": "attestation CAF", "checked_on": days(-200), "prescriber": "CAF"}]))).json()
        before = await outbox_count(client)
        assert before == 4

        post = client.post
        refused(await post("/structures", json=structure("12345678901234")), 422, "siret", "SIRET invalide")
        refused(await post("/structures", json=structure(AI_SIRET, communes=["35999"])), 422, "communes[0]",
                "commune 35999 inconnue du territoire")
        refused(await post("/structures", json=structure(AI_SIRET, epcis=["999999999"])), 422, "epcis[0]",
                "EPCI 999999999 inconnu")
        refused(await post("/structures", json=structure(AI_SIRET, "EI")), 422, "modalities[0]",
                "une structure EI ne peut pas porter la modalité « mise à disposition »")
        refused(await post("/structures", json=structure(AI_SIRET, communes=[])), 422, "requête",
                "territoire servi manquant")
        refused(await post("/structures", json=structure(EI_SIRET, "EI", modalities=["subcontracting"])), 409,
                "siret", "existe déjà")
        refused(await post("/structures", json=structure(AI_SIRET, kind="SCOP")), 422, "kind", "valeur inconnue")
        refused(await post("/beneficiaries", json=beneficiary("A", "B", "1990-01-01", commune_insee="35999")), 422,
                "commune_insee", "commune 35999 inconnue")
        refused(await post("/beneficiaries", json=beneficiary("A", "B", "1990-01-01", criteria=[
            {"code": "RSA", "proof_type": "x", "checked_on": days(3), "prescriber": "CAF"}])), 422,
            "criteria[0].checked_on", "dans le futur")
        refused(await post("/beneficiaries", json=beneficiary("A", "B", "1990-01-01", criteria=[
            {"code": "CHOMAGE", "proof_type": "x", "checked_on": days(-3), "prescriber": "CAF"}])), 422,
            "criteria[0].code", "valeur inconnue")
        refused(await post("/beneficiaries", json=beneficiary("A", "B", "1990-01-01", criteria=[
            {"code": "JEUNE_PEU_QUALIFIE", "checked_on": days(-3), "prescriber": "Mission locale"}])), 422,
            "criteria[0].code", "critère JEUNE_PEU_QUALIFIE réservé aux moins de 26 ans")
        refused(await post("/beneficiaries", json=beneficiary("A", "B", "2004-01-01", education_level="4", criteria=[
            {"code": "JEUNE_PEU_QUALIFIE", "checked_on": days(-3), "prescriber": "Mission locale"}])), 422,
            "criteria[0].code", "réservé aux jeunes peu qualifiés")
        refused(await post("/beneficiaries", json=beneficiary("A", "B", "1990-01-01", criteria=[
            {"code": "AUTRE_VALIDE", "checked_on": days(-3), "prescriber": "PLIE de Rennes"}])), 422,
            "criteria[0].proof_type", "avis motivé du prescripteur")
        refused(await post("/beneficiaries", json=beneficiary("A", "B", "1990-01-01", qpv=False, criteria=[
            {"code": "QPV", "checked_on": days(-3), "prescriber": "PLIE"}])), 422,
            "criteria[0].code", "n'habite pas un quartier prioritaire")
        refused(await post(f"/beneficiaries/{fresh}/criteria", json={"criteria": [
            {"code": "RSA", "checked_on": days(-3), "prescriber": "CAF"},
            {"code": "SENIOR_50", "checked_on": days(-3), "prescriber": "France Travail"}]}), 422,
            "criteria[1].code", "critère SENIOR_50 réservé aux 50 ans et plus")
        refused(await post("/beneficiaries", json=beneficiary("A", "B", "1990-01-01", email="pas-un-courriel")), 422,
                "email", "adresse électronique invalide")
        refused(await post("/beneficiaries", json=beneficiary("A", "B", "31/01/1990")), 422, "birth_date",
                "doit être une date")

        refused(await post("/placements", json=placement(uuid.uuid4(), fresh)), 404, "lot_id", "lot inconnu")
        refused(await post("/placements", json=placement(submitted, fresh)), 409, "lot_id",
                "le lot n'est pas attribué (statut : soumis)")
        refused(await post("/placements", json=placement(closed, fresh)), 409, "lot_id", "le lot est clos")
        refused(await post("/placements", json=placement(awarded, fresh, start_date=days(400), end_date=None)), 422,
                "start_date", "période du lot")
        refused(await post("/placements", json=placement(awarded, fresh, end_date=days(-6))), 422, "requête",
                "précède la date de début")
        refused(await post("/placements", json=placement(awarded, fresh, modality="provision")), 422, "structure_id",
                "demande une structure")
        refused(await post("/placements", json=placement(awarded, fresh, employer_siret="44306184100048")), 422,
                "employer_siret", "clé de contrôle")
        refused(await post("/placements", json=placement(awarded, fresh, employer_siret=AI_SIRET)), 422,
                "employer_siret", "l'employeur doit être l'attributaire du lot")
        refused(await post("/placements", json=placement(awarded, stale["id"])), 422, "beneficiary_id",
                "à revérifier")
        refused(await post("/placements", json=placement(awarded, level2_only, modality="subcontracting",
                                                         structure_id=ei["id"])), 422, "beneficiary_id",
                "ni critère de niveau 1 ni 3 critères de niveau 2 pour EI")
        assert await outbox_count(client) == before  # nothing written by any refusal

        # Overlapping full-time placements are refused; part time beside them is fine.
        first = await post("/placements", json=placement(awarded, fresh))
        assert first.status_code == 201, first.text
        refused(await post("/placements", json=placement(awarded, fresh, start_date=days(30), end_date=None)), 409,
                "start_date", "chevauche un parcours à temps plein")
        part = await post("/placements", json=placement(awarded, fresh, start_date=days(30), full_time=False))
        assert part.status_code == 201, part.text
        # Ending and following up.
        pid = first.json()["id"]
        refused(await post(f"/beneficiaries/{fresh}/follow-ups", json={
            "followed_up_on": days(-1), "situation": "durable_job"}), 409, "placement_id", "aucun parcours terminé")
        refused(await post(f"/beneficiaries/{fresh}/follow-ups", json={
            "followed_up_on": days(-1), "situation": "durable_job", "placement_id": pid}), 409, "placement_id",
            "n'est pas terminé")
        refused(await post(f"/placements/{pid}/end", json={"end_date": days(-6), "exit_category": "other"}), 422,
                "end_date", "précède le début")
        refused(await post(f"/placements/{pid}/end", json={"end_date": days(-1), "exit_category": "vacances"}), 422,
                "exit_category", "valeur inconnue")
        refused(await post(f"/placements/{pid}/end", json={"end_date": days(1), "exit_category": "other"}), 422,
                "end_date", "la date de fin est dans le futur")
        assert (await post(f"/placements/{pid}/end", json={"end_date": days(-2), "exit_category": "other"})).status_code == 200
        refused(await post(f"/placements/{pid}/end", json={"end_date": days(-1), "exit_category": "other"}), 409,
                "end_date", "déjà terminé")
        refused(await post(f"/beneficiaries/{fresh}/follow-ups", json={
            "followed_up_on": days(-3), "situation": "durable_job", "placement_id": pid}), 422, "followed_up_on",
            "précède la fin du parcours")
        refused(await post(f"/beneficiaries/{fresh}/follow-ups", json={
            "followed_up_on": days(-1), "situation": "durable_job", "placement_id": pid}), 422, "followed_up_on",
            "le suivi à 6 mois se saisit à partir du")
        refused(await post(f"/beneficiaries/{fresh}/follow-ups", json={
            "followed_up_on": days(-1), "situation": "durable_job"}), 422, "followed_up_on",
            "le suivi à 6 mois se saisit à partir du")  # no pathway named: the last ended one
        refused(await post(f"/beneficiaries/{level2_only}/follow-ups", json={
            "followed_up_on": days(-1), "situation": "durable_job", "placement_id": pid}), 404, "placement_id",
            "parcours introuvable")
        assert (await post(f"/placements/{uuid.uuid4()}/end", json={"end_date": days(-1), "exit_category": "other"})
                ).status_code == 404
        assert await outbox_count(client) == before + 3  # two placements started, one ended

        # An erased person cannot be placed.
        assert (await client.delete(f"/beneficiaries/{level2_only}")).status_code == 204
        refused(await post("/placements", json=placement(awarded, level2_only)), 409, "beneficiary_id", "effacé")
        assert (await client.delete(f"/beneficiaries/{uuid.uuid4()}")).status_code == 404
        renew = {"criteria": [{"code": "RSA", "proof_type": "attestation CAF", "checked_on": days(-1),
                               "prescriber": "CAF"}]}
        erased = await post(f"/beneficiaries/{level2_only}/criteria", json=renew)
        assert erased.status_code == 409 and "effacé" in erased.json()["detail"]

        # A check renewed today makes the person to re-check placeable (and republishes the pseudonymous profile).
        stale_id = stale["id"]
        refused(await post(f"/beneficiaries/{stale_id}/criteria", json={"criteria": [{**renew["criteria"][0],
                "checked_on": days(2)}]}), 422, "criteria[0].checked_on", "dans le futur")
        count = await outbox_count(client)
        assert (await post(f"/beneficiaries/{stale_id}/criteria", json=renew)).status_code == 201
        assert (await client.get(f"/beneficiaries/{stale_id}")).json()["eligibility"] == "éligible"
        assert (await post("/placements", json=placement(awarded, stale_id, start_date=days(0)))).status_code == 201
        assert await outbox_count(client) == count + 2


async def test_structures_filters_and_roles(database_url, nats_url):
    async with running(create_app, database_url=database_url("matching"), nats_url=nats_url) as client:
        ai = (await client.post("/structures", json=structure(AI_SIRET, "AI", sectors=["nettoyage", "espaces_verts"],
                                                              communes=["35002"]))).json()["id"]
        ei = (await client.post("/structures", json=structure(EI_SIRET, "EI", modalities=["subcontracting"],
                                                              sectors=["gros_oeuvre"], communes=[],
                                                              epcis=["243500139"]))).json()["id"]
        geiq = (await client.post("/structures", json=structure(GEIQ_SIRET, "GEIQ", communes=[], department=True,
                                                                active=False))).json()["id"]

        async def ids(**params) -> list[str]:
            response = await client.get("/structures", params=params)
            assert response.status_code == 200, response.text
            return sorted(s["id"] for s in response.json())

        assert await ids() == sorted([ai, ei, geiq])
        assert await ids(kind="EI") == [ei]
        assert await ids(sector="nettoyage") == sorted([ai, geiq])
        assert await ids(commune="35238") == sorted([ei, geiq])  # EI via Rennes Métropole, GEIQ via the department
        assert await ids(commune="35002", active="true") == [ai]
        assert (await client.get("/structures", params={"kind": "SCOP"})).status_code == 422
        listed = {s["id"]: s for s in (await client.get("/structures")).json()}
        assert "35238" in listed[ei]["served"] and len(listed[geiq]["served"]) == 332

        # The client contract's fields alone are enough: modalities default to those the kind carries.
        etti = await client.post("/structures", json={"siret": "34011093300058", "name": "ETTI Rennes", "kind": "ETTI",
                                                      "sectors": ["nettoyage"], "communes": ["35238"], "capacity": 3})
        assert etti.status_code == 201, etti.text
        shown_etti = next(s for s in (await client.get("/structures", params={"kind": "ETTI"})).json())
        assert sorted(shown_etti["modalities"]) == ["direct_hire", "provision", "training"]
        minimal = await client.post("/beneficiaries", json={
            "first_name": "Inès", "last_name": "Martin", "birth_date": "2004-03-09", "gender": "F",
            "commune_insee": "35238", "qpv": False, "education_level": "infra_3", "sectors": ["nettoyage"],
            "criteria": [{"code": "JEUNE_PEU_QUALIFIE", "checked_on": days(-3), "prescriber": "Mission locale"}]})
        assert minimal.status_code == 201, minimal.text
        assert (await client.get(f"/beneficiaries/{minimal.json()['id']}")).json()["criteria"][0]["proof_type"] is None

        buyer = {"Authorization": f"Bearer {issue_token(SECRET, Role.BUYER, buyer_id=uuid.uuid4())}"}
        assert (await client.get("/structures", headers=buyer)).status_code == 200
        person = (await client.post("/beneficiaries", json=beneficiary("Anne", "Durand", "1990-01-01"))).json()["id"]
        for method, url in (("GET", f"/beneficiaries/{person}"), ("DELETE", f"/beneficiaries/{person}"),
                            ("GET", f"/lots/{uuid.uuid4()}/candidates"), ("POST", "/structures")):
            assert (await client.request(method, url, headers=buyer)).status_code == 403
        shown = (await client.get(f"/beneficiaries/{person}")).json()
        assert shown["identity"]["last_name"] == "Durand" and shown["eligibility"] == "éligible"
        assert (await client.get(f"/beneficiaries/{uuid.uuid4()}")).status_code == 404
        assert (await client.get(f"/lots/{uuid.uuid4()}/candidates")).status_code == 404


async def test_lot_events_apply_in_any_order(database_url, nats_url):
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("matching"), nats_url=nats_url) as client:
        await wait_ready(client)
        market_id, buyer_id = uuid.uuid4(), uuid.uuid4()
        lot = lot_state(market_id, buyer_id, sector="nettoyage", start_date=TODAY, end_date=TODAY)
        awarded = lot.model_copy(update={"status": LotStatus.AWARDED, "version": 2, "company_siret": COMPANY_SIRET})
        await publish(nats_url, "lot.awarded", LotAwarded(lot=awarded, company_siret=COMPANY_SIRET,
                                                          company_name="X", awarded_amount_eur=lot.amount_eur))
        await wait_lot(client, lot.lot_id, "awarded")
        await publish(nats_url, "market.submitted", MarketSubmitted(
            market_id=market_id, buyer_id=buyer_id, buyer_name="Ville de Rennes", buyer_kind="collectivite",
            reference="R-1", title="T", cpv_code="90910000", commune_insee="35238", lots=[lot]))

        async def market_known() -> bool:
            async with client.ctx.db.session() as session:
                return await session.get(MarketRef, market_id) is not None

        await eventually(market_known)
        assert await lot_status(client, lot.lot_id) == "awarded"  # older state ignored
        await client.post("/structures", json=structure(AI_SIRET, "AI", communes=["35238"]))
        found = (await client.get(f"/lots/{lot.lot_id}/candidates")).json()
        assert "intervient sur la commune du lot (Rennes)" in found["structures"][0]["reasons"]
        late = await client.get(f"/lots/{lot.lot_id}/candidates", params={"on": days(1)})
        assert late.status_code == 422 and late.json()["errors"][0]["field"] == "on"
        assert (await client.get(f"/lots/{lot.lot_id}/candidates", params={"modality": "vente"})).status_code == 422


async def test_concurrent_full_time_placements_of_one_person_let_one_through(database_url, nats_url):
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("matching"), nats_url=nats_url) as client:
        await wait_ready(client)
        lot_id = await lot_upstream(nats_url)
        await wait_lot(client, lot_id, "awarded")
        person = (await client.post("/beneficiaries", json=beneficiary("Anne", "Durand", "1990-01-01"))).json()["id"]
        answers = await asyncio.gather(*(client.post("/placements", json=placement(lot_id, person)) for _ in range(4)))
        assert sorted(r.status_code for r in answers) == [201, 409, 409, 409], [r.text for r in answers]
