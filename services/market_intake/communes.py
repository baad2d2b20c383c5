"""The list of communes a market may be located in, read at start-up from a CSV (`insee_code`, `name` columns)."""

from __future__ import annotations

import csv
from pathlib import Path


def load_communes(path: Path) -> dict[str, str]:
    """INSEE code -> commune name. A missing or malformed file stops the service with a French message."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise RuntimeError(f"liste des communes illisible ({path}) : {exc.strerror}") from exc
    if not rows or "insee_code" not in rows[0] or "name" not in rows[0]:
        raise RuntimeError(f"liste des communes sans colonnes « insee_code » et « name » : {path}")
    return {row["insee_code"].strip(): row["name"].strip() for row in rows if row["insee_code"].strip()}
