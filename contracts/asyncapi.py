"""The AsyncAPI document, built from the code (`contracts.registry.EVENTS`).

`render()` declares one documented publisher per event on a NATS broker that is never connected (building it does
no I/O), and returns the AsyncAPI 3.0 document as YAML. The output is deterministic: the same code gives the same
bytes, so the committed `contracts/asyncapi.yaml` can be checked for staleness.

    python -m contracts.asyncapi --write   # regenerate contracts/asyncapi.yaml (`make asyncapi`)
    python -m contracts.asyncapi --check   # exit 1 if the committed file is stale
    python -m contracts.asyncapi           # print the document
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, Field, create_model

from contracts.envelope import Envelope
from contracts.registry import EVENTS, EventSpec
from contracts.streams import STREAMS

YAML_PATH = Path(__file__).with_name("asyncapi.yaml")

TITLE = "Clauses sociales — événements"
VERSION = "1.0.0"


def _description() -> str:
    streams = "\n".join(
        f"- `{s.name}` (sujets `{'`, `'.join(s.subjects)}`) : déclaré par `{s.owner}` uniquement."
        for s in sorted(STREAMS.values(), key=lambda s: s.name)
    )
    return (
        "Événements échangés par les services de suivi des clauses sociales d'insertion, sur NATS JetStream.\n\n"
        "Chaque message est une enveloppe (`event_id`, `event_type`, `event_version`, `occurred_at`, `producer`, "
        "`correlation_id`, `data`) ; `event_id` sert aussi d'en-tête `Nats-Msg-Id` (dé-duplication) et de clé "
        "d'idempotence chez les consommateurs. Les sujets suivent `<préfixe du flux>.<agrégat>.<événement>.v<N>` ; "
        "un changement incompatible est publié sous un nouveau sujet `.v<N+1>` à côté de l'ancien.\n\n"
        f"Flux (un par producteur) :\n{streams}\n\n"
        "Document généré depuis `contracts/` par `make asyncapi` : ne pas l'éditer à la main."
    )


def _title(spec: EventSpec) -> str:
    return f"{spec.event_type}.v{spec.version}"


def _envelope_name(spec: EventSpec) -> str:
    words = re.split(r"[._]", spec.event_type)
    return "".join(w[:1].upper() + w[1:] for w in words) + f"V{spec.version}Envelope"


def envelope_model(spec: EventSpec) -> type[BaseModel]:
    """The envelope of `spec`: `data` typed as the event's payload model; type, version and producer fixed."""
    return create_model(  # type: ignore[call-overload, no-any-return]
        _envelope_name(spec),
        __base__=Envelope,
        __doc__=f"{spec.summary} (`{spec.event_type}` v{spec.version}, flux `{spec.stream.name}`)",
        event_type=(Literal[spec.event_type], Field(description="this event's type")),  # type: ignore[valid-type]
        event_version=(Literal[spec.version], Field(description="this event's version")),  # type: ignore[valid-type]
        producer=(Literal[spec.producer], Field(description="the owner of the stream")),  # type: ignore[valid-type]
        data=(spec.model, ...),
    )


def _specs() -> list[EventSpec]:
    specs = sorted(EVENTS.values(), key=lambda s: (s.stream.name, s.subject))
    for key in (_title, _envelope_name, lambda s: s.subject):
        seen = [key(s) for s in specs]
        dupes = sorted({k for k in seen if seen.count(k) > 1})
        if dupes:
            raise ValueError(f"AsyncAPI names must be unique, duplicated: {dupes}")
    return specs


def build() -> AsyncAPI:
    broker = NatsBroker(
        "nats://localhost:4222",
        specification_url="nats://localhost:4222",
        description="NATS avec JetStream (serveur local par défaut de `make run`).",
        logger=None,
    )
    for spec in _specs():
        broker.publisher(
            spec.subject,
            title=_title(spec),
            description=(
                f"{spec.summary}\n\nType `{spec.event_type}`, version {spec.version}. "
                f"Flux `{spec.stream.name}`, propriétaire et seul producteur : `{spec.stream.owner}`."
            ),
            schema=envelope_model(spec),
        )
    return AsyncAPI(broker, title=TITLE, version=VERSION, description=_description())


def _sorted(mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: mapping[key] for key in sorted(mapping)}


def render() -> str:
    """The AsyncAPI document as YAML, deterministic: FastStream keeps publishers in a `WeakSet`, whose order follows
    memory addresses, so the named sections are sorted here. Accents are kept readable, not escaped."""
    document = build().to_specification().to_jsonable()
    for key in ("channels", "operations"):
        document[key] = _sorted(document.get(key, {}))
    components = document.get("components", {})
    for key in ("messages", "schemas"):
        if key in components:
            components[key] = _sorted(components[key])
    return yaml.dump(document, sort_keys=False, allow_unicode=True, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contracts.asyncapi", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {YAML_PATH.name}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 if {YAML_PATH.name} is stale")
    args = parser.parse_args(argv)

    text = render()
    if args.write:
        YAML_PATH.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {YAML_PATH}")
        return 0
    if args.check:
        current = YAML_PATH.read_text(encoding="utf-8") if YAML_PATH.exists() else None
        if current != text:
            print(f"{YAML_PATH} is stale: run `make asyncapi` and commit the result.", file=sys.stderr)
            return 1
        print(f"{YAML_PATH} is up to date")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
