"""Placement rules: identifiers, which structure kinds carry which modality, lot state, overlapping full-time work,
when the follow-up after an exit is due."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from contracts.codes import LotStatus
from contracts.codes import Modality as M
from contracts.codes import StructureKind as K
from services.matching.domain.eligibility import add_months, fr

# DOMAIN.md, "How a company meets its clause": who can carry each modality. Direct hire and training may be supported
# by any structure (PLIE, régie...), which then accompanies the person without employing them.
MODALITY_KINDS: dict[str, frozenset[str]] = {
    M.DIRECT_HIRE: frozenset(K),
    M.TRAINING: frozenset(K),
    M.PROVISION: frozenset({K.ETTI, K.AI, K.GEIQ}),
    M.SUBCONTRACTING: frozenset({K.EI, K.ACI, K.EITI, K.EA, K.ESAT, K.REGIE}),
    M.CO_CONTRACTING: frozenset({K.EI, K.ACI, K.EITI, K.EA, K.ESAT, K.REGIE}),
}
MODALITY_LABELS = {
    M.DIRECT_HIRE: "embauche directe",
    M.PROVISION: "mise à disposition",
    M.SUBCONTRACTING: "sous-traitance",
    M.CO_CONTRACTING: "cotraitance",
    M.TRAINING: "formation",
}
NEEDS_STRUCTURE = frozenset({M.PROVISION, M.SUBCONTRACTING, M.CO_CONTRACTING})
STATUS_LABELS = {LotStatus.DRAFT: "brouillon", LotStatus.SUBMITTED: "soumis", LotStatus.AWARDED: "attribué",
                 LotStatus.CLOSED: "clos"}


def siret_error(value: str) -> str | None:
    """A SIRET is 14 digits passing the Luhn check (La Poste's establishments excepted)."""
    if len(value) != 14 or not value.isdigit():
        return "SIRET invalide : 14 chiffres attendus"
    if value.startswith("356000000"):  # La Poste: sum of digits multiple of 5
        return None if sum(map(int, value)) % 5 == 0 else "SIRET invalide (clé de contrôle)"
    total = 0
    for i, ch in enumerate(reversed(value)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return None if total % 10 == 0 else "SIRET invalide (clé de contrôle)"


def kind_carries(kind: str, modality: str) -> bool:
    return kind in MODALITY_KINDS.get(modality, frozenset())


def structure_error(kind: str | None, offered: Iterable[str], active: bool, modality: str) -> str | None:
    """Why a structure cannot carry a placement of `modality` (None when it can)."""
    label = MODALITY_LABELS.get(modality, modality)
    if kind is None:
        return f"la modalité « {label} » demande une structure (structure_id)" if modality in NEEDS_STRUCTURE else None
    if not active:
        return "cette structure est inactive"
    if not kind_carries(kind, modality):
        return f"une structure {kind} ne peut pas porter la modalité « {label} »"
    if modality not in set(offered):
        return f"cette structure ne propose pas la modalité « {label} »"
    return None


NO_COMPANY = "l'attributaire du lot"


def employer_error(employer: str, company_siret: str | None, structure_siret: str | None) -> str | None:
    """The employer is the lot's winning company or the structure carrying the placement."""
    if employer in {company_siret, structure_siret}:
        return None
    allowed = " ou ".join(f"{label} ({siret})" for label, siret in
                          (("l'attributaire du lot", company_siret), ("la structure", structure_siret)) if siret)
    return f"l'employeur doit être {allowed or NO_COMPANY}"


def siae_route(kind: str | None, modality: str) -> str | None:
    """The structure kind whose IAE rule applies: only when the structure employs the person (provision,
    subcontracting, co-contracting); a structure merely supporting a direct hire or a training adds no IAE rule."""
    return kind if modality in NEEDS_STRUCTURE else None


def lot_error(status: str, lot_start: dt.date, lot_end: dt.date, start: dt.date) -> tuple[str, str] | None:
    """(field, message) when a placement cannot start on this lot."""
    if status == LotStatus.CLOSED:
        return "lot_id", "le lot est clos : plus aucune mise en parcours possible"
    if status != LotStatus.AWARDED:
        return "lot_id", f"le lot n'est pas attribué (statut : {STATUS_LABELS.get(status, status)})"
    if not lot_start <= start <= lot_end:
        return "start_date", f"la date de début doit tomber dans la période du lot ({lot_start} – {lot_end})"
    return None


@dataclass(frozen=True)
class Span:
    """A placement's period: `end` None means open-ended."""

    start: dt.date
    end: dt.date | None
    full_time: bool = True

    def overlaps(self, other: Span) -> bool:
        return (self.end is None or other.start <= self.end) and (other.end is None or self.start <= other.end)


def full_time_clash(new: Span, existing: Iterable[Span]) -> Span | None:
    """The first full-time placement the new full-time placement would overlap, if any."""
    if not new.full_time:
        return None
    return min((s for s in existing if s.full_time and s.overlaps(new)), key=lambda s: s.start, default=None)


def follow_up_due(ended_on: dt.date, months: int) -> dt.date:
    """DOMAIN.md, "Exits and follow-up": the situation is recorded at the exit and again `months` later (6, the FSE
    survey; local policy)."""
    return add_months(ended_on, months)


def follow_up_error(ended_on: dt.date, followed_up_on: dt.date, months: int) -> str | None:
    """Why a follow-up of the pathway that ended on `ended_on` cannot be dated `followed_up_on` (None when it can):
    the reports count it as the situation "at 6 months", so a call made earlier is not that situation."""
    if followed_up_on < ended_on:
        return f"le suivi précède la fin du parcours ({fr(ended_on)})"
    due = follow_up_due(ended_on, months)
    if followed_up_on < due:
        return (f"le suivi à {months} mois se saisit à partir du {fr(due)} "
                f"({months} mois après la sortie du {fr(ended_on)})")
    return None
