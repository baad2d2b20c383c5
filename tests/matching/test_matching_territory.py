"""The territory read from the handout's communes file (path from the `communes_csv` setting)."""

from __future__ import annotations

import pytest

from services.matching.app import Settings, load_territory
from shared.territory import read_communes


@pytest.fixture(scope="module")
def territory():
    return load_territory(Settings().communes_csv)


def test_pays_de_rennes_is_four_epci_and_76_communes(territory) -> None:
    pays = [c for c in territory.communes.values() if c.pays_de_rennes]
    assert len(pays) == 76
    assert len({c.epci_siren for c in pays}) == 4
    assert territory.communes["35238"].epci_name == "Rennes Métropole"


def test_served_communes_from_communes_epci_or_department(territory) -> None:
    rennes_metropole = territory.epci_of("35238")
    assert territory.served(["35002"], [], False) == ["35002"]
    served = territory.served(["35002"], [rennes_metropole], False)
    assert "35238" in served and "35001" in served and "35002" in served
    assert len(territory.served([], [], True)) == len(territory.communes) == 332


def test_malformed_file_names_the_row() -> None:
    text = "insee_code,name,postal_codes,population,epci_siren,epci_name,pays_de_rennes\n35001,Acigné,,1,,x,1\n"
    with pytest.raises(RuntimeError, match="ligne 2"):
        read_communes(text)
    with pytest.raises(RuntimeError, match="colonne"):
        read_communes("insee,name\n")


def test_unreadable_file_is_reported_in_french(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="liste des communes illisible"):
        load_territory(tmp_path / "absent.csv")
