"""Comparing two analysed runs cell by cell: which (cell, allocator) pairs
both have, the change of each, and a geometric-mean summary per allocator."""

from dataclasses import asdict, dataclass, field, replace

from hab.analysis import drift
from hab.analysis.run import CellResult, Row, RunResult, per_round
from hab.records.plan import TIME
from hab.stats import ratio
from hab.stats.bootstrap import Estimate
from hab.stats.change import Change, Verdict, change


@dataclass(frozen=True)
class CompareSettings:
    threshold: float  # noise threshold, as a fraction
    confidence: float
    relative_to: str | None  # the reference allocator of a relative comparison
    targets: tuple[str, str] | None = None  # A's target and B's, when targets are compared
    drift_guard: bool = False  # absolute verdicts of a drifted cell made inconclusive (hab.analysis.drift)
    methods: tuple[str, str] | None = None  # what counted A's and B's instructions (counting metrics)

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
        return self.count({Verdict.REGRESSED})

    @property
    def slower(self) -> int:
        """Pairs whose interval lies wholly above the noise band: the regressed
        ones, and those a drift guard made inconclusive. What a regression
        gate fails on: a gate never passes a slowdown its interval shows."""
        high = 1 + self.settings.threshold
        return sum(
            1
            for c in self.cells
            for r in c.rows
            if r.change and r.change.verdict != Verdict.REFERENCE and r.change.ratio.lower > high
        )

    def count(self, verdicts: set[Verdict]) -> int:
        """Pairs whose verdict is one of `verdicts`."""
        return sum(1 for c in self.cells for r in c.rows if r.change and r.change.verdict in verdicts)


def cell_key(cell, with_target: bool = True) -> tuple:
    """What makes two cells of different runs the same experiment (without
    the target when two targets are compared with each other)."""
    key = (cell.workload, tuple(sorted(cell.params.items())), cell.threads)
    return (*key, cell.target) if with_target else key


def _rows(cell: CellResult) -> dict:
    return {r.allocator: r for r in cell.rows}


def _change(o: Row, n: Row, old_ref: Row | None, new_ref: Row | None, threshold: float, confidence: float):
    if old_ref is None:
        return change(
            o.process_typicals,
            n.process_typicals,
            threshold=threshold,
            confidence=confidence,
            bootstrap=(n.typical.point / o.typical.point, n.dist / o.dist),
            exact=o.typical.exact and n.typical.exact,
        )
    if not (old_ref.ok and new_ref.ok):
        return None
    old_rounds, new_rounds = per_round(o, old_ref), per_round(n, new_ref)
    if not old_rounds or not new_rounds:
        return None
    exact = all(r.typical.exact for r in (o, n, old_ref, new_ref))
    return change(
        old_rounds,
        new_rounds,
        threshold=threshold,
        confidence=confidence,
        bootstrap=(
            (n.typical.point / new_ref.typical.point) / (o.typical.point / old_ref.typical.point),
            (n.dist / new_ref.dist) / (o.dist / old_ref.dist),
        ),
        exact=exact,
    )


def _guarded(before: CellResult, after: CellResult, rows: list[RowChange], threshold: float, conf: float):
    """`rows` with every verdict inconclusive when the machine drifted
    between the runs (hab.analysis.drift)."""
    changes = [r.change for r in rows if r.change and r.change.method != "exact"]
    why = drift.witness(before, after, changes, lambda o, n: _change(o, n, None, None, threshold, conf))
    if why is None:
        return rows
    return [
        replace(r, change=replace(r.change, verdict=Verdict.INCONCLUSIVE, reason=why))
        if r.change and r.change.method != "exact" and r.change.verdict != Verdict.INCONCLUSIVE
        else r
        for r in rows
    ]


def compare(
    old: RunResult,
    new: RunResult,
    *,
    threshold: float,
    relative_to: str | None = None,
    targets: tuple[str, str] | None = None,
    confidence: float | None = None,
    drift_guard: bool = True,
    methods: tuple[str, str] | None = None,
) -> Comparison:
    """Every (cell, allocator) of `new` that `old` also has, compared; with
    `relative_to`, each allocator's time relative to that allocator in the
    same run is compared instead, which cancels what the machine did to both.
    With `targets` (A's, B's), A's cells on the first target are compared with
    B's on the second (the same run may be both: native against hermit).
    An absolute comparison of times on one target guards against drift of
    the machine between the runs unless `drift_guard` is False. `methods`
    (what counted A's and B's instructions) only labels the comparison."""
    conf = confidence or new.settings.confidence
    guard = drift_guard and relative_to is None and targets is None and new.metric == TIME
    with_target = targets is None
    old_list = [c for c in old.cells if targets is None or c.cell.target == targets[0]]
    new_list = [c for c in new.cells if targets is None or c.cell.target == targets[1]]
    old_cells = {cell_key(c.cell, with_target): c for c in old_list}
    new_keys = {cell_key(c.cell, with_target) for c in new_list}
    out = Comparison([], settings=CompareSettings(threshold, conf, relative_to, targets, guard, methods))
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
                    ch = replace(_change(o, n, None, None, threshold, conf), verdict=Verdict.REFERENCE, reason=None)
                elif relative_to and None in refs:
                    continue
                else:
                    ch = _change(o, n, *refs, threshold, conf)
            rows.append(RowChange(allocator, o, n, ch))
        out.only_old += [(before.cell.id, a) for a in old_rows if a not in _rows(c)] if before else []
        if rows and guard and before is not None:
            rows = _guarded(before, c, rows, threshold, conf)
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
        geo = ratio.geometric_mean([c.log_ratio for c in changes], conf) if changes else None
        out.summary.append(AllocatorSummary(a, len(changes), geo, verdicts))
    return out
