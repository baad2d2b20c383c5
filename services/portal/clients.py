"""Calls from the portal to the four services, always with the signed-in user's bearer token.

A service that does not answer (connection refused, timeout, 502/503/504) raises `ServiceUnavailable`, which the
app turns into a French banner page; a refusal (4xx) raises `ServiceError` carrying the French detail and the
per-field messages, which pages show next to the fields."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import Depends, Request

from services.portal.session import UserSession

SERVICE_LABELS = {
    "market_intake": "le service des marchés",
    "matching": "le service d'appariement",
    "hours": "le service des heures",
    "reporting": "le service des bilans",
}
UNAVAILABLE_STATUSES = {502, 503, 504}


class ServiceUnavailable(Exception):
    def __init__(self, service: str) -> None:
        self.service = service
        self.label = SERVICE_LABELS[service]
        super().__init__(f"{self.label} ne répond pas")


class ServiceError(Exception):
    """The service refused the request. `errors` maps a field path as the service names it
    (`lots[0].amount_eur`, `siret`...) to its French message; `body` is the JSON answer as is; `rows` its
    `rows` list when there is one (import rejections)."""

    def __init__(self, status: int, detail: str, errors: dict[str, str] | None = None,
                 body: Any = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or {}
        self.body = body
        rows = body.get("rows") if isinstance(body, dict) else None
        self.rows: list[Any] = rows if isinstance(rows, list) else []

    @classmethod
    def from_response(cls, response: httpx.Response) -> ServiceError:
        try:
            body = response.json()
        except ValueError:
            body = None
        detail = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(detail, str):
            detail = {404: "Élément introuvable.", 403: "Accès refusé."}.get(response.status_code, "Requête refusée.")
        errors: dict[str, str] = {}
        for item in (body.get("errors") if isinstance(body, dict) else None) or []:
            if isinstance(item, dict) and "field" in item and "message" in item:
                errors.setdefault(str(item["field"]), str(item["message"]))
        return cls(response.status_code, detail, errors, body)


class Services:
    def __init__(self, urls: dict[str, str], timeout: float, transport: httpx.AsyncBaseTransport | None = None):
        self.urls = urls
        self.http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call_raw(self, service: str, method: str, path: str, session: UserSession,
                       **httpx_kwargs: Any) -> httpx.Response:
        """The service's answer when it is a success (2xx); raises ServiceUnavailable or ServiceError otherwise."""
        headers = {**httpx_kwargs.pop("headers", {}), "Authorization": f"Bearer {session.token}"}
        try:
            response = await self.http.request(method, self.urls[service] + path, headers=headers, **httpx_kwargs)
        except httpx.TransportError as exc:
            raise ServiceUnavailable(service) from exc
        if response.status_code in UNAVAILABLE_STATUSES:
            raise ServiceUnavailable(service)
        if response.status_code >= 400:
            raise ServiceError.from_response(response)
        return response

    async def call(self, service: str, method: str, path: str, session: UserSession, **httpx_kwargs: Any) -> Any:
        """The JSON answer (None for 204)."""
        response = await self.call_raw(service, method, path, session, **httpx_kwargs)
        return response.json() if response.content else None

    async def get(self, service: str, path: str, session: UserSession, **httpx_kwargs: Any) -> Any:
        return await self.call(service, "GET", path, session, **httpx_kwargs)

    async def post(self, service: str, path: str, session: UserSession, **httpx_kwargs: Any) -> Any:
        return await self.call(service, "POST", path, session, **httpx_kwargs)


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
