"""Comparisons between runs: verdicts, the exact path for values that never
vary, baselines, and `hab compare`'s exit status for CI."""

import json

import numpy as np
import pytest

from conftest import hab
from hab.analysis import comparison
from hab.analysis import run as analysis
from hab.stats.bootstrap import Estimate
from hab.stats.change import Verdict as verdicts
from hab.stats.change import change, decide
from hab.stats.metrics import across_processes
from hab.store import runs
from synthetic import CELL, write_run

FIVE = [1000.0, 1004.0, 996.0, 1002.0, 998.0]


def compare_runs(a, b, threshold=0.01):
    return comparison.compare(analysis.analyse(runs.load(a)), analysis.analyse(runs.load(b)), threshold=threshold)


def only_change(comp):
    (cell,) = comp.cells
    (row,) = cell.rows
    return row.change


def test_identical_processes_are_no_change(tmp_path):
    a = write_run(tmp_path / "a", {"system": FIVE}, seed=1)
    b = write_run(tmp_path / "b", {"system": FIVE}, seed=2)
    ch = only_change(compare_runs(a, b))
    assert ch.verdict == verdicts.NO_CHANGE and ch.method == "welch" and ch.processes == (5, 5)
    assert ch.ratio.lower < 1.0 < ch.ratio.upper


def test_a_clear_slowdown_is_regressed_and_a_speedup_improved(tmp_path):
    a = write_run(tmp_path / "a", {"system": FIVE}, seed=1)
    slow = write_run(tmp_path / "slow", {"system": [x * 1.10 for x in FIVE]}, seed=2)
    fast = write_run(tmp_path / "fast", {"system": [x * 0.90 for x in FIVE]}, seed=3)
    up, down = only_change(compare_runs(a, slow)), only_change(compare_runs(a, fast))
    assert up.verdict == verdicts.REGRESSED and up.ratio.lower > 1.01
    assert up.ratio.lower < 1.10 < up.ratio.upper
    assert down.verdict == verdicts.IMPROVED


def test_a_change_well_inside_the_noise_band_is_no_change(tmp_path):
    a = write_run(tmp_path / "a", {"system": FIVE}, noise=0.001, seed=1)
    b = write_run(tmp_path / "b", {"system": [x * 1.005 for x in FIVE]}, noise=0.001, seed=2)
    comp = compare_runs(a, b, threshold=0.05)
    ch = only_change(comp)
    assert ch.verdict == verdicts.NO_CHANGE and 0.95 < ch.ratio.lower and ch.ratio.upper < 1.05
    assert comp.regressions == 0


def test_values_that_never_vary_take_the_exact_path(tmp_path):
    a = write_run(tmp_path / "a", {"system": [500.0] * 3}, noise=0.0)
    same = write_run(tmp_path / "same", {"system": [500.0] * 3}, noise=0.0)
    more = write_run(tmp_path / "more", {"system": [550.0] * 3}, noise=0.0)
    eq, up = only_change(compare_runs(a, same)), only_change(compare_runs(a, more))
    assert (eq.method, eq.verdict) == ("exact", verdicts.NO_CHANGE)
    assert eq.ratio.exact and eq.ratio.point == 1.0
    assert (up.method, up.verdict) == ("exact", verdicts.REGRESSED)
    assert up.ratio.lower == up.ratio.upper == pytest.approx(1.1)
    row = analysis.analyse(runs.load(a)).cells[0].rows[0]
    assert row.typical.exact and row.estimates["std_dev"].point == 0.0
    assert row.rusage["max_rss_kib"].exact and row.rusage["max_rss_kib"].point == 2048
    assert row.variance["between_share"] == 0.0


def test_metrics_across_processes():
    e = across_processes([10.0, 12.0, 14.0], 0.95)
    assert e.point == 12.0 and not e.exact
    assert e.lower == pytest.approx(12 - 4.302653 * 2 / np.sqrt(3), rel=1e-5)
    assert across_processes([None, None], 0.95) is None
    assert across_processes([7, 7], 0.95).exact


def test_one_process_per_side_falls_back_to_the_bootstrap(tmp_path):
    a = write_run(tmp_path / "a", {"system": [1000.0]}, seed=1)
    b = write_run(tmp_path / "b", {"system": [1200.0]}, seed=2)
    ch = only_change(compare_runs(a, b))
    assert ch.method == "bootstrap" and ch.verdict == verdicts.REGRESSED
    same = only_change(compare_runs(a, write_run(tmp_path / "c", {"system": [1000.0]}, seed=3), threshold=0.2))
    assert same.verdict == verdicts.INCONCLUSIVE and "one process on a side" in same.reason
    wide = decide(Estimate(1.0, 0.5, 2.0, 0.3, 0.95), 0.02, one_process=True)
    assert wide[0] == verdicts.INCONCLUSIVE and wide[1].startswith("one process on a side, interval wider")


def test_cells_and_allocators_are_matched_by_what_they_are(tmp_path):
    other = CELL.__class__("c00", "rayon_boxes", {"max_size": 8192, "keep_max": 0}, 2)
    a = write_run(tmp_path / "a", {"system": FIVE, "talc": FIVE}, cells=(CELL,))
    b = write_run(
        tmp_path / "b", {"system": FIVE}, cells=(other, CELL.__class__("c01", *list(vars(CELL).values())[1:]))
    )
    comp = compare_runs(a, b)
    assert [r.allocator for c in comp.cells for r in c.rows] == ["system"]
    assert ("c00", "talc") in comp.only_old and ("c00", "system") in comp.only_new


def test_compare_command_exit_status_and_baselines(tmp_path):
    root = tmp_path / "hab-results"
    a = write_run(root, {"system": FIVE}, seed=1)
    runs.save_baseline(a, root, "main")
    b = write_run(root, {"system": [x * 1.2 for x in FIVE]}, seed=2)
    done = hab("compare", "--baseline", "main", str(b), cwd=tmp_path, check_exit=0)
    assert "regressed" in done.stdout and "1 regressed" in done.stdout
    hab("compare", "--baseline", "main", "--fail-on-regression", cwd=tmp_path, check_exit=1)
    itself = hab("compare", str(a), str(a), "--fail-on-regression", cwd=tmp_path, check_exit=2)
    assert "compared with itself" in itself.stderr
    doc = json.loads(hab("compare", "main", str(b), "--json", cwd=tmp_path, check_exit=0).stdout)
    assert doc["regressed"] == 1 and doc["cells"][0]["results"][0]["change"]["verdict"] == "regressed"
    bad = hab("compare", "--baseline", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "no stored run or baseline called 'nope'" in bad.stderr
    assert hab("compare", str(a), cwd=tmp_path).returncode == 2


def test_saving_a_baseline_twice_replaces_it_whole(tmp_path):
    root = tmp_path / "r"
    first = write_run(root, {"system": FIVE}, seed=1)
    second = write_run(root, {"system": FIVE}, seed=2)
    runs.save_baseline(first, root, "b")
    saved = runs.save_baseline(second, root, "b")
    assert json.loads((saved / "run.json").read_text())["id"] == second.name
    assert sorted(p.name for p in (root / "baselines").iterdir()) == ["b"]
    with pytest.raises(Exception, match="baseline names"):
        runs.baseline_path(root, "../x")


def test_relative_comparison_cancels_what_the_machine_did_to_both(tmp_path):
    # B ran on a machine 20% slower for everything; talc itself did not change.
    a = write_run(tmp_path / "a", {"system": FIVE, "talc": [2 * x for x in FIVE]}, seed=1)
    b = write_run(tmp_path / "b", {"system": [1.2 * x for x in FIVE], "talc": [2.4 * x for x in FIVE]}, seed=2)
    old, new = analysis.analyse(runs.load(a)), analysis.analyse(runs.load(b))
    unguarded = comparison.compare(old, new, threshold=0.01, drift_guard=False)
    assert {r.allocator: r.change.verdict for r in unguarded.cells[0].rows} == {
        "system": "regressed",
        "talc": "regressed",
    }
    # Both moved the same way: the drift guard will not call it.
    absolute = comparison.compare(old, new, threshold=0.01)
    assert absolute.settings.drift_guard and absolute.regressions == 0 and absolute.slower == 2
    for row in absolute.cells[0].rows:
        assert row.change.verdict == verdicts.INCONCLUSIVE
        assert row.change.reason.startswith("every allocator of the cell regressed in B")
    rel = comparison.compare(old, new, threshold=0.03, relative_to="system")
    reference, row = rel.cells[0].rows
    assert (reference.allocator, reference.change.verdict) == ("system", verdicts.REFERENCE)
    assert reference.change.ratio.point == pytest.approx(1.2, rel=0.02)
    assert rel.regressions == 0
    assert row.allocator == "talc" and row.change.verdict == verdicts.NO_CHANGE
    assert row.change.ratio.lower < 1.0 < row.change.ratio.upper
    # A real change of talc alone still shows.
    c = write_run(tmp_path / "c", {"system": [1.2 * x for x in FIVE], "talc": [2.9 * x for x in FIVE]}, seed=3)
    moved = comparison.compare(old, analysis.analyse(runs.load(c)), threshold=0.01, relative_to="system")
    assert moved.cells[0].rows[1].change.verdict == verdicts.REGRESSED
    done = hab("compare", str(a), str(b), cwd=tmp_path, check_exit=0)
    assert "mode: relative to system" in done.stdout, "relative is the default with system in both"
    assert "system is the reference" in done.stdout
    absolute = hab("compare", str(a), str(b), "--absolute", "--fail-on-regression", cwd=tmp_path, check_exit=1)
    assert "mode: absolute" in absolute.stdout and "where the machine drifted" in absolute.stdout
    said = " ".join(absolute.stdout.split())
    assert "0 regressed, 2 inconclusive (2 of them slower beyond the noise band" in said, "the gate still fails"
    kept = hab("compare", str(a), str(b), "--absolute", "--no-drift-guard", "--json", cwd=tmp_path, check_exit=0)
    doc = json.loads(kept.stdout)
    assert doc["regressed"] == doc["slower"] == 2 and doc["settings"]["drift_guard"] is False
    assert hab("compare", str(a), str(b), "--relative-to", "nosuch", cwd=tmp_path).returncode == 2


def test_absolute_verdicts_stand_only_where_the_engine_alone_kept_its_speed(tmp_path):
    # talc got 10% slower, system did not change; in B the machine also ran
    # the engine alone (the dry variant) 15% slower: absolute times cannot
    # say how much of talc's change is the machine's.
    levels = {"system": FIVE, "talc": [2 * x for x in FIVE], "dry": [0.1 * x for x in FIVE]}
    a = write_run(tmp_path / "a", levels, seed=1)
    steady = write_run(tmp_path / "b", levels | {"talc": [2.2 * x for x in FIVE]}, seed=2)
    drifted = write_run(tmp_path / "c", levels | {"talc": [2.2 * x for x in FIVE], "dry": [0.115 * x for x in FIVE]})
    calm = compare_runs(a, steady)
    assert {r.allocator: r.change.verdict for r in calm.cells[0].rows} == {
        "system": verdicts.NO_CHANGE,
        "talc": verdicts.REGRESSED,
    }
    moved = compare_runs(a, drifted)
    for row in moved.cells[0].rows:
        assert row.change.verdict == verdicts.INCONCLUSIVE
        assert row.change.reason.startswith(
            "the machine drifted between the runs: the engine alone (dry variant) took +15"
        )
    assert moved.regressions == 0 and moved.slower == 1
    # A gate never passes a slowdown its interval shows; the table says why.
    done = hab("compare", str(a), str(drifted), "--absolute", "--fail-on-regression", cwd=tmp_path, check_exit=1)
    assert "? talc: the machine drifted between the runs" in done.stdout
    # Four estimates or more all on one side: no single one beyond the band but talc's.
    many = {"system": FIVE, "jemalloc": [3 * x for x in FIVE], "mimalloc": [4 * x for x in FIVE]}
    before = write_run(tmp_path / "d", levels | many, seed=4)
    slower = {a: [1.005 * x for x in v] for a, v in (levels | many).items()}
    after = write_run(tmp_path / "e", slower | {"talc": [2.2 * x for x in FIVE]}, seed=4)
    one_way = compare_runs(before, after)
    assert {r.change.verdict for r in one_way.cells[0].rows} == {verdicts.INCONCLUSIVE}
    talc = next(r.change for r in one_way.cells[0].rows if r.allocator == "talc")
    assert talc.ratio.lower > 1.01 and one_way.slower == 1
    assert talc.reason.startswith(
        "the machine drifted between the runs: every allocator and the dry variant ran slower"
    )
    # Relative comparisons divide the machine out and need no guard.
    rel = comparison.compare(
        analysis.analyse(runs.load(a)), analysis.analyse(runs.load(drifted)), threshold=0.01, relative_to="system"
    )
    assert not rel.settings.drift_guard and rel.cells[0].rows[1].change.verdict == verdicts.REGRESSED


def test_a_six_fold_slowdown_from_three_wide_processes_fails_the_gate(tmp_path):
    # The case that once passed: 3 processes a side, a planted slowdown of
    # about 6x with a very wide spread of B's processes (320.9 us -> 1.9 ms).
    root = tmp_path / "hab-results"
    a = write_run(root, {"jemalloc": [310_000.0, 321_000.0, 332_000.0]}, seed=1)
    b = write_run(root, {"jemalloc": [1_100_000.0, 1_900_000.0, 2_800_000.0]}, seed=2)
    ch = only_change(compare_runs(a, b))
    assert ch.verdict == verdicts.REGRESSED and ch.ratio.lower > 1.01, ch
    done = hab("compare", str(a), str(b), "--fail-on-regression", cwd=tmp_path, check_exit=1)
    assert "regressed" in done.stdout and "1 regressed" in done.stdout


def test_a_planted_slowdown_on_the_real_engine_fails_the_gate(report_runs):
    # The same case on the real engine: 3 processes a side, talc slowed
    # several times over by the spin knob in run B, compared relative to system.
    a, b, cwd = report_runs
    doc = json.loads(hab("compare", str(a), str(b), "--fail-on-regression", "--json", cwd=cwd, check_exit=1).stdout)
    talc = [r["change"] for c in doc["cells"] for r in c["results"] if r["allocator"] == "talc"]
    assert doc["settings"]["relative_to"] == "system" and len(talc) == len(doc["cells"]) >= 2
    assert all(ch["verdict"] == "regressed" and ch["ratio"]["lower"] > 1.01 for ch in talc), talc
    assert doc["regressed"] == len(talc)


def test_an_interval_that_leaves_the_noise_band_is_never_no_change(tmp_path):
    root = tmp_path / "hab-results"
    a = write_run(root, {"system": [1000.0, 1010.0, 990.0]}, seed=1)
    b = write_run(root, {"system": [900.0, 1250.0, 1030.0]}, seed=2)
    ch = only_change(compare_runs(a, b))
    assert ch.verdict == verdicts.INCONCLUSIVE and ch.ratio.lower < 0.99 and ch.ratio.upper > 1.01
    assert "wider than the" in ch.reason
    lenient = hab("compare", str(a), str(b), "--fail-on-regression", cwd=tmp_path, check_exit=0)
    assert "inconclusive" in lenient.stdout and "? system: interval wider than" in lenient.stdout
    hab("compare", str(a), str(b), "--fail-on", "inconclusive", cwd=tmp_path, check_exit=1)


def test_no_verdict_contradicts_its_interval():
    """Over many random pairs of process sets: the verdict is a function of the interval."""
    rng = np.random.default_rng(11)
    seen = set()
    for _ in range(3000):
        n_a, n_b = rng.integers(1, 8, size=2)
        spread = rng.choice([0.0, 0.001, 0.01, 0.05, 0.3])
        shift = rng.choice([0.9, 0.98, 1.0, 1.005, 1.03, 1.5, 6.0])
        old = list(1000 * np.exp(rng.normal(0, spread, n_a)))
        new = list(1000 * shift * np.exp(rng.normal(0, spread, n_b)))
        dist = np.exp(rng.normal(np.log(shift), spread + 1e-9, 2000))
        threshold = rng.choice([0.0, 0.01, 0.05])
        exact = spread == 0.0
        ch = change(old, new, threshold=threshold, confidence=0.95, bootstrap=(shift, dist), exact=exact)
        r = ch.ratio
        assert r.lower <= r.point <= r.upper
        if ch.verdict == verdicts.REGRESSED:
            assert r.lower > 1 + threshold
        elif ch.verdict == verdicts.IMPROVED:
            assert r.upper < 1 - threshold
        elif ch.verdict == verdicts.NO_CHANGE:
            assert 1 - threshold <= r.lower and r.upper <= 1 + threshold
            assert min(n_a, n_b) >= 2 or ch.method == "exact"
        else:
            assert not (r.lower > 1 + threshold or r.upper < 1 - threshold) and ch.reason
            assert not (1 - threshold <= r.lower and r.upper <= 1 + threshold) or min(n_a, n_b) < 2
        seen.add(ch.verdict)
    assert seen == {verdicts.REGRESSED, verdicts.IMPROVED, verdicts.NO_CHANGE, verdicts.INCONCLUSIVE}


def test_comparisons_that_would_mislead_are_refused(tmp_path):
    root = tmp_path / "hab-results"
    a = write_run(root, {"system": FIVE}, seed=1)
    other = CELL.__class__("c00", "larson", {"slots": 10}, 2)
    b = write_run(root, {"system": FIVE}, seed=2, cells=(other,))
    none = hab("compare", str(a), str(b), cwd=tmp_path, check_exit=2)
    assert "have no (cell, allocator) in common" in none.stderr
    meta = json.loads((b / "run.json").read_text())
    c = write_run(root, {"system": FIVE}, seed=3)
    meta = json.loads((c / "run.json").read_text())
    (c / "run.json").write_text(json.dumps({**meta, "status": "interrupted"}))
    cut = hab("compare", str(a), str(c), cwd=tmp_path, check_exit=2)
    assert "is interrupted" in cut.stderr and "--allow-incomplete" in cut.stderr
    hab("compare", str(a), str(c), "--allow-incomplete", cwd=tmp_path, check_exit=0)


def test_a_mistyped_command_or_choice_gets_a_suggestion(tmp_path):
    done = hab("comapre", cwd=tmp_path)
    assert done.returncode == 2 and "unknown command 'comapre'; did you mean compare?" in done.stderr
    done = hab("export", "markdwn", "x", cwd=tmp_path)
    assert done.returncode == 2 and "unknown format 'markdwn'; did you mean markdown?" in done.stderr


def test_the_environment_that_changes_allocators_is_recorded_and_checked():
    from hab.execution import hostinfo
    from hab.records.fields import RecordError
    from hab.records.run import HostFacts

    env = {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0", "MALLOC_ARENA_MAX": "1", "HOME": "/root", "PATH": "/bin"}
    assert hostinfo.allocator_env(env) == {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0", "MALLOC_ARENA_MAX": "1"}
    facts = HostFacts(thp="madvise/madvise", allocator_env={"MALLOC_ARENA_MAX": "1"})
    assert HostFacts.from_dict(json.loads(json.dumps(facts.__dict__)), "host") == facts
    assert facts.allocator_setting() == "THP madvise/madvise; MALLOC_ARENA_MAX=1"
    with pytest.raises(RecordError):
        HostFacts.from_dict({"allocator_env": {"X": 3}}, "host")


@pytest.mark.slow
def test_compare_warns_when_the_allocator_environment_differs(binaries, tmp_path):
    run = ["run", "-a", "system", "-w", "fastpath", "-p", "ops=2000", "-t", "1", "--repetitions", "2", "--no-dry"]
    run += ["--sample-size", "3", "--warm-up-time", "0.02", "--measurement-time", "0.05", "--out", "res"]
    tunable = {"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"}
    first = hab(*run, cwd=tmp_path, check_exit=0, env=tunable)
    assert "allocator settings: THP " in first.stdout and "GLIBC_TUNABLES=glibc.malloc.tcache_count=0" in first.stdout
    a = (tmp_path / "res" / "latest").resolve()
    meta = json.loads((a / "run.json").read_text())
    assert meta["host"]["allocator_env"] == tunable
    hab(*run, cwd=tmp_path, check_exit=0)
    done = hab("compare", str(a), "res/latest", cwd=tmp_path)
    assert "differ in what changes allocators" in done.stderr and "GLIBC_TUNABLES" in done.stderr
