"""Faults of the harness itself: hab killed at random moments, runs resumed."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import hab
from hab.execution import memlimit
from hab.records.run import RunStatus
from hab.store import runs
from processes import new_tag, tagged_env, tagged_pids

QUICK = ["-a", "system,talc", "-w", "fastpath", "--repetitions", "3", "--sample-size", "3"]
QUICK += ["--measurement-time", "0.1", "--warm-up-time", "0.01", "--nresamples", "1000", "--max-rss", "256MiB"]


def _cgroups_of(pid: int) -> list[Path]:
    """The cgroups hab process `pid` made for its engines (none where it cannot make any)."""
    layout = memlimit._own_cgroup()
    return list(layout.parent.glob(f"hab-{pid}-*")) if layout else []


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _kill_and_resume(tmp_path: Path, trial: int, delay: float) -> bool:
    """One trial: `hab run`, SIGKILL after `delay` seconds of its run, checks
    that nothing of it survives, resumes it. False if it finished first."""
    tag, out, tmp = new_tag(), tmp_path / f"res{trial}", tmp_path / f"tmp{trial}"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hab", "run", *QUICK, "--out", str(out)],
        cwd=tmp_path,
        env=tagged_env(tag) | {"TMPDIR": str(tmp)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert _wait_until(lambda: (out / "latest" / "run.json").is_file() or proc.poll() is not None, 300)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Nothing of hab's survives it: no engine, no guardian, no cgroup.
    assert _wait_until(lambda: not tagged_pids(tag), 15), f"trial {trial}: {tagged_pids(tag)} survived"
    assert _wait_until(lambda: not _cgroups_of(proc.pid), 15), f"trial {trial}: cgroups left"
    assert not list(tmp.glob("hab-*")), f"trial {trial}: temporary directories left"
    path = runs.resolve(str(out), tmp_path)
    meta = runs.read_meta(path)
    if meta.status is RunStatus.COMPLETE:
        return False
    assert meta.status is RunStatus.ABANDONED
    units = path / "units"
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in units.glob("*.json")}
    done = hab("run", "--resume", str(out), "--json", cwd=tmp_path, check_exit=0)
    said = " ".join(done.stderr.split())
    assert f"{len(before)} of {len(meta.plan.units)} engine processes stored" in said
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in units.glob("*.json")}
    # The full plan, every unit once; what was stored before was not run again.
    assert sorted(after) == sorted(f"{u.id}.json" for u in meta.plan.units)
    assert all(after[name] == stamp for name, stamp in before.items())
    resumed = json.loads((path / "run.json").read_text())
    assert resumed["status"] == "complete" and resumed["resumed"] == 1
    assert len(json.loads(done.stdout)["cells"]) == len(meta.plan.cells)
    return True


@pytest.mark.slow
def test_hab_killed_at_random_moments_leaves_no_engine_and_resume_completes(binaries, tmp_path):
    rng = random.Random(20261201)
    trials = 20
    mid_run = sum(_kill_and_resume(tmp_path, trial, rng.uniform(0.0, 1.0)) for trial in range(trials))
    print(f"{trials} trials, {mid_run} killed mid-run and resumed")
    assert mid_run >= trials // 2


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (root only: skipped elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave_kib: int) -> Path:
    """Fills `disk` but for about `leave_kib` KiB."""
    filler = disk / "filler"
    free = os.statvfs(disk)
    filler.write_bytes(b"\0" * max(0, free.f_bavail * free.f_frsize - leave_kib * 1024))
    return filler


@pytest.mark.slow
def test_a_disk_full_mid_run_stops_with_one_line_and_resume_completes(binaries, tmp_path, small_disk):
    filler = _fill(small_disk, 40)
    out = small_disk / "res"
    done = hab("run", *QUICK, "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("hab: error: cannot write ") and "No space left on device" in last
    assert "finished processes are stored" in last and "hab run --resume" in last
    assert "Traceback" not in done.stderr
    path = runs.resolve(str(out), tmp_path)
    meta = runs.read_meta(path)
    assert meta.status is RunStatus.INTERRUPTED
    stored = len(list((path / "units").glob("*.json")))
    assert 0 < stored < len(meta.plan.units)
    assert not list(path.rglob(".*.tmp"))
    filler.unlink()
    hab("run", "--resume", str(out), cwd=tmp_path, check_exit=0)
    assert runs.load(path).meta.status is RunStatus.COMPLETE
    assert len(list((path / "units").glob("*.json"))) == len(meta.plan.units)


@pytest.mark.slow
def test_a_full_disk_at_the_start_leaves_no_run_directory(binaries, tmp_path, small_disk):
    _fill(small_disk, 0)
    done = hab("run", *QUICK, "--out", str(small_disk / "res"), cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "cannot write results under" in done.stderr and "No space left on device" in done.stderr
    root = small_disk / "res"
    assert not root.exists() or not any(root.iterdir())
