"""Reference data of the territory: communes with their INSEE code, EPCI and Pays de Rennes flag.

Read at start-up from a CSV (`insee_code`, `name`, `epci_siren`, `epci_name`, `pays_de_rennes`; the handout's
`communes_ille_et_vilaine.csv`). A missing or malformed file stops the service with a French message: a service
that cannot check communes must not start half-blind.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def default_communes_csv() -> Path:
    """The handout's communes file: in `HANDOUT_DIR` when set, else in the `shared/` folder beside the repository."""
    return Path(os.environ.get("HANDOUT_DIR") or REPO.parent / "shared") / "data" / "communes_ille_et_vilaine.csv"


COLUMNS = ("insee_code", "name", "epci_siren", "epci_name", "pays_de_rennes")


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    epci_siren: str
    epci_name: str
    pays_de_rennes: bool


def read_communes(text: str, source: str = "communes") -> dict[str, Commune]:
    """INSEE code -> Commune, from the CSV text."""
    reader = csv.DictReader(text.lstrip("\ufeff").splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise RuntimeError(f"liste des communes {source} : colonne(s) manquante(s) {', '.join(missing)}")
    communes: dict[str, Commune] = {}
    for line, row in enumerate(reader, start=2):
        insee = (row["insee_code"] or "").strip()
        if len(insee) != 5:
            raise RuntimeError(f"liste des communes {source}, ligne {line} : code INSEE invalide « {insee} »")
        if not (row["epci_siren"] or "").strip():
            raise RuntimeError(f"liste des communes {source}, ligne {line} : SIREN d'EPCI manquant")
        communes[insee] = Commune(
            insee=insee,
            name=row["name"].strip(),
            epci_siren=row["epci_siren"].strip(),
            epci_name=row["epci_name"].strip(),
            pays_de_rennes=row["pays_de_rennes"].strip() == "1",
        )
    if not communes:
        raise RuntimeError(f"liste des communes {source} : aucune commune")
    return communes


def load_communes(path: Path) -> dict[str, Commune]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuntimeError(f"liste des communes illisible ({path}) : {exc.strerror or exc}") from exc
    return read_communes(text, str(path))
