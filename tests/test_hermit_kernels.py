"""The Hermit kernel as a dimension: kernel source trees (a user's checkout
with a patch) next to the released tag in one run, each built once and
cached by content, its identity stored and shown; a tree that does not
build fails its own cells and names its build log; guest builds of two
hab processes at once wait for each other."""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from conftest import hab
from hab import paths
from hab.build import hermit_sources
from hab.records.unit import UnitRecord

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).with_name("fixtures") / "hermit"


def kernel_tree(into: Path, patch: str | None) -> Path:
    """Kernel v0.11.0 as a git checkout in `into`, with `patch` (a fixture)
    applied and not committed, as a kernel developer's tree would be."""
    folder = hermit_sources.location()
    tarball = folder / f"kernel-{hermit_sources.KERNEL_TAG}.tar.gz"
    if tarball.is_file():
        with tarfile.open(tarball) as tar:
            tar.extractall(into.parent / f".{into.name}", filter="data")
        (top,) = list((into.parent / f".{into.name}").iterdir())
        top.replace(into)
    else:
        shutil.copytree(folder / "kernel", into, ignore=shutil.ignore_patterns(".git", "target"))

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(into), *args], check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=hab", "-c", "user.email=hab@localhost", "commit", "-qm", "v0.11.0")
    if patch:
        git("apply", str(FIXTURES / patch))
    return into


@pytest.fixture(scope="module")
def kernels_run(tmp_path_factory):
    """fragmentation (many small live blocks: where the 128-byte alignment
    hurts) for system on the released kernel, on it without the
    over-alignment, and on a tree that does not build; instructions."""
    cwd = tmp_path_factory.mktemp("kernels")
    patched = kernel_tree(cwd / "kernel-no-overalign", "no-overalign.patch")
    broken = kernel_tree(cwd / "kernel-broken", "does-not-build.patch")
    done = hab(
        "run", "-w", "fragmentation", "-p", "count=1500", "-a", "system", "--target", "hermit", "-t", "1",
        "--metric", "instructions", "--sample-size", "2", "--repetitions", "2", "--no-dry",
        "--hermit-kernel", "v0.11.0",
        "--hermit-kernel", f"v0.11.0+no-overalign={patched}",
        "--hermit-kernel", str(broken),
        "--nresamples", "1000", "--out", "res",
        cwd=cwd, timeout=3600,
    )  # fmt: skip
    return cwd, done, (cwd / "res" / "latest").resolve(), patched


def test_each_kernel_is_a_row_with_its_identity(kernels_run):
    cwd, done, run, patched = kernels_run
    assert done.returncode == 1, done.stderr[-3000:]  # the broken kernel's cells failed
    units = {u["unit"]["allocator"]: u for u in (json.loads(p.read_text()) for p in (run / "units").glob("*.json"))}
    assert set(units) == {"system@v0.11.0", "system@v0.11.0+no-overalign", "system@kernel-broken"}
    for row in ("system@v0.11.0", "system@v0.11.0+no-overalign"):
        record = UnitRecord.from_dict(units[row])
        assert record.ok and record.guest.kernel == row.split("@")[1], record.reason
    kernels = {k["label"]: k for k in json.loads((run / "run.json").read_text())["targets"]["hermit"]["kernels"]}
    assert list(kernels) == ["v0.11.0", "v0.11.0+no-overalign", "kernel-broken"]
    tag, mine = kernels["v0.11.0"], kernels["v0.11.0+no-overalign"]
    assert tag["version"] == mine["version"] == "0.11.0" and tag["commit"] is None and tag["problem"] is None
    head = subprocess.run(["git", "-C", str(patched), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert mine["commit"] == head.strip() and mine["dirty"] is True and mine["content"] != tag["content"]
    assert mine["source"] == str(patched.resolve())
    out = done.stdout
    assert "hermit kernel v0.11.0+no-overalign (0.11.0, git " in out and "with changes" in out


def test_a_kernel_that_does_not_build_fails_only_its_own_cells(kernels_run):
    _, done, run, _ = kernels_run
    failed = next(json.loads(p.read_text()) for p in (run / "units").glob("*kernel-broken*.json"))
    assert failed["failure_kind"] == "build"
    reason = failed["reason"]
    assert "hermit kernel kernel-broken not built" in reason and "a kernel that does not build" in reason, reason
    log = Path(reason.split("full log: ")[1].rstrip(")"))
    assert log.is_file() and "a kernel that does not build" in log.read_text()
    assert "Traceback" not in done.stderr


def test_the_heap_without_over_alignment_does_fewer_instructions(kernels_run):
    cwd, _, run, _ = kernels_run
    doc = json.loads(hab("show", str(run), "--json", cwd=cwd, check_exit=0).stdout)
    (cell,) = doc["cells"]
    rows = {r["allocator"]: r for r in cell["results"]}
    assert cell["reference"] == "system@v0.11.0"
    ratio = rows["system@v0.11.0+no-overalign"]["ratio_to_reference"]["point"]
    assert ratio < 0.9, ratio  # the over-alignment's cost (docs/guests.md has the figures)


def test_a_second_run_reuses_every_kernel_build(kernels_run):
    cwd, _, _, patched = kernels_run
    again = hab(
        "build", "--target", "hermit", "-a", "system", "--hermit-kernel", f"mine={patched}", cwd=cwd, timeout=1800
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "building the Hermit kernel" not in again.stderr  # found by content, no cargo run


def test_a_guest_build_waits_for_another_one_in_the_same_cache(kernels_run, tmp_path):
    """While another builder holds the Hermit cache's lock (this test, as a
    second hab would), `hab build` says whom it waits for, then builds."""
    lock_path = paths.cache_dir() / "hermit" / ".build-lock"
    with open(lock_path, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"the test (pid {os.getpid()})")
        lock.flush()
        argv = [sys.executable, "-m", "hab", "build", "--target", "hermit", "-a", "system"]
        with open(tmp_path / "err", "w") as err:
            build = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=err, text=True)
        said = ""
        for _ in range(600):
            said = (tmp_path / "err").read_text()
            if "waiting for" in said or build.poll() is not None:
                break
            time.sleep(0.5)
        assert build.poll() is None and f"waiting for the test (pid {os.getpid()})" in said, said
        lock.truncate(0)
        fcntl.flock(lock, fcntl.LOCK_UN)
    assert build.wait(timeout=1800) == 0, (tmp_path / "err").read_text()[-2000:]
