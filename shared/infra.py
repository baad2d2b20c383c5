"""Tables every service database holds beside its own: the outbox, the inbox and the dead letters.

They are added to each service's own MetaData (`add_infra_tables`) and created by each service's first migration
(`create_infra_tables`), so every service owns its copy in its own database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    text,
)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


INFRA_TABLE_NAMES = frozenset({"outbox", "inbox", "dead_letters"})


@dataclass(frozen=True)
class InfraTables:
    outbox: Table
    inbox: Table
    dead_letters: Table


def add_infra_tables(metadata: MetaData) -> InfraTables:
    outbox = Table(
        "outbox",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", Uuid, nullable=False, unique=True),
        Column("subject", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
        Index(
            "ix_outbox_unpublished",
            "id",
            sqlite_where=text("published_at IS NULL"),
            postgresql_where=text("published_at IS NULL"),
        ),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("consumer", "event_id", name="pk_inbox"),
    )
    dead_letters = Table(
        "dead_letters",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("event_id", Uuid, nullable=True),
        Column("subject", String(200), nullable=False),
        Column("payload", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("resolved_at", DateTime(timezone=True), nullable=True),
    )
    return InfraTables(outbox=outbox, inbox=inbox, dead_letters=dead_letters)


def create_infra_tables() -> None:
    """Alembic upgrade step (infra v1), called from each service's first migration."""
    from alembic import op

    for table in add_infra_tables(MetaData()).__dict__.values():
        table.create(op.get_bind())


def drop_infra_tables() -> None:
    from alembic import op

    for table in reversed(list(add_infra_tables(MetaData()).__dict__.values())):
        table.drop(op.get_bind())
