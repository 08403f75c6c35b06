"""Planning: a suite becomes cells (workload x parameters x threads) and an
ordered list of units, one engine process each.

Every cell is validated by the engine itself (`--check`) before anything
runs, so a bad parameter stops the run before a single result is written.
Allocators are shuffled within each cell and repetitions go round the whole
suite, so slow drift of the machine does not favour one allocator.
"""

import itertools
import random
from collections.abc import Callable

from hab.errors import UserError, did_you_mean, unknown
from hab.records.plan import DRY, Cell, Plan, Unit
from hab.records.workload import WorkloadInfo
from hab.suite import values
from hab.suite.suite import Suite


def _grids(suite: Suite, workloads: dict[str, WorkloadInfo]):
    """(workload, list of param dicts) per benchmark, overrides applied, values typed."""
    used_overrides = set()
    for bench in suite.benchmarks:
        info = workloads.get(bench.workload)
        if info is None:
            raise unknown("workload", bench.workload, workloads)
        grid = dict(bench.params)
        for name, vals in suite.overrides:
            if info.param(name) is not None:
                grid[name] = vals
                used_overrides.add(name)
        typed = {}
        for name, vals in grid.items():
            param = info.param(name)
            if param is None:
                raise unknown(f"parameter of {info.name}:", name, [p.name for p in info.params])
            typed[name] = [values.coerce(param, v, f"workload {info.name}") for v in vals]
        names = list(typed)
        combos = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*typed.values())]
        yield info, combos
    for name, _ in suite.overrides:
        if name not in used_overrides:
            chosen = [workloads[b.workload] for b in suite.benchmarks if b.workload in workloads]
            hint = did_you_mean(name, sorted({p.name for w in chosen for p in w.params}))
            raise UserError(f"--param {name}: none of the selected workloads has this parameter{hint}")


def make_plan(
    suite: Suite,
    allocators: list[str],
    threads: list[int],
    workloads: dict[str, WorkloadInfo],
    check: Callable[[dict], dict],
    seed: int,
    spin: dict | None = None,
    latency_every: int | None = None,
    rss_interval: float | None = None,
    runs_on: Callable[[str, str], bool] | None = None,
    spin_turns: dict | None = None,
) -> Plan:
    """Expands and validates the suite; `check(spec)` is the engine's verdict.
    Every cell runs on each of the suite's targets, with the allocators for
    which `runs_on(target, allocator)` holds (default: all). In latency mode
    (`latency_every`) the dry variant is left out: it makes no allocator
    calls to time."""
    sampling = suite.sampling
    cells: list[Cell] = []
    dry_cells: set[str] = set()
    seen = set()
    for info, combos in _grids(suite, workloads):
        for params, t, target in itertools.product(combos, threads, suite.targets):
            probe = Cell("", info.name, params, t).spec(
                sampling, False, max((spin or {}).values(), default=0.0), latency_every
            )
            if any((spin_turns or {}).values()):
                probe["spin_turns"] = max(spin_turns.values())
            valid = check(probe)
            key = (info.name, tuple(sorted(valid["params"].items())), valid["threads"], target)
            if key in seen:
                continue
            seen.add(key)
            cell = Cell(f"c{len(cells):02d}", info.name, valid["params"], valid["threads"], target)
            cells.append(cell)
            if suite.dry and info.has_dry and not latency_every:
                dry_cells.add(cell.id)
    rng = random.Random(seed)
    units = []
    for rep in range(suite.repetitions):
        for cell in cells:
            # The dry variant runs in every round, as the allocators do: its
            # share is a ratio paired by round like theirs.
            names = [a for a in allocators if runs_on is None or runs_on(cell.target, a)]
            names += [DRY] if cell.id in dry_cells else []
            rng.shuffle(names)
            units.extend(Unit(cell.id, name, rep) for name in names)
    return Plan(
        tuple(cells),
        tuple(allocators),
        suite.repetitions,
        sampling,
        suite.unit_timeout(),
        seed,
        tuple(units),
        dict(spin or {}),
        latency_every,
        rss_interval,
        spin_turns=dict(spin_turns or {}),
    )
