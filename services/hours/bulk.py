"""The bulk write of hour entries, below the ORM: one statement per chunk, inside the caller's transaction.

PostgreSQL: COPY (asyncpg `copy_records_to_table`). SQLite: the driver's executemany. Values go through the
column types' own bind processors, so rows are stored exactly as the ORM would store them. `encode` (CPU only, the
import runs it in a worker thread) turns records into the driver's values; `insert_entries` writes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from services.hours.models import HourEntryRow

E = HourEntryRow.__table__
SQLITE_CACHE_KIB = 262_144
COLUMNS = ("id", "placement_id", "lot_id", "month", "kind", "hundredths", "version", "corrects_id", "reason",
           "author", "source", "import_id", "import_row", "created_at")


def encode(dialect: Dialect, records: Sequence[tuple[Any, ...]]) -> Sequence[Sequence[Any]]:
    """`records`: tuples in COLUMNS order, Python values (UUID, datetime...); the entry id may be its text form.
    On SQLite, the stored values (text ids, text times); elsewhere the records themselves (the driver encodes)."""
    if dialect.name != "sqlite":
        return records
    processors = [E.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in COLUMNS]
    active = [(i, p, {}) for i, p in enumerate(processors) if p is not None]  # + memo of repeated values
    rows = []
    for record in records:
        values = list(record)
        for i, process, memo in active:
            value = values[i]
            if value is not None:
                if i == 0:  # the entry's own id never repeats
                    values[0] = value.replace("-", "") if isinstance(value, str) else process(value)
                else:  # placements, lots, the import, the time: the same objects again and again
                    key = id(value)
                    done = memo.get(key)
                    if done is None:
                        done = memo[key] = process(value)
                    values[i] = done
        rows.append(values)
    return rows


async def insert_entries(session: AsyncSession, rows: Sequence[Sequence[Any]], table: str = E.name) -> None:
    """Write rows made by `encode` in the caller's transaction (`table`: another with the same columns, for the
    benchmark's raw limit)."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    raw = (await connection.get_raw_connection()).driver_connection
    if dialect.name == "postgresql" and hasattr(raw, "copy_records_to_table"):
        await raw.copy_records_to_table(table, records=rows, columns=list(COLUMNS))
    elif dialect.name == "sqlite":
        # Entry keys land all over the unique index: give the B-trees room in memory (per connection, in KiB).
        await raw.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        await raw.executemany(f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)
    else:
        values = [dict(zip(COLUMNS, r, strict=True)) for r in rows]
        for row in values:
            row["id"] = uuid.UUID(str(row["id"]))
        await session.execute(insert(E), values)
