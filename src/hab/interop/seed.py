"""The origin crate's manual-driver files, read as a run and written from one.

Its driver (`src/main.rs` of the seed, see docs/workloads.md) wrote one
pretty JSON file per benchmark:
`manual-benches/{allocator}_x{threads}/rayon-bench_iter{iters_per_task*tasks}_max{human}_keep{keep_max}.json`
holding `{"params": {keep_max, keep_prob, max_size, iters_per_task,
sample_size, tasks, threads}, "timings": [seconds per call, ...]}`, each
timing one call of the workload in one process. Imported, each file is one
engine process of one iteration per sample on a `rayon_boxes` cell with the
parameters a `hab run --preset seed` cell has (`init = zero`), so an old
result and a new run compare cell by cell.
"""

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from hab.errors import UserError
from hab.interop import imported
from hab.records import fields as f
from hab.records.plan import Cell, Unit
from hab.records.run import ImportSource
from hab.records.unit import EnginePlan, Samples, UnitRecord, Work
from hab.store.rundir import RunDir

FOLDER = "manual-benches"
_DIR = re.compile(r"^([a-z][a-z0-9_]*)_x([1-9][0-9]*)$")
_FILE = re.compile(r"^rayon-bench_iter([0-9]+)_max([0-9]+(?:MiB|KiB|B))_keep([0-9]+)\.json$")
_INTS = ("keep_max", "max_size", "iters_per_task", "sample_size", "tasks", "threads")


@dataclass(frozen=True)
class SeedFile:
    """One benchmark file of the manual driver."""

    allocator: str
    params: dict  # the workload's parameters, as a hab rayon_boxes cell has them
    threads: int
    timings: tuple[float, ...]  # seconds per call
    path: Path


def human(size: int) -> str:
    """The driver's size label: whole MiB, else whole KiB, else bytes (integer division)."""
    if size >= 1 << 20:
        return f"{size >> 20}MiB"
    if size >= 1 << 10:
        return f"{size >> 10}KiB"
    return f"{size}B"


def _parse(path: Path, allocator: str, threads: int) -> SeedFile:
    where = str(path)
    try:
        data = json.loads(path.read_bytes().decode())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        f.table(data, where)
        raw = f.table(data.get("params"), f"{where}.params")
        ints = {k: f.integer(raw.get(k), f"{where}.params.{k}", 1) for k in _INTS if k != "keep_max"}
        ints["keep_max"] = f.integer(raw.get("keep_max"), f"{where}.params.keep_max", 0)
        keep_prob = f.number(raw.get("keep_prob"), f"{where}.params.keep_prob", 0)
        timings = f.positives(data.get("timings"), f"{where}.timings")
    except f.RecordError as e:
        raise UserError(f"cannot read {path}: {e}") from None
    if not 0 <= keep_prob <= 1 or not math.isfinite(keep_prob):
        raise UserError(f"cannot read {path}: params.keep_prob must be in [0, 1], got {keep_prob}")
    if not timings:
        raise UserError(f"cannot read {path}: no timings")
    if ints["threads"] != threads:
        raise UserError(f"cannot read {path}: params.threads is {ints['threads']}, its folder says {threads}")
    params = {
        "init": "zero",
        "iters_per_task": ints["iters_per_task"],
        "keep_max": ints["keep_max"],
        "keep_prob": keep_prob,
        "max_size": ints["max_size"],
        "tasks": ints["tasks"],
    }
    return SeedFile(allocator, params, threads, tuple(timings), path)


def read(directory: Path) -> list[SeedFile]:
    """Every benchmark file under `directory` (a `manual-benches` folder or its parent)."""
    root = directory / FOLDER if (directory / FOLDER).is_dir() else directory
    if not root.is_dir():
        raise UserError(f"{directory}: not a directory of the seed's manual driver ({FOLDER}/...)")
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        named = _DIR.match(folder.name)
        if named is None:
            continue
        for path in sorted(folder.iterdir()):
            if _FILE.match(path.name):
                found.append(_parse(path, named.group(1), int(named.group(2))))
    if not found:
        raise UserError(f"{root}: no {{allocator}}_x{{threads}}/rayon-bench_iter*_max*_keep*.json files")
    return found


def import_dir(directory: Path, root: Path) -> RunDir:
    """Reads the manual driver's files and writes them as a run under `root`."""
    files = read(directory)
    keys = list(dict.fromkeys((tuple(sorted(s.params.items())), s.threads) for s in files))
    cells = tuple(Cell(f"c{i:02d}", "rayon_boxes", dict(params), threads) for i, (params, threads) in enumerate(keys))
    cell_of = {key: cell.id for key, cell in zip(keys, cells, strict=True)}
    records = []
    for s in files:
        unit = Unit(cell_of[(tuple(sorted(s.params.items())), s.threads)], s.allocator, 0)
        if any(r.unit == unit for r in records):
            raise UserError(f"{s.path}: a second file for the same cell and allocator")
        ones = (1,) * len(s.timings)
        allocations = s.params["tasks"] * s.params["iters_per_task"]
        records.append(
            UnitRecord(
                unit=unit,
                failure=None,
                exit_code=0,
                plan=EnginePlan("flat", ones),
                samples=Samples(ones, tuple(t * 1e9 for t in s.timings)),
                work=Work(allocations, None),
            )
        )
    source = ImportSource("seed", str(directory.resolve()), FOLDER)
    return imported.store(root, cells, records, f"seed {directory.name}", "the seed's manual driver", source)


def export_run(stored, directory: Path) -> list[Path]:
    """Writes every ok `rayon_boxes` (cell, allocator) of `stored` as a manual-driver
    file under `directory/manual-benches`; the timings are the samples' times
    per iteration, over all of its processes."""
    written = []
    cells = {c.id: c for c in stored.plan.cells if c.workload == "rayon_boxes" and c.threads}
    timings: dict[tuple[str, str], list[float]] = {}
    for record in sorted(stored.units.values(), key=lambda r: r.unit.id):
        if record.ok and record.unit.cell in cells and not record.unit.dry:
            per = [ns / n / 1e9 for n, ns in zip(record.samples.iters, record.samples.ns, strict=True)]
            timings.setdefault((record.unit.cell, record.unit.allocator), []).extend(per)
    if not timings:
        raise UserError(f"run {stored.meta.id} has no rayon_boxes results to write in the seed's layout")
    for (cell_id, allocator), values in timings.items():
        c = cells[cell_id]
        p = c.params
        params = {
            "keep_max": p["keep_max"],
            "keep_prob": p["keep_prob"],
            "max_size": p["max_size"],
            "iters_per_task": p["iters_per_task"],
            "sample_size": len(values),
            "tasks": p["tasks"],
            "threads": c.threads,
        }
        name = f"rayon-bench_iter{p['iters_per_task'] * p['tasks']}_max{human(p['max_size'])}_keep{p['keep_max']}.json"
        path = directory / FOLDER / f"{allocator}_x{c.threads}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"params": params, "timings": values}, indent=2) + "\n")
        written.append(path)
    return written
