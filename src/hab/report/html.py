"""The HTML report of a run or of a comparison: one self-contained file.

Everything is inline (the stylesheet, the SVG figures from
`hab.report.plots`); there are no scripts, fonts or links to fetch, so the
file works offline and can be attached to an issue or a pull request. The
tables are the terminal's own ([`Grid`]s), the facts the terminal heading's
lines, so the two never disagree.
"""

from dataclasses import dataclass, field

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from hab import __version__
from hab.analysis.anomalies import Earlier
from hab.analysis.comparison import Comparison
from hab.analysis.run import CellResult, RunResult, measured
from hab.records.plan import TIME
from hab.records.run import RunMeta
from hab.report import (
    allocator_table,
    comparison_table,
    latency_table,
    memory_table,
    plots,
    run_table,
    scaling_table,
)
from hab.report.grid import Grid
from hab.store.runs import StoredRun

#: The file `hab run` writes into every run directory.
REPORT_FILE = "report.html"


@dataclass
class Part:
    """A table, a figure or a line of a section."""

    kind: str  # grid, figure or note
    grid: Grid | None = None
    name: str = ""
    svg: str = ""
    caption: str = ""
    text: str = ""


@dataclass
class Section:
    anchor: str
    heading: str
    lines: list[str] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)

    def table(self, grid: Grid | None) -> None:
        if grid is not None:
            self.parts.append(Part("grid", grid=grid))

    def figure(self, name: str, svg: str | None, caption: str) -> None:
        if svg is not None:
            self.parts.append(Part("figure", name=name, svg=svg, caption=caption))


def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("hab.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=False,
        keep_trailing_newline=True,
    )


def _samples(stored: StoredRun, cell: str) -> dict[str, list[np.ndarray]]:
    """The run's metric per iteration of every sample of `cell`, per allocator and process."""
    out: dict[str, list[np.ndarray]] = {}
    for unit in stored.units.values():
        if unit.unit.cell == cell and unit.ok and unit.samples.iters:
            values = measured(unit, stored.plan.metric)
            if values is not None:
                out.setdefault(unit.unit.allocator, []).append(values / np.asarray(unit.samples.iters, float))
    return out


def _cell_section(
    cell: CellResult, stored: StoredRun, result: RunResult, with_target: bool, before: Earlier | None
) -> Section:
    meta = stored.meta
    conf = result.settings.confidence
    section = Section(cell.cell.id, run_table.heading(cell, meta.workloads, with_target))
    what = "time" if cell.metric == TIME else "instructions"
    if cell.busy and cell.busy.reasons:
        section.lines.append(f"WARNING: busy while this cell ran: {'; '.join(cell.busy.reasons)}")
    section.table(run_table.cell_grid(cell, conf))
    target = meta.precision.target if meta.precision else None
    section.lines += [note.strip() for note in run_table.notes(cell, target, before)]
    section.figure(
        "times",
        plots.cell_times(cell, _samples(stored, cell.cell.id)),
        f"{what.capitalize()} per iteration: grey dots are samples, blue dots engine processes, the black bar the "
        f"typical value's {conf:.0%} interval.",
    )
    section.figure(
        "ratios",
        plots.cell_ratios(cell),
        f"{what.capitalize()} relative to {cell.reference} with {conf:.0%} intervals (paired by round).",
    )
    section.table(memory_table.table(cell))
    section.figure("rss", plots.rss(cell), "Resident memory of one engine process per allocator, sampled from /proc.")
    section.table(latency_table.table(cell))
    section.figure(
        "latency", plots.latency(cell), "Latency of single allocations by percentile (HDR histograms, log axes)."
    )
    note = latency_table.timer_note(cell)
    if note:
        section.parts.append(Part("note", text=note.strip()))
    return section


def run_report(result: RunResult, stored: StoredRun, before: Earlier | None = None) -> str:
    """The report of one analysed run (`before`: an earlier run on this machine, for the slowdown flags)."""
    meta = stored.meta
    with_target = run_table.has_guests(result.cells)
    sections = []
    summary = Section("summary", "Summary")
    for target in dict.fromkeys(c.cell.target for c in result.cells):
        summary.table(run_table.summary_grid(result, target))
    if result.reference:
        summary.figure(
            "summary",
            plots.summary(result.summary, result.reference),
            f"Geometric mean over the cells of each allocator's time relative to {result.reference}, "
            f"with its {result.settings.confidence:.0%} interval.",
        )
    sections.append(summary)
    sections += [_cell_section(c, stored, result, with_target, before) for c in result.cells]
    for i, group in enumerate(result.scaling):
        section = Section(f"scaling-{i}", scaling_table.heading(group, meta.workloads))
        section.table(scaling_table.table(group))
        section.figure("scaling", plots.scaling(group), "Allocations per second against threads, with intervals.")
        sections.append(section)
    allocators = Section("allocators", "Allocators")
    allocators.table(allocator_table.table(meta))
    if allocators.parts:
        sections.append(allocators)
    legend = run_table.legend(result.settings.confidence, result.reference or "reference", 100, None, result.metric)
    return _render(f"hab run {meta.id}", run_table.run_heading(meta, result), sections, legend, meta.id)


def comparison_report(comp: Comparison, old: RunMeta, new: RunMeta) -> str:
    """The report of a comparison of two runs (A = `old`, B = `new`)."""
    s = comp.settings
    facts = [
        *comparison_table.heading_lines(comp, old, new),
        *comparison_table.unmatched_lines(comp),
        comparison_table.count_line(comp),
    ]
    overview = Section("changes", "Changes")
    overview.figure(
        "changes",
        plots.changes(comp, s.threshold),
        "B/A for every compared cell and allocator with its interval, coloured by verdict; the shaded band is "
        f"the noise threshold (±{s.threshold:.1%}).",
    )
    if comp.summary:
        overview.table(comparison_table.summary_grid(comp))
    sections = [overview]
    with_target = s.targets is None and run_table.has_guests(c.cell for c in comp.cells)
    for cell in comp.cells:
        section = Section(cell.cell.cell.id, run_table.heading(cell.cell, new.workloads, with_target))
        section.table(comparison_table.cell_grid(cell, s.confidence))
        section.lines += [line.strip() for line in comparison_table.reasons(cell)]
        sections.append(section)
    return _render(f"hab compare {old.id} {new.id}", facts, sections, "", f"{old.id} and {new.id}")


def _render(title: str, facts: list[str], sections: list[Section], legend: str, source: str) -> str:
    toc = [(s.anchor, s.heading) for s in sections] if len(sections) > 2 else []
    template = _environment().get_template("report.html.j2")
    return template.render(
        title=title, facts=facts, sections=sections, toc=toc, legend=legend, source=source, version=__version__
    )
