"""Memory figures of one (cell, allocator): peak live bytes (the workload's
own bookkeeping), peak RSS, the ratio between them (the allocator's memory
overhead), and the RSS series of one process.

Each figure is per engine process, then summarised across processes like
the other per-process figures (an exact path when they do not vary).
"""

from dataclasses import dataclass

from hab.records.unit import RssSeries, UnitRecord
from hab.stats import metrics
from hab.stats.bootstrap import Estimate


@dataclass
class Memory:
    peak_live_bytes: Estimate | None
    max_rss_bytes: Estimate | None
    rss_per_live: Estimate | None  # peak RSS / peak live bytes
    net_rss_per_live: Estimate | None  # (peak RSS - RSS before set-up) / peak live bytes
    rss_series: RssSeries | None  # the first process's series

    def to_dict(self) -> dict:
        def est(e):
            return e.to_dict() if e is not None else None

        return {
            "peak_live_bytes": est(self.peak_live_bytes),
            "max_rss_bytes": est(self.max_rss_bytes),
            "overhead": est(self.rss_per_live),
            "overhead_above_start": est(self.net_rss_per_live),
            "rss_series": self.rss_series.to_dict() if self.rss_series else None,
        }


def _per_process(unit: UnitRecord) -> tuple:
    live = unit.live.peak_bytes if unit.live else None
    start = unit.live.start_rss_kib if unit.live else None
    rss = unit.rusage.max_rss_kib if unit.rusage else None
    rss_bytes = rss * 1024 if rss is not None else None
    per_live = rss_bytes / live if rss_bytes is not None and live else None
    net = (rss - start) * 1024 / live if rss is not None and start is not None and live else None
    return live, rss_bytes, per_live, net


def summarise(units: list[UnitRecord], confidence: float) -> Memory:
    """Memory figures over the successful processes `units`."""
    columns = list(zip(*(_per_process(u) for u in units), strict=True)) or [(), (), (), ()]
    live, rss, per_live, net = (metrics.across_processes(c, confidence) for c in columns)
    series = next((u.rss for u in units if u.rss is not None and u.rss.t_ms), None)
    return Memory(live, rss, per_live, net, series)
