"""Memory figures of one (cell, allocator): peak live bytes (the workload's
own bookkeeping), peak RSS, the overhead ratio between them, and the RSS
series of one process.

Each figure is per engine process, then summarised across processes like
the other per-process figures (an exact path when they do not vary).
"""

from dataclasses import dataclass

from hab.stats import metrics
from hab.stats.bootstrap import Estimate


@dataclass
class Memory:
    peak_live_bytes: Estimate | None
    max_rss_bytes: Estimate | None
    overhead: Estimate | None  # peak RSS / peak live bytes
    overhead_above_start: Estimate | None  # (peak RSS - RSS before set-up) / peak live bytes
    rss_series: dict | None  # the first process's series (rss.Series.to_dict())

    def to_dict(self) -> dict:
        def est(e):
            return e.to_dict() if e is not None else None

        return {"peak_live_bytes": est(self.peak_live_bytes), "max_rss_bytes": est(self.max_rss_bytes),
                "overhead": est(self.overhead), "overhead_above_start": est(self.overhead_above_start),
                "rss_series": self.rss_series}


def _per_process(unit: dict) -> tuple:
    live = (unit.get("live") or {}).get("peak_bytes")
    start = (unit.get("live") or {}).get("start_rss_kib")
    rss = (unit.get("rusage") or {}).get("max_rss_kib")
    rss_bytes = rss * 1024 if rss is not None else None
    overhead = rss_bytes / live if rss_bytes is not None and live else None
    above = (rss - start) * 1024 / live if rss is not None and start is not None and live else None
    return live, rss_bytes, overhead, above


def summarise(units: list[dict], confidence: float) -> Memory:
    """Memory figures over the successful processes `units`."""
    columns = list(zip(*(_per_process(u) for u in units))) or [(), (), (), ()]
    live, rss, overhead, above = (metrics.across_processes(c, confidence) for c in columns)
    series = next((u["rss"] for u in units if (u.get("rss") or {}).get("t_ms")), None)
    return Memory(live, rss, overhead, above, series)
