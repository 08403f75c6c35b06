"""The plan of a run as it is stored: cells, sampling, and the units (one
engine process each) in run order. Made by `hab.suite.plan`."""

from dataclasses import asdict, dataclass, field, replace

from hab.records import fields as f
from hab.records.target import NATIVE, TARGETS

#: Pseudo-allocator of a workload's dry variant (run on the system binary).
DRY = "dry"
#: In runs with several Hermit kernels, each allocator's row on a kernel
#: target is `ALLOCATOR@KERNEL` (an allocator name never holds it).
VARIANT_MARK = "@"


def variant(allocator: str, kernel: str) -> str:
    """The row of `allocator` on the Hermit kernel labelled `kernel`."""
    return f"{allocator}{VARIANT_MARK}{kernel}"


def base_allocator(row: str) -> str:
    """The allocator of a row (`system@v0.11.0` -> `system`)."""
    return row.split(VARIANT_MARK, 1)[0]


#: A parameter value: engine parameters are integers, numbers or choices.
ParamValue = int | float | str


IMPORTED = "imported"
#: What a run measures: wall time (the default), or instructions counted
#: under Valgrind (docs/metrics.md).
TIME, INSTRUCTIONS = "time", "instructions"
METRICS = (TIME, INSTRUCTIONS)
SAMPLING_MODES = ("auto", "linear", "flat", IMPORTED)


@dataclass(frozen=True)
class Sampling:
    """criterion-style sampling settings, in seconds. Imported runs have mode
    `imported` and no times."""

    mode: str = "auto"
    sample_size: int = 100
    warm_up_time: float | None = 3.0
    measurement_time: float | None = 5.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data, where: str) -> "Sampling":
        f.table(data, where)
        mode = f.text(data.get("mode"), f"{where}.mode")
        if mode not in SAMPLING_MODES:
            raise f.RecordError(f"{where}.mode: expected one of {', '.join(SAMPLING_MODES)}, got {mode!r}")
        read = f.optional_number if mode == IMPORTED else f.number
        return cls(
            mode,
            f.integer(data.get("sample_size"), f"{where}.sample_size", 1),
            read(data.get("warm_up_time"), f"{where}.warm_up_time", 0),
            read(data.get("measurement_time"), f"{where}.measurement_time", 0),
        )


@dataclass(frozen=True)
class Cell:
    """One point of the grid; params are complete (defaults filled by the engine)."""

    id: str
    workload: str
    params: dict[str, ParamValue]
    threads: int | None  # None for imported benchmarks
    target: str = NATIVE  # where its engine processes run

    def spec(self, sampling: Sampling, dry: bool, spin_ns: float = 0.0, latency_every: int | None = None) -> dict:
        """The engine spec of this cell (see docs/protocol.md)."""
        spec = {
            "workload": self.workload,
            "params": self.params,
            "threads": self.threads,
            "dry": dry,
            "sampling": sampling.to_dict(),
        }
        if spin_ns:
            spec["spin_ns"] = spin_ns
        if latency_every:
            spec["latency_every"] = latency_every
        return spec

    @classmethod
    def from_dict(cls, data, where: str) -> "Cell":
        f.table(data, where)
        params = f.table(data.get("params"), f"{where}.params")
        for name, value in params.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise f.RecordError(f"{where}.params.{name}: expected a number or a string")
            if isinstance(value, float):
                f.number(value, f"{where}.params.{name}")
        target = f.text(data.get("target", NATIVE), f"{where}.target")
        if target not in TARGETS:
            raise f.RecordError(f"{where}.target: unknown target {target!r}")
        return cls(
            f.text(data.get("id"), f"{where}.id"),
            f.text(data.get("workload"), f"{where}.workload"),
            params,
            f.optional_integer(data.get("threads"), f"{where}.threads", 1),
            target,
        )


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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data, where: str) -> "Unit":
        f.table(data, where)
        return cls(
            f.text(data.get("cell"), f"{where}.cell"),
            f.text(data.get("allocator"), f"{where}.allocator"),
            f.integer(data.get("repetition"), f"{where}.repetition", 0),
        )


@dataclass(frozen=True)
class Plan:
    cells: tuple[Cell, ...]
    allocators: tuple[str, ...]  # as requested, without the dry pseudo-allocator
    repetitions: int
    sampling: Sampling
    timeout: float
    order_seed: int
    units: tuple[Unit, ...]  # in run order
    spin: dict[str, float] = field(default_factory=dict)  # allocator -> busy ns per allocation (validation knob)
    latency_every: int | None = None  # latency mode: time one allocator call in this many
    rss_interval: float | None = None  # seconds between RSS samples (None: not sampled)
    metric: str = TIME  # what the samples measure (METRICS)
    cache_sim: bool = False  # instructions: Valgrind also simulates the caches
    spin_turns: dict[str, int] = field(default_factory=dict)  # allocator -> exact busy loop turns per allocation

    def cell(self, cell_id: str) -> Cell:
        return next(c for c in self.cells if c.id == cell_id)

    def unit_spec(self, unit: Unit) -> dict:
        base = base_allocator(unit.allocator)
        spin = 0.0 if unit.dry else self.spin.get(unit.allocator, self.spin.get(base, 0.0))
        spec = self.cell(unit.cell).spec(self.sampling, unit.dry, spin, self.latency_every)
        turns = 0 if unit.dry else self.spin_turns.get(unit.allocator, self.spin_turns.get(base, 0))
        if turns:
            spec["spin_turns"] = turns
        return spec

    def extended(self, units: list[Unit]) -> "Plan":
        """The plan with `units` added at the end (another round of processes)."""
        return replace(self, units=self.units + tuple(units))

    def to_dict(self) -> dict:
        return {
            "cells": [asdict(c) for c in self.cells],
            "allocators": list(self.allocators),
            "repetitions": self.repetitions,
            "sampling": self.sampling.to_dict(),
            "timeout": self.timeout,
            "order_seed": self.order_seed,
            "order": [[u.cell, u.allocator, u.repetition] for u in self.units],
            "spin": self.spin,
            "latency_every": self.latency_every,
            "rss_interval": self.rss_interval,
            "metric": self.metric,
            "cache_sim": self.cache_sim,
            "spin_turns": self.spin_turns,
        }

    @classmethod
    def from_dict(cls, data, where: str = "plan") -> "Plan":
        f.table(data, where)
        cells = tuple(
            Cell.from_dict(c, f"{where}.cells[{i}]") for i, c in enumerate(f.items(data.get("cells"), f"{where}.cells"))
        )
        units = []
        for i, u in enumerate(f.items(data.get("order"), f"{where}.order")):
            if not isinstance(u, list) or len(u) != 3:
                raise f.RecordError(f"{where}.order[{i}]: expected [cell, allocator, repetition]")
            units.append(
                Unit.from_dict(dict(zip(("cell", "allocator", "repetition"), u, strict=True)), f"{where}.order[{i}]")
            )
        ids = {c.id for c in cells}
        stray = next((u for u in units if u.cell not in ids), None)
        if stray is not None:
            raise f.RecordError(f"{where}.order: unit {stray.id} names no cell of the plan")
        spin = f.table(data.get("spin", {}), f"{where}.spin")
        turns = f.table(data.get("spin_turns", {}), f"{where}.spin_turns")
        metric = f.text(data.get("metric", TIME), f"{where}.metric")
        if metric not in METRICS:
            raise f.RecordError(f"{where}.metric: expected one of {', '.join(METRICS)}, got {metric!r}")
        return cls(
            cells=cells,
            allocators=f.texts(data.get("allocators"), f"{where}.allocators"),
            repetitions=f.integer(data.get("repetitions"), f"{where}.repetitions", 1),
            sampling=Sampling.from_dict(data.get("sampling"), f"{where}.sampling"),
            timeout=f.number(data.get("timeout"), f"{where}.timeout", 0),
            order_seed=f.integer(data.get("order_seed"), f"{where}.order_seed"),
            units=tuple(units),
            spin={k: f.number(v, f"{where}.spin.{k}", 0) for k, v in spin.items()},
            latency_every=f.optional_integer(data.get("latency_every"), f"{where}.latency_every", 1),
            rss_interval=f.optional_number(data.get("rss_interval"), f"{where}.rss_interval", 0),
            metric=metric,
            cache_sim=f.flag(data.get("cache_sim", False), f"{where}.cache_sim"),
            spin_turns={k: f.integer(v, f"{where}.spin_turns.{k}", 0) for k, v in turns.items()},
        )
