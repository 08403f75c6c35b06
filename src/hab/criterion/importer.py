"""`hab import criterion`: a criterion tree stored as a hab run.

Each benchmark becomes a cell (workload `criterion`, parameter `benchmark`
= criterion's full id) with one process of samples, labelled with one
allocator name. The samples are re-analysed by hab like any run; the
throughput criterion recorded becomes the work per iteration.
"""

import sys
import time
from pathlib import Path

from hab import __version__, store
from hab.analysis import DEFAULTS
from hab.criterion.tree import Bench, read
from hab.plan import Cell, Plan, Unit


def _work(throughput: dict | None) -> dict | None:
    if not throughput:
        return None
    kind, count = next(iter(throughput.items()))
    if kind == "Elements":
        return {"allocations": count, "bytes": None}
    if kind in ("Bytes", "BytesDecimal"):
        return {"allocations": None, "bytes": count}
    if kind == "Bits":
        return {"allocations": None, "bytes": count / 8}
    return None


def _record(unit: Unit, bench: Bench) -> dict:
    mode = "linear" if bench.linear else "flat"
    return {
        "format": store.FORMAT,
        "unit": {"cell": unit.cell, "allocator": unit.allocator, "repetition": unit.repetition},
        "ok": True, "reason": None, "exit_code": 0, "seconds": None,
        "hello": None, "warmup": None,
        "plan": {"mode": mode, "iters": list(bench.iters)},
        "samples": {"iters": list(bench.iters), "ns": list(bench.times)},
        "work": _work(bench.throughput), "rusage": None, "stderr": "",
        "criterion": {"directory": bench.directory, "throughput": bench.throughput, "estimates": bench.estimates},
    }


def import_tree(tree: Path, root: Path, label: str, baseline: str = "new") -> store.RunDir:
    """Reads `tree` and writes it as a run under `root`; returns the run."""
    benches = read(tree, baseline)
    cells = tuple(Cell(f"c{i:02d}", "criterion", {"benchmark": b.full_id}, None) for i, b in enumerate(benches))
    units = tuple(Unit(c.id, label, 0) for c in cells)
    sizes = sorted({len(b.iters) for b in benches})
    plan = Plan(cells, (label,), 1, {"mode": "imported", "sample_size": sizes[-1], "warm_up_time": None,
                                    "measurement_time": None}, 0.0, 0, units)
    meta = {
        "status": "complete",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv,
        "hab_version": __version__,
        "source": {"kind": "criterion", "path": str(tree.resolve()), "baseline": baseline},
        "suite": {"name": f"criterion {tree.name}"},
        "plan": plan.to_dict(),
        "analysis": dict(DEFAULTS),
        "allocators": {label: {"kind": "imported", "version": None, "about": "criterion benchmarks"}},
        "workloads": {},
    }
    run = store.RunDir.create(root, meta)
    for unit, bench in zip(units, benches):
        run.write_record(unit, _record(unit, bench))
    return run
