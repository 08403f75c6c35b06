"""`hab run --verify`: one untimed engine process per (cell, allocator) in
verify mode before anything is timed (see the engine's `verify` module).

A pair whose check fails, as `corrupt` with the engine's first finding or
by failing in any other way, is never timed: its timed units are stored as
failed with that reason, and the run goes on with the other pairs.
"""

from rich.console import Console
from rich.markup import escape

from hab.build import Build
from hab.execute import run_unit
from hab.memlimit import Cap
from hab.plan import Plan, Unit
from hab.store import VERIFY_DIR, RunDir

#: Least seconds of checked iterations per pair (the engine runs at least one).
MIN_SECONDS = 0.1


def verify_spec(plan: Plan, unit: Unit) -> dict:
    """The unit's spec in verify mode: as long as a timed process, untimed."""
    spec = plan.unit_spec(unit)
    spec.pop("latency_every", None)
    spec.pop("spin_ns", None)
    sampling = spec["sampling"]
    seconds = max(MIN_SECONDS, sampling["warm_up_time"] + sampling["measurement_time"])
    return {**spec, "verify": True, "sampling": {**sampling, "warm_up_time": seconds}}


def verify(plan: Plan, built: Build, run: RunDir, console: Console, cap: Cap | None) -> dict:
    """Checks every (cell, allocator) pair; returns {(cell, allocator): reason}
    for the pairs that failed, and records every verdict in run.json."""
    failed, verdicts = {}, {}
    pairs = [(cell.id, a) for cell in plan.cells for a in plan.allocators]
    with console.status("verifying") as status:
        for n, (cell, allocator) in enumerate(pairs, 1):
            status.update(f"verifying {cell} {allocator} ({n}/{len(pairs)})")
            unit = Unit(cell, allocator, 0)
            outcome = run_unit(verify_spec(plan, unit), unit, built, plan.timeout, None, cap)
            run.write_record(unit, {"verify": True, "ok": outcome.ok, "reason": outcome.reason,
                                    "exit_code": outcome.exit_code, "records": outcome.records,
                                    "stderr": outcome.stderr}, VERIFY_DIR)
            if outcome.ok:
                verdicts[f"{cell}/{allocator}"] = "ok"
                continue
            reason = outcome.reason if outcome.reason.startswith("corrupt") else f"verification failed: {outcome.reason}"
            verdicts[f"{cell}/{allocator}"] = failed[(cell, allocator)] = reason
            kind, _, detail = reason.partition(": ")
            console.print(f"[red]{escape(kind)}[/] {cell} {escape(allocator)}: {escape(detail)} (not timed)",
                          highlight=False)
    run.meta["verify"] = verdicts
    run.save()
    console.print(f"[dim]verify: {len(pairs) - len(failed)} of {len(pairs)} pairs passed[/]")
    return failed
