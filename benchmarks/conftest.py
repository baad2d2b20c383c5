"""make bench: print every figure recorded in var/bench/results.json, with its target and its ratio to the limit."""

from __future__ import annotations

import pytest
from results import SUMMARY, write_summary


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    text = write_summary()
    if text:
        terminalreporter.section("Mesures (var/bench/results.json)")
        terminalreporter.write_line(text)
        terminalreporter.write_line(f"(résumé écrit dans {SUMMARY})")
