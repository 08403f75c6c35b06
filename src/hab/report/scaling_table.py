"""Thread-scaling tables: throughput per thread count, speedup over the
smallest count with its interval, efficiency, and collapse flags."""

from rich.table import Table

from hab.analysis.scaling import Group
from hab.records.target import NATIVE
from hab.records.workload import WorkloadInfo
from hab.report import units
from hab.report.layout import plain_table
from hab.suite import values


def heading(group: Group, workloads: dict[str, WorkloadInfo]) -> str:
    shown = values.show_params(workloads.get(group.workload), group.params)
    threads = ", ".join(str(t) for t in group.threads)
    where = f"  on {group.target}" if group.target != NATIVE else ""
    return f"scaling {group.workload}  {shown}  threads {threads}{where}"


def table(group: Group) -> Table:
    t = plain_table()
    t.add_column("allocator", no_wrap=True)
    base = group.threads[0]
    for n in group.threads:
        t.add_column(f"{n} thr", justify="right", no_wrap=True)
        if n != base:
            t.add_column(f"speedup {n}/{base}", justify="right", no_wrap=True)
            t.add_column("eff", justify="right", no_wrap=True)
    t.add_column("collapse", no_wrap=True)
    for curve in group.curves:
        cols, collapses = [], []
        for p in curve.points:
            cols.append(units.rate(p.allocations_per_s.point, ""))
            if p.threads != base:
                s = p.speedup
                cols += [f"{s.point:.2f}× ({s.lower:.2f}–{s.upper:.2f})", f"{p.efficiency:.0%}"]
            if p.collapse:
                collapses.append(f"{p.threads}{'*' if p.significant else ''}")
        t.add_row(curve.allocator, *cols, ", ".join(collapses))
    return t
