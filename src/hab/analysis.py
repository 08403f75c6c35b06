"""From stored raw samples to results: per cell and allocator, criterion's
estimates with intervals, throughput, outliers, resource usage, the ratio
to the reference allocator and the engine's own share (the dry variant).

Everything is a pure function of the stored run: the same run directory
always analyses to the same numbers.
"""

from dataclasses import dataclass, field

import numpy as np

from hab.plan import Cell
from hab.registry import DRY, REFERENCE
from hab.stats import bootstrap, outliers
from hab.stats.bootstrap import Estimate
from hab.stats.estimates import Estimates, estimate
from hab.store import StoredRun

#: Analysis settings used when a run does not record its own.
DEFAULTS = {"seed": 0, "nresamples": 100_000, "confidence": 0.95}


@dataclass(eq=False)
class Row:
    """One allocator (or the dry variant) in one cell."""

    allocator: str
    processes: int  # engine processes that produced samples
    failures: list  # reasons, one per failed process
    samples: int = 0
    mode: str | None = None  # linear, flat or mixed
    estimates: dict = field(default_factory=dict)  # name -> Estimate
    typical_name: str | None = None
    ratio: Estimate | None = None  # typical time / reference's
    overhead: Estimate | None = None  # dry typical time / this typical time
    allocations_per_s: Estimate | None = None
    bytes_per_s: Estimate | None = None
    outliers: dict = field(default_factory=dict)
    rusage: dict = field(default_factory=dict)
    work: dict | None = None
    _dist: np.ndarray | None = field(default=None, repr=False)  # bootstrap of the typical time
    _ratio_dist: np.ndarray | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.processes > 0

    @property
    def typical(self) -> Estimate | None:
        return self.estimates.get(self.typical_name)


@dataclass
class CellResult:
    cell: Cell
    reference: str | None
    rows: list  # allocators in plan order
    dry: Row | None


@dataclass
class SummaryRow:
    allocator: str
    cells: int  # cells with a ratio
    geomean_ratio: Estimate | None
    fastest_in: int  # cells where its typical time was the lowest
    failed_cells: int


@dataclass
class RunResult:
    cells: list
    reference: str | None
    summary: list
    settings: dict
    processes_done: int  # engine processes with a stored result
    processes_planned: int


def _rate(count: float, typical: Estimate, dist: np.ndarray) -> Estimate:
    """count per second from ns per iteration (a decreasing map of the time)."""
    return bootstrap.summarize(count * 1e9 / typical.point, count * 1e9 / dist, typical.confidence)


def _rusage(units: list[dict]) -> dict:
    usages = [u["rusage"] for u in units if u.get("rusage")]
    if not usages:
        return {}

    def values(key):
        return [u[key] for u in usages if u.get(key) is not None]

    rss = values("max_rss_kib")
    out = {"max_rss_kib": max(rss) if rss else None}
    for key in ("minor_faults", "major_faults", "user_us", "system_us"):
        v = values(key)
        out[key] = float(np.mean(v)) if v else None
    return out


def _row(allocator: str, units: list[dict], settings: dict, key: tuple) -> Row:
    good = [u for u in units if u["ok"]]
    row = Row(allocator, len(good), [u["reason"] for u in units if not u["ok"]])
    if not good:
        return row
    iters = np.concatenate([u["samples"]["iters"] for u in good]).astype(float)
    ns = np.concatenate([u["samples"]["ns"] for u in good]).astype(float)
    modes = {u["plan"]["mode"] for u in good}
    linear = modes == {"linear"}
    rng = bootstrap.generator(settings["seed"], *key)
    est: Estimates = estimate(iters, ns, linear, settings["nresamples"], settings["confidence"], rng)
    row.samples = int(iters.size)
    row.mode = modes.pop() if len(modes) == 1 else "mixed"
    row.estimates = est.estimates
    row.typical_name = est.typical_name
    row.outliers = outliers.classify(est.per_iteration)
    row.rusage = _rusage(good)
    row.work = good[0]["work"]
    row._dist = est.typical_distribution
    if row.work:
        row.allocations_per_s = _rate(row.work["allocations"], est.typical, est.typical_distribution)
        row.bytes_per_s = _rate(row.work["bytes"], est.typical, est.typical_distribution)
    return row


def reference_of(allocators) -> str | None:
    """`system` when it ran, else the first allocator of the run."""
    if REFERENCE in allocators:
        return REFERENCE
    return allocators[0] if allocators else None


def _cell(stored: StoredRun, cell: Cell, settings: dict, reference: str | None) -> CellResult | None:
    by_alloc: dict[str, list] = {}
    for unit in stored.plan.units:
        if unit.cell == cell.id and unit.id in stored.units:
            by_alloc.setdefault(unit.allocator, []).append(stored.units[unit.id])
    if not by_alloc:
        return None
    rows = {a: _row(a, units, settings, (cell.id, a)) for a, units in by_alloc.items()}
    dry = rows.pop(DRY, None)
    ref = rows.get(reference)
    conf = settings["confidence"]
    for row in rows.values():
        if not row.ok:
            continue
        if ref is not None and ref.ok:
            row.ratio, row._ratio_dist = bootstrap.ratio(row.typical.point, row._dist, ref.typical.point, ref._dist, conf)
        if dry is not None and dry.ok:
            row.overhead, _ = bootstrap.ratio(dry.typical.point, dry._dist, row.typical.point, row._dist, conf)
    ordered = [rows[a] for a in stored.plan.allocators if a in rows]
    return CellResult(cell, reference if ref is not None else None, ordered, dry)


def _fastest(cell: CellResult) -> str | None:
    ok = [r for r in cell.rows if r.ok]
    return min(ok, key=lambda r: r.typical.point).allocator if ok else None


def _summary(cells: list[CellResult], allocators, confidence: float) -> list[SummaryRow]:
    out = []
    for a in allocators:
        rows = [r for c in cells for r in c.rows if r.allocator == a]
        ratios = [r for r in rows if r.ratio is not None]
        geo = None
        if ratios:
            geo = bootstrap.geometric_mean([r.ratio.point for r in ratios], [r._ratio_dist for r in ratios], confidence)
        fastest = sum(1 for c in cells if _fastest(c) == a)
        failed = sum(1 for r in rows if r.failures)
        out.append(SummaryRow(a, len(ratios), geo, fastest, failed))
    return out


def analyse(stored: StoredRun) -> RunResult:
    settings = {**DEFAULTS, **stored.meta.get("analysis", {})}
    reference = reference_of(stored.plan.allocators)
    cells = [c for c in (_cell(stored, cell, settings, reference) for cell in stored.plan.cells) if c is not None]
    summary = _summary(cells, stored.plan.allocators, settings["confidence"])
    return RunResult(cells, reference, summary, settings, len(stored.units), len(stored.plan.units))
