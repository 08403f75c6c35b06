"""`hab run --verify`: one untimed engine process per (cell, allocator) in
verify mode before anything is timed (see the engine's `verify` module).

A pair whose check fails, as `corrupt` or `leak` with the engine's first
finding or by failing in any other way, is never timed: its timed units are stored as
failed with that reason, and the run goes on with the other pairs.
"""

from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

from hab.execution.engines import Engines
from hab.records.failure import Failure, FailureKind
from hab.records.plan import Plan, Unit
from hab.records.unit import VerifyRecord

#: Least seconds of checked iterations per pair (the engine runs at least one).
MIN_SECONDS = 0.1
#: Seconds past its time that the engine may go on to check enough
#: allocations (the engine's verify::MAX_EXTRA_NS): added to the timeout.
EXTRA_SECONDS = 10.0


def verify_spec(plan: Plan, unit: Unit) -> dict:
    """The unit's spec in verify mode: as long as a timed process, untimed."""
    spec = plan.unit_spec(unit)
    spec.pop("latency_every", None)
    spec.pop("spin_ns", None)
    sampling = spec["sampling"]
    seconds = max(MIN_SECONDS, sampling["warm_up_time"] + sampling["measurement_time"])
    return {**spec, "verify": True, "sampling": {**sampling, "warm_up_time": seconds}}


def _as_verdict(failure: Failure) -> Failure:
    """A failed check: corrupt or leak as the engine found it, anything else
    as a failed verification."""
    if failure.kind in (FailureKind.CORRUPT, FailureKind.LEAK):
        return failure
    return Failure(FailureKind.UNVERIFIED, f"verification failed: {failure.reason}")


def verify(
    plan: Plan, engines: Engines, keep: Callable[[VerifyRecord], None], console: Console
) -> dict[str, Failure | None]:
    """Checks every (cell, allocator) pair, handing each process's record to
    `keep`; returns the verdicts by "cell/allocator" (None: passed)."""
    verdicts: dict[str, Failure | None] = {}
    planned = {(u.cell, u.allocator) for u in plan.units}
    pairs = [(c.id, a) for c in plan.cells for a in plan.allocators if (c.id, a) in planned]
    with console.status("verifying") as status:
        for n, (cell, allocator) in enumerate(pairs, 1):
            status.update(f"verifying {cell} {allocator} ({n}/{len(pairs)})")
            unit = Unit(cell, allocator, 0)
            outcome = engines.run(verify_spec(plan, unit), unit, plan.cell(cell), plan.timeout + EXTRA_SECONDS)
            keep(VerifyRecord(unit, outcome.failure, outcome.exit_code, tuple(outcome.records), outcome.stderr))
            verdict = verdicts[f"{cell}/{allocator}"] = None if outcome.ok else _as_verdict(outcome.failure)
            if verdict is not None:
                _, _, detail = verdict.reason.partition(": ")
                console.print(
                    f"[red]{escape(verdict.kind.label)}[/] {cell} {escape(allocator)}: {escape(detail)} (not timed)",
                    highlight=False,
                )
    failed = sum(v is not None for v in verdicts.values())
    console.print(f"[dim]verify: {len(pairs) - failed} of {len(pairs)} pairs passed[/]")
    return verdicts


def not_timed(verdicts: dict[str, Failure | None]) -> dict[tuple[str, str], Failure]:
    """The pairs that failed, as `execute`'s `skip` argument."""
    return {tuple(pair.split("/", 1)): v for pair, v in verdicts.items() if v is not None}
