"""Figures that deserve a second look before anyone quotes them: flagged in
the tables and the HTML report, never changed.

- the dry variant slower than an allocator (its share above 100%): the
  machine moved more than the allocator's own cost, which then cannot be
  read off;
- resident memory below the live bytes (RSS/live under 1): the workload's
  books count bytes that were never touched, so the ratio says little;
- an allocator many times slower than its twin build (`jemalloc_debian`
  against the `jemalloc` crate): usually a version or configuration
  difference, not the allocator's algorithm (docs/allocators.md);
- a (cell, allocator) many times slower than in the previous run on the
  same machine: something changed, in the allocator or on the machine.
"""

from dataclasses import dataclass, field

from hab.analysis.comparison import cell_key
from hab.analysis.run import CellResult, RunResult

#: A build this many times slower than its twin is flagged.
TWIN_FACTOR = 4.0
#: A time this many times the previous run's on the same machine is flagged.
EARLIER_FACTOR = 3.0
#: Name suffix of a Debian build whose twin is the crate of the bare name.
DEBIAN_SUFFIX = "_debian"


@dataclass(frozen=True)
class Anomaly:
    allocator: str
    message: str


@dataclass(frozen=True)
class Earlier:
    """The typical times of an earlier run on the same machine, by this
    run's cell id and allocator."""

    run_id: str
    times: dict[str, dict[str, float]] = field(default_factory=dict)


def earlier(now: RunResult, before: RunResult, run_id: str) -> Earlier:
    """`before`'s typical times for the cells `now` shares with it."""
    theirs = {cell_key(c.cell): c for c in before.cells}
    times = {}
    for c in now.cells:
        match = theirs.get(cell_key(c.cell))
        if match is not None:
            times[c.cell.id] = {r.allocator: r.typical.point for r in match.rows if r.ok and r.typical is not None}
    return Earlier(run_id, times)


def _twins(names: list[str]) -> list[tuple[str, str]]:
    """(Debian build, crate build) pairs among `names`."""
    bare = {n: n.removesuffix(DEBIAN_SUFFIX) for n in names if n.endswith(DEBIAN_SUFFIX)}
    return [(n, twin) for n, twin in bare.items() if twin in names]


def of_cell(cell: CellResult, before: Earlier | None = None) -> list[Anomaly]:
    """The anomalies of one cell, in row order (`before`: an earlier run on this machine)."""
    out = []
    rows = {r.allocator: r for r in cell.rows if r.ok and r.typical is not None}
    for row in rows.values():
        share = row.engine_share.estimate.point if row.engine_share else None
        if share is not None and share > 1:
            out.append(Anomaly(row.allocator, f"the dry variant took {share:.0%} of its time: the machine moved more"))
        m = row.memory
        if m is not None and m.rss_per_live is not None and m.rss_per_live.point < 1:
            out.append(
                Anomaly(row.allocator, f"RSS is {m.rss_per_live.point:.2f}x the live bytes: pages never touched")
            )
    then = before.times.get(cell.cell.id, {}) if before else {}
    for row in rows.values():
        if row.allocator in then and row.typical.point >= EARLIER_FACTOR * then[row.allocator]:
            factor = row.typical.point / then[row.allocator]
            out.append(Anomaly(row.allocator, f"{factor:.1f}x its time in run {before.run_id} on this machine"))
    for build, twin in _twins(list(rows)):
        factor = rows[build].typical.point / rows[twin].typical.point
        if factor >= TWIN_FACTOR or factor <= 1 / TWIN_FACTOR:
            why = "a version or configuration difference?"
            out.append(Anomaly(build, f"{factor:.1f}x the time of its twin build {twin}: {why}"))
    return out
