"""Comparing two analysed runs cell by cell: which (cell, allocator) pairs
both have, the change of each, and a geometric-mean summary per allocator."""

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from hab.analysis.run import CellResult, Row, RunResult
from hab.stats import bootstrap
from hab.stats.bootstrap import Estimate
from hab.stats.change import Change, Verdict, change


@dataclass(frozen=True)
class CompareSettings:
    alpha: float  # significance level
    threshold: float  # noise threshold, as a fraction
    confidence: float
    relative_to: str | None  # the reference allocator of a relative comparison
    targets: tuple[str, str] | None = None  # A's target and B's, when targets are compared

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RowChange:
    allocator: str
    old: Row
    new: Row
    change: Change | None  # None when either side failed


@dataclass
class CellChange:
    cell: CellResult  # the new run's cell
    rows: list[RowChange]


@dataclass
class AllocatorSummary:
    allocator: str
    compared: int
    geomean_ratio: Estimate | None
    verdicts: dict[Verdict, int]


@dataclass
class Comparison:
    cells: list[CellChange]
    only_old: list[tuple[str, str]] = field(default_factory=list)  # (cell id, allocator) pairs
    only_new: list[tuple[str, str]] = field(default_factory=list)
    summary: list[AllocatorSummary] = field(default_factory=list)
    settings: CompareSettings | None = None

    @property
    def regressions(self) -> int:
        return sum(1 for c in self.cells for r in c.rows if r.change and r.change.verdict is Verdict.REGRESSED)


def cell_key(cell, with_target: bool = True) -> tuple:
    """What makes two cells of different runs the same experiment (without
    the target when two targets are compared with each other)."""
    key = (cell.workload, tuple(sorted(cell.params.items())), cell.threads)
    return (*key, cell.target) if with_target else key


def _rows(cell: CellResult) -> dict:
    return {r.allocator: r for r in cell.rows}


def relative(row: Row, ref: Row) -> tuple[Estimate, np.ndarray, list]:
    """A row's typical time relative to a reference row of the same run: the
    ratio, its bootstrap distribution, and the per-process ratios of
    processes from the same repetition (neighbours in time)."""
    estimate, dist = bootstrap.ratio(row.typical.point, row.dist, ref.typical.point, ref.dist, row.typical.confidence)
    if row.typical.exact and ref.typical.exact:
        estimate = Estimate.exact_value(estimate.point, estimate.confidence)
    ref_by_rep = dict(zip(ref.repetitions, ref.process_typicals, strict=True))
    per_process = [
        t / ref_by_rep[r] for r, t in zip(row.repetitions, row.process_typicals, strict=True) if r in ref_by_rep
    ]
    return estimate, dist, per_process


def _change(o: Row, n: Row, old_ref: Row | None, new_ref: Row | None, alpha: float, threshold: float):
    if old_ref is None:
        return change(
            o.typical,
            o.dist,
            o.process_typicals,
            n.typical,
            n.dist,
            n.process_typicals,
            alpha=alpha,
            threshold=threshold,
        )
    if not (old_ref.ok and new_ref.ok):
        return None
    old_est, old_dist, old_processes = relative(o, old_ref)
    new_est, new_dist, new_processes = relative(n, new_ref)
    return change(old_est, old_dist, old_processes, new_est, new_dist, new_processes, alpha=alpha, threshold=threshold)


def compare(
    old: RunResult,
    new: RunResult,
    *,
    alpha: float,
    threshold: float,
    relative_to: str | None = None,
    targets: tuple[str, str] | None = None,
) -> Comparison:
    """Every (cell, allocator) of `new` that `old` also has, compared; with
    `relative_to`, each allocator's time relative to that allocator in the
    same run is compared instead, which cancels what the machine did to both.
    With `targets` (A's, B's), A's cells on the first target are compared with
    B's on the second (the same run may be both: native against hermit)."""
    conf = new.settings.confidence
    with_target = targets is None
    old_list = [c for c in old.cells if targets is None or c.cell.target == targets[0]]
    new_list = [c for c in new.cells if targets is None or c.cell.target == targets[1]]
    old_cells = {cell_key(c.cell, with_target): c for c in old_list}
    new_keys = {cell_key(c.cell, with_target) for c in new_list}
    out = Comparison([], settings=CompareSettings(alpha, threshold, conf, relative_to, targets))
    for c in new_list:
        before = old_cells.get(cell_key(c.cell, with_target))
        old_rows = _rows(before) if before else {}
        rows = []
        new_rows = _rows(c)
        for allocator, n in new_rows.items():
            o = old_rows.get(allocator)
            if o is None:
                out.only_new.append((c.cell.id, allocator))
                continue
            ch = None
            if o.ok and n.ok:
                refs = (old_rows.get(relative_to), new_rows.get(relative_to)) if relative_to else (None, None)
                if allocator == relative_to:
                    ch = replace(_change(o, n, None, None, alpha, threshold), verdict=Verdict.REFERENCE)
                elif relative_to and None in refs:
                    continue
                else:
                    ch = _change(o, n, *refs, alpha, threshold)
            rows.append(RowChange(allocator, o, n, ch))
        out.only_old += [(before.cell.id, a) for a in old_rows if a not in _rows(c)] if before else []
        if rows:
            out.cells.append(CellChange(c, rows))
    out.only_old += [
        (c.cell.id, r.allocator) for c in old_list if cell_key(c.cell, with_target) not in new_keys for r in c.rows
    ]
    allocators = list(dict.fromkeys(r.allocator for c in out.cells for r in c.rows))
    for a in allocators:
        changes = [r.change for c in out.cells for r in c.rows if r.allocator == a and r.change]
        verdicts: dict = {}
        for ch in changes:
            verdicts[ch.verdict] = verdicts.get(ch.verdict, 0) + 1
        geo = (
            bootstrap.geometric_mean([ch.ratio.point for ch in changes], [ch.ratio_dist for ch in changes], conf)
            if changes
            else None
        )
        out.summary.append(AllocatorSummary(a, len(changes), geo, verdicts))
    return out
