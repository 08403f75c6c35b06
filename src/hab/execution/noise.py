"""How busy the machine was around one engine process, from what Linux
exposes to anyone: runnable threads (`/proc/loadavg`), CPU pressure
(`/proc/pressure/cpu`, the share of time some task waited for a CPU) and
steal time (`/proc/stat`, time the hypervisor gave our CPUs to others).

The runnable count is read just before the engine starts, when hab itself
is the only runnable thread of the run: the rest is other work. Pressure
and steal are differences of counters over the process's lifetime. A
figure the kernel does not expose is None.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from hab.records.unit import Contention


@dataclass(frozen=True)
class Snapshot:
    at: float  # time.monotonic()
    runnable: int | None  # runnable threads, the reader included
    pressure_us: int | None  # cumulative "some" CPU stall, microseconds
    steal_ticks: int | None
    total_ticks: int | None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _runnable(text: str | None) -> int | None:
    try:
        return int(text.split()[3].split("/")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _pressure(text: str | None) -> int | None:
    for line in (text or "").splitlines():
        if line.startswith("some "):
            fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
            try:
                return int(fields["total"])
            except (KeyError, ValueError):
                return None
    return None


def _ticks(text: str | None) -> tuple[int | None, int | None]:
    """(steal, total) jiffies of all CPUs."""
    first = (text or "").split("\n", 1)[0].split()
    if len(first) < 9 or first[0] != "cpu":
        return None, None
    try:
        values = [int(v) for v in first[1:]]
    except ValueError:
        return None, None
    # user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    return values[7], sum(values[:8])


def snapshot() -> Snapshot:
    steal, total = _ticks(_read("/proc/stat"))
    return Snapshot(
        time.monotonic(), _runnable(_read("/proc/loadavg")), _pressure(_read("/proc/pressure/cpu")), steal, total
    )


def between(before: Snapshot, after: Snapshot) -> Contention:
    """What the machine did from `before` (just before the engine started)
    to `after` (just after it ended)."""
    wall_us = (after.at - before.at) * 1e6
    pressure = None
    if before.pressure_us is not None and after.pressure_us is not None and wall_us > 0:
        pressure = min(1.0, max(0.0, (after.pressure_us - before.pressure_us) / wall_us))
    steal = None
    if None not in (before.steal_ticks, after.steal_ticks, before.total_ticks, after.total_ticks):
        ticks = after.total_ticks - before.total_ticks
        steal = (after.steal_ticks - before.steal_ticks) / ticks if ticks > 0 else 0.0
    others = None if before.runnable is None else max(0, before.runnable - 1)
    return Contention(others, pressure, steal)
