"""Comparing two analysed runs cell by cell: which (cell, allocator) pairs
both have, the change of each, and a geometric-mean summary per allocator."""

from dataclasses import dataclass, field

from hab.analysis import CellResult, Row, RunResult
from hab.stats import bootstrap
from hab.stats.compare import REGRESSED, Change, change


@dataclass
class RowChange:
    allocator: str
    old: Row
    new: Row
    change: Change | None  # None when either side failed


@dataclass
class CellChange:
    cell: CellResult  # the new run's cell
    rows: list


@dataclass
class AllocatorSummary:
    allocator: str
    compared: int
    geomean_ratio: object  # Estimate or None
    verdicts: dict


@dataclass
class Comparison:
    cells: list
    only_old: list = field(default_factory=list)  # (cell label, allocator) pairs
    only_new: list = field(default_factory=list)
    summary: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    @property
    def regressions(self) -> int:
        return sum(1 for c in self.cells for r in c.rows if r.change and r.change.verdict == REGRESSED)


def cell_key(cell) -> tuple:
    """What makes two cells of different runs the same experiment."""
    return (cell.workload, tuple(sorted(cell.params.items())), cell.threads)


def _rows(cell: CellResult) -> dict:
    return {r.allocator: r for r in cell.rows}


def compare(old: RunResult, new: RunResult, *, alpha: float, threshold: float) -> Comparison:
    conf = new.settings["confidence"]
    old_cells = {cell_key(c.cell): c for c in old.cells}
    new_keys = {cell_key(c.cell) for c in new.cells}
    out = Comparison([], settings={"alpha": alpha, "threshold": threshold, "confidence": conf})
    for c in new.cells:
        before = old_cells.get(cell_key(c.cell))
        old_rows = _rows(before) if before else {}
        rows = []
        for allocator, n in _rows(c).items():
            o = old_rows.get(allocator)
            if o is None:
                out.only_new.append((c.cell.id, allocator))
                continue
            ch = None
            if o.ok and n.ok:
                ch = change(o.typical, o.dist, o.process_typicals, n.typical, n.dist, n.process_typicals,
                            alpha=alpha, threshold=threshold)
            rows.append(RowChange(allocator, o, n, ch))
        out.only_old += [(before.cell.id, a) for a in old_rows if a not in _rows(c)] if before else []
        if rows:
            out.cells.append(CellChange(c, rows))
    out.only_old += [(c.cell.id, r.allocator) for c in old.cells if cell_key(c.cell) not in new_keys for r in c.rows]
    allocators = list(dict.fromkeys(r.allocator for c in out.cells for r in c.rows))
    for a in allocators:
        changes = [r.change for c in out.cells for r in c.rows if r.allocator == a and r.change]
        verdicts: dict = {}
        for ch in changes:
            verdicts[ch.verdict] = verdicts.get(ch.verdict, 0) + 1
        geo = bootstrap.geometric_mean([ch.ratio.point for ch in changes], [ch.ratio_dist for ch in changes],
                                       conf) if changes else None
        out.summary.append(AllocatorSummary(a, len(changes), geo, verdicts))
    return out
