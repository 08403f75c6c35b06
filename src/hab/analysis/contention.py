"""Was the machine too busy for the figures to mean much? Means over engine
processes of what `execution.noise` recorded around each one, and the
reasons to say so.

CPU pressure only counts processes that ran natively on at most as many
threads as there are usable cores: above that, or in a guest (whose
hypervisor adds threads of its own), the run's own threads wait for a CPU
and the figure says nothing about other work.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from hab.records.plan import Cell
from hab.records.target import NATIVE
from hab.records.unit import UnitRecord

#: Above these, a table says the machine was busy.
BUSY_PRESSURE = 0.10  # share of time some task waited for a CPU
BUSY_STEAL = 0.05  # share of CPU time the hypervisor gave to others
BUSY_OTHERS = 0.5  # other runnable threads per usable core


@dataclass(frozen=True)
class Busy:
    processes: int  # processes with any figure
    others_runnable: float | None  # mean other runnable threads just before a process started
    cpu_pressure: float | None  # mean over the processes it counts for
    steal: float | None
    cores: int | None
    reasons: list[str] = field(default_factory=list)  # empty: not busy

    def to_dict(self) -> dict:
        return asdict(self)


def _mean(values) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def summarise(units: list[UnitRecord], cells: dict[str, Cell], cores: int | None) -> Busy | None:
    """The contention of `units` (None when none was recorded)."""
    seen = [u for u in units if u.contention is not None]
    if not seen:
        return None

    def counts_pressure(u: UnitRecord) -> bool:
        cell = cells.get(u.unit.cell)
        return cell is not None and cell.target == NATIVE and cores is not None and cell.threads <= cores

    others = _mean(u.contention.others_runnable for u in seen)
    pressure = _mean(u.contention.cpu_pressure for u in seen if counts_pressure(u))
    steal = _mean(u.contention.steal for u in seen)
    reasons = []
    if pressure is not None and pressure >= BUSY_PRESSURE:
        reasons.append(f"tasks waited for a CPU {pressure:.0%} of the time")
    if steal is not None and steal >= BUSY_STEAL:
        reasons.append(f"the hypervisor took {steal:.0%} of the CPU time")
    if others is not None and cores and others >= BUSY_OTHERS * cores:
        reasons.append(f"{others:.1f} other runnable threads on {cores} cores")
    return Busy(len(seen), others, pressure, steal, cores, reasons)
