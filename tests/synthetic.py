"""Stored runs with samples made up by the tests (through the real store),
for exercising analysis and comparison on data with known properties."""

from pathlib import Path

import numpy as np

from hab import store
from hab.plan import Cell, Plan, Unit

CELL = Cell("c00", "rayon_boxes", {"max_size": 4096, "keep_max": 0}, 2)


def write_run(root: Path, levels: dict, samples: int = 10, noise: float = 0.01, seed: int = 0,
              cells=(CELL,)) -> Path:
    """A complete run: for each allocator, one engine process per level in
    `levels[allocator]` (ns per iteration), linear samples with `noise`
    (relative spread; 0 for constant data). Returns the run directory."""
    rng = np.random.default_rng(seed)
    allocators = tuple(levels)
    reps = max(len(v) for v in levels.values())
    units = tuple(Unit(c.id, a, r) for r in range(reps) for c in cells for a in allocators if r < len(levels[a]))
    plan = Plan(tuple(cells), allocators, reps, {"mode": "linear", "sample_size": samples, "warm_up_time": 0.1,
                                                  "measurement_time": 0.3}, 60.0, 0, units)
    run = store.RunDir.create(root, {"status": "complete", "plan": plan.to_dict(), "suite": {"name": "synthetic"},
                                     "analysis": {"seed": 0, "nresamples": 5000, "confidence": 0.95},
                                     "workloads": {}})
    iters = np.arange(1, samples + 1) * 3.0
    for u in units:
        level = levels[u.allocator][u.repetition]
        ns = iters * level * (1 + noise * rng.standard_normal(samples))
        run.write_record(u, {"format": store.FORMAT, "unit": {"cell": u.cell, "allocator": u.allocator,
                                                              "repetition": u.repetition},
                             "ok": True, "reason": None, "plan": {"mode": "linear"},
                             "samples": {"iters": iters.tolist(), "ns": ns.tolist()},
                             "work": {"allocations": 1000, "bytes": 64000},
                             "rusage": {"max_rss_kib": 2048, "minor_faults": 100, "major_faults": 0,
                                        "user_us": 1000, "system_us": 10}})
    return run.path
