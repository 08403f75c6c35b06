"""Thread-scaling tables: throughput per thread count, speedup over the
smallest count with its interval, efficiency, and collapse flags."""

from hab.analysis.scaling import Group
from hab.records.target import NATIVE
from hab.records.workload import WorkloadInfo
from hab.report import units
from hab.report.grid import Grid
from hab.suite import values


def heading(group: Group, workloads: dict[str, WorkloadInfo]) -> str:
    shown = values.show_params(workloads.get(group.workload), group.params)
    threads = ", ".join(str(t) for t in group.threads)
    where = f"  on {group.target}" if group.target != NATIVE else ""
    return f"scaling {group.workload}  {shown}  threads {threads}{where}"


def table(group: Group) -> Grid:
    base = group.threads[0]
    names = ["allocator"]
    for n in group.threads:
        names.append(f"{n} thr")
        if n != base:
            names += [f"speedup {n}/{base}", "eff"]
    effs = [i for i, name in enumerate(names) if name == "eff"]
    rates = [i for i, name in enumerate(names) if name.endswith(" thr")][1:]
    t = Grid(names + ["collapse"], left=(0, len(names)), optional=tuple(effs + rates))
    for curve in group.curves:
        cols, collapses = [], []
        for p in curve.points:
            cols.append(units.rate(p.allocations_per_s.point, ""))
            if p.threads != base:
                s = p.speedup
                cols += [f"{s.point:.2f}× ({s.lower:.2f}–{s.upper:.2f})", f"{p.efficiency:.0%}"]
            if p.collapse:
                collapses.append(f"{p.threads}{'*' if p.significant else ''}")
        t.add(curve.allocator, *cols, ", ".join(collapses))
    return t
