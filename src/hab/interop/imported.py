"""Storing another tool's results as a hab run: what every importer shares."""

import sys
import time
from pathlib import Path

from hab import __version__
from hab.records.plan import IMPORTED, Cell, Plan, Sampling
from hab.records.run import AllocatorInfo, ImportSource, RunMeta, RunStatus
from hab.records.unit import UnitRecord
from hab.store.rundir import RunDir, new_id


def store(
    root: Path, cells: tuple[Cell, ...], records: list[UnitRecord], suite: str, about: str, source: ImportSource
) -> RunDir:
    """Writes `records` (one engine process each) on `cells` as a complete
    run under `root`, its allocators described by `about`."""
    units = tuple(r.unit for r in records)
    allocators = tuple(dict.fromkeys(u.allocator for u in units))
    longest = max(len(r.samples.ns) for r in records)
    plan = Plan(cells, allocators, 1, Sampling(IMPORTED, longest, None, None), 0.0, 0, units)
    meta = RunMeta(
        id=new_id(root),
        status=RunStatus.COMPLETE,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        plan=plan,
        suite={"name": suite},
        allocators={a: AllocatorInfo("imported", None, about) for a in allocators},
        argv=sys.argv,
        hab_version=__version__,
        source=source,
    )
    run = RunDir.create(root, meta)
    for record in records:
        run.keep_unit(record)
    return run
