"""Golden test: the Rennes 2012 figures of DOMAIN.md, rebuilt from generated events, shown by the annual report.

2012: 400 people, 86 % men, 19 % under 26, 6 % over 50; 140,000 hours; 98 companies; structures used: 3 ETTI
(85 people), 3 EI (153), 3 ACI (127), PLIE "Bâti emploi" (10), GEIQ (9), other (16); 160,000 hours sized on lots not
yet awarded (the pipeline). The events are fed to the service's own handlers (volumes), not through NATS.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import uuid
from decimal import Decimal

from harness import SECRET, running
from openpyxl import load_workbook
from reporting_support import apply_directly

from contracts import Envelope, new_envelope
from contracts.events.hours import HourEntry, HoursRecorded
from contracts.events.markets import LotAwarded, LotState, MarketSubmitted
from contracts.events.matching import BeneficiaryEnrolled, PlacementStarted, StructureRegistered
from services.reporting.app import create_app
from shared.auth import Role, issue_token

YEAR = 2012
PEOPLE_BY_KIND = {"ETTI": 85, "EI": 153, "ACI": 127, "PLIE": 10, "GEIQ": 9, "OTHER": 16}
STRUCTURES_BY_KIND = {"ETTI": 3, "EI": 3, "ACI": 3, "PLIE": 1, "GEIQ": 1, "OTHER": 1}
MODALITY = {"ETTI": "provision", "GEIQ": "provision", "EI": "subcontracting", "ACI": "subcontracting",
            "PLIE": "direct_hire", "OTHER": "co_contracting"}
TOTAL_HOURS = Decimal("140000")
COMPANIES = 98
PIPELINE_HOURS = Decimal("160000")


def rennes_2012(seed: int = 2012) -> list[Envelope]:
    rng = random.Random(seed)
    events: list[Envelope] = []

    def emit(event_type: str, producer: str, data) -> None:
        events.append(new_envelope(event_type, 1, producer, data))

    buyers = [(uuid.uuid4(), "Rennes Métropole"), (uuid.uuid4(), "Ville de Rennes"), (uuid.uuid4(), "Archipel Habitat")]
    lots: list[LotState] = []
    # 98 awarded lots (one company each) and 10 lots still in the pipeline
    for m in range(27):
        buyer_id, buyer_name = buyers[m % 3]
        market_id = uuid.uuid4()
        count = 4
        market_lots = [
            LotState(lot_id=uuid.uuid4(), market_id=market_id, buyer_id=buyer_id, number=n, title=f"Lot {n}",
                     sector=rng.choice(["gros_oeuvre", "second_oeuvre", "nettoyage", "espaces_verts"]),
                     clause_kind="execution_condition", method="rate", amount_eur=Decimal("500000"),
                     start_date=dt.date(2011, 9, 1), end_date=dt.date(2013, 12, 31), owed_hours=Decimal("16000"),
                     status="submitted", version=1)
            for n in range(1, count + 1)
        ]
        emit("market.submitted", "market_intake", MarketSubmitted(
            market_id=market_id, buyer_id=buyer_id, buyer_name=buyer_name, buyer_kind="collectivite",
            reference=f"2012-{m:03d}", title=f"Marché {m}", cpv_code="45000000", commune_insee="35238",
            lots=market_lots))
        lots += market_lots
    awarded: list[LotState] = []
    for i, lot in enumerate(lots[:COMPANIES]):
        siret = f"{35000000000000 + i}"
        state = LotState.model_validate({**lot.model_dump(), "status": "awarded", "version": 2,
                                         "company_siret": siret, "company_name": f"Entreprise {i}",
                                         "owed_hours": Decimal("1500")})
        awarded.append(state)
        emit("lot.awarded", "market_intake", LotAwarded(lot=state, company_siret=siret, company_name=f"Entreprise {i}",
                                                        awarded_amount_eur=state.amount_eur))
    pipeline = lots[COMPANIES:]
    assert len(pipeline) == 10 and sum(lot.owed_hours for lot in pipeline) == PIPELINE_HOURS

    structures: dict[str, list[StructureRegistered]] = {}
    for kind, n in STRUCTURES_BY_KIND.items():
        for i in range(n):
            s = StructureRegistered(structure_id=uuid.uuid4(), siret=f"{44000000000000 + len(events)}",
                                    name=f"{kind} {i + 1}", kind=kind, sectors=["gros_oeuvre"], communes=["35238"],
                                    capacity=60)
            structures.setdefault(kind, []).append(s)
            emit("structure.registered", "matching", s)

    # 400 people: 344 men / 56 women; 76 under 26, 24 aged 50+, 300 aged 26-49 at the end of 2012
    ages = [rng.randint(18, 25) for _ in range(76)] + [rng.randint(50, 62) for _ in range(24)] + \
        [rng.randint(26, 49) for _ in range(300)]
    genders = ["M"] * 344 + ["F"] * 56
    rng.shuffle(ages)
    rng.shuffle(genders)
    kinds = [k for k, n in PEOPLE_BY_KIND.items() for _ in range(n)]
    rng.shuffle(kinds)
    # hours per person: random, summing to exactly 140,000
    weights = [rng.randint(100, 600) for _ in range(400)]
    shares = [Decimal(w * 140000 // sum(weights)) for w in weights]
    shares[0] += TOTAL_HOURS - sum(shares)
    entries: list[HourEntry] = []
    for p in range(400):
        beneficiary_id = uuid.uuid4()
        emit("beneficiary.enrolled", "matching", BeneficiaryEnrolled(
            beneficiary_id=beneficiary_id, gender=genders[p], birth_year=YEAR - ages[p], commune_insee="35238",
            qpv=rng.random() < 0.2, education_level="cap_bep", categories=["DELD"], enrolled_on=dt.date(2011, 12, 1)))
        kind = kinds[p]
        structure = structures[kind][p % len(structures[kind])]
        lot = awarded[p % len(awarded)]
        placement = PlacementStarted(
            placement_id=uuid.uuid4(), lot_id=lot.lot_id, beneficiary_id=beneficiary_id,
            employer_siret=structure.siret, structure_id=structure.structure_id, structure_kind=kind,
            modality=MODALITY[kind], contract_type="CDDI" if kind in ("EI", "ACI") else "INTERIM",
            start_date=dt.date(YEAR, 1 + p % 6, 2))
        emit("placement.started", "matching", placement)
        months = list(range(1 + p % 6, 13))
        per_month = (shares[p] / len(months)).quantize(Decimal("0.01"))
        for i, month in enumerate(months):
            hours = per_month if i < len(months) - 1 else shares[p] - per_month * (len(months) - 1)
            entries.append(HourEntry(
                entry_id=uuid.uuid4(), placement_id=placement.placement_id, beneficiary_id=beneficiary_id,
                lot_id=lot.lot_id, market_id=lot.market_id, buyer_id=lot.buyer_id, employer_siret=structure.siret,
                structure_id=structure.structure_id, structure_kind=kind, modality=MODALITY[kind],
                month=f"{YEAR}-{month:02d}", hours=hours, kind="work"))
    for i in range(0, len(entries), 1000):
        emit("hours.recorded", "hours", HoursRecorded(entries=entries[i:i + 1000]))
    return events


def _by_key(rows: list[dict], value: str = "people") -> dict:
    return {r["key"]: r[value] for r in rows}


async def test_the_annual_report_shows_the_rennes_2012_figures(database_url, nats_url):
    async with running(create_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        await apply_directly(client.ctx, rennes_2012())
        report = (await client.get("/reports/annual", params={"year": YEAR})).json()

        totals = report["totals"]
        assert totals["people"] == 400 and totals["new_people"] == 400
        assert Decimal(str(totals["hours"])) == TOTAL_HOURS
        assert totals["fte"] == round(140000 / 1607, 2)
        assert totals["companies"] == COMPANIES
        assert totals["structures"] == sum(STRUCTURES_BY_KIND.values())
        gender = _by_key(report["people_by"]["gender"])
        assert gender == {"M": 344, "F": 56}
        assert round(100 * gender["M"] / totals["people"]) == 86
        ages = _by_key(report["people_by"]["age_band"])
        assert ages == {"<26": 76, "26-49": 300, "50+": 24}
        assert round(100 * ages["<26"] / 400) == 19 and round(100 * ages["50+"] / 400) == 6
        assert _by_key(report["people_by"]["structure_kind"]) == PEOPLE_BY_KIND
        assert _by_key(report["structures_by_kind"], "structures") == STRUCTURES_BY_KIND
        assert sum(Decimal(str(r["hours"])) for r in report["hours_by"]["structure_kind"]) == TOTAL_HOURS
        assert Decimal(str(report["pipeline"]["hours"])) == PIPELINE_HOURS
        women = next(t for t in report["targets"] if t["key"] == "women_share")
        assert women["actual"] == 14.0

        # the funder's view shows the same figures (no cell is under 5 people here)
        funder = {"Authorization": f"Bearer {issue_token(SECRET, Role.FUNDER)}"}
        as_funder = (await client.get("/reports/annual", params={"year": YEAR}, headers=funder)).json()
        assert as_funder["people_by"]["structure_kind"] == report["people_by"]["structure_kind"]

        # and so does the spreadsheet
        xlsx = await client.get("/reports/annual", params={"year": YEAR, "format": "xlsx"})
        sheet = load_workbook(io.BytesIO(xlsx.content))["Personnes par type de structure"]
        assert {r[0]: r[2] for r in sheet.iter_rows(min_row=2, values_only=True)} == PEOPLE_BY_KIND
