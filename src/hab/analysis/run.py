"""From stored raw samples to results: per cell and allocator, criterion's
estimates with hierarchical bootstrap intervals, how the variance splits
between and within engine processes, throughput, outliers, resource usage,
the ratio to the reference allocator and the engine's own share (the dry
variant).

Everything is a pure function of the stored run and the analysis settings:
the same run directory always analyses to the same numbers.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from hab.allocators.registry import SYSTEM
from hab.analysis import scaling
from hab.analysis.contention import Busy
from hab.analysis.contention import summarise as summarise_contention
from hab.analysis.latency import Latency
from hab.analysis.latency import merge as merge_latency
from hab.analysis.memory import Memory
from hab.analysis.memory import summarise as summarise_memory
from hab.analysis.scaling import Group
from hab.records.plan import DRY, INSTRUCTIONS, TIME, Cell, base_allocator
from hab.records.run import AnalysisSettings
from hab.records.unit import RUSAGE_FIELDS, UnitRecord, Work
from hab.stats import bootstrap, metrics, outliers, ratio
from hab.stats.bootstrap import Estimate
from hab.stats.estimates import estimate, points, variance_components
from hab.stats.ratio import LogRatio
from hab.store.runs import StoredRun

#: The allocator ratios are taken against when it ran and none is named.
DEFAULT_REFERENCE = SYSTEM


@dataclass(eq=False)
class Row:
    """One allocator (or the dry variant) in one cell."""

    allocator: str
    processes: int  # engine processes that produced samples
    failures: list[str]  # reasons, one per failed process
    samples: int = 0
    mode: str | None = None  # linear, flat or mixed
    estimates: dict[str, Estimate] = field(default_factory=dict)  # mean, median, ... slope
    typical_name: str | None = None
    process_typicals: list[float] = field(default_factory=list)  # typical time of each process
    repetitions: list[int] = field(default_factory=list)  # repetition of each of those processes
    variance: dict[str, float] | None = None  # between/within-process split, 2+ processes
    ratio: LogRatio | None = None  # typical time / reference's
    engine_share: LogRatio | None = None  # dry typical time / this typical time
    allocations_per_s: Estimate | None = None
    bytes_per_s: Estimate | None = None
    per_allocation: Estimate | None = None  # counting metrics: events per allocation (and its free)
    cache: dict[str, Estimate] = field(default_factory=dict)  # simulated cache misses per iteration
    outliers: dict[str, int] = field(default_factory=dict)  # Tukey class -> count
    rusage: dict[str, Estimate] = field(default_factory=dict)  # RUSAGE_FIELDS -> mean over processes
    work: Work | None = None
    memory: Memory | None = None
    latency: Latency | None = None  # latency mode only
    dist: np.ndarray | None = field(default=None, repr=False)  # bootstrap of the typical time

    @property
    def ok(self) -> bool:
        return self.processes > 0

    @property
    def typical(self) -> Estimate | None:
        return self.estimates.get(self.typical_name)

    @property
    def relative_half_width(self) -> float | None:
        """Half the interval of the typical time, relative to it (the precision)."""
        t = self.typical
        return None if t is None else (t.upper - t.lower) / 2 / t.point


@dataclass
class CellResult:
    cell: Cell
    reference: str | None
    rows: list[Row]  # allocators in plan order
    dry: Row | None
    busy: Busy | None = None  # how busy the machine was while the cell ran
    metric: str = TIME  # what the rows' typical values measure


@dataclass
class SummaryRow:
    target: str
    allocator: str
    cells: int  # cells with a ratio
    geomean_ratio: Estimate | None
    fastest_in: int  # cells where its typical time was the lowest
    failed_cells: int


@dataclass
class RunResult:
    cells: list[CellResult]
    reference: str | None
    summary: list[SummaryRow]
    settings: AnalysisSettings
    processes_done: int  # engine processes with a stored result
    processes_planned: int
    scaling: list[Group] = field(default_factory=list)  # cells differing only in threads
    boot_seconds: dict[str, Estimate] = field(default_factory=dict)  # guest target -> mean boot time
    busy: Busy | None = None  # how busy the machine was during the run
    skipped: list[tuple[str, str]] = field(default_factory=list)  # damaged unit files left out: (file, problem)
    metric: str = TIME  # what the typical values measure

    def imprecise(self, target: float) -> list[tuple[str, str, float, int]]:
        """(cell, allocator, relative half-width, processes) of the pairs above
        a precision target."""
        out = []
        for cell in self.cells:
            for row in cell.rows:
                h = row.relative_half_width
                if row.ok and h is not None and h > target:
                    out.append((cell.cell.id, row.allocator, h, row.processes))
        return out


def _rate(count: float, typical: Estimate) -> Estimate:
    """count per second from ns per iteration. The map is decreasing, so the
    percentile interval of the rate is the map of the time's interval; the
    standard error goes through the delta method."""
    scale = count * 1e9
    return Estimate(
        scale / typical.point,
        scale / typical.upper,
        scale / typical.lower,
        scale * typical.standard_error / typical.point**2,
        typical.confidence,
        typical.exact,
    )


#: Valgrind's simulated cache misses shown per iteration: name -> events summed.
CACHE_EVENTS = {"D1 misses": ("D1mr", "D1mw"), "LL misses": ("DLmr", "DLmw", "ILmr")}


def measured(unit: UnitRecord, metric: str) -> np.ndarray | None:
    """A process's value per sample in `metric`: nanoseconds, or the
    instructions callgrind counted (None when it has none)."""
    if metric == INSTRUCTIONS:
        counted = unit.counts.of("Ir") if unit.counts else None
        return None if counted is None else np.asarray(counted, float)
    return np.asarray(unit.samples.ns, float)


def _cache(good: list[UnitRecord], conf: float) -> dict[str, Estimate]:
    """Simulated misses per iteration, means over processes (with --cache-sim)."""
    out = {}
    for label, names in CACHE_EVENTS.items():
        per = []
        for u in good:
            if u.counts is None or any(u.counts.of(n) is None for n in names):
                break
            per.append(sum(sum(u.counts.of(n)) for n in names) / sum(u.samples.iters))
        else:
            if per and (e := metrics.across_processes(per, conf)):
                out[label] = e
    return out


def _row(allocator: str, units: list[UnitRecord], settings: AnalysisSettings, key: tuple, metric: str) -> Row:
    missing = [u for u in units if u.ok and measured(u, metric) is None]
    good = [u for u in units if u.ok and u not in missing]
    row = Row(allocator, len(good), [u.reason for u in units if not u.ok] + [f"no {metric} counted"] * len(missing))
    if not good:
        return row
    groups = [(np.asarray(u.samples.iters, float), measured(u, metric)) for u in good]
    modes = {u.plan.mode for u in good}
    linear = modes == {"linear"}
    conf = settings.confidence
    est = estimate(groups, linear, settings.nresamples, conf, bootstrap.seed_for(settings.seed, *key))
    row.samples = int(sum(len(g[0]) for g in groups))
    row.mode = modes.pop() if len(modes) == 1 else "mixed"
    row.estimates = est.estimates
    row.typical_name = est.typical_name
    row.process_typicals = [points(x, y, linear)[est.typical_name] for x, y in groups]
    row.repetitions = [u.unit.repetition for u in good]
    row.variance = variance_components([y / x for x, y in groups])
    row.outliers = outliers.classify(est.per_iteration)
    row.rusage = {
        k: e
        for k in RUSAGE_FIELDS
        if (e := metrics.across_processes([getattr(u.rusage, k) if u.rusage else None for u in good], conf))
    }
    row.work = good[0].work
    row.latency = merge_latency(good)
    row.dist = est.typical_distribution
    if metric != TIME:  # Valgrind's memory and times are not the allocator's
        row.rusage = {}
        if row.work and row.work.allocations:
            row.per_allocation = est.typical.scaled(1 / row.work.allocations)
        row.cache = _cache(good, conf)
        return row
    row.memory = summarise_memory(good, conf)
    if row.work and row.work.allocations is not None:
        row.allocations_per_s = _rate(row.work.allocations, est.typical)
    if row.work and row.work.bytes is not None:
        row.bytes_per_s = _rate(row.work.bytes, est.typical)
    return row


def reference_of(allocators, wanted: str | None = None) -> str | None:
    """The allocator ratios are taken against: `wanted` if given, else
    `system` when it ran, else the first allocator of the run."""
    if wanted is not None:
        return wanted
    if DEFAULT_REFERENCE in allocators:
        return DEFAULT_REFERENCE
    return allocators[0] if allocators else None


def per_round(row: Row, ref: Row) -> list[float]:
    """A row's time over a reference row's of the same run, round by round:
    the processes of one repetition ran next to each other, so what the
    machine did to both cancels."""
    ref_by_rep = dict(zip(ref.repetitions, ref.process_typicals, strict=True))
    return [t / ref_by_rep[r] for r, t in zip(row.repetitions, row.process_typicals, strict=True) if r in ref_by_rep]


def _ratio_of(row: Row, ref: Row, confidence: float) -> LogRatio:
    """row / ref, paired over rounds; the bootstrap of the samples when fewer
    than two rounds have both."""
    rounds = per_round(row, ref)
    if len(rounds) >= 2:
        return ratio.paired(rounds, confidence)
    if row.typical.exact and ref.typical.exact:
        return ratio.exact(row.typical.point / ref.typical.point, confidence)
    return ratio.from_bootstrap(row.typical.point / ref.typical.point, row.dist / ref.dist, confidence)


def _cell(stored: StoredRun, cell: Cell, settings: AnalysisSettings, reference: str | None) -> CellResult | None:
    by_alloc: dict[str, list] = {}
    for unit in stored.plan.units:
        if unit.cell == cell.id and unit.id in stored.units:
            by_alloc.setdefault(unit.allocator, []).append(stored.units[unit.id])
    if not by_alloc:
        return None
    run_id, metric = stored.meta.id, stored.plan.metric
    rows = {a: _row(a, units, settings, (run_id, cell.id, a), metric) for a, units in by_alloc.items()}
    dry = rows.pop(DRY, None)
    ordered = [rows[a] for a in stored.plan.allocators if a in rows]
    # With several Hermit kernels the reference is its row on the first kernel (`system@v0.11.0`).
    ref = rows.get(reference) or next((r for r in ordered if base_allocator(r.allocator) == reference), None)
    conf = settings.confidence
    for row in rows.values():
        if not row.ok:
            continue
        if row is ref:
            row.ratio = ratio.exact(1.0, conf)
        elif ref is not None and ref.ok:
            row.ratio = _ratio_of(row, ref, conf)
        if dry is not None and dry.ok:
            row.engine_share = _ratio_of(dry, row, conf)
    busy = _busy(stored, [u for units in by_alloc.values() for u in units], {cell.id: cell})
    return CellResult(cell, ref.allocator if ref is not None else None, ordered, dry, busy, metric)


def _cores(stored: StoredRun) -> int | None:
    return stored.meta.host.cores_usable if stored.meta.host else None


def _fastest(cell: CellResult) -> str | None:
    ok = [r for r in cell.rows if r.ok]
    return min(ok, key=lambda r: r.typical.point).allocator if ok else None


def _summary(cells: list[CellResult], allocators, confidence: float) -> list[SummaryRow]:
    """Per target (ratios are not pooled across targets) and allocator."""
    out = []
    for target in dict.fromkeys(c.cell.target for c in cells):
        mine = [c for c in cells if c.cell.target == target]
        for a in allocators:
            rows = [r for c in mine for r in c.rows if r.allocator == a]
            if not rows:
                continue
            ratios = [r.ratio for r in rows if r.ratio is not None]
            geo = ratio.geometric_mean(ratios, confidence) if ratios else None
            fastest = sum(1 for c in mine if _fastest(c) == a)
            failed = sum(1 for r in rows if r.failures)
            out.append(SummaryRow(target, a, len(ratios), geo, fastest, failed))
    return out


def _boot(stored: StoredRun, confidence: float) -> dict[str, Estimate]:
    """Mean boot time of the guests of each guest target, over their processes."""
    targets = {c.id: c.target for c in stored.plan.cells}
    seconds: dict[str, list[float]] = {}
    for u in stored.units.values():
        if u.guest is not None and u.guest.boot_seconds is not None:
            seconds.setdefault(targets.get(u.unit.cell, "?"), []).append(u.guest.boot_seconds)
    return {t: metrics.across_processes(v, confidence) for t, v in seconds.items()}


def _busy(stored: StoredRun, units: list[UnitRecord], cells: dict) -> Busy | None:
    """How busy the machine was around `units`; None for counts, which do not
    depend on the machine's load."""
    return summarise_contention(units, cells, _cores(stored)) if stored.plan.metric == TIME else None


def analyse(stored: StoredRun, reference: str | None = None, nresamples: int | None = None) -> RunResult:
    """Analyses every cell of a stored run; `reference` overrides the
    allocator that ratios are taken against, `nresamples` the run's setting
    (for quick interim looks)."""
    settings = stored.meta.analysis
    if nresamples is not None:
        settings = replace(settings, nresamples=nresamples)
    ref = reference_of(stored.plan.allocators, reference)
    cells = [c for c in (_cell(stored, cell, settings, ref) for cell in stored.plan.cells) if c is not None]
    summary = _summary(cells, stored.plan.allocators, settings.confidence)
    groups = scaling.groups(cells, stored.plan.allocators, settings.confidence, stored.meta.workloads)
    boot = _boot(stored, settings.confidence)
    busy = _busy(stored, list(stored.units.values()), {c.id: c for c in stored.plan.cells})
    return RunResult(
        cells,
        ref,
        summary,
        settings,
        len(stored.units),
        len(stored.plan.units),
        groups,
        boot,
        busy,
        stored.skipped,
        stored.plan.metric,
    )


def narrowed(
    result: RunResult,
    workloads: dict,
    *,
    only_workloads: list[str] | None = None,
    only_cells: list[str] | None = None,
    only_allocators: list[str] | None = None,
) -> RunResult:
    """`result` with only the cells of `only_workloads` and `only_cells` and
    the rows of `only_allocators` (None: all); the summary and the scaling
    groups are recomputed over what is left. Ratios keep their reference."""
    cells = [
        c
        for c in result.cells
        if (only_workloads is None or c.cell.workload in only_workloads)
        and (only_cells is None or c.cell.id in only_cells)
    ]
    conf = result.settings.confidence
    everyone = list(dict.fromkeys(r.allocator for c in cells for r in c.rows))
    summary = _summary(cells, everyone, conf)  # "fastest in" among every allocator of those cells
    groups = scaling.groups(cells, everyone, conf, workloads)
    if only_allocators is not None:
        cells = [replace(c, rows=[r for r in c.rows if r.allocator in only_allocators]) for c in cells]
        summary = [s for s in summary if s.allocator in only_allocators]
        groups = [replace(g, curves=[k for k in g.curves if k.allocator in only_allocators]) for g in groups]
    return replace(result, cells=cells, summary=summary, scaling=groups)
