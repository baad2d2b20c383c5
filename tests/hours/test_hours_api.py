"""POST /hours, corrections, history and lot progress, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

from harness import SECRET, published_events, running
from hours_support import (
    apply,
    count_rows,
    placement_ended,
    placement_started,
    post_file,
    seed_lot,
    seed_placements,
)
from sqlalchemy import select

from services.hours import service
from services.hours.app import create_app
from shared.auth import Role, issue_token


async def test_record_correct_and_read_the_history(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx)
        lot = market.lots[0]
        (placement,) = await seed_placements(client.ctx, lot.lot_id)
        pid = str(placement.placement_id)

        first = await client.post("/hours", json={"placement_id": pid, "month": "2026-03", "hours": "151.67"})
        assert first.status_code == 201, first.text
        entry = first.json()
        assert (entry["hours"], entry["version"], entry["kind"], entry["current"]) == ("151.67", 1, "work", True)

        again = await client.post("/hours", json={"placement_id": pid, "month": "2026-03", "hours": "10"})
        assert again.status_code == 409
        assert "faites une correction" in again.json()["detail"]

        fixed = await client.post(f"/hours/{entry['id']}/corrections", json={"hours": "140", "reason": "relevé ETTI rectifié"})
        assert fixed.status_code == 201, fixed.text
        assert (fixed.json()["version"], fixed.json()["corrects_id"], fixed.json()["author"]) == (2, entry["id"], "bootstrap")

        stale = await client.post(f"/hours/{entry['id']}/corrections", json={"hours": "1", "reason": "doublon"})
        assert stale.status_code == 409
        assert "corrigez la dernière version" in stale.json()["detail"]

        history = (await client.get("/hours", params={"placement_id": pid})).json()
        assert [(h["version"], h["hours"], h["current"], h["corrected_by"]) for h in history] == [
            (1, "151.67", False, fixed.json()["id"]), (2, "140.00", True, None)]
        assert history[1]["reason"] == "relevé ETTI rectifié"

        progress = (await client.get(f"/lots/{lot.lot_id}/progress")).json()
        assert Decimal(progress["realised_hours"]) == Decimal(140)
        assert progress["by_modality"] == {"provision": "140.00"}
        assert progress["monthly"] == [{"month": "2026-03", "hours": "140.00", "cumulated": "140.00"}]


async def test_refusals_name_the_field_in_french(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url, training_allowed=False) as client:
        market = await seed_lot(client.ctx)
        (placement,) = await seed_placements(client.ctx, market.lots[0].lot_id, start_date=dt.date(2026, 3, 10))
        (trainee,) = await seed_placements(client.ctx, market.lots[0].lot_id, start_date=dt.date(2026, 3, 10),
                                           modality="training", structure_kind=None, structure_id=None)
        pid, tid = str(placement.placement_id), str(trainee.placement_id)
        cases = [
            ({"placement_id": str(uuid.uuid4()), "month": "2026-03", "hours": "7"}, 422, "placement_id", "placement inconnu"),
            ({"placement_id": pid, "month": "2026-02", "hours": "7"}, 422, "month", "commence le 10/03/2026"),
            ({"placement_id": pid, "month": "2999-01", "hours": "7"}, 422, "month", "dans le futur"),
            ({"placement_id": pid, "month": "2026-03", "hours": "0"}, 422, "hours", "supérieures à 0"),
            ({"placement_id": pid, "month": "2026-03", "hours": "7.123"}, 422, "hours", "au plus 2 décimales"),
            ({"placement_id": pid, "month": "2026-03", "hours": "200.01"}, 422, "hours", "plafond mensuel"),
            ({"placement_id": pid, "month": "2026-03", "hours": "7", "kind": "training"}, 422, "kind", "pas comptées"),
            # a training placement: its hours are training hours, whatever kind is typed (or none)
            ({"placement_id": tid, "month": "2026-03", "hours": "7"}, 422, "kind", "pas comptées"),
            ({"placement_id": tid, "month": "2026-03", "hours": "7", "kind": "work"}, 422, "kind",
             "ce placement est une formation"),
            ({"placement_id": pid, "month": "2026-03", "amount_eur": "500"}, 422, "amount_eur", "sous-traitance"),
            ({"placement_id": pid, "month": "03/2026", "hours": "7"}, 422, "month", "format invalide"),
        ]
        for body, status, field, message in cases:
            response = await client.post("/hours", json=body)
            assert response.status_code == status, (body, response.text)
            assert response.json()["errors"][0]["field"] == field, response.text
            assert message in response.text, response.text
        assert await count_rows(client.ctx, "hour_entries") == 0
        assert await published_events(client.ctx) == []


async def test_subcontracting_by_amount_and_the_end_of_a_placement(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url,
                       subcontracting_hourly_cost_eur="30") as client:
        market = await seed_lot(client.ctx)
        (placement,) = await seed_placements(client.ctx, market.lots[0].lot_id, modality="subcontracting",
                                             structure_kind="EI")
        pid = str(placement.placement_id)
        response = await client.post("/hours", json={"placement_id": pid, "month": "2026-04", "amount_eur": "1500"})
        assert response.status_code == 201, response.text
        assert response.json()["hours"] == "50.00"
        await apply(client.ctx, "placement.ended", placement_ended(placement, dt.date(2026, 4, 30)), "matching")
        late = await client.post("/hours", json={"placement_id": pid, "month": "2026-05", "hours": "5"})
        assert late.status_code == 422
        assert "a pris fin le 30/04/2026" in late.json()["detail"]


async def test_an_end_received_before_its_start_is_kept(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx)
        started = placement_started(market.lots[0].lot_id, start_date=dt.date(2026, 2, 1), end_date=dt.date(2026, 12, 31))
        await apply(client.ctx, "placement.ended", placement_ended(started, dt.date(2026, 5, 31)), "matching")
        early = await client.post("/hours", json={"placement_id": str(started.placement_id), "month": "2026-03", "hours": "5"})
        assert early.status_code == 422 and "placement inconnu" in early.text
        await apply(client.ctx, "placement.started", started, "matching")
        await apply(client.ctx, "placement.started", started, "matching")  # redelivered: same row
        ok = await client.post("/hours", json={"placement_id": str(started.placement_id), "month": "2026-05", "hours": "5"})
        assert ok.status_code == 201, ok.text
        june = await client.post("/hours", json={"placement_id": str(started.placement_id), "month": "2026-06", "hours": "5"})
        assert "a pris fin le 31/05/2026" in june.json()["detail"]  # the actual end wins over the planned one
        from services.hours.models import Placement
        async with client.ctx.db.session() as session:
            row = (await session.scalars(select(Placement))).one()
        assert (row.ended_on, row.planned_end_date, row.exit_category, row.modality) == (
            dt.date(2026, 5, 31), dt.date(2026, 12, 31), "durable_job", "provision")


async def test_progress_is_seen_by_its_buyer_only(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx, start_date=dt.date(2026, 1, 1), end_date=dt.date(2026, 12, 31),
                                owed_hours=Decimal("1000"))
        lot = market.lots[0]
        (placement,) = await seed_placements(client.ctx, lot.lot_id, start_date=dt.date(2026, 1, 1))
        response = await client.post("/hours", json={"placement_id": str(placement.placement_id), "month": "2026-01",
                                                     "hours": "100"})
        assert response.status_code == 201
        own = issue_token(SECRET, Role.BUYER, buyer_id=market.buyer_id)
        other = issue_token(SECRET, Role.BUYER, buyer_id=uuid.uuid4())
        funder = issue_token(SECRET, Role.FUNDER)
        seen = await client.get(f"/lots/{lot.lot_id}/progress", headers={"Authorization": f"Bearer {own}"})
        assert seen.status_code == 200
        body = seen.json()
        assert (body["owed_hours"], body["realised_hours"], body["percent"]) == ("1000.00", "100.00", "10.0")
        assert body["at_risk"] is (Decimal(body["forecast_hours"]) < 900)
        assert (await client.get(f"/lots/{lot.lot_id}/progress", headers={"Authorization": f"Bearer {other}"})).status_code == 404
        assert (await client.get(f"/lots/{lot.lot_id}/progress", headers={"Authorization": f"Bearer {funder}"})).status_code == 403
        assert (await client.get(f"/lots/{uuid.uuid4()}/progress")).status_code == 404
        hist = await client.get("/hours", params={"placement_id": str(placement.placement_id)},
                                headers={"Authorization": f"Bearer {other}"})
        assert hist.status_code == 404
        write = await client.post("/hours", json={"placement_id": str(placement.placement_id), "month": "2026-02",
                                                  "hours": "1"}, headers={"Authorization": f"Bearer {own}"})
        assert write.status_code == 403


async def outbox_events(ctx) -> list[tuple[str, dict]]:
    return await published_events(ctx)


async def test_alerts_are_emitted_when_the_state_changes_only(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        # A lot of 12 months, nearly over: the pace decides.
        market = await seed_lot(client.ctx, start_date=dt.date(2026, 1, 1), end_date=dt.date(2026, 12, 31),
                                owed_hours=Decimal("300"))
        lot = market.lots[0]
        placements = await seed_placements(client.ctx, lot.lot_id, count=3, start_date=dt.date(2026, 1, 1))

        async def record(p, month: str, hours: str) -> dict:
            response = await client.post("/hours", json={"placement_id": str(p.placement_id), "month": month, "hours": hours})
            assert response.status_code == 201, response.text
            return response.json()

        low = await record(placements[0], "2026-01", "10")  # far behind: at risk
        await record(placements[0], "2026-02", "10")  # still at risk: no new alert
        kinds = [k for k, _ in await outbox_events(client.ctx)]
        assert kinds.count("lot.at_risk") == 1 and kinds.count("lot.progressed") == 2
        await record(placements[1], "2026-03", "200")  # 220 h: 240 h forecast, still short of 270 h: no new alert
        await record(placements[2], "2026-03", "100")  # 320 h ≥ 300 h owed: reached, so no longer at risk
        events = await outbox_events(client.ctx)
        alerts = [(k, d["at_risk"], d["realised_hours"]) for k, d in events if k in ("lot.at_risk", "lot.target_reached")]
        assert alerts == [("lot.at_risk", True, "10.00"), ("lot.target_reached", False, "320.00"),
                          ("lot.at_risk", False, "320.00")]
        await client.post(f"/hours/{low['id']}/corrections", json={"hours": "0", "reason": "saisie en double"})
        again = [k for k, _ in await outbox_events(client.ctx)]
        assert again.count("lot.target_reached") == 1  # reached once; 310 h still above the target
        assert (await client.get(f"/lots/{lot.lot_id}/progress")).json()["realised_hours"] == "310.00"


async def test_an_amendment_refreshes_the_progress_of_a_followed_lot(database_url, nats_url):
    from contracts import new_envelope, spec_for
    from contracts.events.markets import LotAmended

    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx, start_date=dt.date(2026, 1, 1), end_date=dt.date(2026, 12, 31),
                                owed_hours=Decimal("100"))
        lot = market.lots[0]
        (placement,) = await seed_placements(client.ctx, lot.lot_id, start_date=dt.date(2026, 1, 1))
        response = await client.post("/hours", json={"placement_id": str(placement.placement_id), "month": "2026-02",
                                                     "hours": "100"})
        assert response.status_code == 201
        spec = spec_for("lot.amended", producer="market_intake")
        handler = client.ctx.bus.consumers[spec.stream.name].handlers[spec.subject][1]  # as the bus applies it
        amended = LotAmended(lot=lot.model_copy(update={"owed_hours": Decimal("1000"), "version": lot.version + 1}),
                             amendment_number=1, reason="avenant n°1")
        async with client.ctx.db.session() as session, session.begin():
            await handler(session, amended, new_envelope("lot.amended", 1, "market_intake", amended))
        events = await outbox_events(client.ctx)
        last_progress = [d for k, d in events if k == "lot.progressed"][-1]
        assert (last_progress["owed_hours"], last_progress["at_risk"]) == ("1000.00", True)
        assert [k for k, _ in events].count("lot.at_risk") == 1
        progress = (await client.get(f"/lots/{lot.lot_id}/progress")).json()
        assert (progress["owed_hours"], progress["percent"], progress["target_reached"]) == ("1000.00", "10.0", False)


async def test_concurrent_entries_of_one_lot_are_each_recorded_once(database_url, nats_url):
    """Entries of one lot arriving together (the benchmark's load): each is stored once, the lot's progress state is
    created once (no 500 on PostgreSQL), the same key sent twice at once gives a 409, and the progress events count
    up to every entry (entries that arrive together are written in one transaction with one refresh of the lot: one
    `lot.progressed` per batch, each seeing the hours committed before it)."""
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        lot = (await seed_lot(client.ctx)).lots[0]
        placements = await seed_placements(client.ctx, lot.lot_id, count=8, start_date=dt.date(2026, 1, 1))
        bodies = [{"placement_id": str(p.placement_id), "month": "2026-03", "hours": "10"} for p in placements]

        answers = await asyncio.gather(*(client.post("/hours", json=body) for body in bodies + bodies[:2]))

        assert sorted(a.status_code for a in answers) == [201] * 8 + [409] * 2, [a.text for a in answers]
        assert await count_rows(client.ctx, "hour_entries") == 8
        assert await count_rows(client.ctx, "lot_progress_state") == 1
        events = await outbox_events(client.ctx)
        realised = [Decimal(d["realised_hours"]) for k, d in events if k == "lot.progressed"]
        assert 1 <= len(realised) <= 8 and realised == sorted(realised) and realised[-1] == Decimal("80.00")
        recorded = [e["entry_id"] for k, d in events if k == "hours.recorded" for e in d["entries"]]
        assert len(recorded) == len(set(recorded)) == 8  # each entry announced once


async def test_hours_count_only_within_the_lot_period_as_amended(database_url, nats_url):
    from contracts.events.markets import LotAmended

    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx, start_date=dt.date(2026, 1, 1), end_date=dt.date(2026, 6, 30))
        lot = market.lots[0]
        (placement,) = await seed_placements(client.ctx, lot.lot_id, start_date=dt.date(2026, 1, 1))  # open-ended
        pid = str(placement.placement_id)

        late = await client.post("/hours", json={"placement_id": pid, "month": "2026-08", "hours": "10"})
        assert late.status_code == 422, late.text
        assert late.json()["errors"][0]["field"] == "month"
        assert late.json()["detail"] == ("le mois 2026-08 est en dehors de la période du lot (du 01/01/2026 au "
                                         "30/06/2026) : seules comptent les heures effectuées sur l'opération")
        assert await count_rows(client.ctx, "hour_entries") == 0
        june = await client.post("/hours", json={"placement_id": pid, "month": "2026-06", "hours": "10"})
        assert june.status_code == 201, june.text

        async def amend(end: dt.date, number: int) -> None:
            state = lot.model_copy(update={"end_date": end, "version": lot.version + number})
            await apply(client.ctx, "lot.amended", LotAmended(lot=state, amendment_number=number, reason="délai"),
                        "market_intake")

        await amend(dt.date(2026, 9, 30), 1)  # the works last longer: August is the operation's now
        august = await client.post("/hours", json={"placement_id": pid, "month": "2026-08", "hours": "10"})
        assert august.status_code == 201, august.text

        await amend(dt.date(2026, 5, 31), 2)  # then end earlier: June's hours can only be cancelled
        raised = await client.post(f"/hours/{june.json()['id']}/corrections", json={"hours": "12", "reason": "relevé"})
        assert raised.status_code == 422, raised.text
        assert raised.json()["errors"][0]["field"] == "hours"
        assert "le mois 2026-06 est en dehors de la période du lot (du 01/01/2026 au 31/05/2026)" in raised.text
        assert "ne peut qu'être annulée (correction à 0)" in raised.text
        cancelled = await client.post(f"/hours/{june.json()['id']}/corrections", json={"hours": "0", "reason": "hors lot"})
        assert cancelled.status_code == 201, cancelled.text
        assert (await client.get(f"/lots/{lot.lot_id}/progress")).json()["realised_hours"] == "10.00"


async def test_a_training_placement_declares_training_hours_only(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = await seed_lot(client.ctx)
        lot_id = market.lots[0].lot_id
        (trainee,) = await seed_placements(client.ctx, lot_id, modality="training", structure_kind=None,
                                           structure_id=None, contract_type="OTHER")
        tid = str(trainee.placement_id)
        implicit = await client.post("/hours", json={"placement_id": tid, "month": "2026-03", "hours": "20"})
        assert implicit.status_code == 201, implicit.text
        assert implicit.json()["kind"] == "training"
        again = await client.post("/hours", json={"placement_id": tid, "month": "2026-03", "hours": "5",
                                                  "kind": "training"})
        assert again.status_code == 409  # the same key: an empty kind was training
        work = await client.post("/hours", json={"placement_id": tid, "month": "2026-04", "hours": "100", "kind": "work"})
        assert work.status_code == 422 and work.json()["errors"][0]["field"] == "kind", work.text
        over = await client.post("/hours", json={"placement_id": tid, "month": "2026-04", "hours": "100"})
        assert over.status_code == 422 and "plafond de formation dépassé" in over.text  # capped, as training

        # a placement whose modality became training (matching corrected it): its work entry can only be cancelled
        (worker,) = await seed_placements(client.ctx, lot_id)
        entry = (await client.post("/hours", json={"placement_id": str(worker.placement_id), "month": "2026-03",
                                                   "hours": "30"})).json()
        assert entry["kind"] == "work"
        corrected = type(worker).model_validate(worker.model_dump() | {"modality": "training"})
        await apply(client.ctx, "placement.started", corrected, "matching")
        raised = await client.post(f"/hours/{entry['id']}/corrections", json={"hours": "31", "reason": "relevé"})
        assert raised.status_code == 422 and "ce placement est une formation" in raised.text
        assert "annulée (correction à 0)" in raised.text
        cancelled = await client.post(f"/hours/{entry['id']}/corrections", json={"hours": "0", "reason": "formation"})
        assert cancelled.status_code == 201, cancelled.text
        assert (await client.get(f"/lots/{lot_id}/progress")).json()["by_modality"] == {"training": "20.00"}


async def test_a_subcontracted_amount_converts_at_the_hourly_cost_its_lot_was_sized_with(database_url, nats_url):
    from contracts import new_envelope, spec_for
    from contracts.codes import LotStatus
    from contracts.events.markets import LotAwarded, LotClauseSized, LotState
    from examples import market_submitted
    from services.hours.models import LotRef

    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        market = market_submitted(3)
        sized, cleaning, fixed = market.lots = [
            market.lots[0], LotState.model_validate(market.lots[1].model_dump() | {"sector": "nettoyage"}),
            LotState.model_validate(market.lots[2].model_dump() | {"method": "fixed_hours"})]
        await apply(client.ctx, "market.submitted", market, "market_intake")
        awarded = sized.model_copy(update={"status": LotStatus.AWARDED, "version": 2, "company_siret": "44306184100047"})
        await apply(client.ctx, "lot.awarded", LotAwarded(lot=awarded, company_siret="44306184100047",
                                                          company_name="Bâtiment Rennais", awarded_amount_eur=Decimal(1)),
                    "market_intake")
        # lot.clause_sized comes after the award here (another order on the wire): the newer state stays. Applied
        # as the bus applies it (the lot handlers the app registers refresh the progress too).
        spec = spec_for("lot.clause_sized", producer="market_intake")
        handler = client.ctx.bus.consumers[spec.stream.name].handlers[spec.subject][1]
        event = LotClauseSized(
            lot=sized, formula="heures = montant HT × part de main-d'œuvre × taux d'insertion ÷ coût horaire",
            parameters={"amount_eur": "1000000", "labour_share": "0.5", "insertion_rate": "0.05", "hourly_cost_eur": "24"})
        async with client.ctx.db.session() as session, session.begin():
            await handler(session, event, new_envelope("lot.clause_sized", 1, "market_intake", event))
        await apply(client.ctx, "lot.clause_sized", LotClauseSized(
            lot=fixed, formula="heures fixées dans le marché", parameters={"hours": "300"}), "market_intake")
        async with client.ctx.db.session() as session:
            rows = {r.lot_id: r for r in (await session.scalars(select(LotRef))).all()}
        assert (rows[sized.lot_id].status, rows[sized.lot_id].sizing_hourly_cost_eur) == ("awarded", Decimal(24))
        assert rows[fixed.lot_id].sizing_hourly_cost_eur is None

        expected = {sized.lot_id: "50.00", cleaning.lot_id: "60.00", fixed.lot_id: "40.00"}  # 24 €, 20 €, 30 € an hour
        for lot_id, hours in expected.items():
            (placement,) = await seed_placements(client.ctx, lot_id, modality="subcontracting", structure_kind="EI")
            response = await client.post("/hours", json={"placement_id": str(placement.placement_id), "month": "2026-04",
                                                         "amount_eur": "1200"})
            assert response.status_code == 201, response.text
            assert response.json()["hours"] == hours


async def test_the_daily_sweep_puts_a_silent_lot_at_risk_once(database_url, nats_url):
    """Nothing declared for months: no hour is written, yet the closed months put the lot behind; the daily sweep
    announces it once (and nothing for a lot whose first month is not over)."""
    today = dt.date.today()
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url,
                       progress_sweep_interval_hours=0) as client:
        silent = (await seed_lot(client.ctx, start_date=today - dt.timedelta(days=150),
                                 end_date=today + dt.timedelta(days=200), owed_hours=Decimal("1000"))).lots[0]
        fresh = (await seed_lot(client.ctx, start_date=today.replace(day=1), end_date=today + dt.timedelta(days=200),
                                owed_hours=Decimal("1000"))).lots[0]
        assert [k for k, _ in await outbox_events(client.ctx) if k == "lot.at_risk"] == []
        async with client.ctx.db.session() as session:
            assert await service.sweep_progress(session, client.ctx) == 1
        async with client.ctx.db.session() as session:
            assert await service.sweep_progress(session, client.ctx) == 0  # announced once
        alerts = [d for k, d in await outbox_events(client.ctx) if k == "lot.at_risk"]
        assert [(d["lot_id"], d["at_risk"], d["realised_hours"]) for d in alerts] == [(str(silent.lot_id), True, "0.00")]
        progress = (await client.get(f"/lots/{silent.lot_id}/progress")).json()
        assert progress["at_risk"] is True
        assert (await client.get(f"/lots/{fresh.lot_id}/progress")).json()["at_risk"] is False


async def test_hours_after_the_person_s_eligibility_window_are_refused_everywhere(database_url, nats_url):
    """The window matching sent with the placement: the month it closes counts, the next is refused one by one and
    in an imported statement (its other rows are kept)."""
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        lot = (await seed_lot(client.ctx, start_date=dt.date(2025, 1, 1), end_date=dt.date(2027, 12, 31))).lots[0]
        (placement,) = await seed_placements(client.ctx, lot.lot_id, start_date=dt.date(2025, 1, 1),
                                             eligible_until=dt.date(2026, 3, 31))
        pid = str(placement.placement_id)
        assert (await client.post("/hours", json={"placement_id": pid, "month": "2026-03", "hours": "35"})
                ).status_code == 201
        late = await client.post("/hours", json={"placement_id": pid, "month": "2026-04", "hours": "35"})
        assert late.status_code == 422, late.text
        assert late.json()["errors"] == [{"field": "month", "message": (
            "le mois 2026-04 est après la fin de la fenêtre d'éligibilité de la personne (le 31/03/2026) : seules "
            "comptent les heures de personnes éligibles")}]
        statement = f"placement;mois;heures\n{pid};2026-02;20\n{pid};2026-05;20\n".encode()
        answer = await post_file(client, statement, accept_valid_rows=True)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["accepted"], answer.json()["rejected"]) == (1, 1)
        assert "fenêtre d'éligibilité" in str(answer.json())
        assert (await client.get(f"/lots/{lot.lot_id}/progress")).json()["realised_hours"] == "55.00"
