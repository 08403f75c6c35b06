"""`hab import criterion`: a criterion tree stored as a hab run.

Each benchmark becomes a cell (workload `criterion`, parameter `benchmark`
= criterion's full id) with one process of samples, labelled with one
allocator name. The samples are re-analysed by hab like any run; the
throughput criterion recorded becomes the work per iteration.
"""

from pathlib import Path

from hab.interop import imported
from hab.interop.criterion.tree import Bench, read
from hab.records.plan import Cell, Unit
from hab.records.run import ImportSource
from hab.records.unit import EnginePlan, Samples, UnitRecord, Work
from hab.store.rundir import RunDir


def _work(throughput: dict | None) -> Work | None:
    if not throughput:
        return None
    kind, count = next(iter(throughput.items()))
    if kind == "Elements":
        return Work(count, None)
    if kind in ("Bytes", "BytesDecimal"):
        return Work(None, count)
    if kind == "Bits":
        return Work(None, count / 8)
    return None


def _record(unit: Unit, bench: Bench) -> UnitRecord:
    return UnitRecord(
        unit=unit,
        failure=None,
        exit_code=0,
        plan=EnginePlan("linear" if bench.linear else "flat", bench.iters),
        samples=Samples(bench.iters, bench.times),
        work=_work(bench.throughput),
        criterion={"directory": bench.directory, "throughput": bench.throughput, "estimates": bench.estimates},
    )


def import_tree(tree: Path, root: Path, label: str, baseline: str = "new") -> RunDir:
    """Reads `tree` and writes it as a run under `root`; returns the run."""
    benches = read(tree, baseline)
    cells = tuple(Cell(f"c{i:02d}", "criterion", {"benchmark": b.full_id}, None) for i, b in enumerate(benches))
    units = tuple(Unit(c.id, label, 0) for c in cells)
    records = [_record(unit, bench) for unit, bench in zip(units, benches, strict=True)]
    source = ImportSource("criterion", str(tree.resolve()), baseline)
    return imported.store(root, cells, records, f"criterion {tree.name}", "criterion benchmarks", source)
