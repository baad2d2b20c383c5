"""French error answers: validation errors name the field, unknown routes and crashes say so in French."""

from __future__ import annotations

from harness import running

from examples import buyer_request, market_request
from services.market_intake.app import create_app as market_intake_app
from shared.errors import french_message, validation_payload


def test_each_common_pydantic_error_has_a_french_message():
    cases = {
        "missing": "champ obligatoire",
        "int_parsing": "doit être un nombre entier",
        "date_from_datetime_parsing": "doit être une date AAAA-MM-JJ",
        "uuid_parsing": "doit être un identifiant (UUID)",
        "json_invalid": "JSON invalide",
        "extra_forbidden": "champ inconnu",
    }
    for kind, expected in cases.items():
        assert french_message({"type": kind}) == expected
    assert french_message({"type": "greater_than", "ctx": {"gt": 0}}) == "doit être supérieur à 0"
    assert french_message({"type": "value_error", "msg": "Value error, le SIRET doit compter 14 chiffres"}) == (
        "le SIRET doit compter 14 chiffres"
    )


def test_field_paths_are_readable():
    payload = validation_payload([{"type": "missing", "loc": ("body", "lots", 0, "clause", "kind")}])
    assert payload["errors"] == [{"field": "lots[0].clause.kind", "message": "champ obligatoire"}]
    assert payload["detail"] == "Données invalides — lots[0].clause.kind : champ obligatoire"


async def test_http_errors_are_french_and_never_500(database_url, nats_url):
    async with running(market_intake_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        assert (await client.get("/nulle-part")).json() == {"detail": "Ressource introuvable."}
        assert (await client.put("/buyers")).json() == {"detail": "Méthode non autorisée sur cette adresse."}

        broken = await client.post("/buyers", content=b"{pas du json", headers={"content-type": "application/json"})
        assert broken.status_code == 422
        assert "JSON invalide" in broken.json()["detail"]

        bad_siret = await client.post("/buyers", json={**buyer_request(), "siret": "12345678901234"})
        assert bad_siret.status_code == 422
        assert bad_siret.json()["errors"] == [{"field": "siret", "message": "clé de contrôle du SIRET invalide"}]

        buyer_id = (await client.post("/buyers", json=buyer_request())).json()["id"]
        late = market_request(buyer_id, start_date="2027-01-01", end_date="2026-01-01")
        response = await client.post("/markets", json=late)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "lots[0]"
        assert "date de fin" in response.json()["errors"][0]["message"]

        assert (await client.post("/markets", json=market_request(buyer_id, "DUP"))).status_code == 201
        await client.ctx.relay.stop()  # keep the outbox as it is, to see that the refusal adds nothing to it
        outbox_before = (await client.ctx.relay.backlog())[0]
        duplicate = await client.post("/markets", json=market_request(buyer_id, "DUP"))
        assert duplicate.status_code == 409
        assert duplicate.json()["errors"] == [
            {"field": "reference", "message": "la référence « DUP » existe déjà pour cet acheteur"}
        ]
        # The refused market wrote nothing: still one market, and no event for it in the outbox.
        assert (await client.get("/markets")).json()["total"] == 1
        assert (await client.ctx.relay.backlog())[0] == outbox_before


async def test_oversized_body_is_refused_before_reading(database_url, nats_url):
    async with running(market_intake_app, database_url=database_url("market_intake"), nats_url=nats_url,
                       ) as client:
        response = await client.post("/buyers", content=b"x" * 11_000_000, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert "trop volumineuse" in response.json()["detail"]


async def test_the_openapi_document_shows_the_error_shape_really_answered(database_url, nats_url):
    from shared.errors import ErrorOut

    async with running(market_intake_app, database_url=database_url("market_intake"), nats_url=nats_url) as client:
        schema = (await client.get("/openapi.json")).json()
        error = schema["components"]["schemas"]["HTTPValidationError"]
        assert error["properties"]["detail"]["type"] == "string"
        assert error["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}
        assert "ValidationError" not in schema["components"]["schemas"]
        refused = await client.post("/buyers", json={"name": ""})
        assert refused.status_code == 422
        body = ErrorOut.model_validate(refused.json())
        assert body.errors and all(e.field and e.message for e in body.errors)
