"""`hab import criterion`: a criterion tree stored as a hab run.

Each benchmark becomes a cell (workload `criterion`, parameter `benchmark`
= criterion's full id) with one process of samples, labelled with one
allocator name; a tree of the origin crate's criterion driver becomes its
`rayon_boxes` cells instead (`origin`). The samples are re-analysed by hab like any run; the
throughput criterion recorded becomes the work per iteration.
"""

from pathlib import Path

from hab.errors import UserError
from hab.interop import imported
from hab.interop.criterion import origin
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


def _origin_cells(benches: list[Bench], threads: int | None) -> tuple[tuple[Cell, ...], list[Unit]]:
    """Cells and units of a tree named the origin crate's way (parameters recovered)."""
    if threads is None:
        raise UserError(
            "this tree is named as the seed's criterion driver names it: give --threads N (the threads it ran "
            "with; its tasks were 2N) so that its cells line up with hab's"
        )
    recovered = [origin.recover(b.full_id, threads) for b in benches]
    keys = list(dict.fromkeys(tuple(sorted(params.items())) for _, params in recovered))
    cells = tuple(Cell(f"c{i:02d}", "rayon_boxes", dict(k), threads) for i, k in enumerate(keys))
    units = [Unit(cells[keys.index(tuple(sorted(p.items())))].id, allocator, 0) for allocator, p in recovered]
    if len(set(units)) != len(units):
        raise UserError("two benchmarks of the tree name the same allocator and parameters")
    return cells, units


def import_tree(tree: Path, root: Path, label: str, baseline: str = "new", threads: int | None = None) -> RunDir:
    """Reads `tree` and writes it as a run under `root`; returns the run.
    Benchmarks named as the origin crate's driver names them become
    `rayon_boxes` cells at `threads` with their allocators from the names;
    others become `criterion` cells labelled `label`."""
    benches = read(tree, baseline)
    if origin.named_so([b.full_id for b in benches]):
        cells, units = _origin_cells(benches, threads)
    else:
        cells = tuple(Cell(f"c{i:02d}", "criterion", {"benchmark": b.full_id}, None) for i, b in enumerate(benches))
        units = [Unit(c.id, label, 0) for c in cells]
    records = [_record(unit, bench) for unit, bench in zip(units, benches, strict=True)]
    source = ImportSource("criterion", str(tree.resolve()), baseline)
    return imported.store(root, cells, records, f"criterion {tree.name}", "criterion benchmarks", source)
