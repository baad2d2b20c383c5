"""The whole story through the four services' public HTTP APIs, as real processes on a real NATS server (issue #7).

The Ville de Rennes builds a school: it submits the market (two lots) itself; the facilitator awards both lots,
registers three insertion structures and seven people, ranks the candidates, places five people (a sixth is refused:
eligibility to re-check), logs hours one by one and from a spreadsheet, corrects one month, ends two pathways and
follows one person up. The report of the 2nd quarter 2026 then shows exactly the figures the test computes from what
the services accepted: in JSON for the facilitator, the buyer and a funder (small cells hidden), in CSV and XLSX.
Importing the same statement again changes nothing; no message went to a dead letter and every outbox is empty.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import openpyxl
import pytest
from e2e_support import (
    Ledger,
    Lot,
    Person,
    Placement,
    System,
    as_counts,
    as_decimals,
    buyer_token,
    french_csv,
    funder_token,
    months_from,
    percent,
    upload,
)

YEAR, QUARTER, FIRST, LAST = 2026, 2, "2026-04", "2026-06"
VILLE_DE_RENNES = "21350238800019"
GROS_OEUVRE_COMPANY = "35189204100010"
PEINTURE_COMPANY = "44105923300029"

MARKET = {
    "reference": "2026-GS-BAUD",
    "title": "Construction du groupe scolaire Baud-Chardonnet",
    "procedure": "appel_offres_ouvert",
    "cpv_code": "45214200",
    "commune_insee": "35238",
    "lots": [
        {"number": 1, "title": "Gros œuvre", "sector": "gros_oeuvre", "amount_eur": "2400000",
         "start_date": "2026-01-05", "end_date": "2027-06-30",
         "clause": {"kind": "execution_condition", "method": "rate", "labour_share": "0.5", "insertion_rate": "0.05",
                    "hourly_cost_eur": "30"}},
        {"number": 2, "title": "Peinture et revêtements", "sector": "peinture", "amount_eur": "600000",
         "start_date": "2026-03-02", "end_date": "2026-12-18",
         "clause": {"kind": "award_criterion", "method": "fixed_hours", "hours": "300"}},
    ],
}
AWARDS = [  # lot 1: 2,280,000 € × 50 % × 5 % ÷ 30 €/h = 1,900 h; lot 2: 300 h fixed in the tender
    {"company_siret": GROS_OEUVRE_COMPANY, "company_name": "Bâtiments de Bretagne", "amount_eur": "2280000"},
    {"company_siret": PEINTURE_COMPANY, "company_name": "Peintures de l'Ille", "amount_eur": "540000"},
]
STRUCTURES = {
    "ETTI": {"siret": "79901234500010", "name": "Tempo Insertion 35", "kind": "ETTI",
             "sectors": ["gros_oeuvre", "peinture"], "modalities": ["provision"], "communes": ["35238"], "capacity": 5},
    "GEIQ": {"siret": "81234567800013", "name": "GEIQ BTP Bretagne", "kind": "GEIQ",
             "sectors": ["gros_oeuvre", "second_oeuvre"], "modalities": ["provision"], "communes": ["35238", "35051"],
             "capacity": 4},
    "EI": {"siret": "50203040500018", "name": "Bâtir Ensemble", "kind": "EI", "sectors": ["gros_oeuvre"],
           "modalities": ["subcontracting"], "communes": ["35238"], "capacity": 3},
}
DEPARTEMENT, MISSION_LOCALE, FRANCE_TRAVAIL = "Département d'Ille-et-Vilaine", "Mission locale", "France Travail"


def person(first: str, last: str, birth: str, gender: str, commune: str, qpv: bool, education: str,
           sectors: list[str], *criteria: tuple[str, str, str]) -> dict[str, Any]:
    return {"first_name": first, "last_name": last, "birth_date": birth, "gender": gender, "commune_insee": commune,
            "qpv": qpv, "education_level": education, "sectors": sectors,
            "criteria": [{"code": code, "checked_on": on, "prescriber": who, "proof_type": "attestation"}
                         for code, on, who in criteria]}


PEOPLE = {
    "amina": person("Amina", "Diallo", "1999-03-14", "F", "35238", True, "3", ["gros_oeuvre"],
                    ("RSA", "2026-02-10", DEPARTEMENT)),
    "kevin": person("Kévin", "Le Goff", "2003-09-02", "M", "35281", False, "infra_3", ["gros_oeuvre"],
                    ("JEUNE_PEU_QUALIFIE", "2026-02-20", MISSION_LOCALE), ("DELD", "2026-02-20", MISSION_LOCALE)),
    "jean_pierre": person("Jean-Pierre", "Morel", "1970-05-30", "M", "35238", False, "3", ["gros_oeuvre"],
                          ("SENIOR_50", "2026-01-15", FRANCE_TRAVAIL), ("DETLD", "2026-01-15", FRANCE_TRAVAIL)),
    "sophie": person("Sophie", "Martin", "1984-11-07", "F", "35051", False, "4", ["peinture"],
                     ("ASS", "2026-03-05", FRANCE_TRAVAIL)),
    "youssef": person("Youssef", "Benali", "2001-01-22", "M", "35238", True, "infra_3", ["peinture"],
                      ("QPV", "2026-03-20", "PLIE de Rennes"), ("DELD", "2026-03-20", FRANCE_TRAVAIL)),
    # checked in June 2025: more than 6 months before April 2026, to re-check before a first placement
    "marc": person("Marc", "Durand", "1980-08-15", "M", "35238", False, "3", ["gros_oeuvre"],
                   ("RSA", "2025-06-01", DEPARTEMENT)),
    "lea": person("Léa", "Robin", "1995-04-04", "F", "35047", False, "5", ["gros_oeuvre"]),  # no criterion checked
}
# Lot 1 (gros œuvre, Rennes) on 2026-04-01: eligible 50, wishes the sector 30, lives in Rennes 20 (elsewhere in the
# EPCI 10), lives in a QPV 15. Léa, with no criterion, is no candidate.
RANKING = [("amina", 115, True), ("jean_pierre", 100, True), ("kevin", 90, True), ("youssef", 85, True),
           ("sophie", 60, True), ("marc", 50, False)]
# who, lot number, structure, modality, contract, start, planned end
PLACEMENTS = [
    ("amina", 1, "ETTI", "provision", "INTERIM", "2026-04-01", "2026-09-30"),
    ("kevin", 1, "GEIQ", "provision", "PRO", "2026-04-13", "2027-04-12"),
    ("jean_pierre", 1, "EI", "subcontracting", "CDDI", "2026-03-02", "2026-08-31"),
    ("sophie", 2, None, "direct_hire", "CDD", "2026-04-01", "2026-09-30"),
    ("youssef", 1, None, "direct_hire", "CDI", "2026-05-04", None),
]
BY_HAND = [  # who, month, hours, kind
    ("jean_pierre", "2026-03", "120", "work"),
    ("jean_pierre", "2026-04", "140", "work"),
    ("amina", "2026-04", "151.67", "work"),
    ("sophie", "2026-04", "98.5", "work"),
    ("youssef", "2026-05", "14", "training"),
]
STATEMENT = [  # who, month, hours, kind — as written in the spreadsheet
    ("amina", "05/2026", "140,5", "travail"),
    ("amina", "2026-06", "151,67", "travail"),
    ("kevin", "04/2026", "80", "travail"),
    ("kevin", "05/2026", "151,67", "travail"),
    ("kevin", "2026-06", "145,25", ""),
    ("jean_pierre", "05/2026", "151,67", "travail"),
    ("jean_pierre", "2026-06", "63", "travail"),
    ("sophie", "05/2026", "120,75", "travail"),
    ("sophie", "2026-06", "130", "travail"),
    ("youssef", "05/2026", "120", "travail"),
    ("youssef", "2026-06", "151,67", "travail"),
    ("amina", "2026-06", "7", "formation"),
]
EXITS = {"jean_pierre": ("2026-06-04", "durable_job"), "sophie": ("2026-06-30", "transition_job")}
FOLLOW_UP = ("jean_pierre", "2026-12-04", "durable_job")  # the situation 6 months after the exit (FSE survey)


def statement_month(text: str) -> str:
    return text if "-" in text else f"{text[3:]}-{text[:2]}"


@pytest.fixture
async def system(tmp_path, nats_url):
    running = System(tmp_path, nats_url)
    try:
        await running.start()
        yield running
    finally:
        await running.close()


async def test_the_whole_story_ends_in_a_quarterly_report_with_exactly_the_accepted_figures(system: System):
    ledger = Ledger()
    intake, matching, hours, reporting = system.facilitator.values()

    # ---- the buyer submits its market; the facilitator awards both lots ---------------------------------------
    r = await intake.post("/buyers", json={"name": "Ville de Rennes", "siret": VILLE_DE_RENNES, "kind": "collectivite"})
    assert r.status_code == 201, r.text
    buyer_id = r.json()["id"]
    as_buyer = buyer_token(buyer_id)
    async with system.client("market_intake", as_buyer) as buyer:
        r = await buyer.post("/markets", json={"buyer_id": buyer_id, **MARKET})
    assert r.status_code == 201, r.text
    market = r.json()
    assert [(lot["number"], Decimal(lot["target_hours"])) for lot in market["lots"]] == [(1, 2000), (2, 300)]
    lots: dict[int, Lot] = {}
    for submitted, award in zip(market["lots"], AWARDS, strict=True):
        r = await intake.post(f"/lots/{submitted['id']}/award", json=award)
        assert r.status_code == 200, r.text
        state = r.json()["lot"]
        lots[state["number"]] = Lot(state["id"], market["id"], buyer_id, state["sector"], state["clause_kind"],
                                    Decimal(r.json()["committed_hours"]), award["company_siret"],
                                    dt.date.fromisoformat(state["start_date"]), dt.date.fromisoformat(state["end_date"]))
    assert (lots[1].owed_hours, lots[2].owed_hours) == (1900, 300)

    # ---- structures and people --------------------------------------------------------------------------------
    structures: dict[str, str] = {}
    for kind, body in STRUCTURES.items():
        r = await matching.post("/structures", json=body)
        assert r.status_code == 201, r.text
        structures[kind] = r.json()["id"]
    people: dict[str, str] = {}
    for who, body in PEOPLE.items():
        r = await matching.post("/beneficiaries", json=body)
        assert r.status_code == 201, r.text
        people[who] = r.json()["id"]
        ledger.people[people[who]] = Person(body["gender"], int(body["birth_date"][:4]), body["commune_insee"],
                                            body["qpv"], body["education_level"],
                                            tuple(c["code"] for c in body["criteria"]))
    await system.settled()  # matching now knows the awarded lots

    # ---- candidates for lot 1, judged on the day the first placements start --------------------------------------
    r = await matching.get(f"/lots/{lots[1].id}/candidates", params={"on": "2026-04-01"})
    assert r.status_code == 200, r.text
    candidates = r.json()
    assert [s["id"] for s in candidates["structures"]] == [structures[k] for k in ("ETTI", "GEIQ", "EI")]
    assert [s["score"] for s in candidates["structures"]] == [80, 78, 76]  # sector 40 + commune 30 + 2 per place
    assert "intervient sur la commune du lot (Rennes)" in candidates["structures"][0]["reasons"]
    ranked = candidates["beneficiaries"]
    assert [(b["id"], b["score"], b["eligible"]) for b in ranked] == [
        (people[who], score, eligible) for who, score, eligible in RANKING]
    assert people["lea"] not in {b["id"] for b in ranked}
    assert ranked[0]["reasons"][0] == "éligible : critères RSA vérifiés le 10/02/2026"
    assert "habite un quartier prioritaire (QPV) : prioritaire" in ranked[0]["reasons"]
    assert ranked[-1]["status"] == "to_recheck" and ranked[-1]["reasons"][0].startswith("à revérifier : ")

    # ---- placements; the person to re-check is refused with the reason --------------------------------------------
    placements: dict[str, Placement] = {}
    for who, number, kind, modality, contract, start, end in PLACEMENTS:
        lot = lots[number]
        body = {"lot_id": lot.id, "beneficiary_id": people[who], "modality": modality, "contract_type": contract,
                "employer_siret": STRUCTURES[kind]["siret"] if kind else lot.company_siret,
                "structure_id": structures[kind] if kind else None, "start_date": start, "end_date": end}
        r = await matching.post("/placements", json=body)
        assert r.status_code == 201, f"{who} : {r.text}"
        placements[who] = Placement(r.json()["id"], people[who], lot, modality, contract,
                                    structures[kind] if kind else None, kind, dt.date.fromisoformat(start))
        ledger.placements[placements[who].id] = placements[who]
    r = await matching.post("/placements", json={
        "lot_id": lots[1].id, "beneficiary_id": people["marc"], "employer_siret": STRUCTURES["ETTI"]["siret"],
        "structure_id": structures["ETTI"], "modality": "provision", "contract_type": "INTERIM",
        "start_date": "2026-04-01"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == ("personne à revérifier le 2026-04-01 : critères RSA : dernier contrôle le "
                                  "01/06/2025, plus de 6 mois — à revérifier avant une première mise en parcours")
    assert r.json()["errors"][0]["field"] == "beneficiary_id"
    await system.settled()  # hours now knows the placements

    # ---- hours: one by one, then the rest from a spreadsheet; refusals; one correction --------------------------
    for who, month, amount, kind in BY_HAND:
        r = await hours.post("/hours", json={"placement_id": placements[who].id, "month": month, "hours": amount,
                                             "kind": kind})
        assert r.status_code == 201, f"{who} {month} : {r.text}"
        ledger.record(placements[who].id, month, kind, Decimal(amount))
    today = dt.datetime.now(dt.UTC).date()
    next_month = f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"
    r = await hours.post("/hours", json={"placement_id": placements["amina"].id, "month": next_month, "hours": "10"})
    assert r.status_code == 422 and "dans le futur" in r.json()["detail"], r.text
    r = await hours.post("/hours", json={"placement_id": placements["jean_pierre"].id, "month": "2026-02",
                                         "hours": "10"})
    assert r.json()["detail"] == "le placement commence le 02/03/2026, après le mois 2026-02", r.text

    statement = french_csv("Relevé mensuel d'heures — groupe scolaire Baud-Chardonnet",
                           [(placements[who].id, month, amount, kind) for who, month, amount, kind in STATEMENT])
    r = await hours.post("/hours/imports", **upload(statement, "releve-T2-2026.csv"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["accepted"], r.json()["rejected"]) == ("accepted", len(STATEMENT), 0)
    for who, month, amount, kind in STATEMENT:
        ledger.record(placements[who].id, statement_month(month), "training" if kind == "formation" else "work",
                      Decimal(amount.replace(",", ".")))

    history = (await hours.get("/hours", params={"placement_id": placements["kevin"].id})).json()
    june = next(e for e in history if e["month"] == "2026-06")  # line 7 of the file: title, header, 5th row
    assert (june["source"], Decimal(june["hours"]), june["import_row"]) == ("import", Decimal("145.25"), 7)
    r = await hours.post(f"/hours/{june['id']}/corrections",
                         json={"hours": "138.5", "reason": "relevé du GEIQ rectifié : une journée d'absence"})
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["corrects_id"]) == (2, june["id"])
    ledger.correct(placements["kevin"].id, "2026-06", "work", Decimal("138.5"))

    # ---- ends of pathway and a follow-up -----------------------------------------------------------------------
    for who, (end, category) in EXITS.items():
        r = await matching.post(f"/placements/{placements[who].id}/end", json={"end_date": end,
                                                                                "exit_category": category})
        assert r.status_code == 200, r.text
        ledger.exits[placements[who].id] = category
    who, on, situation = FOLLOW_UP
    r = await matching.post(f"/beneficiaries/{people[who]}/follow-ups",
                            json={"followed_up_on": on, "situation": situation, "placement_id": placements[who].id})
    assert r.status_code == 201, r.text
    await system.settled()

    # ---- the quarterly report, as the facilitator reads it: every figure from the ledger -------------------------
    r = await reporting.get("/reports/quarterly", params={"year": YEAR, "quarter": QUARTER})
    assert r.status_code == 200, r.text
    report = r.json()
    check_report(report, ledger, lots)
    assert "Diallo" not in r.text and "Amina" not in r.text  # identity never leaves matching

    q4 = (await reporting.get("/reports/quarterly", params={"year": YEAR, "quarter": 4})).json()
    assert as_counts(q4["exits"]["at_6_months"]) == {"durable_job": 1}
    assert q4["totals"]["hours"] == 0

    # ---- the funder: aggregates only, every people count under 5 shown as "< 5" ------------------------------------
    async with system.client("reporting", funder_token()) as funder:
        protected = (await funder.get("/reports/quarterly", params={"year": YEAR, "quarter": QUARTER})).json()
    assert protected["totals"] == {**report["totals"], "new_people": "< 5"}  # 5 people: shown; 4 new: hidden
    assert protected["hours_by"] == report["hours_by"]
    assert as_counts(protected["people_by"]["gender"]) == {"F": "< 5", "M": "< 5"}
    assert as_counts(protected["people_by"]["epci"]) == {"243500139": 5}
    assert as_counts(protected["exits"]["at_end"]) == {"durable_job": "< 5", "transition_job": "< 5"}
    assert protected["exits"]["at_end_dynamic"] == "< 5"
    assert set(as_counts(protected["contracts_by_type"]).values()) == {"< 5"}
    assert {t["key"]: t["actual"] for t in protected["targets"]} == {"qpv_share": None, "women_share": None}  # 2 of 5

    # ---- the buyer: its report, its market, its lots' progress ------------------------------------------------------
    async with system.client("reporting", as_buyer) as buyer:
        own = (await buyer.get("/reports/quarterly", params={"year": YEAR, "quarter": QUARTER})).json()
        market_report = (await buyer.get(f"/reports/markets/{market['id']}")).json()
        async with system.client("reporting", buyer_token("00000000-0000-0000-0000-0000000000b2")) as other:
            assert (await other.get(f"/reports/markets/{market['id']}")).status_code == 404
    assert own["buyer_id"] == buyer_id and own["totals"] == protected["totals"]  # aggregates, as the funder reads them
    assert "category" not in own["people_by"] and report["people_by"]["category"]  # never eligibility reasons
    assert Decimal(str(market_report["owed_hours"])) == lots[1].owed_hours + lots[2].owed_hours
    assert [(lot["number"], lot["status"], lot["company_name"], Decimal(str(lot["owed_hours"])))
            for lot in market_report["lots"]] == [
        (1, "awarded", "Bâtiments de Bretagne", Decimal(1900)), (2, "awarded", "Peintures de l'Ille", Decimal(300))]
    async with system.client("hours", as_buyer) as buyer:
        progress = {n: (await buyer.get(f"/lots/{lot.id}/progress")).json() for n, lot in lots.items()}
    at_risk = set()
    for number, lot in lots.items():
        if check_progress(progress[number], ledger, lot, today):
            at_risk.add(lot.id)
    assert {row["lot_id"] for row in report["lots_at_risk"]} == at_risk
    assert progress[2]["target_reached"] is True  # 349.25 h of 300

    # ---- the same figures in the downloads ------------------------------------------------------------------------
    r = await reporting.get("/reports/quarterly", params={"year": YEAR, "quarter": QUARTER, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
    check_csv(r.content.decode("utf-8-sig"), report)
    r = await reporting.get("/reports/quarterly", params={"year": YEAR, "quarter": QUARTER, "format": "xlsx"})
    assert r.status_code == 200, r.text
    check_xlsx(r.content, report)

    # ---- the same statement sent again adds nothing ---------------------------------------------------------------
    r = await hours.post("/hours/imports", **upload(statement, "releve-T2-2026 (copie).csv"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["accepted"]) == ("already_imported", 0)
    await system.settled()
    again = (await reporting.get("/reports/quarterly", params={"year": YEAR, "quarter": QUARTER})).json()
    assert again == report
    async with system.client("hours", as_buyer) as buyer:
        assert (await buyer.get(f"/lots/{lots[1].id}/progress")).json()["realised_hours"] == \
            progress[1]["realised_hours"]

    # ---- nothing lost, nothing pending ------------------------------------------------------------------------------
    for name, checks in (await system.ready_checks()).items():
        assert (checks["outbox_backlog"], checks["dead_letters_pending"]) == (0, 0), f"{name} : {checks}"
    for name in ("matching", "hours", "reporting"):
        metrics = await system.metrics(name)
        assert metrics.get("dead_letters_total", 0) == 0, name
        assert metrics["outbox_backlog"] == 0 and metrics["events_consumed_total"] > 0, name
    assert system.leftovers() == {name: (0, 0) for name in system.procs}


def check_report(report: dict, ledger: Ledger, lots: dict[int, Lot]) -> None:
    """Every figure of the 2nd quarter against the ledger."""
    assert report["period"]["label"] == "2e trimestre 2026"
    owed = lots[1].owed_hours + lots[2].owed_hours
    quarter_hours = ledger.total(FIRST, LAST)
    t = report["totals"]
    assert Decimal(str(t["hours"])) == quarter_hours
    assert Decimal(str(t["owed_hours"])) == owed
    assert Decimal(str(t["percent"])) == percent(ledger.total(last=LAST), owed)
    assert Decimal(str(t["fte"])) == (quarter_hours / Decimal(1607)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert (t["people"], t["new_people"]) == (len(ledger.reached(FIRST, LAST)), len(ledger.new_people(FIRST, LAST)))
    assert (t["people"], t["new_people"]) == (5, 4)  # Jean-Pierre worked in March already
    assert (t["companies"], t["structures"], t["markets"], t["lots"]) == (2, 3, 1, 2)

    by = report["hours_by"]
    assert as_decimals(by["modality"]) == ledger.hours_by(lambda e: e.placement.modality, FIRST, LAST)
    assert as_decimals(by["structure_kind"]) == ledger.hours_by(lambda e: e.placement.structure_kind, FIRST, LAST)
    assert as_decimals(by["month"]) == ledger.hours_by(lambda e: e.month, FIRST, LAST)
    assert as_decimals(by["lot"]) == ledger.hours_by(lambda e: e.placement.lot.id, FIRST, LAST)
    assert as_decimals(by["sector"]) == ledger.hours_by(lambda e: e.placement.lot.sector, FIRST, LAST)
    assert as_decimals(by["clause_kind"]) == ledger.hours_by(lambda e: e.placement.lot.clause_kind, FIRST, LAST)
    assert as_decimals(by["market"]) == {lots[1].market_id: quarter_hours}
    assert as_decimals(by["buyer"]) == {lots[1].buyer_id: quarter_hours}

    people = report["people_by"]
    assert as_counts(people["gender"]) == ledger.people_by(lambda p: p.gender, FIRST, LAST) == {"F": 2, "M": 3}
    assert as_counts(people["age_band"]) == ledger.people_by(lambda p: p.age_band(YEAR), FIRST, LAST)
    assert as_counts(people["age_band"]) == {"<26": 2, "26-49": 2, "50+": 1}
    assert as_counts(people["qpv"]) == ledger.people_by(lambda p: str(p.qpv).lower(), FIRST, LAST)
    assert as_counts(people["education_level"]) == ledger.people_by(lambda p: p.education_level, FIRST, LAST)
    assert as_counts(people["category"]) == ledger.categories(FIRST, LAST)
    assert as_counts(people["epci"]) == {"243500139": 5}  # all five live in Rennes Métropole
    reached = Decimal(len(ledger.reached(FIRST, LAST)))
    women = Decimal(ledger.people_by(lambda p: p.gender, FIRST, LAST)["F"])
    in_qpv = Decimal(ledger.people_by(lambda p: str(p.qpv).lower(), FIRST, LAST)["true"])
    assert {t["key"]: Decimal(str(t["actual"])) for t in report["targets"]} == {
        "qpv_share": percent(in_qpv, reached), "women_share": percent(women, reached)}
    assert as_counts(people["structure_kind"]) == {"ETTI": 1, "GEIQ": 1, "EI": 1, "none": 2}  # none: direct hires
    assert {r["key"]: r["structures"] for r in report["structures_by_kind"]} == {"ETTI": 1, "GEIQ": 1, "EI": 1}

    started = [p for p in ledger.placements.values() if FIRST <= f"{p.start:%Y-%m}" <= LAST]
    assert as_counts(report["contracts_by_type"]) == {p.contract_type: 1 for p in started}
    assert as_counts(report["exits"]["at_end"]) == {c: 1 for c in ledger.exits.values()}
    assert report["exits"]["at_end_dynamic"] == 2 and report["exits"]["at_6_months"] == []

    previous = report["previous_period"]["totals"]  # 1st quarter: Jean-Pierre's March
    assert (Decimal(str(previous["hours"])), previous["people"], previous["new_people"]) == (
        ledger.total(last="2026-03"), 1, 1)
    ytd = report["year_to_date"]["totals"]
    assert (Decimal(str(ytd["hours"])), ytd["people"], ytd["new_people"]) == (ledger.total(last=LAST), 5, 5)
    assert report["pipeline"] == {"hours": 0, "lots": 0}


def check_progress(progress: dict, ledger: Ledger, lot: Lot, today: dt.date) -> bool:
    """A lot's progress against the ledger; the forecast extends the pace of its closed months to its end.
    Returns the expected at-risk flag."""
    realised = ledger.total(lot=lot)
    monthly: dict[str, Decimal] = {}
    by_modality: dict[str, Decimal] = {}
    for e in ledger.entries(lot=lot):
        monthly[e.month] = monthly.get(e.month, Decimal(0)) + e.hours
        by_modality[e.placement.modality] = by_modality.get(e.placement.modality, Decimal(0)) + e.hours
    # the pace of the closed months (those before the current one) extended to the lot's end
    last_closed = min(today.replace(day=1) - dt.timedelta(days=1), lot.end)
    elapsed, total = months_from(lot.start, last_closed), months_from(lot.start, lot.end)
    paced = sum((e.hours for e in ledger.entries(lot=lot) if e.month <= f"{last_closed:%Y-%m}"), Decimal(0))
    forecast = max(paced * total / elapsed if elapsed else realised, realised).quantize(Decimal("0.01"), ROUND_HALF_UP)
    reached = realised >= lot.owed_hours
    at_risk = not reached and elapsed > 0 and forecast < lot.owed_hours * Decimal("0.9")
    assert Decimal(str(progress["owed_hours"])) == lot.owed_hours
    assert Decimal(str(progress["realised_hours"])) == realised
    assert Decimal(str(progress["percent"])) == percent(realised, lot.owed_hours)
    assert Decimal(str(progress["forecast_hours"])) == forecast
    assert (progress["at_risk"], progress["target_reached"]) == (at_risk, reached)
    assert {p["month"]: Decimal(str(p["hours"])) for p in progress["monthly"]} == monthly
    assert Decimal(str(progress["monthly"][-1]["cumulated"])) == realised
    assert {k: Decimal(str(v)) for k, v in progress["by_modality"].items()} == by_modality
    return at_risk


def check_csv(text: str, report: dict) -> None:
    """The CSV (Section ; Période ; Clé ; Libellé ; Valeur, decimal commas) holds the JSON's figures."""
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Section", "Période", "Clé", "Libellé", "Valeur"]
    label = report["period"]["label"]

    def number(cell: str) -> Decimal:
        return Decimal(cell.replace(",", "."))

    summary = {r[3]: r[4] for r in rows if r[0] == "Synthèse" and r[1] == label}
    t = report["totals"]
    assert number(summary["Heures réalisées"]) == Decimal(str(t["hours"]))
    assert number(summary["Heures dues (lots actifs)"]) == Decimal(str(t["owed_hours"]))
    assert number(summary["Taux de réalisation (%)"]) == Decimal(str(t["percent"]))
    assert (int(summary["Personnes"]), int(summary["Nouvelles personnes"]), int(summary["Lots"])) == (
        t["people"], t["new_people"], t["lots"])
    for section, dimension in (("Heures par mois", "month"), ("Heures par modalité", "modality"),
                               ("Heures par type de structure", "structure_kind")):
        assert {r[2]: number(r[4]) for r in rows if r[0] == section} == as_decimals(report["hours_by"][dimension])
    assert "Diallo" not in text


def check_xlsx(data: bytes, report: dict) -> None:
    """The workbook: one sheet per section, numbers stored as numbers."""
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    summary = {row[0]: row[1] for row in book["Synthèse"].iter_rows(min_row=2, values_only=True)}
    t = report["totals"]
    assert Decimal(str(summary["Heures réalisées"])) == Decimal(str(t["hours"]))
    assert Decimal(str(summary["Équivalents temps plein"])) == Decimal(str(t["fte"]))
    assert (summary["Personnes"], summary["Structures d'insertion"], summary["Marchés"]) == (
        t["people"], t["structures"], t["markets"])
    months = {row[0]: Decimal(str(row[2])) for row in book["Heures par mois"].iter_rows(min_row=2, values_only=True)}
    assert months == as_decimals(report["hours_by"]["month"])
    assert sum(months.values()) == Decimal(str(t["hours"]))
    kinds = {row[0]: row[2] for row in book["Personnes par type de structure"].iter_rows(min_row=2, values_only=True)}
    assert kinds == as_counts(report["people_by"]["structure_kind"])
