"""Per-cell memory and resource table: peak live bytes against peak RSS,
page faults, CPU time, and a sparkline of RSS over time."""

from hab.analysis.run import CellResult
from hab.report import units
from hab.report.grid import Grid

_BARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 12
SPARK_COLUMN = "RSS over time"


def sparkline(values: list, width: int = SPARK_WIDTH) -> str:
    """`values` squeezed into `width` bars (the maximum of each stretch),
    scaled from zero to the series' maximum."""
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return _BARS[0] * min(width, len(values))
    n = min(width, len(values))
    bars = []
    for i in range(n):
        chunk = values[i * len(values) // n : (i + 1) * len(values) // n] or [values[-1]]
        bars.append(_BARS[min(len(_BARS) - 1, int(max(chunk) / top * (len(_BARS) - 1) + 0.5))])
    return "".join(bars)


def _bytes(e) -> str:
    return units.kib(e.point / 1024) if e is not None else "–"


def _factor(e) -> str:
    return f"{e.point:.2f}×" if e is not None else "–"


def _count(e) -> str:
    return f"{e.point:,.0f}" if e is not None else "–"


def _seconds(e) -> str:
    return f"{e.point / 1e6:.2f} s" if e is not None else "–"


def table(cell: CellResult) -> Grid | None:
    """The memory table of `cell`, or None when no allocator has figures."""
    rows = [r for r in cell.rows if r.ok and r.memory is not None]
    if not rows:
        return None
    names = ["memory", "peak live", "max RSS", "RSS/live", "net/live", "faults", "major", "user", "sys"]
    t = Grid([*names, SPARK_COLUMN], left=(0, len(names)), optional=(9, 6, 8, 7, 4, 5))
    for row in rows:
        m, ru = row.memory, row.rusage
        series = list(m.rss_series.rss_kib) if m.rss_series else []
        peak = f" {units.kib(max(series))}" if series else ""
        t.add(
            row.allocator,
            _bytes(m.peak_live_bytes),
            _bytes(m.max_rss_bytes),
            _factor(m.rss_per_live),
            _factor(m.net_rss_per_live),
            _count(ru.get("minor_faults")),
            _count(ru.get("major_faults")),
            _seconds(ru.get("user_us")),
            _seconds(ru.get("system_us")),
            sparkline(series) + peak,
        )
    return t
