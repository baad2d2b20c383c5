"""The envelope every message on the bus carries."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class Envelope(BaseModel):
    """Wraps one event. `event_id` doubles as the JetStream `Nats-Msg-Id` (publisher de-duplication)
    and as the key of every consumer's idempotent inbox."""

    model_config = ConfigDict(extra="ignore")

    event_id: uuid.UUID
    event_type: str = Field(description="e.g. `market.submitted`")
    event_version: int = Field(ge=1)
    occurred_at: AwareDatetime = Field(description="UTC time of the state change")
    producer: str = Field(description="the service that owns the change, e.g. `market_intake`")
    correlation_id: str | None = Field(default=None, description="carried from the HTTP request that caused it")
    data: dict[str, Any]

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


def new_envelope(
    event_type: str,
    version: int,
    producer: str,
    data: BaseModel,
    correlation_id: str | None = None,
    occurred_at: datetime | None = None,
) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(),
        event_type=event_type,
        event_version=version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        correlation_id=correlation_id,
        data=data.model_dump(mode="json"),
    )
