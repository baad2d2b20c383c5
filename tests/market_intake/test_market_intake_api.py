"""market_intake over HTTP: roles, French refusals that write nothing, the calculator, search."""

from __future__ import annotations

from harness import running
from market_intake_helpers import (
    VILLE_DE_RENNES_SIRET,
    award_request,
    buyer_token,
    funder_token,
    lot,
    new_buyer,
    new_market,
)

from examples import market_request
from services.market_intake.app import create_app


async def test_buyers_only_reach_their_own_markets_and_funders_only_read(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        rennes = await new_buyer(client)
        ville = await new_buyer(client, "Ville de Rennes", VILLE_DE_RENNES_SIRET)
        as_rennes, as_funder = buyer_token(rennes), funder_token()
        mine = await new_market(client, rennes, "R-1", headers=as_rennes)
        theirs = await new_market(client, ville, "V-1")
        my_lot, their_lot = mine["lots"][0]["id"], theirs["lots"][0]["id"]

        # Another buyer's market and lot: not found, for reading and for writing; nothing changes
        assert (await client.get(f"/markets/{theirs['id']}", headers=as_rennes)).status_code == 404
        assert (await client.get(f"/lots/{their_lot}", headers=as_rennes)).status_code == 404
        assert (await client.get(f"/lots/{their_lot}/amendments", headers=as_rennes)).status_code == 404
        writes = {
            "award": ("award", award_request()),
            "amendments": ("amendments", {"amount_eur": "5", "reason": "essai"}),
            "invoices": ("invoices", {"reference": "X", "amount_eur": "5", "invoiced_on": "2026-05-01"}),
            "close": ("close", {}),
        }
        for path, body in writes.values():
            response = await client.post(f"/lots/{their_lot}/{path}", json=body, headers=as_rennes)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["detail"] == "lot introuvable"
        assert (await lot(client, their_lot))["version"] == 1
        listed = await client.get("/markets", headers=as_rennes)
        assert [m["reference"] for m in listed.json()["items"]] == ["R-1"]
        spying = await client.get("/markets", params={"buyer_id": ville}, headers=as_rennes)
        assert spying.status_code == 403 and "ses propres marchés" in spying.json()["detail"]

        # Its own lot: the buyer awards and closes it
        awarded = await client.post(f"/lots/{my_lot}/award", json=award_request(), headers=as_rennes)
        assert awarded.status_code == 200, awarded.text
        assert (await client.get(f"/lots/{my_lot}", headers=as_rennes)).json()["status"] == "awarded"

        # A funder reads everything and writes nothing
        assert (await client.get("/markets", headers=as_funder)).json()["total"] == 2
        assert (await client.get(f"/lots/{their_lot}", headers=as_funder)).status_code == 200
        refused = [
            await client.post("/markets", json=market_request(rennes, "F-1"), headers=as_funder),
            await client.post("/buyers", json={"name": "X", "siret": VILLE_DE_RENNES_SIRET, "kind": "etat"},
                              headers=as_funder),
            await client.post("/clause-estimates", json={"method": "rate", "amount_eur": "1000"}, headers=as_funder),
        ]
        for path, body in writes.values():
            refused.append(await client.post(f"/lots/{their_lot}/{path}", json=body, headers=as_funder))
        for response in refused:
            assert response.status_code == 403, response.text
            assert "Action réservée" in response.json()["detail"]
        assert (await lot(client, their_lot))["version"] == 1
        assert (await client.get("/markets")).json()["total"] == 2


async def test_bad_inputs_get_french_messages_naming_the_field_and_write_nothing(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        buyer_id = await new_buyer(client)
        await client.ctx.relay.stop()  # keep the outbox rows: they show what each request wrote

        def with_lot(**changes):
            body = market_request(buyer_id, "BAD")
            body["lots"][0].update(changes)
            return body

        cases = [
            (with_lot(amount_eur="0"), 422, "lots[0].amount_eur", "doit être supérieur à 0"),
            (with_lot(amount_eur="-5"), 422, "lots[0].amount_eur", "doit être supérieur à 0"),
            (with_lot(start_date="2027-01-01", end_date="2026-01-01"), 422, "lots[0]", "date de fin (end_date)"),
            ({**market_request(buyer_id, "BAD"), "commune_insee": "75056"}, 422, "commune_insee", "commune inconnue"),
            ({**market_request(buyer_id, "BAD"), "commune_insee": "3523"}, 422, "commune_insee", "code INSEE"),
            ({**market_request(buyer_id, "BAD"), "cpv_code": "4521"}, 422, "cpv_code", "code CPV invalide"),
            ({**market_request(buyer_id, "BAD"), "procedure": "gré à gré"}, 422, "procedure", "valeur inconnue"),
            (with_lot(clause={"kind": "execution_condition", "method": "rate", "transferred_monthly_hours": "10"}),
             422, "lots[0]", "secteur nettoyage"),
            (with_lot(clause={"kind": "execution_condition", "method": "fixed_hours"}), 422, "lots[0].clause", "hours"),
            # the cleaning formula with transferred staff uses C, not a lot's labour share or hourly cost: refused,
            # not silently dropped
            (with_lot(sector="nettoyage", clause={"kind": "execution_condition", "method": "rate",
                                                  "transferred_monthly_hours": "500", "labour_share": "0.8"}),
             422, "lots[0].clause.labour_share",
             "la part de main-d'œuvre (labour_share) ne s'applique pas avec la reprise de personnel "
             "(transferred_monthly_hours) : la formule du nettoyage utilise la constante C du territoire"),
            (with_lot(sector="nettoyage", clause={"kind": "execution_condition", "method": "rate",
                                                  "transferred_monthly_hours": "500", "hourly_cost_eur": "20"}),
             422, "lots[0].clause.hourly_cost_eur", "le coût horaire (hourly_cost_eur) ne s'applique pas"),
            (with_lot(amount_eur="999999999999", clause={"kind": "execution_condition", "method": "rate",
                                                         "labour_share": "1", "insertion_rate": "1",
                                                         "hourly_cost_eur": "0.01"}),
             422, "lots[0]", "hors d'échelle"),
        ]
        for body, status, field, words in cases:
            response = await client.post("/markets", json=body)
            assert response.status_code == status, response.text
            error = response.json()["errors"][0]
            assert error["field"] == field and words in error["message"], response.json()

        assert (await client.get("/markets")).json()["total"] == 0
        assert (await client.ctx.relay.backlog())[0] == 0

        market = await new_market(client, buyer_id, "DUP")
        duplicate = await client.post("/markets", json=market_request(buyer_id, "DUP"))
        assert duplicate.status_code == 409
        assert duplicate.json()["errors"][0]["field"] == "reference"
        assert (await client.get("/markets")).json()["total"] == 1
        assert (await client.ctx.relay.backlog())[0] == 2  # the first market's two events only

        bad_buyer = await client.post("/buyers", json={"name": "X", "siret": "21350238800018", "kind": "etat"})
        assert bad_buyer.json()["errors"] == [{"field": "siret", "message": "clé de contrôle du SIRET invalide"}]
        same_siret = await client.post("/buyers", json={"name": "Doublon", "siret": "24350013900189", "kind": "etat"})
        assert same_siret.status_code == 409 and same_siret.json()["errors"][0]["field"] == "siret"
        assert len((await client.get("/buyers")).json()) == 1

        lot_id = market["lots"][0]["id"]
        award_cases = [
            (award_request(company_siret="44306184100048"), "company_siret", "clé de contrôle du SIRET invalide"),
            (award_request(company_siret="4430618410004"), "company_siret", "le SIRET doit compter 14 chiffres"),
            (award_request(amount="0"), "amount_eur", "doit être supérieur à 0"),
            (award_request(start_date="2026-06-01", end_date="2026-05-01"), "end_date", "précède la date de début"),
            (award_request(end_date="2025-12-31"), "end_date", "précède la date de début"),
        ]
        for body, field, words in award_cases:
            response = await client.post(f"/lots/{lot_id}/award", json=body)
            assert response.status_code == 422, response.text
            error = response.json()["errors"][0]
            assert error["field"] == field and words in error["message"], response.json()
        unknown = await client.post("/lots/00000000-0000-0000-0000-000000000000/award", json=award_request())
        assert unknown.status_code == 404 and unknown.json()["detail"] == "lot introuvable"
        early = await client.post(f"/lots/{lot_id}/amendments", json={"amount_eur": "10", "reason": "avenant 1"})
        assert early.status_code == 409 and "pas encore attribué" in early.json()["detail"]

        assert (await client.post(f"/lots/{lot_id}/award", json=award_request())).status_code == 200
        amendment_cases = [
            ({"reason": "rien ne change"}, "requête", "un avenant modifie le montant"),
            ({"amount_eur": "0", "reason": "baisse"}, "amount_eur", "doit être supérieur à 0"),
            ({"amount_eur": "10"}, "reason", "champ obligatoire"),
            ({"end_date": "2025-01-01", "reason": "erreur"}, "end_date", "précède la date de début du lot"),
        ]
        for body, field, words in amendment_cases:
            response = await client.post(f"/lots/{lot_id}/amendments", json=body)
            assert response.status_code == 422, response.text
            error = response.json()["errors"][0]
            assert error["field"] == field and words in error["message"], response.json()
        cheap = {"kind": "execution_condition", "method": "rate", "hourly_cost_eur": "0.01"}
        cheap_lot = (await new_market(client, buyer_id, "CHEAP", lot={"amount_eur": "1000", "clause": cheap}))["lots"][0]
        huge = await client.post(f"/lots/{cheap_lot['id']}/award", json=award_request("999999999999"))
        assert huge.status_code == 422 and huge.json()["errors"][0]["field"] == "amount_eur", huge.text
        assert (await lot(client, cheap_lot["id"]))["status"] == "submitted"
        bad_invoice = await client.post(f"/lots/{lot_id}/invoices", json={"reference": "F", "amount_eur": "-1",
                                                                         "invoiced_on": "2026-13-01"})
        assert {e["field"] for e in bad_invoice.json()["errors"]} == {"amount_eur", "invoiced_on"}

        unchanged = await lot(client, lot_id)
        assert (unchanged["version"], unchanged["amount_eur"], unchanged["invoiced_eur"]) == (2, "1200000.00", "0.00")
        assert (await client.get(f"/lots/{lot_id}/amendments")).json() == []
        assert (await client.ctx.relay.backlog())[0] == 5  # + lot.awarded, + CHEAP's two events


async def test_clause_estimates_show_formula_parameters_defaults_and_warnings(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url,
                       labour_shares={"gros_oeuvre": "0.6"}, minimum_hours="200") as client:
        buyer_id = await new_buyer(client)
        as_buyer = buyer_token(buyer_id)

        given = await client.post("/clause-estimates", headers=as_buyer, json={
            "method": "rate", "amount_eur": "1000000", "sector": "gros_oeuvre", "labour_share": "0.5",
            "insertion_rate": "0.05", "hourly_cost_eur": "30"})
        assert given.status_code == 200, given.text
        assert given.json()["hours"] == "833.33" and given.json()["defaults_used"] == []
        assert given.json()["warnings"] == []

        by_default = (await client.post("/clause-estimates", json={
            "method": "rate", "amount_eur": "1000000", "sector": "gros_oeuvre"})).json()
        assert by_default["hours"] == "1000.00"  # the edited 60 % labour share
        assert by_default["parameters"]["labour_share"] == "0.6"
        assert by_default["defaults_used"] == ["labour_share", "insertion_rate", "hourly_cost_eur"]
        assert "taux d'insertion" in by_default["formula"]

        small = (await client.post("/clause-estimates", json={"method": "fixed_hours", "hours": "180"})).json()
        assert small["warnings"] == ["180.00 h est sous le seuil de 200 h : une clause n'est pas conseillée."]

        cleaning = (await client.post("/clause-estimates", json={
            "method": "rate", "sector": "nettoyage", "amount_eur": "600000", "months": 24,
            "transferred_monthly_hours": "1000"})).json()
        assert cleaning["hours"] == "0.00" and "aucune place pour une clause" in cleaning["warnings"][0]

        per_amount = (await client.post("/clause-estimates", json={
            "method": "per_amount_invoiced", "amount_eur": "400000", "eur_per_hour": "2000"})).json()
        assert per_amount["hours"] == "200.00"

        for body, words in [
            ({"method": "rate", "sector": "nettoyage"}, "montant HT (amount_eur)"),
            ({"method": "rate", "amount_eur": "1000", "sector": "peinture", "transferred_monthly_hours": "5",
              "months": 3}, "secteur nettoyage"),
            ({"method": "rate", "amount_eur": "1000", "sector": "nettoyage", "transferred_monthly_hours": "5"},
             "durée du marché"),
            ({"method": "per_amount_invoiced", "amount_eur": "1000"}, "eur_per_hour"),
            ({"method": "rate", "amount_eur": "600000", "sector": "nettoyage", "months": 24,
              "transferred_monthly_hours": "500", "labour_share": "0.8"}, "part de main-d'œuvre (labour_share) ne "),
            ({"method": "rate", "amount_eur": "600000", "sector": "nettoyage", "months": 24,
              "transferred_monthly_hours": "500", "hourly_cost_eur": "20"}, "coût horaire (hourly_cost_eur) ne "),
            ({"method": "rate", "amount_eur": "1000", "cpv_code": "4521"}, "code CPV invalide"),
        ]:
            response = await client.post("/clause-estimates", json=body)
            assert response.status_code == 422 and words in response.json()["detail"], response.text

        small_frame = (await client.post("/clause-estimates", json={
            "method": "per_amount_invoiced", "amount_eur": "300000", "eur_per_hour": "2000"})).json()
        assert small_frame["hours"] == "150.00" and "sous le seuil de 200 h" in small_frame["warnings"][0]

        territory = (await client.get("/territory")).json()
        assert territory["labour_shares"]["gros_oeuvre"] == "0.6" and territory["labour_shares"]["peinture"] == "0.70"
        assert territory["minimum_hours"] == "200" and territory["cleaning_constant"] == "25"
        # works_sectors stays (the rule without a CPV code); the CPV division of works is published beside it
        assert "gros_oeuvre" in territory["works_sectors"] and territory["works_cpv_division"] == "45"


async def test_the_default_rate_follows_the_market_cpv_and_says_which_rule_gave_it(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        buyer_id = await new_buyer(client)
        by_default = {"kind": "execution_condition", "method": "rate"}
        works = market_request(buyer_id, "TRAVAUX-1")  # CPV 45214200: a works market
        works["lots"] = [
            {**works["lots"][0], "number": 1, "title": "Espaces verts", "sector": "espaces_verts",
             "clause": by_default},
            {**works["lots"][0], "number": 2, "title": "Gros œuvre", "sector": "gros_oeuvre",
             "clause": by_default},
        ]
        response = await client.post("/markets", json=works)
        assert response.status_code == 201, response.text
        green, masonry = response.json()["lots"]
        works_rule = "taux travaux : marché de travaux (code CPV 45214200, division 45)"
        # 1 000 000 € × 60 % × 5 % ÷ 30 €/h: the works rate although green spaces alone would take 10 %
        assert (green["target_hours"], green["parameters"]["insertion_rate"]) == ("1000.00", "0.05")
        assert green["parameters"]["insertion_rate_rule"] == works_rule
        # 1 000 000 € × 50 % × 5 % ÷ 30 €/h
        assert (masonry["target_hours"], masonry["parameters"]["insertion_rate_rule"]) == ("833.33", works_rule)

        services = await new_market(client, buyer_id, "NETTOYAGE-1", cpv_code="90910000-9", lot={
            "sector": "nettoyage", "amount_eur": "100000", "clause": by_default})
        cleaning = services["lots"][0]
        # 100 000 € × 80 % × 10 % ÷ 20 €/h
        assert (cleaning["target_hours"], cleaning["parameters"]["insertion_rate"]) == ("400.00", "0.10")
        assert cleaning["parameters"]["insertion_rate_rule"] == ("taux services : marché hors travaux "
                                                                 "(code CPV 90910000-9, hors division 45)")

        # the award recomputes with the rate the lot was sized with and still says why
        awarded = await client.post(f"/lots/{green['id']}/award", json=award_request("1200000"))
        assert awarded.json()["committed_hours"] == "1200.00"
        assert awarded.json()["lot"]["parameters"]["insertion_rate_rule"] == works_rule
        amended = await client.post(f"/lots/{green['id']}/amendments", json={"amount_eur": "600000",
                                                                             "reason": "Tranche optionnelle"})
        assert amended.json()["committed_hours"] == "600.00"
        assert amended.json()["lot"]["parameters"]["insertion_rate_rule"] == works_rule

        # the calculator: with the market's CPV code it answers as the submission does; without it, the sector
        lot = {"method": "rate", "sector": "espaces_verts", "amount_eur": "1000000"}
        with_cpv = (await client.post("/clause-estimates", json={**lot, "cpv_code": "45214200"})).json()
        assert with_cpv["hours"] == green["target_hours"] and "insertion_rate" in with_cpv["defaults_used"]
        assert with_cpv["parameters"]["insertion_rate_rule"] == works_rule
        without = (await client.post("/clause-estimates", json=lot)).json()
        assert without["hours"] == "2000.00"
        assert without["parameters"]["insertion_rate_rule"] == ("taux services : code CPV inconnu, "
                                                                "secteur espaces_verts classé services")


async def test_facilitators_search_and_page_through_markets(database_url, nats_url):
    async with running(create_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        rennes = await new_buyer(client)
        ville = await new_buyer(client, "Ville de Rennes", VILLE_DE_RENNES_SIRET)
        for i in range(5):
            await new_market(client, rennes, f"RM-2026-{i:02d}")
        cleaning = await new_market(client, ville, "VDR-NET-1", lot={"sector": "nettoyage"})
        await client.post(f"/lots/{cleaning['lots'][0]['id']}/award", json=award_request())

        async def refs(**params) -> list[str]:
            response = await client.get("/markets", params=params)
            assert response.status_code == 200, response.text
            return sorted(m["reference"] for m in response.json()["items"])

        assert await refs(buyer_id=ville) == ["VDR-NET-1"]
        assert await refs(status="awarded") == ["VDR-NET-1"]
        assert len(await refs(status="submitted")) == 5
        assert await refs(sector="nettoyage") == ["VDR-NET-1"]
        assert await refs(reference="net") == ["VDR-NET-1"]
        assert len(await refs(reference="rm-2026")) == 5
        assert await refs(reference="%") == []
        assert len(await refs(submitted_from="2020-01-01", submitted_to="2100-01-01")) == 6
        assert await refs(submitted_to="2020-01-01") == []

        pages = [await client.get("/markets", params={"offset": offset, "limit": 4}) for offset in (0, 4)]
        assert [len(p.json()["items"]) for p in pages] == [4, 2]
        assert {p.json()["total"] for p in pages} == {6}
        seen = [m["reference"] for p in pages for m in p.json()["items"]]
        assert len(set(seen)) == 6

        bad = await client.get("/markets", params={"status": "perdu", "limit": 0})
        assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"status", "limit"}
