"""Settings of the portal (environment prefix `PORTAL_`; `TOKEN_SECRET`, `FACILITATOR_TOKEN` are the global ones)."""

from __future__ import annotations

from typing import Any

from shared.settings import ServiceSettings, load_settings


class PortalSettings(ServiceSettings):
    market_intake_url: str = "http://127.0.0.1:8001"
    matching_url: str = "http://127.0.0.1:8002"
    hours_url: str = "http://127.0.0.1:8003"
    reporting_url: str = "http://127.0.0.1:8004"
    session_secret: str | None = None  # signs the session cookie; TOKEN_SECRET when unset
    session_hours: float = 8.0  # a session cookie older than this asks to sign in again
    cookie_secure: bool = True  # False only for plain-HTTP local runs (make run, tests)
    request_timeout_seconds: float = 10.0

    def service_urls(self) -> dict[str, str]:
        return {"market_intake": self.market_intake_url, "matching": self.matching_url,
                "hours": self.hours_url, "reporting": self.reporting_url}


def portal_settings(**overrides: Any) -> PortalSettings:
    return load_settings(PortalSettings, "portal", **overrides)
