"""Privacy: events about people (streams MATCHING and HOURS) carry a pseudonymous id and a coarse profile only.

Every field name of every model reachable from those events' JSON schemas (nested models included) is checked against
identity words. The allow-list is explicit and small: each entry names the schema and the field, and says why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from contracts import EVENTS, EventSpec
from contracts.events.matching import BeneficiaryEnrolled
from contracts.streams import HOURS, MATCHING

PEOPLE_STREAMS = (MATCHING, HOURS)

# one token of a snake_case / camelCase field name
IDENTITY_TOKENS = frozenset(
    {
        "name", "names", "firstname", "lastname", "surname", "forename", "nom", "prenom", "prénom", "nickname",
        "birthdate", "dob", "birthday", "birthplace",
        "email", "mail", "courriel",
        "phone", "telephone", "téléphone", "tel", "mobile",
        "address", "adresse", "street", "rue",
        "nir", "ssn", "secu",
    }
)  # fmt: skip
# consecutive tokens
IDENTITY_SEQUENCES = (
    ("birth", "date"),
    ("date", "of", "birth"),
    ("date", "naissance"),
    ("social", "security"),
    ("securite", "sociale"),
    ("sécurité", "sociale"),
)

# free text: whatever a user types may name a person or their health; it stays in the service that received it
FREE_TEXT_TOKENS = frozenset(
    {"reason", "motif", "comment", "comments", "commentaire", "note", "notes", "remark", "observation", "message",
     "description", "text", "texte"}
)

# (schema title, field): allowed although it looks like identity
ALLOWED = frozenset(
    {
        ("StructureRegistered", "name"),  # an insertion structure (organisation), not a person
        ("HoursCorrected", "reason"),  # always "" since 2026-12 (tests/hours/test_hours_flow.py), kept for v1 readers
    }
)


def tokens(field: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", field)
    return [t for t in re.split(r"[_\W]+", spaced.lower()) if t]


def is_identity(field: str) -> bool:
    parts = tokens(field)
    if any(p in IDENTITY_TOKENS or p in FREE_TEXT_TOKENS for p in parts):
        return True
    return any(
        tuple(parts[i : i + len(seq)]) == seq for seq in IDENTITY_SEQUENCES for i in range(len(parts) - len(seq) + 1)
    )


def schema_fields(node: Any, owner: str = "?") -> Iterator[tuple[str, str]]:
    """(schema title, field name) for every object property anywhere in a JSON schema, `$defs` included."""
    if isinstance(node, dict):
        title = node.get("title", owner) if "properties" in node else owner
        for field in node.get("properties", {}) or {}:
            yield title, field
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for child in value.values():
                    yield from schema_fields(child, title)
            else:
                yield from schema_fields(value, title)
    elif isinstance(node, list):
        for item in node:
            yield from schema_fields(item, owner)


def people_specs() -> list[EventSpec]:
    return [spec for spec in EVENTS.values() if spec.stream in PEOPLE_STREAMS]


def all_people_fields() -> set[tuple[str, str]]:
    return {f for spec in people_specs() for f in schema_fields(spec.model.model_json_schema())}


def test_detector_catches_identity_words() -> None:
    for field in (
        "first_name", "lastName", "name", "birth_date", "dateOfBirth", "date_naissance", "email", "contact_email",
        "phone", "phone_number", "address", "postal_address", "nir", "social_security_number", "nom", "prenom",
        "reason", "correction_reason", "comment", "notes",  # free text
    ):  # fmt: skip
        assert is_identity(field), field
    for field in ("beneficiary_id", "birth_year", "commune_insee", "gender", "employer_siret", "placement_id", "qpv"):
        assert not is_identity(field), field


def test_walker_reaches_nested_models() -> None:
    class Contact(BaseModel):
        email: str

    class Person(BaseModel):
        contacts: list[Contact]
        by_kind: dict[str, Contact]

    class Wrapper(BaseModel):
        person: Person | None = None

    found = set(schema_fields(Wrapper.model_json_schema()))
    assert ("Contact", "email") in found
    assert ("Person", "contacts") in found and ("Wrapper", "person") in found


def test_people_streams_have_events() -> None:
    assert {spec.stream for spec in people_specs()} == set(PEOPLE_STREAMS)


@pytest.mark.parametrize("spec", people_specs(), ids=lambda s: f"{s.stream.name}:{s.event_type}.v{s.version}")
def test_no_identity_field(spec: EventSpec) -> None:
    fields = set(schema_fields(spec.model.model_json_schema()))
    assert fields, f"{spec.model.__name__} has no field?"
    leaks = sorted(f for f in fields if is_identity(f[1]) and f not in ALLOWED)
    assert not leaks, (
        f"{spec.event_type} ({spec.stream.name}) would carry identity data {leaks}: people travel as a pseudonymous "
        "id and a coarse profile only (see contracts/events/matching.py)"
    )


def test_allow_list_is_small_and_used() -> None:
    assert len(ALLOWED) <= 3
    unused = ALLOWED - all_people_fields()
    assert not unused, f"stale allow-list entries: {sorted(unused)}"


def test_beneficiary_carries_birth_year_not_birth_date() -> None:
    fields = BeneficiaryEnrolled.model_fields
    assert "birth_year" in fields
    assert fields["birth_year"].annotation is int
    assert not any(is_identity(f) for f in fields)
    assert not {"birth_date", "date_of_birth", "birthdate", "dob"} & set(fields)
    schema = BeneficiaryEnrolled.model_json_schema()
    assert schema["properties"]["birth_year"]["type"] == "integer"
    assert "format" not in schema["properties"]["birth_year"]
