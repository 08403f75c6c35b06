"""`--metric instructions` inside guests: QEMU's icount turns the engine's
own samples into guest instruction counts, in Hermit (1 and 2 vCPUs) and in
the Linux VM; identical processes count identically, a planted change is a
regression, and counts of different methods are not compared unasked."""

import json
from pathlib import Path

import pytest

from conftest import hab
from hab.records.unit import UnitRecord

pytestmark = pytest.mark.slow

#: A small cell of the seed's workload (2 tasks x 200 boxes of up to 4 KiB, 8 kept).
SMALL = ["-w", "rayon_boxes", "-p", "max_size=4KiB", "-p", "iters_per_task=200", "-p", "keep_max=8"]
COUNTED = ["--metric", "instructions", "--sample-size", "3", "--no-dry", "--nresamples", "1000", "--out", "res"]


def _units(run: Path) -> list[UnitRecord]:
    return [UnitRecord.from_dict(json.loads(p.read_text())) for p in sorted((run / "units").glob("*.json"))]


def _per_iteration(run: Path) -> dict[tuple[str, str], list[float]]:
    """(cell, allocator) -> instructions per iteration of each process."""
    out: dict = {}
    for u in _units(run):
        assert u.ok, (u.unit.id, u.reason)
        out.setdefault((u.unit.cell, u.unit.allocator), []).append(sum(u.counts.of("Ir")) / sum(u.samples.iters))
    return out


@pytest.fixture(scope="module")
def hermit_counted(tmp_path_factory):
    """A counted Hermit run at 1 and 2 vCPUs (system: the kernel's heap;
    talc), and one at 1 vCPU with about 2% more instructions planted in
    system's processes."""
    cwd = tmp_path_factory.mktemp("hermit-counted")
    base = [*SMALL, "-a", "system,talc", "--target", "hermit", "--repetitions", "2", *COUNTED]
    first = hab("run", *base, "-t", "1,2", cwd=cwd, timeout=3600)
    assert first.returncode == 0, first.stderr[-3000:]
    a = (cwd / "res" / "latest").resolve()
    planted = hab("run", *base, "-t", "1", "--spin-turns", "system=20", cwd=cwd, timeout=3600)
    assert planted.returncode == 0, planted.stderr[-3000:]
    return cwd, a, (cwd / "res" / "latest").resolve(), first


def test_hermit_counts_repeat_exactly_at_one_and_two_vcpus(hermit_counted):
    cwd, a, _, first = hermit_counted
    meta = json.loads((a / "run.json").read_text())
    hermit = meta["targets"]["hermit"]
    assert hermit["counter"] == "qemu-icount" and hermit["accelerator"] == "tcg"
    units = _units(a)
    assert {(u.unit.allocator, u.guest.vcpus) for u in units} == {
        ("system", 1),
        ("system", 2),
        ("talc", 1),
        ("talc", 2),
    }
    for u in units:
        assert u.counts.tool == "qemu-icount" and len(u.counts.of("Ir")) == 3
        assert u.hello["fixed"]["per_sample"] == u.samples.iters[0]
        assert u.guest.boot_seconds is None  # the engine's wall time is virtual under icount
        # every sample spans thousands of Hermit's 1000-instruction clock ticks
        assert min(u.counts.of("Ir")) > 1_000_000, u.counts.of("Ir")
    for key, values in _per_iteration(a).items():
        assert max(values) / min(values) - 1 <= 0.001, (key, values)  # the A/A target: within 0.1%
    assert "metric: instructions counted by QEMU's icount in hermit" in first.stdout
    assert "WARNING: hermit ran on an emulated CPU" not in first.stdout
    doc = json.loads(hab("show", str(a), "--json", cwd=cwd, check_exit=0).stdout)
    assert doc["metric"] == "instructions"
    talc = next(r for c in doc["cells"] for r in c["results"] if r["allocator"] == "talc")
    assert 100 < talc["per_allocation"]["point"] < 100_000, talc["per_allocation"]


def test_a_planted_change_in_hermit_is_a_regression(hermit_counted):
    cwd, a, planted, _ = hermit_counted
    args = ("compare", str(a), str(planted), "--absolute")
    gate = hab(*args, "--fail-on-regression", cwd=cwd, check_exit=1)
    assert "counted by qemu-icount" in gate.stdout, gate.stdout
    rows = {
        r["allocator"]: r["change"]
        for c in json.loads(hab(*args, "--json", cwd=cwd).stdout)["cells"]
        for r in c["results"]
    }
    assert rows["system"]["verdict"] == "regressed" and 1.005 < rows["system"]["ratio"]["point"] < 1.2, rows
    assert rows["talc"]["verdict"] == "no change" and rows["talc"]["ratio"]["point"] == 1.0, rows


def test_counts_of_different_methods_are_compared_only_when_asked(hermit_counted, tmp_path):
    cwd, a, _, _ = hermit_counted
    native = hab("run", *SMALL, "-a", "system,talc", "-t", "1", *COUNTED, cwd=tmp_path, timeout=1800)
    assert native.returncode == 0, native.stderr[-3000:]
    n = (tmp_path / "res" / "latest").resolve()
    refused = hab("compare", str(n), str(a), "--targets", "native,hermit", cwd=cwd, check_exit=2)
    assert "counted by callgrind" in refused.stderr and "--across-methods" in refused.stderr
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    both = hab("compare", str(n), str(a), "--targets", "native,hermit", "--across-methods", cwd=cwd, check_exit=0)
    assert "counted by callgrind" in both.stdout and "counted by qemu-icount" in both.stdout
    assert "WARNING: counts of different methods" in both.stdout


def test_linux_vm_counts_repeat_exactly_at_two_vcpus(tmp_path):
    """The kernel boots one CPU, the engine brings the second online (QEMU
    7.2 hangs the kernel's own SMP bring-up under icount)."""
    options = ["-a", "system,jemalloc", "--target", "linux-vm", "-t", "2", "--repetitions", "2", *COUNTED]
    done = hab("run", *SMALL, *options, cwd=tmp_path, timeout=3600)
    assert done.returncode == 0, done.stderr[-3000:]
    run = (tmp_path / "res" / "latest").resolve()
    units = _units(run)
    assert sorted(u.unit.allocator for u in units) == ["jemalloc", "jemalloc", "system", "system"]
    for u in units:
        assert u.hello["os"] == "linux" and u.hello["cpus"] == 2 and u.guest.vcpus == 2
        assert u.counts.tool == "qemu-icount"
    for key, values in _per_iteration(run).items():
        assert max(values) / min(values) - 1 <= 0.001, (key, values)
