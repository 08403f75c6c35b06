"""The origin crate's manual-driver files: imported as a run that lines up
with hab's own rayon_boxes cells, and written back from a run."""

import json

import pytest

from conftest import hab
from hab.interop import seed

PARAMS = {"keep_max": 0, "keep_prob": 0.01, "max_size": 4096, "iters_per_task": 200, "tasks": 2, "threads": 1}


def _write(folder, allocator, params, timings):
    name = f"rayon-bench_iter{params['iters_per_task'] * params['tasks']}_max{seed.human(params['max_size'])}"
    path = folder / "manual-benches" / f"{allocator}_x{params['threads']}" / f"{name}_keep{params['keep_max']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"params": {**params, "sample_size": len(timings)}, "timings": timings}, indent=2))
    return path


def test_size_labels_follow_the_driver():
    assert [seed.human(n) for n in (65536, 1 << 20, 1000, 1536, 3 << 20)] == ["64KiB", "1MiB", "1000B", "1KiB", "3MiB"]


def test_a_hand_made_manual_driver_tree_imports_and_exports_unchanged(tmp_path):
    old = tmp_path / "old"
    timings = {"native": [0.0021, 0.0019, 0.0020, 0.0022], "virtual_alloc": [0.0011, 0.0012, 0.0010, 0.0011]}
    for allocator, values in timings.items():
        _write(old, allocator, PARAMS, values)
        _write(old, allocator, {**PARAMS, "max_size": 1 << 20, "keep_max": 64}, [v * 10 for v in values])
    done = hab("import", "seed", str(old), "--out", "res", cwd=tmp_path, check_exit=0)
    assert "imported from the seed's manual-driver files" in done.stdout
    meta = json.loads((tmp_path / "res" / "latest" / "run.json").read_text())
    cells = meta["plan"]["cells"]
    assert len(cells) == 2 and meta["plan"]["allocators"] == ["native", "virtual_alloc"]
    small = next(i for i, c in enumerate(cells) if c["params"]["max_size"] == 4096)
    assert cells[small]["workload"] == "rayon_boxes" and cells[small]["threads"] == 1
    assert cells[small]["params"] == {k: v for k, v in PARAMS.items() if k != "threads"} | {"init": "zero"}
    shown = json.loads(hab("show", "res/latest", "--json", cwd=tmp_path, check_exit=0).stdout)
    native = shown["cells"][small]["results"][0]
    assert native["allocator"] == "native" and native["samples"] == 4
    assert native["estimates"]["mean"]["point"] == pytest.approx(0.00205e9)
    hab("export", "seed", "res/latest", "new", cwd=tmp_path, check_exit=0)
    before = sorted(p.relative_to(old) for p in old.rglob("*.json"))
    assert sorted(p.relative_to(tmp_path / "new") for p in (tmp_path / "new").rglob("*.json")) == before
    for rel in before:
        a, b = json.loads((old / rel).read_text()), json.loads((tmp_path / "new" / rel).read_text())
        assert a["params"] == b["params"] and a["timings"] == pytest.approx(b["timings"], rel=1e-12)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d.update(timings=[0.1, float("nan")]), "timings[1]"),
        (lambda d: d.update(timings=[]), "no timings"),
        (lambda d: d["params"].update(keep_prob=2), "keep_prob must be in [0, 1]"),
        (lambda d: d["params"].update(threads=4), "params.threads is 4, its folder says 1"),
        (lambda d: d.pop("params"), "params"),
    ],
)
def test_damaged_seed_files_are_one_line_errors_and_write_nothing(tmp_path, damage, message):
    path = _write(tmp_path / "old", "native", PARAMS, [0.1, 0.2])
    data = json.loads(path.read_text())
    damage(data)
    path.write_text(json.dumps(data))
    done = hab("import", "seed", "old", "--out", "res", cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "res").exists()


@pytest.mark.slow
def test_an_old_seed_result_lines_up_with_a_new_run(binaries, tmp_path):
    run = ["run", "-a", "system", "-w", "rayon_boxes", "-t", "1", "-p", "max_size=4KiB", "-p", "iters_per_task=200"]
    run += ["-p", "keep_max=0", "--repetitions", "2", "--sample-size", "4", "--warm-up-time", "0.02"]
    hab(*run, "--measurement-time", "0.05", "--no-dry", "--out", "res", cwd=tmp_path, check_exit=0)
    new = (tmp_path / "res" / "latest").resolve()
    _write(tmp_path / "old", "system", PARAMS, [0.0005, 0.0006, 0.0005])
    hab("import", "seed", "old", "--out", "res", cwd=tmp_path, check_exit=0)
    done = hab("compare", "res/latest", str(new), "--absolute", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "c00 rayon_boxes" in done.stdout and "only in" not in done.stdout


def _criterion_bench(root, full_id, times):
    """A benchmark saved the way criterion saves one: sample.json and benchmark.json."""
    group, _, bench_id = full_id.rpartition("/")
    folder = root / group.replace("/", "_").replace("=", "_") / bench_id.replace(",", "_") / "new"
    folder.mkdir(parents=True)
    iters = [10.0 * (k + 1) for k in range(len(times))]
    sample = {"sampling_mode": "Linear", "iters": iters, "times": [t * n for t, n in zip(times, iters, strict=True)]}
    (folder / "sample.json").write_text(json.dumps(sample))
    info = {"group_id": group, "function_id": None, "value_str": bench_id, "full_id": full_id, "throughput": None}
    (folder / "benchmark.json").write_text(json.dumps(info))


def test_a_criterion_tree_named_as_the_origin_names_it_becomes_rayon_boxes_cells(tmp_path):
    tree = tmp_path / "criterion"
    for allocator, per in (("native", 2.0e6), ("virtual_alloc", 1.0e6)):
        for size in ("64KiB", "1MiB"):
            full_id = f"rayon_boxes/max_size={size}/{allocator}/steady,keep_max=0,iters=10000"
            _criterion_bench(tree, full_id, [per * (1 + 0.01 * k) for k in range(5)])
    refused = hab("import", "criterion", str(tree), "--out", "res", cwd=tmp_path)
    assert refused.returncode == 2 and "give --threads N" in refused.stderr
    assert not (tmp_path / "res").exists()
    hab("import", "criterion", str(tree), "--threads", "2", "--out", "res", cwd=tmp_path, check_exit=0)
    meta = json.loads((tmp_path / "res" / "latest" / "run.json").read_text())
    assert meta["plan"]["allocators"] == ["native", "virtual_alloc"]
    cells = meta["plan"]["cells"]
    assert sorted(c["params"]["max_size"] for c in cells) == [65536, 1 << 20]
    expected = {"init": "zero", "iters_per_task": 10000, "keep_max": 0, "keep_prob": 0.01, "tasks": 4}
    assert all(c["workload"] == "rayon_boxes" and c["threads"] == 2 for c in cells)
    assert all({k: c["params"][k] for k in expected} == expected for c in cells)
    shown = json.loads(hab("show", "res/latest", "--json", cwd=tmp_path, check_exit=0).stdout)
    ratio = shown["cells"][0]["results"][1]["ratio_to_reference"]
    assert shown["reference"] == "native" and ratio["point"] == pytest.approx(0.5, rel=0.05)
