"""Running a plan: one engine process per unit, in plan order, each result
stored the moment it is known, with progress on the terminal."""

import os
import time
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hab.build import Build
from hab.memlimit import Cap
from hab.plan import Plan, Unit
from hab.protocol import spec_json
from hab.registry import REFERENCE
from hab.runner import Outcome, run_engine
from hab.store import RunDir


@dataclass
class Executed:
    done: int
    failed: int
    seconds: float
    interrupted: bool


def run_unit(spec: dict, unit: Unit, built: Build, timeout: float, rss_interval: float | None,
             cap: Cap | None) -> Outcome:
    """One engine process for `unit`: the dry variant runs on the system
    binary, a preload allocator on it with its shared object in LD_PRELOAD."""
    binary = built.binaries[REFERENCE if unit.dry else unit.allocator]
    so = None if unit.dry else built.preloads.get(unit.allocator)
    env = {**os.environ, "LD_PRELOAD": str(so)} if so else None
    return run_engine([str(binary), spec_json(spec)], timeout, env, rss_interval, cap, str(so) if so else None)


def _report(console: Console, unit: Unit, outcome: Outcome, index: int, total: int, live: bool) -> None:
    if not outcome.ok:
        console.print(f"[red]failed[/] {unit.id}: {escape(outcome.reason or '')}", highlight=False)
    elif not live:
        console.print(f"{index}/{total} {unit.id} ok ({outcome.seconds:.1f} s)", markup=False, highlight=False)


def execute(plan: Plan, built: Build, run: RunDir, console: Console, units: list[Unit] | None = None,
            cap: Cap | None = None, skip: dict | None = None) -> Executed:
    """Runs `units` (default: every unit of `plan`); Ctrl-C stops after
    killing the current engine. Units whose (cell, allocator) is in `skip`
    are not run but stored as failed with the reason given there."""
    started = time.monotonic()
    weight = plan.expected_seconds()
    todo = list(plan.units) if units is None else units
    total = len(todo)
    done = failed = 0
    live = console.is_terminal
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.fields[count]}"), TimeElapsedColumn(), TextColumn("ETA"),
                        TimeRemainingColumn(), console=console, transient=True, disable=not live)
    interrupted = False
    with progress:
        task = progress.add_task("running", total=total * weight, count=f"0/{total}")
        try:
            for unit in todo:
                progress.update(task, description=f"{unit.cell} {unit.allocator}")
                reason = (skip or {}).get((unit.cell, unit.allocator))
                if reason:
                    outcome = Outcome(False, reason)
                else:
                    outcome = run_unit(plan.unit_spec(unit), unit, built, plan.timeout, plan.rss_interval, cap)
                run.write_unit(unit, outcome)
                done += 1
                failed += not outcome.ok
                progress.update(task, advance=weight, count=f"{done}/{total}")
                if not reason:  # skipped pairs were reported when they failed verification
                    _report(console, unit, outcome, done, total, live)
        except KeyboardInterrupt:
            interrupted = True
    return Executed(done, failed, time.monotonic() - started, interrupted)
