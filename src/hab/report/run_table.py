"""The comparison tables `hab run` and `hab show` print.

The text depends only on the analysed run and the width, so `hab show`
reproduces `hab run`'s table byte for byte.
"""

import io
import re
import textwrap
from collections import Counter

from hab.analysis import anomalies
from hab.analysis.run import CACHE_EVENTS, CellResult, Row, RunResult
from hab.records.plan import DRY, TIME
from hab.records.run import RunMeta, RunStatus
from hab.records.target import NATIVE, QEMU_ICOUNT
from hab.records.workload import WorkloadInfo
from hab.report import latency_table, memory_table, scaling_table, units
from hab.report.grid import Grid, optional, trimmed
from hab.report.layout import drops_for, left_out_line, print_fitted, report_console, say
from hab.suite import values

LEGEND = (
    (
        "time: typical time of one workload iteration (criterion's slope for linear sampling, else the mean),"
        " with its {conf:.0%} interval from a hierarchical bootstrap (engine processes, then samples within "
        "them)."
    ),
    (
        "vs {ref}: relative to {ref} (below 1 is faster): geometric mean of the rounds' ratios (each "
        "round's processes ran side by side) with a t interval. allocs/s: blocks allocated per second."
    ),
    (
        "between: share of the variance of one sample that lies between engine processes rather than within "
        "one (Kalibera & Jones)."
    ),
    (
        "outliers: Tukey mild/severe counts (reported, not removed). dry %: time of the dry variant (the same"
        " work without allocator calls: the engine's own share) relative to this allocator's time, paired by "
        'round; "!" above 100%: the machine moved more than the allocator\'s share, so that share cannot be '
        "read off."
    ),
    (
        "memory (means over processes): peak live = highest sum of requested bytes alive (the workload's own "
        "books); max RSS = peak resident memory of the engine process (VmHWM); RSS/live = their ratio (memory"
        " overhead); net/live leaves out the RSS the engine had before the workload was set up (binary, "
        "libraries). faults: minor page faults. RSS over time: one process, sampled from /proc, scaled to its"
        " maximum (shown)."
    ),
    (
        'scaling: allocations per second at N threads ("N thr"); speedup over the smallest count with '
        "interval; eff = speedup per thread factor. collapse: thread counts whose throughput is below the "
        "smallest count's (*: the whole interval is below 1)."
    ),
)


#: The entries that replace the first one in a run of counted instructions.
COUNTED_LEGEND = (
    (
        "instr/iter: instructions of one workload iteration, counted natively by Valgrind (callgrind, every "
        "thread, the measured iterations only) and in guests by QEMU's icount (every instruction of the guest "
        "during the measured iterations), with its {conf:.0%} interval from a hierarchical bootstrap. Counts "
        "leave out what costs time without instructions: page faults' latency, cache misses, waiting for locks "
        "(docs/metrics.md)."
    ),
    (
        "instr/alloc: instructions per allocation and its free, the engine's own included (see dry %). D1/LL "
        "misses: simulated level-1 data and last-level cache misses per iteration (--cache-sim)."
    ),
)


def legend(conf: float, ref: str, width: int, entries: int | None = None, metric: str = TIME) -> str:
    """The legend (its first `entries`) wrapped to `width`, each entry's continuation indented."""
    chosen = LEGEND if metric == TIME else (COUNTED_LEGEND[0], LEGEND[1], COUNTED_LEGEND[1], *LEGEND[2:4])
    fill = [
        textwrap.fill(
            e.format(conf=conf, ref=ref), width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
        )
        for e in chosen[:entries]
    ]
    return "\n".join(fill)


def heading(cell: CellResult, workloads: dict[str, WorkloadInfo], with_target: bool = False) -> str:
    """The line naming a cell: id, workload, every parameter, threads, and
    where it ran (`with_target`: always shown when a run has guests)."""
    shown = values.show_params(workloads.get(cell.cell.workload), cell.cell.params)
    threads = f"  threads={cell.cell.threads}" if cell.cell.threads is not None else ""
    target = f" on {cell.cell.target}" if with_target or cell.cell.target != NATIVE else ""
    return f"{cell.cell.id} {cell.cell.workload}{target}  {shown}{threads}"


def has_guests(cells) -> bool:
    return any(c.cell.target != NATIVE for c in cells)


def _outliers(counts: dict[str, int]) -> str:
    """Tukey mild/severe counts, low and high together."""
    return f"{counts['low_mild'] + counts['high_mild']}/{counts['low_severe'] + counts['high_severe']}"


def _share(share: float) -> str:
    """The dry share, flagged when the dry variant took longer than the allocator."""
    return units.percent(share) + ("!" if share > 1 else "")


def _cells(row: Row, reference: str | None, metric: str, cache: list[str]) -> list[str]:
    t = row.typical
    cols = [units.measure(t.point, metric), units.measure_interval(t.lower, t.upper, t.point, metric)]
    if reference is not None:
        if row.ratio is not None:
            cols += [
                units.ratio(row.ratio.estimate.point),
                units.ratio_interval(row.ratio.estimate.lower, row.ratio.estimate.upper),
            ]
        else:
            cols += ["–", ""]
    if metric == TIME:
        cols.append(units.rate(row.allocations_per_s.point, "") if row.allocations_per_s else "–")
    else:
        cols.append(units.count(row.per_allocation.point, "") if row.per_allocation else "–")
        cols += [units.count(row.cache[k].point, "") if k in row.cache else "–" for k in cache]
    cols += [
        units.percent(row.variance["between_share"]) if row.variance else "–",
        _outliers(row.outliers),
        _share(row.engine_share.estimate.point) if row.engine_share else "–",
    ]
    return cols


def cell_grid(cell: CellResult, conf: float) -> Grid:
    """The main table of a cell: every allocator's time, ratio and shares."""
    ci = f"{conf:.0%} CI"
    counted = cell.metric != TIME
    cache = [k for k in CACHE_EVENTS if any(k in r.cache for r in cell.rows)]
    names = ["allocator", "instr/iter" if counted else "time", ci]
    if cell.reference is not None:
        names += [f"vs {cell.reference}", ci]
    names += ["instr/alloc", *cache] if counted else ["allocs/s"]
    names += ["between", "outliers", "dry %"]
    intervals = [i for i, name in enumerate(names) if name == ci][::-1]  # the ratio's goes before the time's
    extra = ["outliers", "between", "dry %", *cache, "instr/alloc" if counted else "allocs/s"]
    grid = Grid(names, optional=optional(names, extra) + tuple(intervals))
    width = len(grid.columns)
    for row in cell.rows + ([cell.dry] if cell.dry else []):
        label = "dry (engine only)" if row.allocator == DRY else row.allocator
        if not row.ok:
            grid.add(label, "FAILED", *[""] * (width - 2), tag="failed")
            continue
        cols = _cells(row, cell.reference, cell.metric, cache)
        if row.allocator == DRY:
            cols = cols[:2] + [""] * (width - 3)
        grid.add(label, *cols, tag="dry" if row.allocator == DRY else "")
    return grid


def notes(cell: CellResult, target: float | None, before: anomalies.Earlier | None = None) -> list[str]:
    """Failed processes, pairs that missed the precision target, and anomalies
    (`before`: an earlier run on this machine)."""
    notes = [f"  ~ {a.allocator}: {a.message}" for a in anomalies.of_cell(cell, before)]
    if target is not None:
        for row in cell.rows:
            h = row.relative_half_width
            if h is not None and h > target:
                notes.append(
                    f"  * {row.allocator}: ±{h:.1%} with {row.processes} processes, above the ±{target * 100:g}% target"
                )
    for row in cell.rows + ([cell.dry] if cell.dry else []):
        for reason, count in Counter(row.failures).items():
            times = f" ({count} processes)" if count > 1 else ""
            notes.append(f"  ! {row.allocator}: {reason}{times}")
    return notes


def summary_grid(result: RunResult, target: str) -> Grid:
    """Each allocator's geometric mean ratio over the cells of `target`."""
    conf = result.settings.confidence
    cells = [c for c in result.cells if c.cell.target == target]
    where = f" on {target}" if has_guests(result.cells) else ""
    grid = Grid(
        ["allocator", f"geomean vs {result.reference}", f"{conf:.0%} CI", "fastest in", "failed cells"],
        title=f"Summary over {_count(len(cells), 'cell')}{where}",
        optional=(3,),
    )
    for s in (s for s in result.summary if s.target == target):
        if s.geomean_ratio is not None:
            g = s.geomean_ratio
            geo, ci = units.ratio(g.point), units.ratio_interval(g.lower, g.upper)
        else:
            geo, ci = "–", ""
        grid.add(s.allocator, geo, ci, str(s.fastest_in), str(s.failed_cells))
    return grid


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _metric_lines(meta: RunMeta) -> list[str]:
    """What a run that counts instead of timing measured, per method."""
    plan = meta.plan
    if plan.metric == TIME:
        return []
    cache = " with simulated caches" if plan.cache_sim else ""
    lines = []
    guests = [name for name, t in meta.targets.items() if t.counter == QEMU_ICOUNT]
    if any(c.target == NATIVE for c in plan.cells):
        lines.append(
            f"metric: instructions counted by Valgrind's callgrind{cache}; iteration counts fixed per (cell, "
            "allocator) by a short native calibration; glibc's memset/memcpy without rep string instructions "
            "(GLIBC_TUNABLES); times, memory and faults of these processes are Valgrind's and not shown"
        )
    if guests:
        lines.append(
            f"metric: instructions counted by QEMU's icount in {', '.join(guests)} (TCG; the guest's every "
            "instruction during a sample, its kernel and all vCPUs included); iteration counts fixed per "
            "(cell, allocator) by a calibration in the guest"
        )
    return lines


def _precision_line(meta: RunMeta) -> list[str]:
    p = meta.precision
    if not p:
        return []
    budget = f", budget {p.budget_s:g} s" if p.budget_s else ""
    lines = [
        f"precision target ±{p.target * 100:g}%{budget}: {len(p.rounds)} added rounds "
        f"({sum(p.rounds)} engine processes)"
    ]
    if p.missed and p.budget_needed_s is not None:
        lines.append(
            f"  {_count(p.missed, 'pair')} above the target when the budget ran out; "
            f"about {p.budget_needed_s:.0f} s of budget would reach it"
        )
    return lines


def _safety_lines(meta: RunMeta) -> list[str]:
    """What --verify found and the --max-rss cap, when the run had them."""
    lines = []
    if meta.verify:
        bad = [f"{pair} ({v.kind.label})" for pair, v in sorted(meta.verify.items()) if v is not None]
        passed = f"verify: {len(meta.verify) - len(bad)} of {len(meta.verify)} (cell, allocator) pairs passed"
        lines.append(passed + (f"; not timed: {', '.join(bad)}" if bad else ""))
    if meta.max_rss:
        cap = meta.max_rss
        lines.append(f"memory cap: {values.format_size(cap.bytes)} per engine process ({cap.enforced_by})")
    return lines


def run_heading(meta: RunMeta, result: RunResult) -> list[str]:
    """The lines above the tables: what ran, where, and every warning."""
    plan, host, engine = meta.plan, meta.host, meta.engine
    done, total = result.processes_done, result.processes_planned
    commit = ((engine.commit if engine else None) or "unknown")[:10] + (
        " (modified)" if engine and engine.dirty else ""
    )
    s = plan.sampling
    if meta.source:
        source = meta.source
        return [
            f"run {meta.id}  imported from the seed's manual-driver files in {source.path}"
            if source.kind == "seed"
            else f"run {meta.id}  imported from {source.kind} tree {source.path} (baseline {source.baseline})",
            f"{_count(len(plan.cells), 'benchmark')}, labelled {', '.join(plan.allocators)}",
        ]

    def fact(value):
        return "?" if value is None else value

    return [
        f"run {meta.id}  suite {meta.suite_name}  status {meta.status} ({done}/{total} engine processes)",
        *_unfinished_lines(meta, done, total),
        *_skipped_lines(result),
        f"{_count(len(plan.cells), 'cell')} x {_count(len(plan.allocators), 'allocator')},"
        f" {_count(plan.repetitions, 'engine process', 'engine processes')} each;"
        f" sampling {s.mode}, {s.sample_size} samples, warm-up {s.warm_up_time:g} s,"
        f" measurement {s.measurement_time:g} s",
        *_metric_lines(meta),
        *_precision_line(meta),
        *[f"spin (validation knob): {a} {ns:g} ns of busy work before each allocation" for a, ns in plan.spin.items()],
        *[f"spin (validation knob): {a} {n} loop turns before each allocation" for a, n in plan.spin_turns.items()],
        *_safety_lines(meta),
        f"host {fact(host and host.cpu_model)}, {fact(host and host.cores_usable)} cores, {fact(host and host.kernel)},"
        f" governor {(host and host.cpu_governor) or 'n/a'}, turbo {(host and host.turbo) or 'n/a'}; engine {commit}",
        *([f"allocator settings: {host.allocator_setting()}"] if host else []),
        *_busy_lines(result),
        *_target_lines(meta, result),
    ]


def _unfinished_lines(meta: RunMeta, done: int, total: int) -> list[str]:
    """How to finish a run that stopped early."""
    if meta.status not in (RunStatus.INTERRUPTED, RunStatus.ABANDONED):
        return []
    how = "its hab stopped without a word" if meta.status is RunStatus.ABANDONED else "it was interrupted"
    missing = f"{total - done} of {total} engine processes have no result"
    return [f"WARNING: {missing} ({how}); `hab run --resume` finishes it"]


def _skipped_lines(result: RunResult, shown: int = 5) -> list[str]:
    """Damaged unit files, which the figures leave out."""
    lines = [f"WARNING: skipped damaged units/{name}: {problem}" for name, problem in result.skipped[:shown]]
    if len(result.skipped) > shown:
        lines.append(f"WARNING: and {len(result.skipped) - shown} more damaged unit files")
    return lines


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share:.0%}"


def _busy_lines(result: RunResult) -> list[str]:
    """How busy the machine was during the run, and a warning when too busy."""
    b = result.busy
    if b is None:
        return []
    others = "n/a" if b.others_runnable is None else f"{b.others_runnable:.1f}"
    lines = [
        f"machine load: {others} other runnable threads, CPU pressure {_percent(b.cpu_pressure)},"
        f" steal {_percent(b.steal)} (means over {_count(b.processes, 'engine process', 'engine processes')})"
    ]
    if b.reasons:
        lines.append(f"  WARNING: the machine was busy ({'; '.join(b.reasons)}): the figures may be unstable")
    return lines


def _target_lines(meta: RunMeta, result: RunResult) -> list[str]:
    """One line per guest target: how it ran, its boot time, and the warning
    that emulated times are no allocator's performance."""
    lines = []
    for name, t in meta.targets.items():
        if name == NATIVE:
            continue
        version = re.search(r"version (\S+)", t.hypervisor or "")
        hypervisor = f"{(t.hypervisor or '?').split()[0]} {version.group(1)}" if version else (t.hypervisor or "?")
        vcpus = str(t.vcpus) if t.vcpus else "= threads"
        boot = result.boot_seconds.get(name)
        booted = f"; boot {boot.point:.2f} s (mean)" if boot else ""
        lines.append(
            f"target {name}: {hypervisor} {t.accelerator}, cpu {t.cpu}, {t.memory_mib} MiB, vCPUs {vcpus}{booted}"
        )
        if t.emulated:
            lines.append(f"  WARNING: {name} ran on an emulated CPU (TCG): its times are not allocator performance")
        for k in t.kernels:
            lines.append(f"  hermit kernel {k.describe()}" + (f"; NOT BUILT: {k.problem}" if k.problem else ""))
    return lines


def render(
    result: RunResult,
    meta: RunMeta,
    width: int,
    summary_only: bool = False,
    colour: bool = False,
    before: anomalies.Earlier | None = None,
) -> str:
    """The whole report as text, `width` columns wide (`summary_only`: the
    heading and the summary tables; `colour`: with ANSI colours; `before`:
    an earlier run on this machine, whose times flag big slowdowns)."""
    buffer = io.StringIO()
    console = report_console(buffer, width, colour)
    conf = result.settings.confidence
    workloads = meta.workloads
    target = meta.precision.target if meta.precision else None
    left_out: set[str] = set()
    for line in run_heading(meta, result):
        say(console, line)
    with_target = has_guests(result.cells)
    drops = {
        "cell": drops_for([cell_grid(c, conf) for c in result.cells], width),
        "memory": drops_for([g for g in map(memory_table.table, result.cells) if g is not None], width),
        "latency": drops_for([g for g in map(latency_table.table, result.cells) if g is not None], width),
    }
    for cell in [] if summary_only else result.cells:
        console.print()
        say(console, heading(cell, workloads, with_target))
        if cell.busy and cell.busy.reasons:
            say(console, f"  busy while this cell ran: {'; '.join(cell.busy.reasons)}")
        print_fitted(console, cell_grid(cell, conf), left_out, drops["cell"])
        for note in notes(cell, target, before):
            say(console, note)
        for kind, extra in (("memory", memory_table.table(cell)), ("latency", latency_table.table(cell))):
            if extra is not None:
                console.print()
                print_fitted(console, extra, left_out, drops[kind])
        note = latency_table.timer_note(cell)
        if note:
            say(console, note)
    for target in dict.fromkeys(c.cell.target for c in result.cells):
        console.print()
        print_fitted(console, summary_grid(result, target), left_out)
    for group in [] if summary_only else result.scaling:
        console.print()
        say(console, scaling_table.heading(group, workloads))
        print_fitted(console, scaling_table.table(group), left_out)
    console.print()
    for line in left_out_line(left_out, width):
        say(console, line)
    entries = 2 if summary_only else None
    console.print(legend(conf, result.reference or "reference", width, entries, result.metric), markup=False)
    return trimmed(buffer.getvalue())
