"""The committed AsyncAPI document is generated from the code and must stay in step with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts import EVENTS, Envelope
from contracts import asyncapi

ENVELOPE_FIELDS = ("event_id", "event_type", "event_version", "occurred_at", "producer", "correlation_id", "data")
REQUIRED_ENVELOPE_FIELDS = ("event_id", "event_type", "event_version", "occurred_at", "producer", "data")


@pytest.fixture(scope="module")
def rendered() -> str:
    return asyncapi.render()


@pytest.fixture(scope="module")
def document(rendered: str) -> dict[str, Any]:
    loaded = yaml.safe_load(rendered)
    assert isinstance(loaded, dict)
    return loaded


def resolve(document: dict[str, Any], reference: dict[str, str]) -> dict[str, Any]:
    pointer = reference["$ref"]
    assert pointer.startswith("#/"), pointer
    node: Any = document
    for part in pointer[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert part in node, f"dangling reference {pointer}"
        node = node[part]
    return node


def test_committed_document_is_up_to_date(rendered: str) -> None:
    path = asyncapi.YAML_PATH
    assert path == Path(asyncapi.__file__).with_name("asyncapi.yaml")
    assert path.exists(), f"{path} is missing: run `make asyncapi` and commit it"
    assert path.read_text(encoding="utf-8") == rendered, (
        f"{path} is stale (the contracts changed since it was generated): run `make asyncapi` and commit the result"
    )


def test_render_is_deterministic(rendered: str) -> None:
    assert asyncapi.render() == rendered


def test_check_command_detects_a_stale_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rendered: str) -> None:
    target = tmp_path / "asyncapi.yaml"
    monkeypatch.setattr(asyncapi, "YAML_PATH", target)

    assert asyncapi.main(["--check"]) == 1  # missing
    target.write_text(rendered.replace("3.0.0", "2.6.0", 1), encoding="utf-8")
    assert asyncapi.main(["--check"]) == 1  # edited
    assert asyncapi.main(["--write"]) == 0
    assert target.read_text(encoding="utf-8") == rendered
    assert asyncapi.main(["--check"]) == 0


def test_document_header(document: dict[str, Any]) -> None:
    assert document["asyncapi"].startswith("3.")
    assert document["info"]["title"] == "Clauses sociales — événements"
    assert document["info"]["version"] == "1.0.0"
    for stream in {spec.stream for spec in EVENTS.values()}:
        assert f"`{stream.name}`" in document["info"]["description"]
        assert f"`{stream.owner}`" in document["info"]["description"]


def test_every_registered_subject_is_a_channel(document: dict[str, Any]) -> None:
    channels = document["channels"]
    addresses = {channel["address"] for channel in channels.values()}
    expected = {spec.subject for spec in EVENTS.values()}
    assert expected <= addresses, f"subjects missing from the document: {sorted(expected - addresses)}"
    assert addresses == expected, f"channels with no registered event: {sorted(addresses - expected)}"
    assert len(channels) == len(EVENTS)
    # every channel is published to
    assert {op["channel"]["$ref"] for op in document["operations"].values()} == {
        f"#/channels/{key}" for key in channels
    }
    assert {op["action"] for op in document["operations"].values()} == {"send"}


def channel_for(document: dict[str, Any], subject: str) -> dict[str, Any]:
    matches = [c for c in document["channels"].values() if c["address"] == subject]
    assert len(matches) == 1, subject
    return matches[0]


@pytest.mark.parametrize("spec", list(EVENTS.values()), ids=lambda s: f"{s.stream.name}:{s.event_type}.v{s.version}")
def test_each_message_is_the_envelope_with_typed_data(document: dict[str, Any], spec: Any) -> None:
    channel = channel_for(document, spec.subject)
    assert spec.summary in channel["description"]
    assert spec.stream.name in channel["description"] and spec.stream.owner in channel["description"]

    (message_ref,) = channel["messages"].values()
    message = resolve(document, message_ref)
    if "$ref" in message:
        message = resolve(document, message)
    assert spec.event_type in message["title"] and f"v{spec.version}" in message["title"]

    schema = resolve(document, message["payload"])
    properties = schema["properties"]
    missing = [f for f in ENVELOPE_FIELDS if f not in properties]
    assert not missing, f"{spec.subject}: envelope fields missing from the message schema: {missing}"
    assert set(ENVELOPE_FIELDS) == set(Envelope.model_fields), "envelope changed: update ENVELOPE_FIELDS"
    assert set(REQUIRED_ENVELOPE_FIELDS) <= set(schema["required"])

    assert properties["event_type"].get("const") == spec.event_type
    assert properties["event_version"].get("const") == spec.version
    assert properties["producer"].get("const") == spec.producer

    data = resolve(document, properties["data"])
    assert data["title"] == spec.model.__name__
    assert set(data["properties"]) == set(spec.model.model_fields), f"{spec.subject}: `data` is not {spec.model}"


def test_nested_models_are_documented(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("LotState", "HourEntry", "StructureKind", "Modality", "CriterionCode"):
        assert name in schemas, name
