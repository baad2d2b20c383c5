"""Idempotent inbox: a consumer records each processed event id in the same transaction as its effect."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import upsert_insert
from shared.infra import InfraTables


async def claim(session: AsyncSession, tables: InfraTables, consumer: str, event_id: uuid.UUID) -> bool:
    """Record `event_id` as processed by `consumer`; False when it already was (the caller then skips the effect).

    Must run inside the transaction that applies the effect: if that transaction rolls back, so does the claim.
    """
    values = {"consumer": consumer, "event_id": event_id, "processed_at": datetime.now(UTC)}
    insert = upsert_insert(session)
    stmt = insert(tables.inbox).values(values).on_conflict_do_nothing(index_elements=["consumer", "event_id"])
    result = await session.execute(stmt)
    return result.rowcount == 1


async def claim_many(session: AsyncSession, tables: InfraTables, consumer: str, event_ids: list[uuid.UUID]
                     ) -> set[uuid.UUID]:
    """`claim` for a batch, in one statement: the ids not processed before (the caller applies only those)."""
    if not event_ids:
        return set()
    now = datetime.now(UTC)
    insert = upsert_insert(session)
    stmt = insert(tables.inbox).on_conflict_do_nothing(index_elements=["consumer", "event_id"])
    rows = [{"consumer": consumer, "event_id": i, "processed_at": now} for i in dict.fromkeys(event_ids)]
    # executemany with RETURNING ("insertmanyvalues"): one statement per few thousand ids
    return set((await session.execute(stmt.returning(tables.inbox.c.event_id), rows)).scalars())
