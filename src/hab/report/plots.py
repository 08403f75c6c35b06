"""The HTML report's figures: matplotlib drawings returned as inline SVG.

Static SVG keeps a report one offline file with no script to run, prints
and zooms without blur, and costs no JavaScript library; text stays text
(`svg.fonttype = none`), so the browser's own fonts draw it. Drawings are
deterministic: fixed jitter, no dates and a fixed id salt in the SVG, so
the same stored run gives the same file.
"""

import io
import math
import re

import numpy as np
from matplotlib import rcParams
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from hab.analysis.comparison import Comparison
from hab.analysis.run import CellResult, SummaryRow
from hab.analysis.scaling import Group
from hab.records.plan import TIME
from hab.report.units import count_unit, time_unit
from hab.stats.change import Verdict

rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "hab", "font.size": 9, "axes.titlesize": 10})

#: Colours of verdicts, shared with the page's stylesheet.
VERDICT_COLOURS = {
    Verdict.IMPROVED: "#1a7f37",
    Verdict.REGRESSED: "#cf222e",
    Verdict.NO_CHANGE: "#57606a",
    Verdict.INCONCLUSIVE: "#bf8700",
    Verdict.REFERENCE: "#8c959f",
}
_POINT, _SAMPLE, _INTERVAL = "#0969da", "#8c959f", "#24292f"
_WIDTH = 9.5  # inches: the page's text column (912 CSS pixels at 72 points per inch)


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)  # RDF boilerplate
    return text[text.index("<svg") :]  # no XML prolog inside HTML


def _height(rows: int) -> float:
    return 0.8 + 0.3 * max(rows, 1)


def _jitter(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.22, 0.22, n)


def _lines_from_zero(fig: Figure, ax) -> str:
    """A plot of lines per allocator, finished: y from zero, a light grid, the legend."""
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    return _svg(fig)


def cell_times(cell: CellResult, samples: dict[str, list[np.ndarray]]) -> str | None:
    """Per allocator: every sample's time per iteration (grey), each engine
    process's typical time (blue) and the typical time with its interval."""
    rows = [r for r in cell.rows if r.ok and r.estimates]
    if not rows:
        return None
    highest = max(max(r.process_typicals or [r.estimates[r.typical_name].upper]) for r in rows)
    if cell.metric == TIME:
        scale, unit = time_unit(highest)
        what = f"time per iteration ({unit})"
    else:
        scale, unit = count_unit(highest)
        what = f"{unit}instructions per iteration"
    fig = Figure(figsize=(_WIDTH, _height(len(rows))), layout="constrained")
    ax = fig.add_subplot()
    for y, row in enumerate(rows):
        for k, values in enumerate(samples.get(row.allocator, [])):
            ax.scatter(values / scale, y + _jitter(len(values), 1000 * y + k), s=4, color=_SAMPLE, alpha=0.5, lw=0)
        typicals = np.asarray(row.process_typicals) / scale
        ax.scatter(typicals, np.full(len(typicals), y), s=18, color=_POINT, zorder=3, lw=0)
        est = row.estimates[row.typical_name]
        ax.plot([est.lower / scale, est.upper / scale], [y + 0.32, y + 0.32], color=_INTERVAL, lw=2.5)
        ax.plot([est.point / scale], [y + 0.32], "|", color=_INTERVAL, ms=9, mew=2)
    ax.set_yticks(range(len(rows)), [r.allocator for r in rows])
    ax.invert_yaxis()
    values = [v for r in rows for v in r.process_typicals] or [1.0]
    if max(values) / max(min(values), 1e-12) > 20:
        ax.set_xscale("log")
    ax.set_xlabel(f"{what}: samples, processes, typical value with its interval")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def _forest(ax, labels: list[str], estimates: list, colours: list[str]) -> None:
    for y, (est, colour) in enumerate(zip(estimates, colours, strict=True)):
        if est is None:
            continue
        ax.plot([est.lower, est.upper], [y, y], color=colour, lw=2.5, solid_capstyle="butt")
        ax.plot([est.point], [y], "o", color=colour, ms=5)
    ax.axvline(1.0, color=_INTERVAL, lw=0.8)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    _ratio_axis(ax)


def _ratio_axis(ax) -> None:
    """A log axis of ratios labelled as plain factors (0.8×, 1×, 1.25×)."""
    ax.set_xscale("log")
    low, high = ax.get_xlim()
    subs = (1.0, 2.0, 5.0) if high / low > 6 else (1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 8.0)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_minor_locator(LogLocator(base=10, subs=np.arange(1, 10) / 1.0))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    ax.grid(axis="x", alpha=0.3, which="major")


def cell_ratios(cell: CellResult) -> str | None:
    """Each allocator's time relative to the reference, with its interval."""
    rows = [r for r in cell.rows if r.ratio is not None and r.allocator != cell.reference]
    if not rows:
        return None
    fig = Figure(figsize=(_WIDTH, _height(len(rows))), layout="constrained")
    ax = fig.add_subplot()
    _forest(ax, [r.allocator for r in rows], [r.ratio.estimate for r in rows], [_POINT] * len(rows))
    ax.set_xlabel(f"time relative to {cell.reference} (log scale; below 1 is faster)")
    return _svg(fig)


def summary(rows: list[SummaryRow], reference: str) -> str | None:
    """The summary score: each allocator's geometric mean ratio over the cells."""
    rows = [r for r in rows if r.geomean_ratio is not None and r.allocator != reference]
    if not rows:
        return None
    fig = Figure(figsize=(_WIDTH, _height(len(rows))), layout="constrained")
    ax = fig.add_subplot()
    labels = [f"{r.allocator} ({r.target})" if r.target != "native" else r.allocator for r in rows]
    _forest(ax, labels, [r.geomean_ratio for r in rows], [_POINT] * len(rows))
    ax.set_xlabel(f"geometric mean over cells of the time relative to {reference} (log scale)")
    return _svg(fig)


def scaling(group: Group) -> str:
    """Throughput against threads with intervals; collapses marked."""
    fig = Figure(figsize=(_WIDTH, 3.2), layout="constrained")
    ax = fig.add_subplot()
    dodge = 0.02 * (max(group.threads) - min(group.threads) or 1)
    for k, curve in enumerate(group.curves):
        shift = (k - (len(group.curves) - 1) / 2) * dodge  # side by side, so that intervals do not hide each other
        threads = [p.threads + shift for p in curve.points]
        rate = np.array([p.allocations_per_s.point for p in curve.points]) / 1e6
        low = rate - np.array([p.allocations_per_s.lower for p in curve.points]) / 1e6
        high = np.array([p.allocations_per_s.upper for p in curve.points]) / 1e6 - rate
        line = ax.errorbar(threads, rate, yerr=[low, high], marker="o", ms=4, capsize=3, label=curve.allocator)
        fallen = [(p.threads + shift, p.allocations_per_s.point / 1e6) for p in curve.points if p.collapse]
        if fallen:
            ax.plot(*zip(*fallen, strict=True), "x", ms=10, mew=2, color=line[0].get_color())
    ax.set_xticks(group.threads)
    ax.set_xlabel("threads (x: throughput below the smallest count's, a collapse)")
    ax.set_ylabel("million allocations / s")
    return _lines_from_zero(fig, ax)


def latency(cell: CellResult, op: str = "alloc") -> str | None:
    """Percentile curves of one operation's latency, HDR style: the tail to the right."""
    curves = []
    for row in cell.rows:
        found = [o for o in (row.latency.ops if row.latency else []) if o.op == op and o.count]
        if found:
            curves.append((row.allocator, found[0]))
    if not curves:
        return None
    fig = Figure(figsize=(_WIDTH, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for allocator, o in curves:
        qs = [float(name[1:]) for name in o.percentiles]
        x = [1 / (1 - q / 100) for q in qs]
        line = ax.plot(x, list(o.percentiles.values()), marker="o", ms=3, label=allocator)
        ax.plot([x[-1] * 10], [o.max], "^", color=line[0].get_color(), ms=5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1 / (1 - q / 100) for q in (50, 90, 99, 99.9)]
    ax.set_xticks(ticks + [ticks[-1] * 10], ["p50", "p90", "p99", "p99.9", "max"])
    ax.set_ylabel(f"{op} latency (ns)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncols=2)
    return _svg(fig)


def rss(cell: CellResult) -> str | None:
    """Resident memory over time of one process per allocator."""
    series = [(r.allocator, r.memory.rss_series) for r in cell.rows if r.memory and r.memory.rss_series]
    series = [(a, s) for a, s in series if len(s.t_ms) > 1]
    if not series:
        return None
    fig = Figure(figsize=(_WIDTH, 3.0), layout="constrained")
    ax = fig.add_subplot()
    for allocator, s in series:
        ax.plot(np.asarray(s.t_ms) / 1000, np.asarray(s.rss_kib) / 1024, lw=1.2, label=allocator)
    ax.set_xlabel("seconds since the process started")
    ax.set_ylabel("RSS (MiB)")
    return _lines_from_zero(fig, ax)


def changes(comparison: Comparison, threshold: float) -> str | None:
    """Every compared (cell, allocator): B/A with its interval, coloured by verdict,
    with the noise band shaded."""
    entries = [
        (f"{cc.cell.cell.id} {rc.allocator}", rc.change)
        for cc in comparison.cells
        for rc in cc.rows
        if rc.change is not None and math.isfinite(rc.change.ratio.point)
    ]
    if not entries:
        return None
    fig = Figure(figsize=(_WIDTH, _height(len(entries))), layout="constrained")
    ax = fig.add_subplot()
    ax.axvspan(1 - threshold, 1 + threshold, color="#d0d7de", alpha=0.5, lw=0)
    colours = [VERDICT_COLOURS[c.verdict] for _, c in entries]
    _forest(ax, [label for label, _ in entries], [c.ratio for _, c in entries], colours)
    ax.set_xlabel("time B / A (log scale; shaded: the noise band)")
    return _svg(fig)
