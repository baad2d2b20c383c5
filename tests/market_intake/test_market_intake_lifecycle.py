"""A lot's life over HTTP: award, amendments, invoices, close; refusals in French that change nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from harness import running
from market_intake_helpers import VILLE_DE_RENNES_SIRET, award_request, buyer_token, lot, new_buyer, new_market

from services.market_intake.app import create_app


async def test_award_amend_invoice_close(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        buyer_id = await new_buyer(client)
        market = await new_market(client, buyer_id, procedure="appel_offres_ouvert")
        assert market["procedure"] == "appel_offres_ouvert" and market["status"] == "submitted"
        lot_id = market["lots"][0]["id"]
        assert market["lots"][0]["target_hours"] == "833.33" and market["lots"][0]["version"] == 1

        # Award on the awarded amount: 1 200 000 × 50 % × 5 % ÷ 30 = 1 000 h
        awarded = await client.post(f"/lots/{lot_id}/award", json=award_request("1200000"))
        assert awarded.status_code == 200, awarded.text
        assert awarded.json()["lot_id"] == lot_id
        assert Decimal(awarded.json()["committed_hours"]) == Decimal("1000.00")
        state = awarded.json()["lot"]
        assert (state["status"], state["version"], state["company_siret"]) == ("awarded", 2, "44306184100047")
        assert state["parameters"] == {"amount_eur": "1200000", "labour_share": "0.5", "insertion_rate": "0.05",
                                       "hourly_cost_eur": "30"}
        assert (await client.get(f"/markets/{market['id']}")).json()["status"] == "awarded"

        again = await client.post(f"/lots/{lot_id}/award", json=award_request("900000"))
        assert again.status_code == 409 and "déjà attribué" in again.json()["detail"]

        # Amendments: numbered, recomputed, history kept
        first = await client.post(f"/lots/{lot_id}/amendments",
                                  json={"amount_eur": "1500000", "reason": "Travaux supplémentaires"})
        assert first.status_code == 201, first.text
        assert Decimal(first.json()["committed_hours"]) == Decimal("1250.00")
        second = await client.post(f"/lots/{lot_id}/amendments",
                                   json={"end_date": "2027-12-31", "reason": "Retard de chantier"})
        assert second.status_code == 201, second.text
        assert second.json()["lot"]["end_date"] == "2027-12-31" and second.json()["lot"]["version"] == 4
        history = (await client.get(f"/lots/{lot_id}/amendments")).json()
        assert [(a["number"], a["previous_amount_eur"], a["amount_eur"], a["previous_owed_hours"], a["owed_hours"])
                for a in history] == [(1, "1200000.00", "1500000.00", "1000.00", "1250.00"),
                                      (2, "1500000.00", "1500000.00", "1250.00", "1250.00")]

        # An invoice on a rate clause is recorded without changing the obligation
        invoiced = await client.post(f"/lots/{lot_id}/invoices",
                                     json={"reference": "F-001", "amount_eur": "300000", "invoiced_on": "2026-06-30"})
        assert invoiced.status_code == 201, invoiced.text
        assert invoiced.json()["lot"]["invoiced_eur"] == "300000.00"
        assert invoiced.json()["committed_hours"] == "1250.00"

        closed = await client.post(f"/lots/{lot_id}/close", json={"closed_on": "2028-01-15"})
        assert closed.status_code == 200, closed.text
        assert closed.json()["lot"]["status"] == "closed" and closed.json()["lot"]["version"] == 6
        assert (await client.get(f"/markets/{market['id']}")).json()["status"] == "closed"

        # A closed lot is frozen: every change is refused in French and nothing moves
        refusals = {
            "award": await client.post(f"/lots/{lot_id}/award", json=award_request()),
            "amendments": await client.post(f"/lots/{lot_id}/amendments", json={"amount_eur": "1", "reason": "essai"}),
            "invoices": await client.post(f"/lots/{lot_id}/invoices",
                                          json={"reference": "F-002", "amount_eur": "1", "invoiced_on": "2028-02-01"}),
            "close": await client.post(f"/lots/{lot_id}/close"),
        }
        for name, response in refusals.items():
            assert response.status_code == 409, (name, response.text)
            assert "clos" in response.json()["detail"], name
        assert refusals["award"].json()["detail"] == "ce lot est clos : il ne peut plus être attribué"
        frozen = await lot(client, lot_id)
        assert (frozen["version"], frozen["target_hours"], frozen["invoiced_eur"]) == (6, "1250.00", "300000.00")
        assert len((await client.get(f"/lots/{lot_id}/amendments")).json()) == 2


async def test_per_amount_clause_grows_with_invoices(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        buyer_id = await new_buyer(client)
        clause = {"kind": "execution_condition", "method": "per_amount_invoiced", "eur_per_hour": "2000"}
        market = await new_market(client, buyer_id, "AC-2026-01", lot={"sector": "espaces_verts", "clause": clause})
        lot_id = market["lots"][0]["id"]
        assert market["lots"][0]["target_hours"] == "0.00"

        early = await client.post(f"/lots/{lot_id}/invoices",
                                  json={"reference": "F-0", "amount_eur": "1000", "invoiced_on": "2026-02-28"})
        assert early.status_code == 409 and "pas encore attribué" in early.json()["detail"]

        assert (await client.post(f"/lots/{lot_id}/award", json=award_request("500000"))).status_code == 200
        owed = []
        for number, amount in enumerate(("10000", "50000", "240000"), start=1):
            response = await client.post(f"/lots/{lot_id}/invoices", json={
                "reference": f"F-{number}", "amount_eur": amount, "invoiced_on": f"2026-0{number + 2}-28"})
            assert response.status_code == 201, response.text
            owed.append(response.json()["committed_hours"])
        assert owed == ["5.00", "30.00", "150.00"]
        listed = (await client.get(f"/lots/{lot_id}/invoices")).json()
        assert [(i["reference"], i["amount_eur"]) for i in listed] == [
            ("F-1", "10000.00"), ("F-2", "50000.00"), ("F-3", "240000.00")]

        resent = await client.post(f"/lots/{lot_id}/invoices",
                                   json={"reference": "F-2", "amount_eur": "50000", "invoiced_on": "2026-04-28"})
        assert resent.status_code == 409
        assert resent.json()["errors"] == [{"field": "reference",
                                            "message": "la facture « F-2 » est déjà enregistrée sur ce lot"}]
        after = await lot(client, lot_id)
        assert (after["target_hours"], after["invoiced_eur"], after["version"]) == ("150.00", "300000.00", 5)


async def test_a_small_per_amount_lot_is_warned_on_its_expected_total(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        buyer_id = await new_buyer(client)
        clause = {"kind": "execution_condition", "method": "per_amount_invoiced", "eur_per_hour": "2000"}
        market = await new_market(client, buyer_id, "AC-PETIT", lot={"sector": "espaces_verts", "amount_eur": "200000",
                                                                    "clause": clause})
        sized = market["lots"][0]
        # nothing invoiced yet (0 h owed), but 200 000 € at 1 h per 2 000 € would give 100 h: under 150 h
        assert sized["target_hours"] == "0.00"
        assert sized["warnings"] == ["Au rythme d'une heure pour 2000 € facturés, le montant attendu de 200000 € "
                                     "ne donnerait que 100.00 h, sous le seuil de 150 h : une clause n'est pas "
                                     "conseillée."]
        assert (sized["parameters"]["expected_amount_eur"], sized["parameters"]["expected_hours"]) == (
            "200000", "100.00")
        # awarded for 400 000 €: 200 h expected, the warning goes; an invoice keeps it away
        awarded = await client.post(f"/lots/{sized['id']}/award", json=award_request("400000"))
        assert awarded.status_code == 200, awarded.text
        assert awarded.json()["lot"]["warnings"] == [] and awarded.json()["lot"]["parameters"]["expected_hours"] == (
            "200.00")
        invoiced = await client.post(f"/lots/{sized['id']}/invoices", json={
            "reference": "F-1", "amount_eur": "20000", "invoiced_on": "2026-03-31"})
        assert (invoiced.json()["committed_hours"], invoiced.json()["lot"]["warnings"]) == ("10.00", [])
        # an amendment down to 100 000 €: 50 h expected, the warning is back
        cut = await client.post(f"/lots/{sized['id']}/amendments", json={"amount_eur": "100000", "reason": "Réduction"})
        assert cut.json()["committed_hours"] == "10.00"
        assert "ne donnerait que 50.00 h" in cut.json()["lot"]["warnings"][0]


async def test_cleaning_lot_keeps_its_transferred_staff_through_amendments(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        buyer_id = await new_buyer(client)
        clause = {"kind": "execution_condition", "method": "rate", "transferred_monthly_hours": "500"}
        cleaning = {"sector": "nettoyage", "amount_eur": "600000", "start_date": "2026-01-01",
                    "end_date": "2027-12-31", "clause": clause}
        # a cleaning-services market (CPV 90910000-9 « Services de nettoyage »): the services rate, 10 %
        market = await new_market(client, buyer_id, "NET-2026", cpv_code="90910000-9", lot=cleaning)
        sized = market["lots"][0]
        assert sized["target_hours"] == "1200.00"  # P = 0.5 over 24 months
        assert sized["parameters"]["room_share"] == "0.5000" and "P = 1" in sized["formula"]
        rule = "taux services : marché hors travaux (code CPV 90910000-9, hors division 45)"
        assert sized["parameters"]["insertion_rate_rule"] == rule
        lot_id = sized["id"]
        awarded = await client.post(f"/lots/{lot_id}/award", json=award_request("600000"))
        assert awarded.json()["committed_hours"] == "1200.00"
        shorter = await client.post(f"/lots/{lot_id}/amendments",
                                    json={"end_date": "2026-12-31", "reason": "Résiliation anticipée"})
        assert shorter.json()["committed_hours"] == "1800.00"  # same amount over 12 months: P = 0.75
        assert shorter.json()["lot"]["parameters"]["insertion_rate_rule"] == rule  # still says why 10 %

        # the same lot in a building-works market (CPV 45): the works rate, 5 %: 0.5 × 600 000 ÷ 25 × 5 %
        works = await new_market(client, buyer_id, "NET-CHANTIER", lot=cleaning)
        assert works["lots"][0]["target_hours"] == "600.00"
        assert works["lots"][0]["parameters"]["insertion_rate_rule"].startswith("taux travaux : marché de travaux")


async def test_a_draft_announces_nothing_until_submitted(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        buyer_id = await new_buyer(client)
        other_buyer = await new_buyer(client, "Ville de Rennes", VILLE_DE_RENNES_SIRET)
        await client.ctx.relay.stop()  # the outbox rows stay: they show what was announced
        draft = await new_market(client, buyer_id, "BROUILLON-1", draft=True)
        lot_id = draft["lots"][0]["id"]
        assert (draft["status"], draft["lots"][0]["status"], draft["lots"][0]["target_hours"]) == (
            "draft", "draft", "833.33")
        assert (await client.ctx.relay.backlog())[0] == 0

        refused = await client.post(f"/lots/{lot_id}/award", json=award_request())
        assert refused.status_code == 409 and "brouillon" in refused.json()["detail"]
        stranger = await client.post(f"/markets/{draft['id']}/submit", headers=buyer_token(other_buyer))
        assert stranger.status_code == 404

        submitted = await client.post(f"/markets/{draft['id']}/submit", headers=buyer_token(buyer_id))
        assert submitted.status_code == 200, submitted.text
        assert (submitted.json()["status"], submitted.json()["lots"][0]["status"]) == ("submitted", "submitted")
        assert (await client.ctx.relay.backlog())[0] == 2  # market.submitted + lot.clause_sized
        again = await client.post(f"/markets/{draft['id']}/submit")
        assert again.status_code == 409 and again.json()["detail"] == "ce marché est déjà soumis"
        assert (await client.post(f"/lots/{lot_id}/award", json=award_request())).status_code == 200


async def test_concurrent_changes_of_one_lot_are_serialised(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        buyer_id = await new_buyer(client)
        lot_id = (await new_market(client, buyer_id))["lots"][0]["id"]
        awards = await asyncio.gather(*(client.post(f"/lots/{lot_id}/award", json=award_request(str(amount)))
                                        for amount in (900000, 1200000, 1500000)))
        assert sorted(r.status_code for r in awards) == [200, 409, 409]
        amendments = await asyncio.gather(*(client.post(f"/lots/{lot_id}/amendments",
                                                        json={"amount_eur": str(1000000 + i), "reason": f"avenant {i}"})
                                            for i in range(4)))
        assert [r.status_code for r in amendments] == [201] * 4
        numbers = [a["number"] for a in (await client.get(f"/lots/{lot_id}/amendments")).json()]
        assert numbers == [1, 2, 3, 4]
        assert (await lot(client, lot_id))["version"] == 6
