"""The text `hab compare` prints."""

import io
import json

from hab.analysis.comparison import Comparison
from hab.records.plan import TIME
from hab.records.run import RunMeta
from hab.report import units
from hab.report.grid import Grid, trimmed
from hab.report.layout import drops_for, left_out_line, print_fitted, report_console, say
from hab.report.run_table import has_guests, heading
from hab.stats.change import Verdict

#: The `format` of `hab compare --json` (src/hab/report/schemas/comparison.schema.json).
JSON_FORMAT = {"name": "hab-compare", "version": 1}
VERDICT_ORDER = (Verdict.REGRESSED, Verdict.IMPROVED, Verdict.NO_CHANGE, Verdict.INCONCLUSIVE)


def _change(x: float) -> str:
    return f"{(x - 1) * 100:+.2f}%"


def cell_grid(cell, conf: float) -> Grid:
    """One cell's changes: A's and B's times, the change with its interval, the verdict."""
    names = ["allocator", "A", "B", "change", f"{conf:.0%} CI", "processes", "verdict"]
    grid = Grid(names, left=(0, 6), optional=(5, 1, 2))
    for r in cell.rows:
        if r.change is None:
            failed = "A" if not r.old.ok else "B" if not r.new.ok else None
            why = f"failed in {failed}" if failed else "no round with the reference on both sides"
            grid.add(r.allocator, "", "", "", "", "", why, tag="failed")
            continue
        ch = r.change
        grid.add(
            r.allocator,
            units.measure(r.old.typical.point, cell.cell.metric),
            units.measure(r.new.typical.point, cell.cell.metric),
            _change(ch.ratio.point),
            f"{_change(ch.ratio.lower)} – {_change(ch.ratio.upper)}",
            f"{ch.processes[0]} / {ch.processes[1]}",
            ch.verdict,
            tag=str(ch.verdict),
        )
    return grid


def reasons(cell) -> list[str]:
    """Why each inconclusive pair of a cell could not be decided."""
    return [f"  ? {r.allocator}: {r.change.reason}" for r in cell.rows if r.change and r.change.reason]


def summary_grid(comp: Comparison) -> Grid:
    """Per allocator: the geometric mean change over the cells and the verdicts counted."""
    conf = comp.settings.confidence
    grid = Grid(
        ["allocator", "cells", "geomean B/A", f"{conf:.0%} CI", *VERDICT_ORDER],
        title="Summary (B relative to A)",
        optional=(6, 5, 1),
    )
    for s in comp.summary:
        g = s.geomean_ratio
        geo = (_change(g.point), f"{_change(g.lower)} – {_change(g.upper)}") if g else ("–", "")
        grid.add(s.allocator, str(s.compared), *geo, *(str(s.verdicts.get(v, 0)) for v in VERDICT_ORDER))
    return grid


def _on(target: str) -> str:
    return f" on {target}" if target else ""


def _counted_by(methods: tuple[str, str] | None, side: int) -> str:
    return f", counted by {methods[side]}" if methods else ""


def _method_warnings(methods: tuple[str, str] | None) -> list[str]:
    if not methods or methods[0] == methods[1]:
        return []
    return [
        f"WARNING: counts of different methods ({methods[0]} in A, {methods[1]} in B): Valgrind counts the "
        "process's user-space instructions, QEMU's icount every instruction of the guest (its kernel, "
        "interrupts, all vCPUs); the change includes that difference (docs/metrics.md)"
    ]


def _target_warnings(targets, old_meta: RunMeta, new_meta: RunMeta) -> list[str]:
    """Side by side targets: say what the ratio measures when a side was emulated."""
    if not targets:
        return []
    if new_meta.plan.metric != TIME:
        return [f"change = {targets[1]} relative to {targets[0]} for the same cell and allocator"]
    a, b = old_meta.targets.get(targets[0]), new_meta.targets.get(targets[1])
    emulated = [t.name for t in (a, b) if t is not None and t.emulated]
    if not emulated:
        return [f"change = {targets[1]} relative to {targets[0]} for the same cell and allocator"]
    return [
        f"WARNING: {', '.join(emulated)} ran under TCG (an emulated CPU): the change mostly measures the "
        "emulator; compare allocators within a target, or run both sides under KVM"
    ]


def library_changes(old_meta: RunMeta, new_meta: RunMeta) -> list[str]:
    """One line per allocator whose library reported another version or
    build in B than in A: a change the comparison then measures too."""
    lines = []
    for name, new in new_meta.allocators.items():
        old = old_meta.allocators.get(name)
        a, b = old.library if old else None, new.library
        if a is None or b is None or a == b or a.source != b.source:
            continue  # unknown on a side, or told by different witnesses (the library, cargo)
        if (a.name, a.version) != (b.name, b.version):
            lines.append(f"NOTE: {name} is another build in B: {a.name} {a.version} in A, {b.name} {b.version} in B")
            continue
        changed = sorted(k for k in {*a.config, *b.config} if a.config.get(k) != b.config.get(k))
        if not changed:
            continue
        shown = ", ".join(f"{k} {a.config.get(k, '-')} -> {b.config.get(k, '-')}" for k in changed)
        lines.append(f"NOTE: {name}'s library was built or set up differently in B: {shown}")
    return lines


def kernel_changes(old_meta: RunMeta, new_meta: RunMeta) -> list[str]:
    """A line per target whose Hermit kernels differ between A and B (by
    content): a change the comparison then measures too."""
    lines = []
    for name, new in new_meta.targets.items():
        old = old_meta.targets.get(name)
        if old is None or not old.kernels or not new.kernels:
            continue
        if [(k.label, k.content) for k in old.kernels] != [(k.label, k.content) for k in new.kernels]:
            a = "; ".join(k.describe() for k in old.kernels)
            b = "; ".join(k.describe() for k in new.kernels)
            lines.append(f"NOTE: {name} ran other Hermit kernels in B: A {a}; B {b}")
    return lines


def heading_lines(comp: Comparison, old_meta: RunMeta, new_meta: RunMeta) -> list[str]:
    """What is compared with what, in which mode, and by which rule."""
    s = comp.settings
    target_a, target_b = s.targets or ("", "")
    lines = [
        f"A: run {old_meta.id} ({old_meta.created}){_on(target_a)}{_counted_by(s.methods, 0)}",
        f"B: run {new_meta.id} ({new_meta.created}){_on(target_b)}{_counted_by(s.methods, 1)}",
        *_target_warnings(s.targets, old_meta, new_meta),
        *_method_warnings(s.methods),
        *library_changes(old_meta, new_meta),
        *kernel_changes(old_meta, new_meta),
    ]
    what = "time" if new_meta.plan.metric == TIME else "instruction count"
    mode = (
        f"relative to {s.relative_to}: each allocator's {what} over {s.relative_to}'s in the same round of its run"
        if s.relative_to
        else f"absolute: typical {what}s"
        + (
            ", verdicts inconclusive in cells where the machine drifted (--no-drift-guard keeps them)"
            if s.drift_guard
            else ""
        )
    )
    lines += [
        f"mode: {mode}",
        f"change = B/A - 1 with its {s.confidence:.0%} interval (Welch t over engine processes); verdict: "
        f"regressed or improved when the interval lies wholly beyond ±{s.threshold:.1%}, no change when wholly "
        "inside, else inconclusive",
    ]
    if s.relative_to:
        lines.append(
            f"{s.relative_to} is the reference: its own (raw) change is what the machine did between "
            "the runs (--absolute compares raw times)"
        )
    return lines


def render(comp: Comparison, old_meta: RunMeta, new_meta: RunMeta, width: int, colour: bool = False) -> str:
    """The comparison as text, `width` columns wide (`colour`: verdicts in colour)."""
    buffer = io.StringIO()
    console = report_console(buffer, width, colour)
    left_out: set[str] = set()
    for line in heading_lines(comp, old_meta, new_meta):
        say(console, line)
    s = comp.settings
    workloads = new_meta.workloads
    drops = drops_for([cell_grid(c, s.confidence) for c in comp.cells], width)
    for cell in comp.cells:
        console.print()
        with_target = s.targets is None and has_guests(c.cell for c in comp.cells)
        say(console, heading(cell.cell, workloads, with_target))
        print_fitted(console, cell_grid(cell, s.confidence), left_out, drops)
        for line in reasons(cell):
            say(console, line)
    for line in unmatched_lines(comp):
        console.print()
        say(console, line)
    if comp.summary:
        console.print()
        print_fitted(console, summary_grid(comp), left_out)
    console.print()
    for line in left_out_line(left_out, width):
        say(console, line)
    say(console, count_line(comp))
    return trimmed(buffer.getvalue())


def unmatched_lines(comp: Comparison) -> list[str]:
    """The (cell, allocator) pairs only one side has."""
    return [
        f"{label}: " + ", ".join(f"{c} {a}" for c, a in pairs)
        for label, pairs in (("only in A", comp.only_old), ("only in B", comp.only_new))
        if pairs
    ]


def count_line(comp: Comparison) -> str:
    drifted = comp.slower - comp.regressions
    return f"{comp.regressions} regressed, {comp.count({Verdict.INCONCLUSIVE})} inconclusive" + (
        f" ({drifted} of them slower beyond the noise band where the machine drifted: "
        "--fail-on-regression fails on them)"
        if drifted
        else ""
    )


def render_json(comp: Comparison, old_meta: RunMeta, new_meta: RunMeta) -> str:
    doc = {
        "format": JSON_FORMAT,
        "a": old_meta.id,
        "b": new_meta.id,
        "settings": comp.settings.to_dict(),
        "metric": new_meta.plan.metric,
        "cells": [
            {
                "id": c.cell.cell.id,
                "workload": c.cell.cell.workload,
                "params": c.cell.cell.params,
                "threads": c.cell.cell.threads,
                "target": c.cell.cell.target,
                "results": [
                    {
                        "allocator": r.allocator,
                        "a": r.old.typical.to_dict() if r.old.ok else None,
                        "b": r.new.typical.to_dict() if r.new.ok else None,
                        "change": r.change.to_dict() if r.change else None,
                    }
                    for r in c.rows
                ],
            }
            for c in comp.cells
        ],
        "only_in_a": comp.only_old,
        "only_in_b": comp.only_new,
        "summary": [
            {
                "allocator": s.allocator,
                "cells": s.compared,
                "geomean_ratio": s.geomean_ratio.to_dict() if s.geomean_ratio else None,
                "verdicts": s.verdicts,
            }
            for s in comp.summary
        ],
        "regressed": comp.regressions,
        "slower": comp.slower,
        "inconclusive": comp.count({Verdict.INCONCLUSIVE}),
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
