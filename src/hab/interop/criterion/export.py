"""`hab export criterion`: a run written as a criterion tree.

One benchmark per (cell, allocator): group = workload, function =
allocator, value = the cell's parameters (and threads). The files are the
ones criterion writes (benchmark.json, estimates.json, sample.json,
tukey.json) under `<dir>/<group>/<function>/<value>/<baseline>/`, with
hab's estimates (hierarchical intervals) and all samples of all processes.
"""

import hashlib
import json
import re
from pathlib import Path

from hab.analysis.run import RunResult
from hab.records.run import RunMeta
from hab.records.workload import WorkloadInfo
from hab.stats import outliers
from hab.suite import values

_UNSAFE = re.compile(r'[?"/\\*<>:|^]')
_MAX = 64  # criterion cuts directory components at 64 bytes


def _safe(component: str) -> str:
    """A directory component as criterion makes it: unsafe characters to `_`,
    at most 64 bytes (with a hash suffix instead of a silent cut)."""
    name = _UNSAFE.sub("_", component)
    if len(name.encode()) <= _MAX:
        return name
    digest = hashlib.sha256(component.encode()).hexdigest()[:8]
    return name.encode()[: _MAX - 9].decode(errors="ignore") + "-" + digest


def _estimate(e) -> dict:
    return {
        "confidence_interval": {"confidence_level": e.confidence, "lower_bound": e.lower, "upper_bound": e.upper},
        "point_estimate": e.point,
        "standard_error": e.standard_error,
    }


def _value(cell, workloads: dict[str, WorkloadInfo]) -> str:
    shown = values.show_params(workloads.get(cell.workload), cell.params, ",")
    return shown + (f",threads={cell.threads}" if cell.threads is not None else "")


def export(result: RunResult, samples: dict, meta: RunMeta, out: Path, baseline: str) -> list[Path]:
    """Writes every analysed (cell, allocator); `samples[(cell id, allocator)]`
    is the `(iters, times)` of all its processes. Returns the directories."""
    written = []
    for cell in result.cells:
        value = _value(cell.cell, meta.workloads)
        for row in cell.rows:
            if not row.ok:
                continue
            group, function = cell.cell.workload, row.allocator
            directory = "/".join(_safe(c) for c in (group, function, value))
            target = out / directory / baseline
            target.mkdir(parents=True, exist_ok=True)
            iters, times = samples[(cell.cell.id, row.allocator)]
            t = [y / x for x, y in zip(iters, times, strict=True)]
            allocations = row.work.allocations if row.work else None
            throughput = {"Elements": allocations} if allocations is not None else None
            full_id = f"{group}/{function}/{value}"
            files = {
                "benchmark.json": {
                    "group_id": group,
                    "function_id": function,
                    "value_str": value,
                    "throughput": throughput,
                    "full_id": full_id,
                    "directory_name": directory,
                    "title": full_id,
                },
                "estimates.json": {
                    name: (_estimate(row.estimates[name]) if name in row.estimates else None)
                    for name in ("mean", "median", "median_abs_dev", "slope", "std_dev")
                },
                "sample.json": {
                    "sampling_mode": "Linear" if row.mode == "linear" else "Flat",
                    "iters": [float(x) for x in iters],
                    "times": [float(y) for y in times],
                },
                "tukey.json": list(outliers.fences(t)),
            }
            for name, data in files.items():
                (target / name).write_text(json.dumps(data))
            written.append(target)
    return written
