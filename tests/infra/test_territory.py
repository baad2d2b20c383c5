"""The communes reference file, as the services load it (the handout's file, read where it lies)."""

from __future__ import annotations


import pytest

from shared.territory import default_communes_csv, load_communes, read_communes

HANDOUT_CSV = default_communes_csv()


def test_the_handout_file_gives_the_pays_de_rennes():
    communes = load_communes(HANDOUT_CSV)
    rennes = communes["35238"]
    assert rennes.name == "Rennes" and rennes.epci_name == "Rennes Métropole" and rennes.pays_de_rennes
    pays = [c for c in communes.values() if c.pays_de_rennes]
    assert len(pays) == 76  # DOMAIN.md: Pays de Rennes = 76 communes
    assert len({c.epci_siren for c in pays}) == 4  # in 4 EPCI


def test_missing_file_stops_with_a_french_message(tmp_path):
    with pytest.raises(RuntimeError, match="liste des communes illisible"):
        load_communes(tmp_path / "absent.csv")


@pytest.mark.parametrize(
    "text, message",
    [
        ("insee_code,name\n35238,Rennes\n", "colonne\\(s\\) manquante\\(s\\) epci_siren, epci_name, pays_de_rennes"),
        ("insee_code,name,epci_siren,epci_name,pays_de_rennes\n,Rennes,1,RM,1\n", "ligne 2 : code INSEE invalide"),
        ("insee_code,name,epci_siren,epci_name,pays_de_rennes\n35238,Rennes,,RM,1\n", "ligne 2 : SIREN d'EPCI manquant"),
        ("insee_code,name,epci_siren,epci_name,pays_de_rennes\n", "aucune commune"),
    ],
)
def test_malformed_files_are_refused(text, message):
    with pytest.raises(RuntimeError, match=message):
        read_communes(text)


def test_a_byte_order_mark_is_tolerated():
    text = "\ufeffinsee_code,name,epci_siren,epci_name,pays_de_rennes\n35001,Acigné,243500139,Rennes Métropole,1\n"
    assert read_communes(text)["35001"].epci_siren == "243500139"
