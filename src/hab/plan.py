"""Planning: a suite becomes cells (workload x parameters x threads) and an
ordered list of units, one engine process each.

Every cell is validated by the engine itself (`--check`) before anything
runs, so a bad parameter stops the run before a single result is written.
Allocators are shuffled within each cell and repetitions go round the whole
suite, so slow drift of the machine does not favour one allocator.
"""

import itertools
import random
from dataclasses import asdict, dataclass, field
from typing import Callable

from hab import values
from hab.engine import WorkloadInfo
from hab.errors import UserError
from hab.registry import DRY
from hab.suite import Suite

#: Seconds an engine process adds to its sampling time (start, set-up, exit).
PROCESS_OVERHEAD_S = 0.2


@dataclass(frozen=True)
class Cell:
    """One point of the grid; params are complete (defaults filled by the engine)."""

    id: str
    workload: str
    params: dict
    threads: int | None  # None for imported benchmarks

    def spec(self, sampling: dict, dry: bool, spin_ns: float = 0.0, latency_every: int | None = None) -> dict:
        spec = {"workload": self.workload, "params": self.params, "threads": self.threads,
                "dry": dry, "sampling": sampling}
        if spin_ns:
            spec["spin_ns"] = spin_ns
        if latency_every:
            spec["latency_every"] = latency_every
        return spec


@dataclass(frozen=True)
class Unit:
    """One engine process: a cell, an allocator (or the dry variant), a repetition."""

    cell: str
    allocator: str
    repetition: int

    @property
    def dry(self) -> bool:
        return self.allocator == DRY

    @property
    def id(self) -> str:
        return f"{self.cell}-{self.allocator}-r{self.repetition}"


@dataclass(frozen=True)
class Plan:
    cells: tuple
    allocators: tuple  # as requested, without the dry pseudo-allocator
    repetitions: int
    sampling: dict
    timeout: float
    order_seed: int
    units: tuple  # in run order
    spin: dict = field(default_factory=dict)  # allocator -> busy ns per allocation (validation knob)
    latency_every: int | None = None  # latency mode: time one allocator call in this many
    rss_interval: float | None = None  # seconds between RSS samples (None: not sampled)

    def cell(self, cell_id: str) -> Cell:
        return next(c for c in self.cells if c.id == cell_id)

    def unit_spec(self, unit: Unit) -> dict:
        spin = 0.0 if unit.dry else self.spin.get(unit.allocator, 0.0)
        return self.cell(unit.cell).spec(self.sampling, unit.dry, spin, self.latency_every)

    def expected_seconds(self) -> float:
        """Rough duration of one unit, for progress and ETA."""
        return self.sampling["warm_up_time"] + self.sampling["measurement_time"] + PROCESS_OVERHEAD_S

    def to_dict(self) -> dict:
        return {
            "cells": [asdict(c) for c in self.cells],
            "allocators": list(self.allocators),
            "repetitions": self.repetitions,
            "sampling": self.sampling,
            "timeout": self.timeout,
            "order_seed": self.order_seed,
            "order": [[u.cell, u.allocator, u.repetition] for u in self.units],
            "spin": self.spin,
            "latency_every": self.latency_every,
            "rss_interval": self.rss_interval,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        return cls(
            cells=tuple(Cell(**c) for c in d["cells"]),
            allocators=tuple(d["allocators"]),
            repetitions=d["repetitions"],
            sampling=d["sampling"],
            timeout=d["timeout"],
            order_seed=d["order_seed"],
            units=tuple(Unit(*u) for u in d["order"]),
            spin=d.get("spin", {}),
            latency_every=d.get("latency_every"),
            rss_interval=d.get("rss_interval"),
        )


def _grids(suite: Suite, workloads: dict[str, WorkloadInfo]):
    """(workload, list of param dicts) per benchmark, overrides applied, values typed."""
    used_overrides = set()
    for bench in suite.benchmarks:
        info = workloads.get(bench.workload)
        if info is None:
            raise UserError(f"unknown workload '{bench.workload}' (known: {', '.join(workloads)})")
        grid = dict(bench.params)
        for name, vals in suite.overrides:
            if info.param(name) is not None:
                grid[name] = vals
                used_overrides.add(name)
        typed = {}
        for name, vals in grid.items():
            param = info.param(name)
            if param is None:
                known = ", ".join(p["name"] for p in info.params)
                raise UserError(f"unknown parameter '{name}' for workload {info.name} (known: {known})")
            typed[name] = [values.coerce(param, v, f"workload {info.name}") for v in vals]
        names = list(typed)
        combos = [dict(zip(names, combo)) for combo in itertools.product(*typed.values())]
        yield info, combos
    for name, _ in suite.overrides:
        if name not in used_overrides:
            raise UserError(f"--param {name}: none of the selected workloads has this parameter")


def make_plan(suite: Suite, allocators: list[str], threads: list[int],
              workloads: dict[str, WorkloadInfo], check: Callable[[dict], dict], seed: int,
              spin: dict | None = None, latency_every: int | None = None,
              rss_interval: float | None = None) -> Plan:
    """Expands and validates the suite; `check(spec)` is the engine's verdict.
    In latency mode (`latency_every`) the dry variant is left out: it makes
    no allocator calls to time."""
    sampling = asdict(suite.sampling)
    cells: list[Cell] = []
    dry_cells: set[str] = set()
    seen = set()
    for info, combos in _grids(suite, workloads):
        for params, t in itertools.product(combos, threads):
            probe = Cell("", info.name, params, t).spec(sampling, False, max((spin or {}).values(), default=0.0),
                                                       latency_every)
            valid = check(probe)
            key = (info.name, tuple(sorted(valid["params"].items())), valid["threads"])
            if key in seen:
                continue
            seen.add(key)
            cell = Cell(f"c{len(cells):02d}", info.name, valid["params"], valid["threads"])
            cells.append(cell)
            if suite.dry and info.has_dry and not latency_every:
                dry_cells.add(cell.id)
    rng = random.Random(seed)
    units = []
    for rep in range(suite.repetitions):
        for cell in cells:
            # The dry variant only states the engine's share: one process is enough.
            names = list(allocators) + ([DRY] if cell.id in dry_cells and rep == 0 else [])
            rng.shuffle(names)
            units.extend(Unit(cell.id, name, rep) for name in names)
    return Plan(tuple(cells), tuple(allocators), suite.repetitions, sampling,
                suite.unit_timeout(), seed, tuple(units), dict(spin or {}), latency_every, rss_interval)
