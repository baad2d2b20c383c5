"""CPU time of the whole machine (every process: services, databases, nats-server), from /proc/stat.

A benchmark reads it before and after a phase: the difference is the core-seconds the work consumed wherever it ran.
Divided by the cores, it bounds the phase's time from below, however well its processes overlap.
"""

from __future__ import annotations

import os
from pathlib import Path

STAT = Path("/proc/stat")


def cores() -> int:
    return len(os.sched_getaffinity(0))


def busy_seconds() -> float:
    """Core-seconds spent outside idle and I/O wait since boot (user, nice, system, irq, softirq, steal)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, STAT.read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
