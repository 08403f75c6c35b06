"""Running a plan: one engine process per unit, in plan order, each result
handed over (to the run directory) the moment it is known, with progress on
the terminal."""

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hab.errors import StorageError
from hab.execution import noise
from hab.execution.engines import Engines
from hab.execution.process import Outcome
from hab.records.failure import Failure, FailureKind
from hab.records.fields import RecordError
from hab.records.plan import Plan, Unit
from hab.records.unit import UnitRecord

#: Seconds an engine process adds to its sampling time (start, set-up, exit).
PROCESS_OVERHEAD_S = 0.2


@dataclass
class Executed:
    done: int
    failed: int
    seconds: float
    interrupted: bool
    problem: str | None = None  # why it stopped early, when not by Ctrl-C (a result could not be stored)

    def then(self, later: "Executed") -> "Executed":
        """This stretch of a run and a later one together."""
        return Executed(
            self.done + later.done,
            self.failed + later.failed,
            self.seconds + later.seconds,
            later.interrupted,
            later.problem,
        )


def expected_seconds(plan: Plan) -> float:
    """Rough duration of one unit, for progress and ETA."""
    return (plan.sampling.warm_up_time or 0.0) + (plan.sampling.measurement_time or 0.0) + PROCESS_OVERHEAD_S


def record_of(unit: Unit, outcome: Outcome) -> UnitRecord:
    """What is stored of a process. An engine record of the wrong shape fails
    a process that seemed complete, and none of its records is kept."""

    def make(records, failure):
        return UnitRecord.from_engine(
            unit,
            records,
            failure,
            outcome.exit_code,
            outcome.seconds,
            outcome.stderr,
            outcome.rss,
            outcome.guest,
            outcome.counts,
        )

    try:
        return make(outcome.records, outcome.failure)
    except RecordError as e:
        failure = outcome.failure or Failure(FailureKind.GARBAGE, f"garbage output: {e}")
        return make([], failure)


def _report(console: Console, unit: Unit, record: UnitRecord, index: int, total: int, live: bool) -> None:
    if not record.ok:
        console.print(f"[red]failed[/] {unit.id}: {escape(record.reason or '')}", highlight=False)
    elif not live:
        console.print(f"{index}/{total} {unit.id} ok ({record.seconds:.1f} s)", markup=False, highlight=False)


def execute(
    plan: Plan,
    engines: Engines,
    keep: Callable[[UnitRecord], None],
    console: Console,
    units: list[Unit] | None = None,
    skip: dict[tuple[str, str], Failure] | None = None,
) -> Executed:
    """Runs `units` (default: every unit of `plan`), handing each record to
    `keep`; Ctrl-C, or a record `keep` cannot store, stops after killing
    the current engine. Units whose
    (cell, allocator) is in `skip` are not run but kept as failed with the
    failure given there."""
    started = time.monotonic()
    weight = expected_seconds(plan)
    todo = list(plan.units) if units is None else units
    total = len(todo)
    done = failed = 0
    live = console.is_terminal
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not live,
    )
    interrupted, problem = False, None
    with progress:
        task = progress.add_task("running", total=total * weight, count=f"0/{total}")
        try:
            for unit in todo:
                cell = plan.cell(unit.cell)
                progress.update(task, description=f"{unit.cell} {cell.target} {unit.allocator}")
                skipped = (skip or {}).get((unit.cell, unit.allocator))
                if skipped:
                    record = UnitRecord(unit, skipped)
                else:
                    before = noise.snapshot()
                    outcome = engines.run(plan.unit_spec(unit), unit, cell, plan.timeout)
                    contention = noise.between(before, noise.snapshot())
                    record = replace(record_of(unit, outcome), contention=contention)
                try:
                    keep(record)
                except StorageError as e:
                    interrupted, problem = True, str(e)
                    break
                done += 1
                failed += not record.ok
                progress.update(task, advance=weight, count=f"{done}/{total}")
                if not skipped:  # skipped pairs were reported when they failed verification
                    _report(console, unit, record, done, total, live)
        except KeyboardInterrupt:
            interrupted = True
    return Executed(done, failed, time.monotonic() - started, interrupted, problem)
