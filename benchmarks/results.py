"""One place where every benchmark writes its figures: var/bench/results.json and a readable summary.

Each figure is recorded under a key (e.g. "hours_import.sqlite.end_to_end") with its value, unit, target and, where
the benchmark measured one, the raw limit of the machine for the same work and the ratio value / limit.
`make bench` prints the summary at the end (benchmarks/conftest.py) and writes var/bench/summary.txt.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

OUT_DIR = Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parents[1] / "var")) / "bench"
RESULTS = OUT_DIR / "results.json"
SUMMARY = OUT_DIR / "summary.txt"


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str  # "lignes/s", "ms", "événements/s"…
    target: float | None = None  # None: measured for information only
    higher_is_better: bool = True
    limit: float | None = None  # the raw limit for the same work, same unit
    label: str = ""  # French, shown in the summary

    @property
    def ratio_to_limit(self) -> float | None:
        if self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit if self.higher_is_better else self.limit / self.value

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def record(key: str, figure: Figure) -> None:
    """Merge one figure into var/bench/results.json (earlier figures of other keys are kept)."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = {**asdict(figure), "ratio_to_limit": figure.ratio_to_limit, "met": figure.met}
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
    print(f"\n{summary_line(key, data[key])}")


def _n(x: float, decimals: int = 0) -> str:
    return f"{x:,.{decimals}f}".replace(",", "\u202f")


def summary_line(key: str, f: dict) -> str:
    value = f"{_n(f['value'], 1)} {f['unit']}"
    target = "" if f["target"] is None else (
        f" — cible {'≥' if f['higher_is_better'] else '≤'} {_n(f['target'])} {f['unit']} {'✔' if f['met'] else '✘'}"
    )
    limit = "" if f["ratio_to_limit"] is None else (
        f" — limite brute {_n(f['limit'])} {f['unit']}, ratio {f['ratio_to_limit']:.2f}"
    )
    return f"{f['label'] or key} : {value}{target}{limit}"


def write_summary() -> str:
    if not RESULTS.exists():
        return ""
    data = json.loads(RESULTS.read_text())
    text = "\n".join(summary_line(key, data[key]) for key in sorted(data))
    SUMMARY.write_text(text + "\n")
    return text
