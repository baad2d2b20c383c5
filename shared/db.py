"""Database engine and sessions of one service, and its Alembic migrations.

SQLite (default, one file per service under VAR_DIR) runs in WAL mode with `BEGIN IMMEDIATE` transactions, so
concurrent writers queue on the busy timeout instead of failing on a lock upgrade. PostgreSQL is chosen by URL.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, Table, Uuid, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from shared.infra import INFRA_TABLE_NAMES


class Database:
    def __init__(self, url: str, *, after_commit: Callable[[Session], None] | None = None, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)

        # One Session class per Database, so the after-commit hook (wake the outbox relay) is ours alone.
        session_class = type("ServiceSession", (Session,), {})
        if after_commit is not None:
            event.listen(session_class, "after_commit", after_commit)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False, sync_session_class=session_class)

        # Reads never need SQLite's write lock (WAL readers see the last commit): a second engine with plain,
        # deferred transactions, so report queries do not queue behind the consumers' writes.
        self.reader = create_async_engine(self.url, **kwargs) if self.is_sqlite else self.engine
        if self.is_sqlite:
            _configure_sqlite(self.reader, begin="BEGIN")
        self.read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)

    def session(self) -> AsyncSession:
        return self.sessions()

    def read_session(self) -> AsyncSession:
        """A session for queries only (on SQLite it must not write: its transactions take no write lock)."""
        return self.read_sessions()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self, script_location: Path, metadata: MetaData) -> None:
        """Upgrade this database to the head of the service's own Alembic history."""

        if self.is_sqlite and self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)

        def upgrade(conn: Connection) -> None:
            if self.is_postgres:  # several replicas may start at once: one migrates, the others wait
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(str(script_location).encode())})
            command.upgrade(alembic_config(script_location, conn, metadata), "head")

        async with self.engine.begin() as conn:
            await conn.run_sync(upgrade)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.reader is not self.engine:
            await self.reader.dispose()


def alembic_config(script_location: Path, connection: Connection | None, metadata: MetaData) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("file_template", "%%(rev)s")
    cfg.attributes["connection"] = connection
    cfg.attributes["target_metadata"] = metadata
    return cfg


def run_alembic_env() -> None:
    """Body of every service's `migrations/env.py`: migrate on the connection handed over by `Database.migrate`."""
    from alembic import context

    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("Les migrations se lancent par Database.migrate() (ou `python -m shared.migrate`).")
    context.configure(
        connection=connection,
        target_metadata=context.config.attributes["target_metadata"],
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=_skip_infra_tables,
    )
    with context.begin_transaction():
        context.run_migrations()


def _skip_infra_tables(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
    """The infra tables come from `shared.infra.create_infra_tables()`, not from autogenerate."""
    return not (type_ == "table" and name in INFRA_TABLE_NAMES)


def _configure_sqlite(engine: AsyncEngine, begin: str = "BEGIN IMMEDIATE") -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)


def upsert_insert(session: AsyncSession) -> Callable[..., Any]:
    """The INSERT construct of the session's dialect, the one with `on_conflict_do_nothing/do_update`."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


# ---- bulk append: the fastest path of each backend ------------------------------------------------------------------
class _HexDigits(dict[int, str]):
    """A UUID's integer → its 32 hex digits (how SQLAlchemy stores a UUID in SQLite), each formatted once."""

    def __missing__(self, i: int) -> str:
        digits = self[i] = f"{i:032x}"
        return digits


def encode_rows(dialect: Any, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                repeated: Sequence[str] = ()) -> Sequence[Sequence[Any]]:
    """Rows (in `columns` order) as the driver of `bulk_insert` takes them. CPU only: a bulk path may run it in a
    worker thread. PostgreSQL: the rows as they are (COPY encodes them). SQLite: SQLAlchemy's storage format, column
    by column (one comprehension per column, not a loop per value): UUIDs — objects, or their text — to their 32 hex
    digits, each distinct one formatted once; other values through their column's bind processor (once per distinct
    value for the columns in `repeated`: the same lot, the same time again and again)."""
    if dialect.name != "sqlite" or not rows:
        return rows
    hexes = _HexDigits()  # keyed by the UUID's integer: hashing a uuid.UUID is Python code
    values = list(zip(*rows, strict=True))
    for i, name in enumerate(columns):
        column_type = table.c[name].type
        if isinstance(column_type, Uuid):
            values[i] = [None if v is None else v.replace("-", "") if v.__class__ is str else hexes[v.int]
                         for v in values[i]]
            continue
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        if process is None:
            continue
        if name in repeated:
            done = {v: None if v is None else process(v) for v in set(values[i])}
            values[i] = [done[v] for v in values[i]]
        else:
            values[i] = [None if v is None else process(v) for v in values[i]]
    return list(zip(*values, strict=True))


async def bulk_insert(session: AsyncSession, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                      repeated: Sequence[str] = (), encoded: bool = False, into: str | None = None) -> None:
    """Append rows (tuples in `columns` order) in the caller's transaction, below the ORM: COPY on PostgreSQL
    (asyncpg), one executemany of the driver on SQLite. `encoded`: the rows come from `encode_rows` already.
    `into`: another table with the same columns (a benchmark's twin table)."""
    if not rows:
        return
    conn = await session.connection()
    name = into or table.name
    if conn.dialect.name == "postgresql":
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(name, records=rows, columns=list(columns))
        return
    if not encoded:
        rows = encode_rows(conn.dialect, table, columns, rows, repeated)
    await conn.exec_driver_sql(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                               rows)
