"""Memory, latency and scaling analysis on made-up inputs with known
answers: overhead ratios, merged HDR histograms, thread-scaling groups and
the RSS sparkline."""

import pytest
from hdrh.histogram import HdrHistogram

from hab.analysis import latency, memory, scaling
from hab.records.plan import Cell, Unit
from hab.records.unit import LatencyRecord, Live, OpLatency, RssSeries, Rusage, UnitRecord, Work
from hab.records.workload import ParamInfo, WorkloadInfo
from hab.report.memory_table import sparkline

UNIT = Unit("c00", "x", 0)


def _unit(live, start_kib, rss_kib, series=None):
    return UnitRecord(UNIT, None, live=Live(live, start_kib), rusage=Rusage(max_rss_kib=rss_kib), rss=series)


def test_memory_overhead_is_peak_rss_over_peak_live_per_process():
    series = RssSeries(10, (0, 10, 20), (100, 900, 1000))
    m = memory.summarise([_unit(1 << 20, 1024, 2048, series), _unit(1 << 20, 1024, 4096)], 0.95)
    assert m.max_rss_bytes.point == 3072 * 1024
    assert m.rss_per_live.point == pytest.approx((2.0 + 4.0) / 2)
    assert m.net_rss_per_live.point == pytest.approx((1.0 + 3.0) / 2)
    assert m.rss_per_live.lower < m.rss_per_live.point < m.rss_per_live.upper
    assert m.rss_series == series


def test_memory_figures_that_do_not_vary_are_exact_and_missing_ones_are_none():
    m = memory.summarise([_unit(1000, None, 8, None)] * 3, 0.95)
    assert m.peak_live_bytes.exact and m.peak_live_bytes.point == 1000
    assert m.rss_per_live.exact and m.rss_per_live.point == pytest.approx(8 * 1024 / 1000)
    assert m.net_rss_per_live is None and m.rss_series is None
    empty = memory.summarise([_unit(0, None, 8)], 0.95)
    assert empty.rss_per_live is None  # no live bytes: no ratio, no division by zero


def _encoded(values):
    h = HdrHistogram(1, 60_000_000_000, 3)
    for v in values:
        h.record_value(v)
    return h.encode().decode() if isinstance(h.encode(), bytes) else h.encode()


def _latency(timer_p50, *ops):
    return UnitRecord(
        UNIT,
        None,
        latency=LatencyRecord(
            4,
            {"min_ns": 1, "p50_ns": timer_p50, "p99_ns": 99},
            tuple(OpLatency(op, 0, {}, _encoded(values)) for op, values in ops),
        ),
    )


def test_latency_histograms_of_all_processes_are_merged_before_percentiles():
    a = _latency(20, ("alloc", range(1, 1001)))
    b = _latency(30, ("alloc", [100_000] * 1000), ("free", [50]))
    merged = latency.merge([a, b, UnitRecord(UNIT, None)])
    alloc, free = merged.ops
    assert (alloc.op, alloc.count, free.op, free.count) == ("alloc", 2000, "free", 1)
    assert alloc.percentiles["p50"] == pytest.approx(1000, rel=0.002)
    assert alloc.percentiles["p90"] == pytest.approx(100_000, rel=0.002)
    assert alloc.max == pytest.approx(100_000, rel=0.002)
    assert merged.every == 4 and merged.timer_ns in (20.0, 30.0)
    assert latency.merge([UnitRecord(UNIT, None)]) is None


class _Row:
    def __init__(self, allocator, point, allocations, spread=0.01):
        import numpy as np

        from hab.stats.bootstrap import Estimate

        self.allocator, self.ok = allocator, True
        self.work = Work(allocations, None)
        self.typical = Estimate(point, point * (1 - spread), point * (1 + spread), point * spread / 2, 0.95)
        self.dist = np.random.default_rng(int(point)).normal(point, point * spread / 2, 4000)
        rate = allocations * 1e9 / point
        self.allocations_per_s = Estimate(rate, rate, rate, 0.0, 0.95)


class _CellResult:
    def __init__(self, cell, rows, metric="time"):
        self.cell, self.rows, self.metric = cell, rows, metric


WORKLOADS = {
    "rayon_boxes": WorkloadInfo(
        "rayon_boxes", "", True, (ParamInfo("tasks", "int", "", "2*threads"), ParamInfo("max_size", "size", "", 1))
    )
}


def test_scaling_groups_cells_that_differ_only_in_threads_and_flags_collapse():
    cells = []
    # twice the tasks at twice the threads (the per-thread default): same key.
    for threads, fast, slow in ((1, 1000.0, 1000.0), (2, 1100.0, 3000.0)):
        cell = Cell(f"c{threads}", "rayon_boxes", {"max_size": 64, "tasks": 2 * threads}, threads)
        cells.append(
            _CellResult(cell, [_Row("scales", fast, 100 * 2 * threads), _Row("collapses", slow, 100 * 2 * threads)])
        )
    other = Cell("c9", "rayon_boxes", {"max_size": 128, "tasks": 2}, 1)
    cells.append(_CellResult(other, [_Row("scales", 10.0, 100)]))
    (group,) = scaling.groups(cells, ["scales", "collapses"], 0.95, WORKLOADS)
    assert group.threads == [1, 2] and group.params == {"max_size": 64}
    scales, collapses = group.curves
    s2 = scales.points[1]
    assert s2.speedup.point == pytest.approx(2 * 1000 / 1100)  # twice the work in 1.1x the time
    assert s2.efficiency == pytest.approx(s2.speedup.point / 2)
    assert not s2.collapse and not s2.significant
    c2 = collapses.points[1]
    # twice the work in 3x the time: the speedup interval lies wholly below 1
    assert c2.speedup.point == pytest.approx(2 / 3) and c2.speedup.upper < 1
    assert c2.collapse and c2.significant
    assert scales.points[0].speedup.point == 1.0 and scales.points[0].speedup.exact
    # counts add every thread's work, whatever ran at once: no scaling group
    counted = [_CellResult(c.cell, c.rows, "instructions") for c in cells]
    assert scaling.groups(counted, ["scales", "collapses"], 0.95, WORKLOADS) == []


def test_an_explicit_task_count_keeps_cells_apart_from_the_per_thread_default():
    a = _CellResult(Cell("c0", "rayon_boxes", {"tasks": 8}, 1), [_Row("x", 1.0, 8)])
    b = _CellResult(Cell("c1", "rayon_boxes", {"tasks": 4}, 2), [_Row("x", 1.0, 4)])  # the default at 2 threads
    assert scaling.groups([a, b], ["x"], 0.95, WORKLOADS) == []


def test_sparkline_scales_to_the_maximum_and_squeezes_long_series():
    assert sparkline([0, 50, 100]) == "▁▅█"
    long = sparkline(list(range(1000)), width=10)
    assert len(long) == 10 and long[-1] == "█" and long[0] == "▂"  # each bar: the maximum of its stretch
    assert sparkline([]) == ""


def test_anomalies_flag_a_slow_twin_rss_below_live_and_a_dry_share_above_one():
    from hab.analysis import anomalies
    from hab.analysis.memory import Memory
    from hab.analysis.run import CellResult, Row
    from hab.records.plan import Cell
    from hab.stats.bootstrap import Estimate
    from hab.stats.ratio import LogRatio

    def est(x):
        return Estimate(x, x * 0.9, x * 1.1, x * 0.05, 0.95)

    def row(name, ns, rss_per_live=2.0, share=0.3):
        memory = Memory(est(1e6), est(1e6 * rss_per_live), est(rss_per_live), None, None)
        share_ratio = LogRatio(est(share), 0.05, 10.0, "paired")
        return Row(name, 3, [], 30, "flat", {"mean": est(ns)}, "mean", memory=memory, engine_share=share_ratio)

    rows = [row("system", 100.0), row("jemalloc", 110.0, rss_per_live=0.4), row("jemalloc_debian", 2390.0)]
    rows += [row("mimalloc", 90.0, share=1.3), row("mimalloc_debian", 120.0)]
    found = anomalies.of_cell(CellResult(Cell("c00", "rayon_boxes", {}, 2), "system", rows, None))
    messages = {(a.allocator, a.message.split(":")[0]) for a in found}
    assert messages == {
        ("jemalloc", "RSS is 0.40x the live bytes"),
        ("jemalloc_debian", "21.7x the time of its twin build jemalloc"),
        ("mimalloc", "the dry variant took 130% of its time"),
    }
