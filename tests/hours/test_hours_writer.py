"""Group commit of single entries (services/hours/writer.py): entries that arrive together are written in one
transaction, each checked as if alone; a refusal stays with its entry; a key taken meanwhile by another writer gives a
409 to that entry only. On SQLite and PostgreSQL, with a real NATS server."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from decimal import Decimal

import psycopg
import pytest
from harness import published_events, running
from hours_support import count_rows, lot_month_totals, seed_lot, seed_placements
from sqlalchemy.engine import make_url

from services.hours.app import create_app
from services.hours.schemas import HoursIn
from services.hours.writer import EntryWriter
from shared.errors import Conflict, DomainError


def body(placement_id: uuid.UUID, month: str = "2026-03", hours: str = "10", kind: str | None = "work") -> HoursIn:
    return HoursIn(placement_id=placement_id, month=month, hours=Decimal(hours), kind=kind)


async def outcomes(writer: EntryWriter, bodies: list[HoursIn]) -> list[object]:
    """Sent at once: they all wait before the writer's first transaction, so they form one batch."""
    return await asyncio.gather(*(writer.record(b, "facilitatrice") for b in bodies), return_exceptions=True)


async def test_each_entry_of_a_batch_gets_its_own_answer(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        lot = (await seed_lot(client.ctx)).lots[0]
        placements = [p.placement_id for p in await seed_placements(client.ctx, lot.lot_id, count=4,
                                                                    start_date=dt.date(2026, 1, 1))]
        writer = EntryWriter(client.ctx)
        sent = [
            body(placements[0]),
            body(uuid.uuid4()),  # unknown placement
            body(placements[1], hours="150"),
            body(placements[1], hours="30", kind="training"),  # 180 h in the month: within the caps
            body(placements[1], hours="5", kind="training"),  # same key as the entry just before it
            body(placements[2], hours="250"),  # over the monthly cap
            body(placements[3], month="2999-01"),  # a month in the future
            body(placements[3], month="2026-02", hours="7.5"),
        ]
        results = await outcomes(writer, sent)

        assert [type(r).__name__ for r in results] == [
            "EntryOut", "DomainError", "EntryOut", "EntryOut", "Conflict", "DomainError", "DomainError", "EntryOut"]
        assert isinstance(results[4], Conflict) and str(results[3].id) in results[4].message  # type: ignore[union-attr]
        refusals = {i: (r.field, r.message) for i, r in enumerate(results) if isinstance(r, DomainError)}
        assert refusals[1] == ("placement_id", "placement inconnu : il doit d'abord être créé dans l'appariement")
        assert refusals[5][0] == "hours" and "plafond mensuel dépassé" in refusals[5][1]
        assert refusals[6][0] == "month" and "dans le futur" in refusals[6][1]

        assert await count_rows(client.ctx, "hour_entries") == 4
        events = await published_events(client.ctx)
        recorded = [e for k, d in events if k == "hours.recorded" for e in d["entries"]]
        assert sorted(e["entry_id"] for e in recorded) == sorted(str(r.id) for r in results if hasattr(r, "id"))
        progressed = [d for k, d in events if k == "lot.progressed"]
        assert len(progressed) == 1 and progressed[0]["realised_hours"] == "197.50"  # one refresh for the batch
        kept, summed = await lot_month_totals(client.ctx)
        assert kept == summed == {(lot.lot_id, "2026-03"): 19000, (lot.lot_id, "2026-02"): 750}

        again = await outcomes(writer, [body(placements[0]), body(placements[2], hours="20")])  # the next batch
        assert isinstance(again[0], Conflict) and type(again[1]).__name__ == "EntryOut"


async def test_a_key_taken_by_another_writer_meanwhile_fails_alone(database_url, backend, nats_url):
    """PostgreSQL: another transaction (an import, another replica) holds a new entry of one key, uncommitted, while
    a batch containing that key is written. The batch waits on it, collides at its commit, and is written again entry
    by entry: that entry gets a 409, the others are recorded. (SQLite has one writer at a time: nothing can slip in
    between the batch's checks and its write.)"""
    url = database_url("hours")
    async with running(create_app, database_url=url, nats_url=nats_url) as client:
        lot = (await seed_lot(client.ctx)).lots[0]
        placements = [p.placement_id for p in await seed_placements(client.ctx, lot.lot_id, count=3,
                                                                    start_date=dt.date(2026, 1, 1))]
        writer = EntryWriter(client.ctx)
        if backend == "sqlite":
            results = await outcomes(writer, [body(p) for p in placements] + [body(placements[0])])
            assert [type(r).__name__ for r in results] == ["EntryOut"] * 3 + ["Conflict"]
            return
        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(plain) as other:
            await other.execute(
                "INSERT INTO hour_entries (id, placement_id, lot_id, month, kind, hundredths, version, author, source, "
                "created_at) VALUES (%s, %s, %s, '2026-03', 'work', 700, 1, 'import', 'import', now())",
                (uuid.uuid4(), placements[0], lot.lot_id))
            await other.execute("INSERT INTO lot_month_hours (lot_id, month, hundredths) VALUES (%s, '2026-03', 700)",
                                (lot.lot_id,))
            pending = asyncio.ensure_future(outcomes(writer, [body(p) for p in placements]))
            await asyncio.sleep(0.5)
            assert not pending.done()  # the batch waits for the other transaction
            await other.commit()
            results = await pending

        assert [type(r).__name__ for r in results] == ["Conflict", "EntryOut", "EntryOut"]
        assert "faites une correction" in results[0].message  # type: ignore[union-attr]
        assert await count_rows(client.ctx, "hour_entries") == 3
        kept, summed = await lot_month_totals(client.ctx)
        assert kept == summed == {(lot.lot_id, "2026-03"): 2700}


async def test_a_batch_checks_the_lot_period_and_the_kind_a_placement_declares(database_url, nats_url):
    async with running(create_app, database_url=database_url("hours"), nats_url=nats_url) as client:
        lot = (await seed_lot(client.ctx, start_date=dt.date(2026, 1, 1), end_date=dt.date(2026, 6, 30))).lots[0]
        (worker,) = await seed_placements(client.ctx, lot.lot_id, start_date=dt.date(2026, 1, 1))
        (trainee,) = await seed_placements(client.ctx, lot.lot_id, start_date=dt.date(2026, 1, 1), modality="training",
                                           structure_kind=None, structure_id=None)
        w, t = worker.placement_id, trainee.placement_id
        results = await outcomes(EntryWriter(client.ctx), [
            body(w, month="2026-06", kind=None),  # work
            body(w, month="2026-07"),  # after the lot's end
            body(t, month="2026-06", hours="20", kind=None),  # training
            body(t, month="2026-05", hours="20", kind="work"),  # work on a training placement
            body(t, month="2026-06", hours="1", kind="training"),  # the key of the entry just before: training
        ])
        assert [type(r).__name__ for r in results] == ["EntryOut", "DomainError", "EntryOut", "DomainError", "Conflict"]
        assert (results[0].kind, results[2].kind) == ("work", "training")  # type: ignore[union-attr]
        assert (results[1].field, results[3].field) == ("month", "kind")  # type: ignore[union-attr]
        assert "en dehors de la période du lot (du 01/01/2026 au 30/06/2026)" in results[1].message  # type: ignore[union-attr]
        events = await published_events(client.ctx)
        recorded = [(e["placement_id"], e["kind"]) for k, d in events if k == "hours.recorded" for e in d["entries"]]
        assert sorted(recorded) == sorted([(str(w), "work"), (str(t), "training")])


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_outbox_payloads_are_compressed_with_lz4(database_url, nats_url):
    """Migration 0006: the bulk payloads of an import are compressed with lz4, not pglz (a third of the writing time)."""
    url = database_url("hours")
    async with running(create_app, database_url=url, nats_url=nats_url):
        pass
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(plain) as conn:
        method = await (await conn.execute(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = 'outbox'::regclass AND attname = 'payload'")).fetchone()
    assert method == ("l",)
