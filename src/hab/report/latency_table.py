"""Per-cell latency table (latency mode): percentiles of single allocator
operations per allocator, merged over engine processes."""

from hab.analysis.latency import PERCENTILES
from hab.analysis.run import CellResult
from hab.report import units
from hab.report.grid import Grid, optional


def table(cell: CellResult) -> Grid | None:
    """The latency table of `cell`, or None outside latency mode."""
    rows = [r for r in cell.rows if r.ok and r.latency is not None]
    if not rows:
        return None
    names = ["latency", "op", "timed", "mean", *(k for k, _ in PERCENTILES), "max"]
    t = Grid(names, left=(0, 1), optional=optional(names, ["timed", "mean", "p90", "max"]))
    for row in rows:
        for i, op in enumerate(row.latency.ops):
            t.add(
                row.allocator if i == 0 else "",
                op.op,
                f"{op.count:,}",
                units.duration(op.mean),
                *(units.duration(op.percentiles[k]) for k, _ in PERCENTILES),
                units.duration(op.max),
            )
    return t


def timer_note(cell: CellResult) -> str | None:
    """The line stating what the timer itself costs."""
    rows = [r for r in cell.rows if r.ok and r.latency is not None]
    if not rows:
        return None
    timer = sorted(r.latency.timer_ns for r in rows)[len(rows) // 2]
    every = rows[0].latency.every
    return (
        f"  one allocator call in {every} timed; the timer (two clock reads) costs about "
        f"{units.duration(timer)}, included above, not subtracted"
    )
