"""The language the services speak: event envelope, v1 event models, subjects and streams.

Pure data: no I/O, no service code. Services import this package and `shared`, never each other.
"""

from contracts.envelope import Envelope, new_envelope
from contracts.registry import EVENTS, EventSpec, spec_for, spec_for_subject
from contracts.streams import STREAMS, StreamSpec

__all__ = [
    "EVENTS",
    "STREAMS",
    "Envelope",
    "EventSpec",
    "StreamSpec",
    "new_envelope",
    "spec_for",
    "spec_for_subject",
]
