"""The portal's pure pieces: the session cookie, the return path after sign-in, the market form's mapping to the
service's request, the progress bar's widths."""

from __future__ import annotations

import time
from decimal import Decimal

from starlette.datastructures import FormData

from services.portal.auth_pages import _safe_next
from services.portal.buyer import MarketForm, field_label, place_errors, plain_number, progress_view
from services.portal.funder import buyer_options, report_request
from services.portal.session import decode_cookie, encode_cookie
from services.portal.settings import portal_settings


def test_the_session_cookie_is_signed_and_expires():
    settings = portal_settings(token_secret="secret-a", session_hours=1)
    cookie = encode_cookie(settings, "cs1.jeton", "Ville de Rennes", "csrf-1", time.time())
    payload = decode_cookie(settings, cookie)
    assert (payload["t"], payload["n"], payload["c"]) == ("cs1.jeton", "Ville de Rennes", "csrf-1")
    version, _, signature = cookie.split(".")
    other = encode_cookie(settings, "cs1.autre", "Ville de Rennes", "csrf-1", time.time()).split(".")[1]
    assert decode_cookie(settings, f"{version}.{other}.{signature}") is None  # payload swapped, old signature
    assert decode_cookie(portal_settings(token_secret="secret-b"), cookie) is None  # another secret
    assert decode_cookie(portal_settings(token_secret="secret-a", session_secret="s"), cookie) is None
    old = encode_cookie(settings, "cs1.jeton", "x", "c", time.time() - 3601)
    assert decode_cookie(settings, old) is None  # older than the session lifetime
    assert decode_cookie(settings, "n'importe quoi") is None


def test_only_a_path_of_the_portal_is_a_return_address():
    assert _safe_next("/acheteur/marches?x=1") == "/acheteur/marches?x=1"
    for bad in ("https://exemple.fr/", "//exemple.fr/", "/\\exemple.fr", "", None, "acheteur"):
        assert _safe_next(bad) is None, bad


def test_the_market_form_becomes_the_services_request():
    form = MarketForm.parse(FormData([
        ("csrf_token", "x"), ("reference", " RN-1 "), ("title", "École"), ("procedure", ""), ("cpv_code", "45214200"),
        ("commune_insee", "35238"), ("lot_count", "2"),
        ("lots[0].title", "Gros œuvre"), ("lots[0].sector", "gros_oeuvre"), ("lots[0].amount_eur", "1 250 000,50"),
        ("lots[0].start_date", "2026-01-05"), ("lots[0].end_date", "2027-06-30"),
        ("lots[0].clause.kind", "execution_condition"), ("lots[0].clause.method", "rate"),
        ("lots[1].clause.method", "fixed_hours"), ("lots[1].clause.hours", "300"),
    ]))
    assert form.lot_count == 2
    body = form.to_request("b-1")
    assert {k: body[k] for k in ("reference", "buyer_id")} == {"reference": "RN-1", "buyer_id": "b-1"}
    assert "procedure" not in body  # left empty: not sent
    assert body["lots"][0] == {"number": 1, "title": "Gros œuvre", "sector": "gros_oeuvre", "amount_eur": "1250000.50",
                               "start_date": "2026-01-05", "end_date": "2027-06-30",
                               "clause": {"kind": "execution_condition", "method": "rate"}}
    assert body["lots"][1] == {"number": 2, "clause": {"method": "fixed_hours", "hours": "300"}}
    assert form.estimate_request(0) == {"method": "rate", "sector": "gros_oeuvre", "amount_eur": "1250000.50",
                                        "start_date": "2026-01-05", "end_date": "2027-06-30", "cpv_code": "45214200"}
    assert form.estimate_request(1) == {"method": "fixed_hours", "hours": "300", "cpv_code": "45214200"}
    typing = MarketForm.parse(FormData([("cpv_code", "4521"), ("lots[0].clause.method", "fixed_hours"),
                                        ("lots[0].clause.hours", "300")]))
    assert typing.estimate_request(0) == {"method": "fixed_hours", "hours": "300"}  # a CPV code still being typed
    assert MarketForm.parse(FormData([("lots[0].clause.method", "rate")])).estimate_request(0) is None  # no amount


def test_refusals_are_named_for_people():
    assert plain_number("\u202f2 000\u00a0000,5 ") == "2000000.5"
    assert field_label("lots[1].amount_eur") == "Lot 2 — Montant HT"
    assert field_label("lots[0]") == "Lot 1" and field_label("cpv_code") == "Code CPV"
    assert place_errors({"lots[0].clause": "m", "title": "t"}) == {"lots[0].clause.method": "m", "title": "t"}


def test_progress_bar_widths():
    bar = progress_view({"owed_hours": "200", "realised_hours": "50", "forecast_hours": "150"})
    assert (bar["realised_width"], bar["forecast_width"]) == ("25.0", "50.0")
    over = progress_view({"owed_hours": "100", "realised_hours": "130", "forecast_hours": "160"})
    assert (over["realised_width"], over["forecast_width"]) == ("100.0", "0.0")
    assert progress_view({"owed_hours": "0", "realised_hours": "0", "forecast_hours": "0"})["realised_width"] == "100.0"
    assert Decimal(bar["realised_width"]) + Decimal(bar["forecast_width"]) <= 100


def test_the_report_choices_become_the_reporting_call():
    assert report_request("quarterly", "2026", "3", "", "html") == (
        "/reports/quarterly", {"year": "2026", "quarter": "3", "format": "html"})
    assert report_request("annual", "2026", "3", "", "pdf") == ("/reports/annual", {"year": "2026", "format": "pdf"})
    assert report_request("year_to_date", "2026", "2", "b-1", "csv") == (
        "/reports/year-to-date", {"year": "2026", "quarter": "2", "format": "csv", "buyer_id": "b-1"})


def test_the_buyer_choice_lists_every_buyer_after_all_buyers():
    buyers = [{"id": "a", "name": "Archipel Habitat", "siret": "1"},
              {"id": "b", "name": "Ville de Rennes", "siret": "2"}, {"id": "c", "name": "Ville de Rennes", "siret": "3"}]
    assert buyer_options(buyers, "") == [("", "Tous les acheteurs"), ("a", "Archipel Habitat"),
                                         ("b", "Ville de Rennes (SIRET 2)"), ("c", "Ville de Rennes (SIRET 3)")]
    assert buyer_options([], "x")[-1] == ("x", "Acheteur choisi")  # the list unavailable: the choice stays
