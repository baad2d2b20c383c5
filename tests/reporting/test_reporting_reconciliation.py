"""Done means: after a realistic generated year published through the real NATS server, every total of the report
equals the sum computed independently from the accepted entries (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

from harness import declare_streams, eventually, running, wait_ready
from ledger import check_period, money, rows
from reporting_support import consumers_drained, publish_all
from reporting_world import COMMUNES_CSV, epci_of_commune, generate
from sqlalchemy import func, select

from services.reporting.app import create_app

YEAR = 2026


async def test_a_generated_year_reconciles_with_the_accepted_entries(database_url, nats_url):
    w = generate(seed=6, year=YEAR, people=300)
    assert w.corrections > 50 and w.erased and len(w.lots) >= 24
    await declare_streams(nats_url)
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url,
                       consumer_batch_size=200) as client:
        await wait_ready(client)
        assert await publish_all(nats_url, w.events) == len(w.events)
        inbox = client.ctx.tables.inbox

        async def consumed() -> bool:
            async with client.ctx.db.session() as s:
                n = (await s.execute(select(func.count()).select_from(inbox))).scalar_one()
            return n == len(w.events)

        await eventually(consumed, timeout=60)
        first_pass = (await client.get("/reports/annual", params={"year": YEAR})).json()
        # the whole history delivered again (new JetStream messages, same event ids) changes nothing
        assert await publish_all(nats_url, w.events, msg_id_suffix="-again") == len(w.events)
        await eventually(lambda: consumers_drained(nats_url, client.ctx.bus), timeout=60)
        annual = (await client.get("/reports/annual", params={"year": YEAR})).json()
        assert annual == first_pass

        # ---- annual: every total against the ledger
        check_period(annual, w, f"{YEAR}-01", f"{YEAR}-12", dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))
        first, last = f"{YEAR}-01", f"{YEAR}-12"
        assert rows(annual["hours_by"]["modality"]) == money(w.by("modality", first, last))
        assert rows(annual["hours_by"]["structure_kind"]) == money(w.by("structure_kind", first, last))
        assert rows(annual["hours_by"]["buyer"]) == money(w.by("buyer_id", first, last))
        assert rows(annual["hours_by"]["lot"]) == money(w.by("lot_id", first, last))
        months = w.by("month", first, last)
        assert rows(annual["hours_by"]["month"]) == money({f"{YEAR}-{m:02d}": months.get(f"{YEAR}-{m:02d}", Decimal(0))
                                                           for m in range(1, 13)})
        sectors: dict[str, Decimal] = {}
        for e in w.counted(first, last):
            sectors[w.lots[e.lot_id].sector] = sectors.get(w.lots[e.lot_id].sector, Decimal(0)) + e.hours
        assert rows(annual["hours_by"]["sector"]) == money(sectors)
        assert sum(rows(annual["hours_by"]["month"]).values()) == Decimal(str(annual["totals"]["hours"]))

        reached = w.people_in(first, last)
        genders: dict[str, int] = {}
        for b in reached:
            genders[w.people[b].gender.value] = genders.get(w.people[b].gender.value, 0) + 1
        assert rows(annual["people_by"]["gender"], "people") == genders
        assert sum(r["people"] for r in annual["people_by"]["age_band"]) == len(reached)
        under_26 = sum(1 for b in reached if YEAR - w.people[b].birth_year < 26)
        assert rows(annual["people_by"]["age_band"], "people").get("<26", 0) == under_26
        epci = epci_of_commune()
        rennes = sum(1 for b in reached if epci.get(w.people[b].commune_insee) == "243500139")
        assert rows(annual["people_by"]["epci"], "people")["243500139"] == rennes
        assert rows(annual["people_by"]["epci"], "people").get("hors_referentiel", 0) == sum(
            1 for b in reached if w.people[b].commune_insee not in epci)
        labels = {r["key"]: r["label"] for r in annual["people_by"]["epci"]}
        assert labels["hors_referentiel"] == "Hors Ille-et-Vilaine / commune inconnue"  # not its raw key
        assert labels["243500139"] == "Rennes Métropole"
        # people by commune (outside the referential: one row), and living in the Pays de Rennes
        with COMMUNES_CSV.open(encoding="utf-8") as f:
            referential = list(csv.DictReader(f))
        names = {r["insee_code"]: r["name"] for r in referential}
        by_commune: dict[str, int] = {}
        for b in reached:
            insee = w.people[b].commune_insee
            key = insee if insee in names else "hors_referentiel"
            by_commune[key] = by_commune.get(key, 0) + 1
        assert {r["key"]: r["people"] for r in annual["people_by"]["commune"]} == by_commune
        assert next(r["label"] for r in annual["people_by"]["commune"] if r["key"] == "35238") == "Rennes (35238)"
        pays = {r["insee_code"] for r in referential if r["pays_de_rennes"] == "1"}
        assert len(pays) == 76
        assert annual["pays_de_rennes"] == {
            "people": sum(1 for b in reached if w.people[b].commune_insee in pays), "epci": 4, "communes": 76}
        # hours by company: each entry's hours go to its lot's winning company
        companies: dict[str, Decimal] = {}
        for e in w.counted(first, last):
            siret = w.lots[e.lot_id].company_siret
            companies[siret] = companies.get(siret, Decimal(0)) + e.hours
        assert rows(annual["hours_by"]["company"]) == money(companies)
        assert {r["key"]: r["label"] for r in annual["hours_by"]["company"]} == {
            w.lots[lot].company_siret: f"{w.lots[lot].company_name} (SIRET {w.lots[lot].company_siret})"
            for lot in {e.lot_id for e in w.counted(first, last)}}
        qpv = sum(1 for b in reached if w.people[b].qpv)
        assert rows(annual["people_by"]["qpv"], "people").get("true", 0) == qpv
        rsa = sum(1 for b in reached if "RSA" in w.categories[b])
        assert rows(annual["people_by"]["category"], "people").get("RSA", 0) == rsa

        contracts: dict[str, int] = {}
        for p in w.placements.values():
            contracts[p.contract_type.value] = contracts.get(p.contract_type.value, 0) + 1
        assert rows(annual["contracts_by_type"], "people") == contracts
        durations: dict[str, int] = {}
        for p in w.placements.values():
            if p.contract_type.value == "CDI":
                band = "open_ended"
            else:  # whole calendar months from the start to the planned end (the world's days are 1 to 28)
                months = (p.end_date.year - p.start_date.year) * 12 + p.end_date.month - p.start_date.month \
                    - (1 if p.end_date.day < p.start_date.day else 0)
                band = "6_months_or_more" if months >= 6 else "under_6_months"
            durations[band] = durations.get(band, 0) + 1
        assert rows(annual["contracts_by_duration"], "people") == durations
        exits: dict[str, int] = {}
        for e in w.ended.values():
            exits[e.exit_category.value] = exits.get(e.exit_category.value, 0) + 1
        assert rows(annual["exits"]["at_end"], "people") == exits
        at_6: dict[str, int] = {}
        for f in w.follow_ups.values():
            if f.followed_up_on.year == YEAR:
                at_6[f.situation.value] = at_6.get(f.situation.value, 0) + 1
        assert rows(annual["exits"]["at_6_months"], "people") == at_6
        at_risk = {lot.lot_id for lot in w.active_lots(dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))}
        assert {r["lot_id"] for r in annual["lots_at_risk"]} <= {str(x) for x in at_risk}
        assert annual["lots_at_risk"]
        pipeline = [lot for lot in w.lots.values() if lot.status == "submitted"]
        assert Decimal(str(annual["pipeline"]["hours"])) == sum((lot.owed_hours for lot in pipeline), Decimal(0))
        assert annual["pipeline"]["lots"] == len(pipeline)

        # ---- every quarter, its previous period and the year to date; the quarters add up to the year
        quarter_hours = Decimal(0)
        for q in (1, 2, 3, 4):
            report = (await client.get("/reports/quarterly", params={"year": YEAR, "quarter": q})).json()
            m1, m3 = 3 * q - 2, 3 * q
            start = dt.date(YEAR, m1, 1)
            end = dt.date(YEAR, m3, 1) + dt.timedelta(days=31)
            end = end.replace(day=1) - dt.timedelta(days=1)
            check_period(report, w, f"{YEAR}-{m1:02d}", f"{YEAR}-{m3:02d}", start, end)
            ytd = report["year_to_date"]["totals"]
            assert Decimal(str(ytd["hours"])) == w.hours(f"{YEAR}-01", f"{YEAR}-{m3:02d}")
            assert ytd["people"] == len(w.people_in(f"{YEAR}-01", f"{YEAR}-{m3:02d}"))
            quarter_hours += Decimal(str(report["totals"]["hours"]))
            if q > 1:
                assert report["previous_period"]["totals"] == previous
            previous = report["totals"]
        assert quarter_hours == Decimal(str(annual["totals"]["hours"]))

        # ---- one buyer's view
        buyer_id = next(iter(w.markets.values())).buyer_id
        mine = (await client.get("/reports/annual", params={"year": YEAR, "buyer_id": str(buyer_id)})).json()
        assert Decimal(str(mine["totals"]["hours"])) == w.hours(first, last, buyer_id)
        assert mine["totals"]["people"] == len(w.people_in(first, last, buyer_id))
        assert mine["totals"]["new_people"] == len(w.new_people(first, last, buyer_id))
        assert {r["key"] for r in mine["hours_by"]["buyer"]} == {str(buyer_id)}
