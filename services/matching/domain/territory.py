"""The territory: communes (INSEE) and their EPCI, parsed from the handout's CSV text. Pure: the file is read by app.py."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Commune:
    insee: str
    name: str
    epci_siren: str
    epci_name: str
    pays_de_rennes: bool


@dataclass(frozen=True)
class Territory:
    communes: dict[str, Commune] = field(default_factory=dict)

    @property
    def epcis(self) -> dict[str, str]:
        """EPCI SIREN -> name."""
        return {c.epci_siren: c.epci_name for c in self.communes.values()}

    def epci_of(self, insee: str) -> str | None:
        commune = self.communes.get(insee)
        return commune.epci_siren if commune else None

    def communes_of_epci(self, siren: str) -> set[str]:
        return {c.insee for c in self.communes.values() if c.epci_siren == siren}

    def served(self, communes: Iterable[str], epcis: Iterable[str], department: bool) -> list[str]:
        """Every commune a structure serves: its communes, the communes of its EPCI, or the whole department."""
        if department:
            return sorted(self.communes)
        out = set(communes)
        for siren in epcis:
            out |= self.communes_of_epci(siren)
        return sorted(out)


REQUIRED_COLUMNS = ("insee_code", "name", "epci_siren", "epci_name", "pays_de_rennes")


def parse_communes(text: str) -> Territory:
    """Parse the communes CSV; raise ValueError in French naming the row when it is malformed."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"fichier des communes : colonne(s) manquante(s) {', '.join(missing)}")
    communes: dict[str, Commune] = {}
    for row_number, row in enumerate(reader, start=2):
        insee = (row["insee_code"] or "").strip()
        if len(insee) != 5 or not (row["epci_siren"] or "").strip():
            raise ValueError(f"fichier des communes, ligne {row_number} : code INSEE ou SIREN d'EPCI invalide")
        communes[insee] = Commune(
            insee=insee,
            name=row["name"].strip(),
            epci_siren=row["epci_siren"].strip(),
            epci_name=row["epci_name"].strip(),
            pays_de_rennes=row["pays_de_rennes"].strip() == "1",
        )
    return Territory(communes)
