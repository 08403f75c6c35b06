"""Figures that deserve a second look before anyone quotes them: flagged in
the tables and the HTML report, never changed.

- the dry variant slower than an allocator (its share above 100%): the
  machine moved more than the allocator's own cost, which then cannot be
  read off;
- resident memory below the live bytes (RSS/live under 1): the workload's
  books count bytes that were never touched, so the ratio says little;
- an allocator many times slower than its twin build (`jemalloc_debian`
  against the `jemalloc` crate): usually a version or configuration
  difference, not the allocator's algorithm (docs/allocators.md).
"""

from dataclasses import dataclass

from hab.analysis.run import CellResult

#: A build this many times slower than its twin is flagged.
TWIN_FACTOR = 4.0
#: Name suffix of a Debian build whose twin is the crate of the bare name.
DEBIAN_SUFFIX = "_debian"


@dataclass(frozen=True)
class Anomaly:
    allocator: str
    message: str


def _twins(names: list[str]) -> list[tuple[str, str]]:
    """(Debian build, crate build) pairs among `names`."""
    bare = {n: n.removesuffix(DEBIAN_SUFFIX) for n in names if n.endswith(DEBIAN_SUFFIX)}
    return [(n, twin) for n, twin in bare.items() if twin in names]


def of_cell(cell: CellResult) -> list[Anomaly]:
    """The anomalies of one cell, in row order."""
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
    for build, twin in _twins(list(rows)):
        factor = rows[build].typical.point / rows[twin].typical.point
        if factor >= TWIN_FACTOR or factor <= 1 / TWIN_FACTOR:
            why = "a version or configuration difference?"
            out.append(Anomaly(build, f"{factor:.1f}x the time of its twin build {twin}: {why}"))
    return out
