"""The territory: communes (INSEE) and their EPCI (read at start-up by `shared.territory`). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.territory import Commune




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
