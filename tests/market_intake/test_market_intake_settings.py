"""Territory policy and the commune list are settings, read from the environment and the handout CSV."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from services.market_intake.app import Settings, create_app
from shared.territory import default_communes_csv, load_communes
from shared.settings import load_settings


def test_defaults_are_the_rennes_policy():
    territory = load_settings(Settings, "market_intake").territory()
    assert territory.labour_share["peinture"] == Decimal("0.70")
    assert (territory.insertion_rate_works, territory.insertion_rate_services) == (Decimal("0.05"), Decimal("0.10"))
    assert (territory.hourly_cost_eur, territory.hourly_cost_cleaning_eur) == (Decimal("30"), Decimal("20"))
    assert (territory.minimum_hours, territory.cleaning_constant) == (Decimal("150"), Decimal("25"))


def test_policy_is_edited_through_the_environment(monkeypatch):
    monkeypatch.setenv("MARKET_INTAKE_LABOUR_SHARES", '{"nettoyage": "0.75"}')
    monkeypatch.setenv("MARKET_INTAKE_INSERTION_RATE_WORKS", "0.07")
    monkeypatch.setenv("MARKET_INTAKE_MINIMUM_HOURS", "100")
    territory = load_settings(Settings, "market_intake").territory()
    assert territory.labour_share["nettoyage"] == Decimal("0.75")
    assert territory.labour_share["peinture"] == Decimal("0.70")  # the others keep their defaults
    assert (territory.insertion_rate_works, territory.minimum_hours) == (Decimal("0.07"), Decimal("100"))


@pytest.mark.parametrize("shares", ['{"nettoyage": "1.5"}', '{"cuisine": "0.5"}'])
def test_a_wrong_labour_share_stops_the_service(monkeypatch, shares):
    monkeypatch.setenv("MARKET_INTAKE_LABOUR_SHARES", shares)
    with pytest.raises(ValidationError):
        load_settings(Settings, "market_intake")


def test_communes_come_from_the_handout_csv_beside_the_repo():
    settings = load_settings(Settings, "market_intake")
    assert settings.communes_csv == default_communes_csv()
    communes = load_communes(settings.communes_csv)
    assert communes["35238"].name == "Rennes" and len(communes) == 332


def test_an_unreadable_commune_list_is_reported_in_french(tmp_path):
    with pytest.raises(RuntimeError, match="liste des communes illisible"):
        load_communes(tmp_path / "absent.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("code;nom\n35238;Rennes\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="insee_code"):
        load_communes(wrong)


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("HOURLY_COST_EUR", "0", "MARKET_INTAKE_HOURLY_COST_EUR (coût horaire chargé par défaut, en €, plus de 0 "
                             "et au plus 10 000) : doit être supérieur à 0"),
    ("HOURLY_COST_CLEANING_EUR", "-20", "MARKET_INTAKE_HOURLY_COST_CLEANING_EUR (coût horaire chargé du nettoyage"),
    ("CLEANING_CONSTANT", "0", "MARKET_INTAKE_CLEANING_CONSTANT (constante C"),
    ("INSERTION_RATE_WORKS", "0", "MARKET_INTAKE_INSERTION_RATE_WORKS (taux d'insertion des marchés de travaux"),
    ("INSERTION_RATE_SERVICES", "10", "doit être inférieur ou égal à 1"),
    ("FALLBACK_LABOUR_SHARE", "1.2", "MARKET_INTAKE_FALLBACK_LABOUR_SHARE (part de main-d'œuvre d'un secteur"),
    ("MINIMUM_HOURS", "-1", "MARKET_INTAKE_MINIMUM_HOURS (seuil d'heures sous lequel une clause n'est pas "
                            "conseillée) : doit être supérieur ou égal à 0"),
    ("LABOUR_SHARES", '{"nettoyage": "0"}', "MARKET_INTAKE_LABOUR_SHARES[nettoyage]"),
    ("WORKS_SECTORS", '["maçonnerie"]', "MARKET_INTAKE_WORKS_SECTORS[0]"),
])
def test_a_setting_out_of_bounds_stops_the_service_at_start_up_in_french(monkeypatch, variable, value, words):
    monkeypatch.setenv(f"MARKET_INTAKE_{variable}", value)
    with pytest.raises(RuntimeError, match="réglages de market_intake refusés au démarrage") as refused:
        create_app()
    assert words in str(refused.value)


def test_an_hourly_cost_of_zero_never_reaches_a_sizing():
    # before the bounds, 0 €/h started the service and the first default-cost sizing divided by zero (a 500)
    with pytest.raises(RuntimeError, match="MARKET_INTAKE_HOURLY_COST_EUR .* doit être supérieur à 0"):
        create_app(hourly_cost_eur="0")
    with pytest.raises(RuntimeError, match="MARKET_INTAKE_CLEANING_CONSTANT .* doit être supérieur à 0"):
        create_app(cleaning_constant="0")
