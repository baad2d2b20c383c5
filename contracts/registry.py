"""The catalogue of v1 events: type, version, subject, stream and payload model.

Subjects are `<stream prefix>.<aggregate>.<event>.v<N>`. A breaking change is a new `.v2` entry published alongside v1.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from contracts.events import hours, markets, matching
from contracts.streams import HOURS, MARKETS, MATCHING, StreamSpec


@dataclass(frozen=True)
class EventSpec:
    event_type: str
    version: int
    stream: StreamSpec
    model: type[BaseModel]
    summary: str

    @property
    def subject(self) -> str:
        prefix = self.stream.subjects[0].removesuffix(".>")
        return f"{prefix}.{self.event_type}.v{self.version}"

    @property
    def producer(self) -> str:
        return self.stream.owner


_SPECS = [
    EventSpec("market.submitted", 1, MARKETS, markets.MarketSubmitted, "Un marché et ses lots sont soumis."),
    EventSpec("lot.clause_sized", 1, MARKETS, markets.LotClauseSized, "La clause d'un lot est dimensionnée."),
    EventSpec("lot.awarded", 1, MARKETS, markets.LotAwarded, "Un lot est attribué ; obligation recalculée."),
    EventSpec("lot.amended", 1, MARKETS, markets.LotAmended, "Avenant : obligation recalculée."),
    EventSpec("lot.invoiced", 1, MARKETS, markets.LotInvoiced, "Facture : l'obligation au montant facturé croît."),
    EventSpec("lot.closed", 1, MARKETS, markets.LotClosed, "Lot clos : obligation figée."),
    EventSpec("structure.registered", 1, MATCHING, matching.StructureRegistered, "Structure d'insertion enregistrée."),
    EventSpec("beneficiary.enrolled", 1, MATCHING, matching.BeneficiaryEnrolled, "Profil pseudonyme d'un bénéficiaire."),
    EventSpec("placement.started", 1, MATCHING, matching.PlacementStarted, "Mise en parcours sur un lot."),
    EventSpec("placement.ended", 1, MATCHING, matching.PlacementEnded, "Fin de parcours et catégorie de sortie."),
    EventSpec("beneficiary.followed_up", 1, MATCHING, matching.BeneficiaryFollowedUp, "Situation à 6 mois."),
    EventSpec("beneficiary.erased", 1, MATCHING, matching.BeneficiaryErased, "Identité effacée (RGPD)."),
    EventSpec("hours.recorded", 1, HOURS, hours.HoursRecorded, "Heures saisies ou importées (lot d'entrées)."),
    EventSpec("hours.corrected", 1, HOURS, hours.HoursCorrected, "Correction d'une saisie d'heures."),
    EventSpec("lot.progressed", 1, HOURS, hours.LotProgress, "Avancement d'un lot recalculé."),
    EventSpec("lot.target_reached", 1, HOURS, hours.LotProgress, "Un lot atteint son objectif d'heures."),
    EventSpec("lot.at_risk", 1, HOURS, hours.LotProgress, "Un lot risque de ne pas atteindre son objectif."),
]

EVENTS: dict[tuple[str, int], EventSpec] = {(s.event_type, s.version): s for s in _SPECS}
_BY_SUBJECT: dict[str, EventSpec] = {s.subject: s for s in _SPECS}


def spec_for(event_type: str, version: int = 1, producer: str | None = None) -> EventSpec:
    """Look an event up by type; `lot.*` events exist in two streams, so name the producer where it matters."""
    candidates = [s for s in _SPECS if s.event_type == event_type and s.version == version]
    if producer is not None:
        candidates = [s for s in candidates if s.producer == producer]
    if len(candidates) != 1:
        raise KeyError(f"{event_type} v{version} (producer={producer}): {len(candidates)} matches")
    return candidates[0]


def spec_for_subject(subject: str) -> EventSpec:
    return _BY_SUBJECT[subject]
