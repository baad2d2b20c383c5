"""Service settings from the environment (pydantic-settings).

Per-service values use the service's prefix (`MARKET_INTAKE_DATABASE_URL`, `HOURS_RELAY_BATCH_SIZE`, ...);
values shared by the whole system have one global name (`NATS_URL`, `FACILITATOR_TOKEN`, `TOKEN_SECRET`, `VAR_DIR`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _global(name: str) -> Any:
    """A field read from one un-prefixed environment variable shared by all services."""
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    """Base settings of a service. A service subclasses it to add its own (territory policy...)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "service"
    var_dir: Path = Field(default=Path("var"), validation_alias=_global("VAR_DIR"))
    database_url: str | None = Field(default=None, description="SQLAlchemy async URL; SQLite file under VAR_DIR if unset")
    nats_url: str = Field(default="nats://127.0.0.1:4222", validation_alias=_global("NATS_URL"))
    facilitator_token: str | None = Field(default=None, validation_alias=_global("FACILITATOR_TOKEN"))
    token_secret: str | None = Field(default=None, validation_alias=_global("TOKEN_SECRET"))
    log_format: str = Field(default="json", validation_alias=_global("LOG_FORMAT"))
    log_level: str = Field(default="INFO", validation_alias=_global("LOG_LEVEL"))

    # Outbox relay
    relay_batch_size: int = 500
    relay_max_batch_bytes: int = 8_000_000
    relay_poll_seconds: float = 0.5
    relay_max_backoff_seconds: float = 30.0
    # Consumers
    consumer_max_deliver: int = 5
    consumer_ack_wait_seconds: float = 30.0
    consumer_retry_delay_seconds: float = 1.0
    # Messages fetched and applied per transaction. An hours.recorded event carries up to 1,000 entries (~0.5 MB):
    # 50 of them stay well under nats-server's 64 MB pending limit per connection.
    consumer_batch_size: int = 50
    # Durable consumer names are `<service>_<stream>_<version>`. A new version starts consumers afresh from the start
    # of the streams (their config is then created, not silently ignored), e.g. to rebuild into an empty database.
    consumer_durable_version: str = "v1"
    # JetStream publisher de-duplication window; must outlast the relay's retry horizon.
    duplicate_window_seconds: float = 600.0
    graceful_timeout_seconds: float = 10.0
    stream_replicas: int = Field(default=1, validation_alias=_global("STREAM_REPLICAS"))

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.var_dir / f'{self.service_name}.db'}"


S = TypeVar("S", bound=ServiceSettings)


def load_settings(cls: type[S], service_name: str, **overrides: Any) -> S:
    """Read settings for `service_name` with its env prefix; keyword overrides win (tests use them)."""
    prefix = f"{service_name.upper()}_"
    bound = type(cls.__name__, (cls,), {"model_config": SettingsConfigDict(env_prefix=prefix, extra="ignore", populate_by_name=True)})
    return bound(service_name=service_name, **overrides)  # type: ignore[return-value]
