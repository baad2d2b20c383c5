"""One JetStream stream per producer. Each stream is declared by its producer only; consumers attach to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    owner: str  # the one service that declares (creates/updates) the stream


MARKETS = StreamSpec("MARKETS", ("markets.>",), owner="market_intake")
MATCHING = StreamSpec("MATCHING", ("matching.>",), owner="matching")
HOURS = StreamSpec("HOURS", ("hours.>",), owner="hours")

STREAMS: dict[str, StreamSpec] = {s.name: s for s in (MARKETS, MATCHING, HOURS)}


def stream_owned_by(service: str) -> StreamSpec | None:
    return next((s for s in STREAMS.values() if s.owner == service), None)
