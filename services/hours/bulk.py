"""The bulk write of hour entries, below the ORM: one statement per chunk, inside the caller's transaction
(`shared.db.bulk_insert`: COPY on PostgreSQL, the driver's executemany on SQLite). `encode` (CPU only, the import
runs it in a worker thread) turns records into the driver's values; `insert_entries` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from services.hours.models import HourEntryRow
from shared.db import bulk_insert, encode_rows

E = HourEntryRow.__table__
SQLITE_CACHE_KIB = 262_144
COLUMNS = ("id", "placement_id", "lot_id", "month", "kind", "hundredths", "version", "corrects_id", "reason",
           "author", "source", "import_id", "import_row", "created_at")
REPEATED = ("month", "kind", "author", "source", "created_at")  # the same values again and again in a file


def encode(dialect: Dialect, records: Sequence[tuple[Any, ...]]) -> Sequence[Sequence[Any]]:
    """`records`: tuples in COLUMNS order, Python values (UUID, datetime...); the entry id may be its text form."""
    return encode_rows(dialect, E, COLUMNS, records, REPEATED)


async def insert_entries(session: AsyncSession, rows: Sequence[Sequence[Any]], table: str = E.name) -> None:
    """Write rows made by `encode` in the caller's transaction (`table`: another with the same columns, for the
    benchmark's raw limit)."""
    if not rows:
        return
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        # Entry keys land all over the unique index: give the B-trees room in memory (per connection, in KiB).
        await session.execute(text(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}"))
    await bulk_insert(session, E, COLUMNS, rows, encoded=True, into=table)
