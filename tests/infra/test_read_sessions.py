"""Queries on the read session are not held up by a writer on SQLite (WAL readers take no lock)."""

from __future__ import annotations

import asyncio

from harness import running
from sqlalchemy import func, insert, select

from services.reporting.app import create_app as reporting_app


async def test_a_read_is_not_blocked_by_an_open_write_transaction(database_url, nats_url):
    async with running(reporting_app, database_url=database_url("reporting"), nats_url=nats_url) as client:
        db, dead = client.ctx.db, client.ctx.tables.dead_letters
        async with db.session() as writer, writer.begin():
            await writer.execute(insert(dead).values(consumer="c", subject="s", payload="{}", error="e", attempts=1,
                                                     created_at=func.now()))
            # The write transaction is open (on SQLite it holds the write lock): a read still answers at once,
            # and sees the last committed state only.
            async with db.read_session() as reader:
                count = await asyncio.wait_for(reader.scalar(select(func.count()).select_from(dead)), timeout=2)
            assert count == 0
        async with db.read_session() as reader:
            assert await reader.scalar(select(func.count()).select_from(dead)) == 1
