"""Did the machine drift between two runs? An absolute comparison divides
B's times by A's, so whatever the machine did between the runs (another
tenant starting or stopping, a slower host) lands in every ratio, and the
interval, made from the processes of each run, does not contain it. With
narrow intervals (`--precision`) that drift alone makes verdicts.

Two witnesses in a cell say that it did:
- the engine alone: the dry variant (the harness's loop without the
  allocator) changed beyond the noise band, its interval wholly outside;
- the allocators together: every allocator of the cell, two or more,
  was called changed in the same direction.

A drifted cell's absolute verdicts become inconclusive with the witness
as the reason. Relative comparisons need no guard: each round's ratio to
the reference divides the drift out. Counts (instructions) do not drift.
"""

from collections.abc import Callable

from hab.analysis.run import CellResult, Row
from hab.stats.change import Change, Verdict

CHANGED = (Verdict.IMPROVED, Verdict.REGRESSED)


def _share(ratio: float) -> str:
    return f"{ratio - 1:+.1%}"


def witness(
    old: CellResult, new: CellResult, changes: list[Change], dry_change: Callable[[Row, Row], Change]
) -> str | None:
    """Why the absolute `changes` of this cell (one per allocator) may be the
    machine's doing rather than the allocators', or None."""
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
    return None
