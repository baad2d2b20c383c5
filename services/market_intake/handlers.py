"""Events market_intake consumes: none yet (it is the source of markets and lots)."""

from shared.messaging import Handler

HANDLERS: dict = {}
__all__ = ["HANDLERS", "Handler"]
