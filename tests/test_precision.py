"""Adaptive precision: rounds of extra engine processes until intervals
are narrow enough or the budget is spent; misses are flagged."""

import json
import math
import random

import pytest

from conftest import hab
from hab.analysis import run as analysis
from hab.store import runs
from hab.suite import adaptive
from synthetic import write_run


def test_parse_precision_and_duration():
    assert adaptive.parse_precision("1%") == pytest.approx(0.01)
    assert adaptive.parse_precision("0.02") == 0.02
    assert [adaptive.parse_duration(t) for t in ("90", "90s", "10m", "1.5h")] == [90, 90, 600, 5400]
    for bad in ("0%", "150%", "nan", "nan%"):
        with pytest.raises(ValueError):
            adaptive.parse_precision(bad)
    for bad in ("-3m", "nan", "infs", "0"):
        with pytest.raises(ValueError):
            adaptive.parse_duration(bad)


def test_next_round_targets_the_imprecise_pairs_within_the_budget(tmp_path):
    path = write_run(tmp_path, {"system": [1000.0, 1300.0], "talc": [1000.0, 1001.0]}, noise=0.001)
    stored = runs.load(path)
    result = analysis.analyse(stored)
    rows = {r.allocator: r for r in result.cells[0].rows}
    assert rows["system"].relative_half_width > 0.05 > rows["talc"].relative_half_width
    units = adaptive.next_round(stored.plan, result.imprecise(0.05), 0.05, 1.0, 100.0, random.Random(0))
    # system doubles (2 more processes); talc already meets the target.
    assert sorted((u.allocator, u.repetition) for u in units) == [("system", 2), ("system", 3)]
    assert len(adaptive.next_round(stored.plan, result.imprecise(0.05), 0.05, 1.0, 1.5, random.Random(0))) == 1
    assert result.imprecise(0.5) == []
    assert adaptive.next_round(stored.plan, result.imprecise(0.5), 0.5, 1.0, 100.0, random.Random(0)) == []
    extended = stored.plan.extended(units)
    assert extended.units[-2:] == tuple(units)
    # From ±h at R processes, ±target takes R (h / target)^2 in all.
    (pair,) = result.imprecise(0.05)
    assert adaptive.shortfall([pair], 0.05) == math.ceil(2 * (pair[2] / 0.05) ** 2) - 2


def test_processes_are_limited_by_the_budget_only(tmp_path):
    path = write_run(tmp_path, {"system": [1000.0, 1300.0]}, noise=0.001)
    stored = runs.load(path)
    # A pair far from its target keeps doubling past any fixed count while the budget lasts.
    units = adaptive.next_round(stored.plan, [("c00", "system", 0.5, 100)], 0.01, 0.1, 1e6, random.Random(0))
    assert len(units) == 100


@pytest.mark.slow
def test_precision_run_adds_rounds_and_flags_what_it_missed(binaries, tmp_path):
    done = hab(
        "run",
        "-w",
        "rayon_boxes",
        "-a",
        "system",
        "--no-dry",
        "-p",
        "max_size=4KiB",
        "-p",
        "iters_per_task=200",
        "-p",
        "keep_max=0",
        "--threads",
        "2",
        "--sample-size",
        "5",
        "--warm-up-time",
        "0",
        "--measurement-time",
        "0.05",
        "--repetitions",
        "2",
        "--precision",
        "0.01%",
        "--budget",
        "4s",
        "--nresamples",
        "2000",
        "--out",
        "res",
        cwd=tmp_path,
        check_exit=0,
    )
    meta = json.loads((tmp_path / "res" / "latest" / "run.json").read_text())
    assert meta["precision"]["target"] == pytest.approx(0.0001) and meta["precision"]["budget_s"] == 4
    assert len(meta["precision"]["rounds"]) >= 1
    assert meta["suite_seconds"] < 4 + 10, "no round starts once the budget is spent"
    order = meta["plan"]["order"]
    assert len(order) == 2 + sum(meta["precision"]["rounds"])
    stored = sorted(p.stem for p in (tmp_path / "res" / "latest" / "units").glob("*.json"))
    assert stored == sorted(f"{c}-{a}-r{r}" for c, a, r in order)
    assert "above the ±0.01% target" in done.stdout
    assert "precision target" in done.stdout
    # Out of budget: how far it is, as a budget, in the run and in its table.
    missed = meta["precision"]
    assert missed["missed"] == 1 and missed["budget_needed_s"] > 4
    assert "--budget" in done.stderr and "would reach it" in done.stderr
    assert "1 pair above the target when the budget ran out" in done.stdout
    bad = hab("run", "--precision", "2", cwd=tmp_path)
    assert bad.returncode == 2 and "precision must be between" in bad.stderr
    assert hab("run", "--budget", "5m", cwd=tmp_path).returncode == 2
