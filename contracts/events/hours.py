"""Events of hours (stream HOURS).

`hours.recorded` carries a batch of entries (1 to MAX_ENTRIES_PER_EVENT): a bulk import publishes one event per chunk.
Each entry carries everything reporting needs (lot, market, buyer, employer, structure kind, modality...).
A correction is a new entry that replaces the one it corrects: realised hours = sum of the latest version of each entry.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, Field

from contracts.codes import HourKind, Modality, StructureKind

MAX_ENTRIES_PER_EVENT = 1000


class HourEntry(BaseModel):
    entry_id: uuid.UUID
    placement_id: uuid.UUID
    beneficiary_id: uuid.UUID
    lot_id: uuid.UUID
    market_id: uuid.UUID
    buyer_id: uuid.UUID
    employer_siret: str
    structure_id: uuid.UUID | None = None
    structure_kind: StructureKind | None = None
    modality: Modality
    month: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")
    hours: Decimal = Field(ge=0)
    kind: HourKind


class HoursRecorded(BaseModel):
    entries: list[HourEntry] = Field(min_length=1, max_length=MAX_ENTRIES_PER_EVENT)


class HoursCorrected(BaseModel):
    entry: HourEntry
    corrects_entry_id: uuid.UUID
    # Always "" since 2026-12: the facilitator's free text may name a person or their health, and the stream keeps
    # every event; it stays in the hours service (`GET /hours`). Kept in v1 so that readers requiring it still read
    # the new events (a rolling deploy); events published before carry the text.
    reason: str = ""


class LotProgress(BaseModel):
    lot_id: uuid.UUID
    owed_hours: Decimal
    realised_hours: Decimal
    percent: Decimal
    forecast_hours: Decimal
    at_risk: bool
    as_of: dt.date
