"""Stored runs with samples made up by the tests (through the real store),
for exercising analysis and comparison on data with known properties."""

from pathlib import Path

import numpy as np

from hab.records.plan import DRY, Cell, Plan, Sampling, Unit
from hab.records.run import AnalysisSettings, RunMeta, RunStatus
from hab.records.unit import EnginePlan, Rusage, Samples, UnitRecord, Work
from hab.store.rundir import RunDir, new_id

CELL = Cell("c00", "rayon_boxes", {"max_size": 4096, "keep_max": 0}, 2)


def write_run(root: Path, levels: dict, samples: int = 10, noise: float = 0.01, seed: int = 0, cells=(CELL,)) -> Path:
    """A complete run: for each allocator, one engine process per level in
    `levels[allocator]` (ns per iteration; `levels["dry"]`: the dry variant),
    linear samples with `noise` (relative spread; 0 for constant data).
    Returns the run directory."""
    rng = np.random.default_rng(seed)
    allocators = tuple(a for a in levels if a != DRY)
    reps = max(len(v) for v in levels.values())
    units = tuple(Unit(c.id, a, r) for r in range(reps) for c in cells for a in levels if r < len(levels[a]))
    plan = Plan(tuple(cells), allocators, reps, Sampling("linear", samples, 0.1, 0.3), 60.0, 0, units)
    run = RunDir.create(
        root,
        RunMeta(new_id(root), RunStatus.COMPLETE, "", plan, {"name": "synthetic"}, AnalysisSettings(0, 5000, 0.95)),
    )
    iters = np.arange(1, samples + 1) * 3
    for u in units:
        level = levels[u.allocator][u.repetition]
        ns = iters * level * (1 + noise * rng.standard_normal(samples))
        run.keep_unit(
            UnitRecord(
                u,
                None,
                plan=EnginePlan("linear", tuple(iters.tolist())),
                samples=Samples(tuple(iters.tolist()), tuple(ns.tolist())),
                work=Work(1000, 64000),
                rusage=Rusage(2048, 100, 0, 1000, 10),
            )
        )
    return run.path
