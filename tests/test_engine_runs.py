"""End to end with the real engine: `hab run` on a small cell for two
allocators, what it stores, `hab show` reproducing it byte for byte, an
engine killed mid-cell, and bad input refused before anything is written."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import hab
from hab import paths
from hab.execution import query
from processes import new_tag, tagged_env, tagged_pids

SMALL = [
    "-w",
    "rayon_boxes",
    "-a",
    "system,jemalloc",
    "-p",
    "max_size=4KiB",
    "-p",
    "iters_per_task=200",
    "-p",
    "keep_max=8",
    "--threads",
    "2",
    "--sample-size",
    "10",
    "--warm-up-time",
    "0.05",
    "--measurement-time",
    "0.2",
    "--repetitions",
    "2",
    "--nresamples",
    "2000",
    "--seed",
    "1",
]


@pytest.fixture(scope="module")
def small_run(binaries, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("run")
    done = hab("run", *SMALL, "--out", "res", cwd=cwd, check_exit=0)
    return cwd, done


@pytest.mark.slow
def test_run_prints_a_table_with_intervals_and_ratios(small_run):
    _, done = small_run
    out = done.stdout
    assert (
        "c00 rayon_boxes  init=zero iters_per_task=200 keep_max=8 keep_prob=0.01 max_size=4KiB tasks=4  threads=2"
        in out
    )
    for needle in (
        "system ",
        "jemalloc ",
        "dry (engine only)",
        "vs system",
        "95% CI",
        "Summary over 1 cell",
        "machine load: ",
    ):
        assert needle in out
    rows = [line for line in out.splitlines() if line.startswith("jemalloc ")]
    assert "×" in rows[0] and "/s" in rows[0]
    assert "MiB" in rows[1] and "×" in rows[1], "the memory table: live bytes, RSS, their ratio"


@pytest.mark.slow
def test_run_directory_holds_metadata_and_every_process_raw_samples(small_run):
    cwd, _ = small_run
    run = (cwd / "res" / "latest").resolve()
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "complete"
    assert meta["plan"]["allocators"] == ["system", "jemalloc"]
    assert meta["host"]["cores_usable"] >= 1 and meta["host"]["kernel"]
    assert meta["engine"]["protocol"] == 1 and "commit" in meta["engine"]
    assert meta["allocators"]["jemalloc"]["version"].startswith("tikv-jemalloc-sys ")
    assert meta["analysis"] == {"seed": 0, "nresamples": 2000, "confidence": 0.95}
    units = sorted(p.name for p in (run / "units").iterdir())
    assert units == [
        "c00-dry-r0.json",
        "c00-dry-r1.json",
        "c00-jemalloc-r0.json",
        "c00-jemalloc-r1.json",
        "c00-system-r0.json",
        "c00-system-r1.json",
    ]
    for name in units:
        unit = json.loads((run / "units" / name).read_text())
        assert unit["ok"] and unit["reason"] is None
        assert len(unit["samples"]["ns"]) == len(unit["samples"]["iters"]) == 10
        assert unit["samples"]["iters"] == unit["plan"]["iters"]
        assert unit["work"]["allocations"] == 4 * 200
        assert 4 * 200 <= unit["work"]["bytes"] <= 4 * 200 * 4096
        assert unit["rusage"]["max_rss_kib"] > 0 and unit["rusage"]["minor_faults"] > 0
        assert unit["hello"]["dry"] == name.startswith("c00-dry")
        # How busy the machine was around the process (None only where /proc does not say).
        busy = unit["contention"]
        assert busy["others_runnable"] is None or busy["others_runnable"] >= 0
        assert all(busy[k] is None or 0 <= busy[k] <= 1 for k in ("cpu_pressure", "steal"))
    assert not list(run.rglob(".*.tmp"))


@pytest.mark.slow
def test_show_reproduces_the_table_byte_for_byte(small_run):
    cwd, done = small_run
    assert hab("show", "res", cwd=cwd, check_exit=0).stdout == done.stdout
    run = (cwd / "res" / "latest").resolve()
    assert hab("show", str(run), cwd=cwd, check_exit=0).stdout == done.stdout


@pytest.mark.slow
def test_json_results_are_complete_and_deterministic(small_run):
    cwd, _ = small_run
    first = hab("show", "res", "--json", cwd=cwd, check_exit=0).stdout
    assert hab("show", "res", "--json", cwd=cwd, check_exit=0).stdout == first
    doc = json.loads(first)
    cell = doc["cells"][0]
    jem = next(r for r in cell["results"] if r["allocator"] == "jemalloc")
    for name in ("mean", "median", "std_dev", "median_abs_dev"):
        e = jem["estimates"][name]
        assert e["lower"] <= e["point"] <= e["upper"]
    ratio = jem["ratio_to_reference"]
    assert ratio["lower"] <= ratio["point"] <= ratio["upper"]
    assert jem["throughput"]["allocations_per_s"]["point"] > 0
    assert jem["engine_share"]["point"] > 0
    assert doc["reference"] == "system" and cell["dry"]["ok"]


def _start(tmp_path, *options: str) -> tuple[subprocess.Popen, str]:
    """`hab run` on a small rayon_boxes cell of system and jemalloc, in the
    background, with Ctrl-C at its default (Python leaves it ignored when it
    starts ignored, as in a background job). Its environment carries a tag of
    its own: the engines it starts inherit it, so they are found among the
    machine's processes (other runs of the same binaries included) even once
    orphaned."""
    tag = new_tag()
    argv = [sys.executable, "-m", "hab", "run", "-w", "rayon_boxes", "-a", "system,jemalloc"]
    argv += ["-p", "max_size=4KiB", "-p", "iters_per_task=200", "--threads", "2", "--warm-up-time", "0.1"]
    argv += ["--repetitions", "1", "--nresamples", "1000", "--out", "res", *options]
    proc = subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=tagged_env(tag),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return proc, tag


@pytest.mark.slow
def test_an_engine_killed_mid_cell_fails_only_that_cell(binaries, tmp_path):
    proc, tag = _start(tmp_path, "--no-dry", "--sample-size", "10", "--measurement-time", "3")
    deadline = time.monotonic() + 300
    killed = False
    while not killed and time.monotonic() < deadline and proc.poll() is None:
        pids = tagged_pids(tag, "hab-engine-jemalloc")
        if pids:
            time.sleep(0.5)  # past start-up, into the samples
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=300)
    assert killed, "never saw the jemalloc engine process"
    assert proc.returncode == 1, stderr
    units = tmp_path / "res" / "latest" / "units"
    jem = json.loads((units / "c00-jemalloc-r0.json").read_text())
    system = json.loads((units / "c00-system-r0.json").read_text())
    assert not jem["ok"] and jem["reason"].startswith("killed by SIGKILL")
    assert system["ok"]
    assert json.loads((tmp_path / "res" / "latest" / "run.json").read_text())["status"] == "complete"
    assert "FAILED" in next(line for line in stdout.splitlines() if line.startswith("jemalloc "))
    assert "! jemalloc: killed by SIGKILL" in stdout
    assert next(line for line in stdout.splitlines() if line.startswith("system ")).count("µs") >= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--allocators", "nosuch"], "unknown allocator 'nosuch'"),
        (["-a", "system", "--workloads", "nosuch"], "unknown workload 'nosuch'"),
        (["-a", "system", "-p", "nosuch=1"], "--param nosuch: none of the selected workloads"),
        (["-a", "system", "--threads", "0"], "thread counts must be >= 1"),
        (["-a", "system", "-p", "keep_prob=1.5"], "keep_prob must be in [0, 1]"),
        (["-a", "system", "-p", "max_size=0"], "max_size must be in 1..="),
        (["-a", "system", "-p", "max_size=lots"], "parameter max_size: cannot read 'lots'"),
        (["bad.toml"], "bad.toml: not valid TOML"),
        (["missing.toml"], "cannot read suite missing.toml"),
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--sample-size", "1"], "sample_size must be an integer >= 2"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        # issue 12's cases: NaN, infinity, absurd ranges, empty values, misleading messages
        (["--timeout", "nan"], "--timeout: timeout must be a number of seconds in (0, 604800], got nan"),
        (["--timeout", "inf"], "got inf"),
        (["nan.toml"], "nan.toml: timeout must be a number of seconds in (0, 604800], got nan"),
        (["--measurement-time", "1e300"], "measurement_time must be a number of seconds in [0, 3600], got 1e+300"),
        (["--warm-up-time", "nan"], "warm_up_time must be a number of seconds in [0, 3600], got nan"),
        (["--precision", "1%", "--budget", "nans"], "expected a positive duration of at most 30 days, got nans"),
        (["--rss-interval", "inf"], "--rss-interval: 0 (off) or seconds in [0.001, 3600], got inf"),
        (["--rss-interval", "nan"], "got nan"),
        (["--repetitions", "100000000"], "repetitions must be an integer in 1..10000"),
        (["empty.toml"], "allocators must be a non-empty list of names"),
        (["binary.toml"], "binary.toml: not a suite: not UTF-8 text"),
        (["both.toml"], "give preload (a shared object) or a crate (path or crate, with init), not both"),
        (["-a", ""], "--allocators: empty value"),
        (["-a", "system", "-w", ""], "--workloads: empty value"),
        (["-a", "system", "-t", ""], "--threads: empty value"),
        (["-a", "system", "--save-baseline", ""], "--save-baseline: empty value"),
        (
            ["-a", "system", "--preload", "a/b=/lib/x.so"],
            "lowercase words (a-z, 0-9, _), got 'a/b'",
        ),
        (["-a", "system", "--preload", "../evil=/lib/x.so"], "got '../evil'"),
        (["-a", "system", "--preload", "a" * 300 + "=/lib/x.so"], "allocator names are at most 40 characters, got 300"),
        (["-a", "system", "-p", "keep_prob=nan"], "parameter keep_prob: expected a finite number, got 'nan'"),
        # issue 13: typo suggestions
        (["-a", "jemaloc"], "unknown allocator 'jemaloc'; did you mean jemalloc? (known: system,"),
        (["-a", "system", "-w", "fastpth"], "unknown workload 'fastpth'; did you mean fastpath?"),
        (["--preset", "sed"], "unknown preset 'sed'; did you mean seed?"),
        (["-a", "system", "-w", "fastpath", "-p", "opps=3"], "has this parameter; did you mean ops?"),
        (["typo.toml"], "unknown parameter of fastpath: 'opps'; did you mean ops?"),
    ],
)
@pytest.mark.slow
def test_bad_input_is_one_line_exit_2_and_writes_nothing(binaries, tmp_path, args, message):
    (tmp_path / "bad.toml").write_text("x = [\n")
    bench = '[[benchmark]]\nworkload = "fastpath"\n'
    (tmp_path / "nan.toml").write_text("timeout = nan\n" + bench)
    (tmp_path / "typo.toml").write_text('allocators = ["system"]\n' + bench + "params = { opps = 3 }\n")
    (tmp_path / "empty.toml").write_text("allocators = []\n" + bench)
    (tmp_path / "binary.toml").write_bytes(bytes(range(128, 256)))
    (tmp_path / "both.toml").write_text('[allocator.x]\npath = "."\ninit = "X"\npreload = "/lib/x.so"\n' + bench)
    done = hab("run", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("hab: error: "), done.stderr
    assert message in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "hab-results").exists()


def test_show_without_a_run_is_a_user_error(tmp_path):
    done = hab("show", cwd=tmp_path)
    assert done.returncode == 2 and "no stored run at hab-results" in done.stderr


@pytest.mark.slow
def test_engine_describe_and_check(binaries):
    workloads = query.describe(binaries["system"])
    assert workloads["rayon_boxes"].has_dry
    valid = query.check(binaries["jemalloc"], {"workload": "rayon_boxes", "threads": 3})
    assert valid["params"]["tasks"] == 6 and valid["params"]["max_size"] == 1 << 20


@pytest.mark.slow
def test_an_interrupted_run_keeps_every_finished_process(binaries, tmp_path):
    proc, tag = _start(tmp_path, "--sample-size", "5", "--measurement-time", "1")
    units = tmp_path / "res" / "latest" / "units"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if units.is_dir() and any(units.glob("*.json")):
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    meta = json.loads((tmp_path / "res" / "latest" / "run.json").read_text())
    assert meta["status"] == "interrupted"
    stored = sorted(units.glob("*.json"))
    assert 1 <= len(stored) < 3
    assert all(json.loads(p.read_text())["ok"] for p in stored)
    assert not list((tmp_path / "res").rglob(".*.tmp"))
    assert not tagged_pids(tag, "hab-engine-system") and not tagged_pids(tag, "hab-engine-jemalloc")
    shown = hab("show", "res", cwd=tmp_path, check_exit=0).stdout
    assert shown == stdout and "status interrupted" in shown


def test_missing_cargo_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    env = {**os.environ, "PATH": str(tmp_path / "empty")}  # cargo may well be in /usr/bin
    done = subprocess.run(
        [sys.executable, "-m", "hab", "build"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr == "hab: error: cargo not found on PATH: install Rust (https://rustup.rs) to build the engine\n"


@pytest.mark.slow
def test_a_failed_build_is_a_one_line_error_naming_the_compiler_error(binaries, tmp_path):
    engine = paths.engine_dir()
    copy = tmp_path / "engine"
    shutil.copytree(engine, copy, ignore=shutil.ignore_patterns("target"))
    with open(copy / "allocators.toml", "a") as f:
        f.write('\n[broken]\nabout = "does not compile"\nglobal = "NoSuchType"\ninit = "NoSuchType"\n')
    env = {**os.environ, "HAB_ENGINE_DIR": str(copy), "CARGO_TARGET_DIR": str(paths.target_dir(engine))}
    done = subprocess.run(
        [sys.executable, "-m", "hab", "build", "-a", "broken"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert re.match(r"hab: error: building the engine failed: error\[E\d+\]: cannot find .*`NoSuchType`", last), last
    assert "full log:" in last
    assert (copy / "bins" / "src" / "bin" / "broken.rs").is_file()


@pytest.mark.slow
def test_unwritable_results_root_is_a_user_error(binaries, tmp_path):
    (tmp_path / "file").write_text("")
    done = hab("run", *SMALL, "--out", "file/res", cwd=tmp_path)
    assert done.returncode == 2 and "cannot write results under file/res" in done.stderr
