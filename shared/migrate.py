"""Alembic for one service, from the command line.

    python -m shared.migrate revision market_intake -m "add invoices"   # autogenerate against a scratch SQLite
    python -m shared.migrate upgrade market_intake                      # upgrade <SERVICE>_DATABASE_URL to head

Services upgrade themselves at start-up; this is for writing new revisions and for operators.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import MetaData

from shared.db import Database, alembic_config
from shared.settings import ServiceSettings, load_settings


def _service(name: str) -> tuple[Path, MetaData]:
    models = importlib.import_module(f"services.{name}.models")
    return Path(models.__file__).parent / "migrations", models.metadata


async def revision(name: str, message: str) -> None:
    script_location, metadata = _service(name)
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/scratch.db")
        await db.migrate(script_location, metadata)
        async with db.engine.begin() as conn:
            await conn.run_sync(
                lambda c: command.revision(
                    alembic_config(script_location, c, metadata),
                    message=message,
                    autogenerate=True,
                    rev_id=_next_rev_id(script_location, message),
                )
            )
        await db.dispose()


def _next_rev_id(script_location: Path, message: str) -> str:
    """Readable, ordered revision ids: 0003_add_invoices."""
    numbers = [int(p.name[:4]) for p in (script_location / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    slug = "_".join(message.lower().split())[:27].rstrip("_")  # alembic_version.version_num holds 32 characters
    return f"{max(numbers, default=0) + 1:04d}_{slug}"


async def upgrade(name: str) -> None:
    script_location, metadata = _service(name)
    settings = load_settings(ServiceSettings, name)
    db = Database(settings.effective_database_url)
    await db.migrate(script_location, metadata)
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["revision", "upgrade"])
    parser.add_argument("service")
    parser.add_argument("-m", "--message", default="change")
    args = parser.parse_args()
    if args.action == "revision":
        asyncio.run(revision(args.service, args.message))
    else:
        asyncio.run(upgrade(args.service))


if __name__ == "__main__":
    main()
