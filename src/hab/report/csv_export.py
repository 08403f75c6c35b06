"""`hab export csv`: one row per (cell, allocator) with plain numbers, for
spreadsheets and scripts (times in nanoseconds, instruction counts of
`--metric instructions` runs in the instructions columns, ratios as
factors, empty where a figure does not exist)."""

import csv
import io
import json

from hab.analysis.run import Row, RunResult
from hab.records.plan import INSTRUCTIONS
from hab.records.run import RunMeta

COLUMNS = [
    "run",
    "cell",
    "workload",
    "params",
    "threads",
    "target",
    "allocator",
    "ok",
    "processes",
    "samples",
    "estimate",
    "time_ns",
    "time_lower_ns",
    "time_upper_ns",
    "instructions",
    "instructions_lower",
    "instructions_upper",
    "instructions_per_allocation",
    "reference",
    "ratio",
    "ratio_lower",
    "ratio_upper",
    "allocations_per_s",
    "bytes_per_s",
    "between_share",
    "dry_share",
    "peak_live_bytes",
    "max_rss_bytes",
    "rss_per_live",
    "minor_faults",
    "failures",
]


def _point(e) -> float | str:
    return "" if e is None else e.point


def _typical(t, prefix: str, suffix: str) -> dict:
    return {
        f"{prefix}{suffix}": _point(t),
        f"{prefix}_lower{suffix}": "" if t is None else t.lower,
        f"{prefix}_upper{suffix}": "" if t is None else t.upper,
    }


def _row(row: Row, reference: str | None, metric: str) -> dict:
    t, m = row.typical, row.memory
    ratio = row.ratio.estimate if row.ratio else None
    counted = metric == INSTRUCTIONS
    return {
        **_typical(None if counted else t, "time", "_ns"),
        **_typical(t if counted else None, "instructions", ""),
        "instructions_per_allocation": _point(row.per_allocation),
        "allocator": row.allocator,
        "ok": int(row.ok),
        "processes": row.processes,
        "samples": row.samples,
        "estimate": row.typical_name or "",
        "reference": reference or "",
        "ratio": _point(ratio),
        "ratio_lower": "" if ratio is None else ratio.lower,
        "ratio_upper": "" if ratio is None else ratio.upper,
        "allocations_per_s": _point(row.allocations_per_s),
        "bytes_per_s": _point(row.bytes_per_s),
        "between_share": row.variance["between_share"] if row.variance else "",
        "dry_share": _point(row.engine_share.estimate) if row.engine_share else "",
        "peak_live_bytes": _point(m.peak_live_bytes) if m else "",
        "max_rss_bytes": _point(m.max_rss_bytes) if m else "",
        "rss_per_live": _point(m.rss_per_live) if m else "",
        "minor_faults": _point(row.rusage.get("minor_faults")),
        "failures": "; ".join(sorted(set(row.failures))),
    }


def render(result: RunResult, meta: RunMeta) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for cell in result.cells:
        c = cell.cell
        where = {
            "run": meta.id,
            "cell": c.id,
            "workload": c.workload,
            "params": json.dumps(c.params, sort_keys=True),
            "threads": "" if c.threads is None else c.threads,
            "target": c.target,
        }
        for row in cell.rows + ([cell.dry] if cell.dry else []):
            writer.writerow(where | _row(row, cell.reference, cell.metric))
    return buffer.getvalue()
