"""Did the machine drift between two runs? An absolute comparison divides
B's times by A's, so whatever the machine did between the runs (another
tenant starting or stopping, a slower host) lands in every ratio, and the
interval, made from the processes of each run, does not contain it. With
narrow intervals (`--precision`) that drift alone makes verdicts.

Three witnesses in a cell say that it did:
- the engine alone: the dry variant (the harness's loop without the
  allocator) changed beyond the noise band, its interval wholly outside;
- the allocators together: every allocator of the cell, two or more,
  was called changed in the same direction;
- one direction: the dry variant and the allocators, at least MOVERS of
  them, all moved the same way (every point estimate above 1, or every
  one below). Were nothing common to them, each would fall on either side
  with even odds, and all on one side would happen in at most
  2 / 2**MOVERS = 12.5% of comparisons; then only power is lost.

A drifted cell's absolute verdicts become inconclusive with the witness
as the reason. Relative comparisons need no guard: each round's ratio to
the reference divides the drift out. Counts (instructions) do not drift.
"""

from collections.abc import Callable

from hab.analysis.run import CellResult, Row
from hab.stats.change import Change, Verdict

CHANGED = (Verdict.IMPROVED, Verdict.REGRESSED)
#: Fewest estimates (allocators and the dry variant) for the one-direction witness.
MOVERS = 4


def _share(ratio: float) -> str:
    return f"{ratio - 1:+.1%}"


def witness(
    old: CellResult, new: CellResult, changes: list[Change], dry_change: Callable[[Row, Row], Change]
) -> str | None:
    """Why the absolute `changes` of this cell (one per allocator) may be the
    machine's doing rather than the allocators', or None."""
    engine = None
    if old.dry is not None and new.dry is not None and old.dry.ok and new.dry.ok:
        engine = dry_change(old.dry, new.dry)
        if engine.verdict in CHANGED:
            r = engine.ratio
            return (
                f"the machine drifted between the runs: the engine alone (dry variant) took "
                f"{_share(r.point)} [{_share(r.lower)}, {_share(r.upper)}] in B"
            )
    verdicts = {c.verdict for c in changes}
    if len(changes) >= 2 and len(verdicts) == 1 and verdicts <= set(CHANGED):
        (verdict,) = verdicts
        return (
            f"every allocator of the cell {verdict} in B: that is how drift of the machine between the "
            "runs looks, and absolute times cannot tell it from a change of the allocators"
        )
    points = [c.ratio.point for c in ([engine] if engine else []) + changes]
    if len(points) >= MOVERS and (all(p > 1 for p in points) or all(p < 1 for p in points)):
        way = "slower" if points[0] > 1 else "faster"
        return (
            f"the machine drifted between the runs: every allocator{' and the dry variant' if engine else ''} "
            f"ran {way} in B (ratios {min(points):.3f} to {max(points):.3f})"
        )
    return None
