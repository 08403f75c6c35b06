"""Latency mode's results: per operation, the HDR histograms of every engine
process merged (hdrhistogram's `add`), then read at fixed percentiles.

Nothing is subtracted from the figures; the timer's own cost (two clock
reads around nothing) is reported beside them.
"""

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from hab.records.unit import UnitRecord

#: (name, percentile) pairs reported for each operation.
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


@dataclass
class OpLatency:
    op: str
    count: int
    mean: float
    percentiles: dict[str, int]  # PERCENTILES name -> ns
    max: int

    def to_dict(self) -> dict:
        return {
            "op": self.op,
            "count": self.count,
            "mean_ns": self.mean,
            "percentiles_ns": self.percentiles,
            "max_ns": self.max,
        }


@dataclass
class Latency:
    every: int  # one call in this many was timed
    timer_ns: float  # median over processes of the timer's median cost
    ops: list[OpLatency]  # in the engine's order

    def to_dict(self) -> dict:
        return {"every": self.every, "timer_ns": self.timer_ns, "ops": [o.to_dict() for o in self.ops]}


def merge(units: list[UnitRecord]) -> Latency | None:
    """Merged latency of the successful processes `units`; None outside latency mode."""
    records = [u.latency for u in units if u.latency]
    if not records:
        return None
    merged: dict[str, HdrHistogram] = {}
    for record in records:
        for op in record.ops:
            h = HdrHistogram.decode(op.histogram)
            if op.op in merged:
                merged[op.op].add(h)
            else:
                merged[op.op] = h
    ops = [
        OpLatency(
            name,
            h.get_total_count(),
            h.get_mean_value(),
            {k: h.get_value_at_percentile(p) for k, p in PERCENTILES},
            h.get_max_value(),
        )
        for name, h in merged.items()
    ]
    timers = sorted(r.timer_ns["p50_ns"] for r in records)
    return Latency(records[0].every, float(timers[len(timers) // 2]), ops)
