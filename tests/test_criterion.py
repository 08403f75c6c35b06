"""criterion interop with the real thing: a criterion benchmark built from
crates.io produces a tree; `hab import criterion` must reproduce its point
estimates to 1e-9 and its intervals to Monte Carlo error (2%, 5% for the MAD); `hab export criterion` must be
readable by critcmp (installed from crates.io into the cache, ~/.cache/hab/tools, when missing)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import hab
from hab import paths
from hab.analysis import run as analysis
from hab.interop.criterion import rule
from hab.store import runs
from synthetic import write_run

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "tests" / "criterion_bench" / "Cargo.toml"
ESTIMATES = ("mean", "median", "median_abs_dev", "slope", "std_dev")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A real criterion output tree (cargo bench of tests/criterion_bench)."""
    out = tmp_path_factory.mktemp("criterion") / "criterion"
    # The build is cached outside the clone (a fixture's compile, not the project's).
    target = paths.cache_dir() / "criterion-bench-target"
    env = {**os.environ, "CRITERION_HOME": str(out), "CARGO_TARGET_DIR": str(target)}
    done = subprocess.run(
        ["cargo", "bench", "--locked", "--manifest-path", str(BENCH)],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def critcmp() -> str:
    found = shutil.which("critcmp")
    if found:
        return found
    root = paths.cache_dir() / "tools"  # outside the clone: later clones reuse it
    binary = root / "bin" / "critcmp"
    if not binary.exists():
        done = subprocess.run(
            ["cargo", "install", "critcmp", "--version", "0.1.8", "--locked", "--root", str(root)],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    return str(binary)


def imported(tree: Path, cwd: Path) -> dict:
    cwd.mkdir(parents=True, exist_ok=True)
    return json.loads(hab("import", "criterion", str(tree), "--json", "--out", "res", cwd=cwd, check_exit=0).stdout)


@pytest.mark.slow
@pytest.mark.network
def test_import_reproduces_criterions_estimates(tree, tmp_path):
    doc = imported(tree, tmp_path)
    assert len(doc["cells"]) == 3
    for cell in doc["cells"]:
        bench = cell["params"]["benchmark"]
        theirs = json.loads((tree / bench / "new" / "estimates.json").read_text())
        ours = cell["results"][0]["estimates"]
        expected = [k for k in ESTIMATES if theirs.get(k)]
        assert sorted(ours) == sorted(expected), bench
        for name in expected:
            c = theirs[name]
            assert ours[name]["point"] == pytest.approx(c["point_estimate"], rel=1e-9), (bench, name)
            # Two bootstraps with different random streams: their bounds agree to
            # Monte Carlo error. The MAD's bootstrap distribution is lumpy (a median
            # of few distinct deviations), so its percentiles can sit one lump apart.
            tolerance = 0.05 if name == "median_abs_dev" else 0.02
            for ours_key, their_key in (("lower", "lower_bound"), ("upper", "upper_bound")):
                assert ours[name][ours_key] == pytest.approx(c["confidence_interval"][their_key], rel=tolerance), (
                    bench,
                    name,
                    ours_key,
                )
    flat = next(c for c in doc["cells"] if c["params"]["benchmark"] == "flat/zeroed_64k")
    assert flat["results"][0]["sampling_mode"] == "flat" and flat["results"][0]["typical"] == "mean"
    assert flat["results"][0]["throughput"]["bytes_per_s"]["point"] > 0
    boxes = next(c for c in doc["cells"] if c["params"]["benchmark"] == "boxes/alloc/16")
    assert boxes["results"][0]["throughput"]["allocations_per_s"]["point"] > 0
    assert hab("show", "res", cwd=tmp_path, check_exit=0).stdout.startswith("run ")


def _to_old_format(tree: Path, old: Path) -> None:
    """criterion <= 0.3.2's layout: capitalised estimates, [[iters], [times]], no benchmark.json."""
    keys = {"mean": "Mean", "median": "Median", "median_abs_dev": "MedianAbsDev", "slope": "Slope", "std_dev": "StdDev"}
    for sample in tree.rglob("new/sample.json"):
        target = old / sample.parent.relative_to(tree)
        target.mkdir(parents=True)
        data = json.loads(sample.read_text())
        if data["sampling_mode"] != "Linear":
            continue  # old criterion only sampled linearly
        (target / "sample.json").write_text(json.dumps([data["iters"], data["times"]]))
        est = json.loads((sample.parent / "estimates.json").read_text())
        (target / "estimates.json").write_text(json.dumps({keys[k]: v for k, v in est.items() if v}))
    for empty in sorted(old.rglob("new"), reverse=True):
        if not any(empty.iterdir()):
            empty.rmdir()


@pytest.mark.slow
@pytest.mark.network
def test_the_old_capitalised_format_imports_to_the_same_numbers(tree, tmp_path):
    old = tmp_path / "old"
    _to_old_format(tree, old)
    new_doc, old_doc = imported(tree, tmp_path / "n"), imported(old, tmp_path / "o")
    new_points = {c["params"]["benchmark"]: c["results"][0]["estimates"] for c in new_doc["cells"]}
    assert len(old_doc["cells"]) == 2
    for cell in old_doc["cells"]:
        bench = cell["params"]["benchmark"]
        for name, e in cell["results"][0]["estimates"].items():
            assert e["point"] == new_points[bench][name]["point"]


@pytest.mark.slow
@pytest.mark.network
def test_export_is_read_by_critcmp(tmp_path, critcmp):
    a = write_run(tmp_path / "runs", {"system": [1000.0, 1010.0], "talc": [2000.0, 1990.0]}, seed=1)
    b = write_run(tmp_path / "runs", {"system": [1100.0, 1110.0], "talc": [2000.0, 2010.0]}, seed=2)
    target = tmp_path / "target" / "criterion"
    hab("export", "criterion", str(a), str(target), "--baseline", "before", cwd=tmp_path, check_exit=0)
    hab("export", "criterion", str(b), str(target), "--baseline", "after", cwd=tmp_path, check_exit=0)
    listed = subprocess.run(
        [critcmp, "--target-dir", str(tmp_path / "target"), "--list"], capture_output=True, text=True, check=True
    ).stdout
    assert "before" in listed and "after" in listed
    compared = subprocess.run(
        [critcmp, "--target-dir", str(tmp_path / "target"), "before", "after"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "rayon_boxes/system/keep_max=0,max_size=4096,threads=2" in compared
    assert "rayon_boxes/talc/" in compared
    exported = json.loads(next(target.rglob("system/*/after/estimates.json")).read_text())
    ours = analysis.analyse(runs.load(b)).cells[0].rows[0].estimates["mean"]
    assert exported["mean"]["point_estimate"] == ours.point


def test_export_then_import_keeps_the_point_estimates(tmp_path):
    a = write_run(tmp_path / "runs", {"system": [1000.0, 1030.0, 990.0]}, seed=4)
    hab("export", "criterion", str(a), str(tmp_path / "tree"), "--baseline", "new", cwd=tmp_path, check_exit=0)
    doc = imported(tmp_path / "tree", tmp_path)
    back = doc["cells"][0]["results"][0]["estimates"]
    original = analysis.analyse(runs.load(a)).cells[0].rows[0].estimates
    for name in ("mean", "median", "std_dev", "median_abs_dev"):
        assert back[name]["point"] == pytest.approx(original[name].point, rel=1e-12)


def test_criterions_rule_on_clear_cases():
    rng = np.random.default_rng(0)
    base = rng.normal(1000, 10, 50)
    assert rule.decide(base, rng.normal(1000, 10, 50), rng, nresamples=20_000) in (
        rule.NO_CHANGE,
        rule.WITHIN_NOISE,
    )
    assert rule.decide(base, rng.normal(1100, 10, 50), rng, nresamples=20_000) == rule.REGRESSED
    assert rule.decide(base, rng.normal(900, 10, 50), rng, nresamples=20_000) == rule.IMPROVED


def test_import_of_a_missing_tree_is_a_user_error(tmp_path):
    done = hab("import", "criterion", "nope", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == "hab: error: no criterion tree at nope"


@pytest.mark.slow
@pytest.mark.network
def test_two_imports_of_one_tree_are_never_called_changed(tree, tmp_path):
    imported(tree, tmp_path / "x")
    imported(tree, tmp_path / "y")
    a = runs.resolve(str(tmp_path / "x" / "res"), tmp_path)
    b = runs.resolve(str(tmp_path / "y" / "res"), tmp_path)
    doc = json.loads(
        hab("compare", str(a), str(b), "--json", "--fail-on-regression", cwd=tmp_path, check_exit=0).stdout
    )
    changes = [r["change"] for c in doc["cells"] for r in c["results"]]
    # One "process" of samples a side: sameness cannot be claimed, nor a change.
    assert [c["verdict"] for c in changes] == ["inconclusive"] * 3
    assert all(
        "one process on a side" in c["reason"] and c["ratio"]["lower"] <= 1 <= c["ratio"]["upper"] for c in changes
    )


def test_criterions_rule_resamples_long_runs_in_bounded_chunks():
    rng = np.random.default_rng(1)
    base = rng.normal(1000, 50, 5000)
    t_null, change = rule._resampled(base * 1.05, base, rng, 2000, chunk=300)
    assert t_null.shape == change.shape == (2000,)
    assert abs(np.median(t_null)) < 0.2
    assert np.median(change) == pytest.approx(0.05, abs=0.005)
    assert rule.decide(base, rng.normal(1050, 50, 5000), rng, nresamples=2000) == rule.REGRESSED
