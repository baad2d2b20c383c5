"""Errors answered in French, naming the field: validation errors, domain errors, and never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A business rule refused the request: `message` is shown to the user, `field` names what is wrong."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class NotFound(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, status=404)


class Conflict(DomainError):
    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message, field=field, status=409)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for p in parts:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out or "requête"


def _ctx(err: dict[str, Any], key: str) -> Any:
    return (err.get("ctx") or {}).get(key)


def french_message(err: dict[str, Any]) -> str:
    """One pydantic error in French."""
    kind = err.get("type", "")
    messages: dict[str, str] = {
        "missing": "champ obligatoire",
        "string_type": "doit être du texte",
        "int_type": "doit être un nombre entier",
        "int_parsing": "doit être un nombre entier",
        "int_from_float": "doit être un nombre entier",
        "float_type": "doit être un nombre",
        "float_parsing": "doit être un nombre",
        "decimal_type": "doit être un nombre",
        "decimal_parsing": "doit être un nombre",
        "bool_type": "doit valoir true ou false",
        "bool_parsing": "doit valoir true ou false",
        "date_type": "doit être une date AAAA-MM-JJ",
        "date_parsing": "doit être une date AAAA-MM-JJ",
        "date_from_datetime_parsing": "doit être une date AAAA-MM-JJ",
        "date_from_datetime_inexact": "doit être une date AAAA-MM-JJ, sans heure",
        "uuid_type": "doit être un identifiant (UUID)",
        "uuid_parsing": "doit être un identifiant (UUID)",
        "list_type": "doit être une liste",
        "dict_type": "doit être un objet",
        "model_type": "doit être un objet",
        "model_attributes_type": "doit être un objet",
        "json_invalid": "JSON invalide",
        "extra_forbidden": "champ inconnu",
        "decimal_max_places": f"au plus {_ctx(err, 'decimal_places')} décimales",
        "decimal_max_digits": "nombre trop long",
        "decimal_whole_digits": "nombre trop grand",
        "greater_than": f"doit être supérieur à {_ctx(err, 'gt')}",
        "greater_than_equal": f"doit être supérieur ou égal à {_ctx(err, 'ge')}",
        "less_than": f"doit être inférieur à {_ctx(err, 'lt')}",
        "less_than_equal": f"doit être inférieur ou égal à {_ctx(err, 'le')}",
        "string_too_short": f"au moins {_ctx(err, 'min_length')} caractère(s)",
        "string_too_long": f"au plus {_ctx(err, 'max_length')} caractères",
        "too_short": f"au moins {_ctx(err, 'min_length')} élément(s)",
        "too_long": f"au plus {_ctx(err, 'max_length')} éléments",
        "string_pattern_mismatch": "format invalide",
        "enum": f"valeur inconnue ; valeurs admises : {_ctx(err, 'expected')}",
        "literal_error": f"valeur inconnue ; valeurs admises : {_ctx(err, 'expected')}",
        "finite_number": "doit être un nombre fini",
    }
    if kind in ("value_error", "assertion_error"):
        msg = str(err.get("msg", ""))
        return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return messages.get(kind, "valeur invalide")


def validation_payload(errors: list[dict[str, Any]]) -> dict[str, Any]:
    items = [{"field": _field(e.get("loc", ())), "message": french_message(e)} for e in errors]
    summary = " ; ".join(f"{i['field']} : {i['message']}" for i in items)
    return {"detail": f"Données invalides — {summary}", "errors": items}


class FieldError(BaseModel):
    field: str = Field(description="the field or column concerned, e.g. lots[0].amount_eur")
    message: str = Field(description="what is wrong with it, in French")


class ErrorOut(BaseModel):
    """Every 4xx answer: a French `detail`, and the fields concerned when there are any."""

    detail: str = Field(description="message en français, prêt à afficher")
    errors: list[FieldError] = Field(default_factory=list, description="un message par champ concerné")


def document_errors(app: FastAPI) -> None:
    """The OpenAPI document shows the error shape the services really answer (not FastAPI's default 422 list)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = default()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        error = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(error.pop("$defs", {}))
        components["HTTPValidationError"] = error
        components.pop("ValidationError", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install_error_handlers(app: FastAPI) -> None:
    document_errors(app)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_payload(list(exc.errors())), status_code=422)

    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        body: dict[str, Any] = {"detail": exc.message}
        if exc.field:
            body["errors"] = [{"field": exc.field, "message": exc.message}]
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400 only comes from the framework (unreadable body or multipart form), in English: answered in French.
        french = {400: "Requête illisible : corps JSON ou formulaire multipart mal formé.",
                  404: "Ressource introuvable.", 405: "Méthode non autorisée sur cette adresse.",
                  413: "Requête trop volumineuse."}
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code not in (400, 404, 405) else None
        if exc.status_code == 404 and isinstance(exc.detail, str) and exc.detail != "Not Found":
            detail = exc.detail
        return JSONResponse({"detail": detail or french.get(exc.status_code, "Requête refusée.")},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("erreur inattendue")
        return JSONResponse({"detail": "Erreur interne : l'équipe technique a été alertée."}, status_code=500)
