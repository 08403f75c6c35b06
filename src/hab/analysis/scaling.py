"""Thread scaling: cells that differ only in their thread count, compared
per allocator against the smallest thread count of the group.

Throughput is allocations per second; speedup at N threads is throughput
at N over throughput at the base count, with an interval from the two
(independent) bootstrap distributions of typical time; efficiency is the
speedup per added thread factor. A point where throughput at N threads is
below the base's is a scaling collapse (the one-lock-for-everyone case);
it is `significant` when the whole interval lies below 1.
"""

import json
from dataclasses import dataclass

from hab.records.plan import TIME, Cell, ParamValue
from hab.records.workload import WorkloadInfo
from hab.stats import bootstrap
from hab.stats.bootstrap import Estimate


@dataclass
class Point:
    threads: int
    allocations_per_s: Estimate
    speedup: Estimate
    efficiency: float
    collapse: bool
    significant: bool

    def to_dict(self) -> dict:
        return {
            "threads": self.threads,
            "allocations_per_s": self.allocations_per_s.to_dict(),
            "speedup": self.speedup.to_dict(),
            "efficiency": self.efficiency,
            "collapse": self.collapse,
            "collapse_significant": self.significant,
        }


@dataclass
class Curve:
    allocator: str
    points: list[Point]  # per thread count, ascending; the first is the base


@dataclass
class Group:
    workload: str
    params: dict[str, ParamValue]
    target: str
    cells: list[str]  # cell ids, ascending thread count
    threads: list[int]
    curves: list[Curve]  # per allocator

    def to_dict(self) -> dict:
        return {
            "workload": self.workload,
            "params": self.params,
            "target": self.target,
            "cells": self.cells,
            "threads": self.threads,
            "allocators": {c.allocator: [p.to_dict() for p in c.points] for c in self.curves},
        }


def _scaled(e: Estimate, k: float) -> Estimate:
    return Estimate(e.point * k, e.lower * k, e.upper * k, e.standard_error * k, e.confidence, e.exact)


def _curve(rows: list, threads: list[int], confidence: float) -> Curve | None:
    """rows: the allocator's Row per thread count (ascending), all ok."""
    base, base_threads = rows[0], threads[0]
    points = []
    for row, t in zip(rows, threads, strict=True):
        work_ratio = row.work.allocations / base.work.allocations
        if row is base:
            speedup = Estimate.exact_value(1.0, confidence)
        else:
            time_ratio, _ = bootstrap.ratio(base.typical.point, base.dist, row.typical.point, row.dist, confidence)
            speedup = _scaled(time_ratio, work_ratio)
        points.append(
            Point(
                t,
                row.allocations_per_s,
                speedup,
                speedup.point / (t / base_threads),
                speedup.point < 1.0,
                speedup.upper < 1.0,
            )
        )
    return Curve(rows[0].allocator, points)


def _key(cell: Cell, workloads: dict[str, WorkloadInfo]) -> str:
    """What a cell is apart from its thread count: workload and parameters,
    leaving out parameters at their per-thread default (the seed's
    `tasks = 2*threads`), which follow the thread count by design."""
    params = dict(cell.params)
    info = workloads.get(cell.workload)
    for p in info.params if info else ():
        if isinstance(p.default, str) and p.default.endswith("*threads"):
            if params.get(p.name) == int(p.default.split("*")[0]) * cell.threads:
                params.pop(p.name, None)
    return json.dumps([cell.workload, params, cell.target], sort_keys=True)


def groups(cells: list, allocators, confidence: float, workloads: dict[str, WorkloadInfo]) -> list[Group]:
    """Scaling groups among analysed cells (CellResult) with 2+ thread counts;
    `workloads` is the run's workload description (for per-thread defaults).
    Counted cells have none: a count adds up every thread's work, whatever
    ran at once (Valgrind and QEMU's icount run one thread at a time)."""
    by_key: dict[str, list] = {}
    for c in cells:
        if c.cell.threads is None or c.metric != TIME:
            continue
        key = _key(c.cell, workloads)
        by_key.setdefault(key, []).append(c)
    out = []
    for members in by_key.values():
        members.sort(key=lambda c: c.cell.threads)
        threads = [c.cell.threads for c in members]
        if len(set(threads)) < 2:
            continue
        curves = []
        for a in allocators:
            rows = [next((r for r in c.rows if r.allocator == a), None) for c in members]
            if all(r is not None and r.ok and r.work and r.work.allocations for r in rows):
                curves.append(_curve(rows, threads, confidence))
        first = members[0].cell
        shared = json.loads(_key(first, workloads))[1]
        out.append(Group(first.workload, shared, first.target, [c.cell.id for c in members], threads, curves))
    return out
