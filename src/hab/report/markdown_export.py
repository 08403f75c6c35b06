"""`hab export markdown`: the run's tables as GitHub-flavoured Markdown, to
paste into a pull request or an issue."""

from hab.analysis.run import RunResult
from hab.records.plan import TIME
from hab.records.run import RunMeta
from hab.report import allocator_table, memory_table, run_table, scaling_table
from hab.report.grid import markdown


def render(result: RunResult, meta: RunMeta) -> str:
    conf = result.settings.confidence
    parts = [f"### hab run {meta.id}", "", *[f"- {line.strip()}" for line in run_table.run_heading(meta, result)], ""]
    for target in dict.fromkeys(c.cell.target for c in result.cells):
        parts.append(markdown(run_table.summary_grid(result, target)))
    with_target = run_table.has_guests(result.cells)
    for cell in result.cells:
        parts += [
            f"#### {run_table.heading(cell, meta.workloads, with_target)}",
            "",
            markdown(run_table.cell_grid(cell, conf)),
        ]
        notes = [n.strip() for n in run_table.notes(cell, meta.precision.target if meta.precision else None)]
        parts += [*[f"- {n}" for n in notes], ""] if notes else []
        memory = memory_table.table(cell)
        if memory is not None:
            parts.append(markdown(memory.drop(memory_table.SPARK_COLUMN)))
    for group in result.scaling:
        parts += [f"#### {scaling_table.heading(group, meta.workloads)}", "", markdown(scaling_table.table(group))]
    allocators = allocator_table.table(meta)
    if allocators is not None:
        parts += ["#### Allocators", "", markdown(allocators)]
    ref = result.reference or "the reference"
    what = (
        "time: typical time"
        if result.metric == TIME
        else "instr/iter: typical instructions (Valgrind natively, QEMU's icount in guests)"
    )
    parts.append(
        f"<sub>{what} per iteration with its {conf:.0%} interval (hierarchical bootstrap over engine "
        f"processes); vs {ref}: ratio to {ref} paired by round. Written by hab.</sub>"
    )
    return "\n".join(parts).rstrip() + "\n"
