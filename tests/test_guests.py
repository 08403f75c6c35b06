"""Real guests under QEMU: the engine inside Hermit (system: the kernel's
own heap; talc) at 1 and 2 vCPUs and inside a Linux VM (system, jemalloc),
analysed like native runs; a guest that panics and one that hangs each fail
only their own cell; native and Hermit side by side in `hab compare`.

The images are built into the cache (`hab build --target`) from
../shared/hermit (or $HAB_HERMIT_SOURCES) and Debian's packages; the first
build takes minutes, later ones seconds. Without KVM the guests run under
TCG: the times are emulated and only their shape is checked here."""

import json
from pathlib import Path

import pytest

from conftest import hab

pytestmark = pytest.mark.slow

CRATES = Path(__file__).with_name("allocators")
TINY = [
    "-w",
    "rayon_boxes",
    "-p",
    "max_size=4KiB",
    "-p",
    "iters_per_task=100",
    "-p",
    "keep_max=8",
    "--sample-size",
    "4",
    "--warm-up-time",
    "0.05",
    "--measurement-time",
    "0.3",
    "--nresamples",
    "1000",
    "--seed",
    "5",
]


def _units(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run / "units").glob("*.json"))]


@pytest.fixture(scope="module")
def hermit_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("hermit")
    done = hab(
        "run",
        *TINY,
        "-a",
        "system,talc",
        "--target",
        "hermit",
        "--threads",
        "1,2",
        "--repetitions",
        "2",
        "--out",
        "res",
        cwd=cwd,
        timeout=3600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return cwd, done, (cwd / "res" / "latest").resolve()


def test_hermit_runs_system_and_talc_at_one_and_two_vcpus(hermit_run):
    _, done, run = hermit_run
    meta = json.loads((run / "run.json").read_text())
    hermit = meta["targets"]["hermit"]
    assert hermit["accelerator"] in ("kvm", "tcg") and hermit["memory_mib"] == 1024
    assert "kernel" in hermit["images"] and "toolchain" in hermit["images"]
    units = _units(run)
    assert {(u["unit"]["allocator"], u["guest"]["vcpus"]) for u in units} >= {
        ("system", 1),
        ("system", 2),
        ("talc", 1),
        ("talc", 2),
    }
    for u in units:
        assert u["ok"], u["reason"]
        assert u["exit_code"] == 0 and u["hello"]["os"] == "hermit", u["unit"]
        assert u["hello"]["threads"] == u["guest"]["vcpus"]
        assert 0 < u["guest"]["boot_seconds"] < u["seconds"]
        assert len(u["samples"]["ns"]) == 4 and u["rusage"]["max_rss_kib"] is None
    out = done.stdout
    assert "on hermit" in out and "target hermit:" in out
    if hermit["accelerator"] == "tcg":
        assert "WARNING: hermit ran on an emulated CPU (TCG)" in out
    # analysed like a native run: intervals and ratios to system in every cell
    doc = json.loads(hab("show", "res", "--json", cwd=hermit_run[0], check_exit=0).stdout)
    for cell in doc["cells"]:
        assert cell["target"] == "hermit"
        talc = next(r for r in cell["results"] if r["allocator"] == "talc")
        ratio = talc["ratio_to_reference"]
        assert ratio["lower"] <= ratio["point"] <= ratio["upper"]
    assert doc["boot_seconds"]["hermit"]["point"] > 0


def test_linux_vm_runs_system_and_jemalloc(tmp_path):
    done = hab(
        "run",
        *TINY,
        "-a",
        "system,jemalloc",
        "--target",
        "linux-vm",
        "--threads",
        "2",
        "--no-dry",
        "--out",
        "res",
        cwd=tmp_path,
        timeout=3600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = (tmp_path / "res" / "latest").resolve()
    units = _units(run)
    assert {u["unit"]["allocator"] for u in units} == {"system", "jemalloc"}
    for u in units:
        assert u["ok"], u["reason"]
        assert u["hello"]["os"] == "linux" and u["guest"]["vcpus"] == 2 and u["exit_code"] == 0
        assert u["rusage"]["max_rss_kib"] > 0, "a Linux guest has /proc"
        assert u["guest"]["boot_seconds"] > 0
    assert "on linux-vm" in done.stdout and "target linux-vm:" in done.stdout


SUITE = """
targets = ["hermit"]
allocators = ["system"]
timeout = 20

[allocator.counting]
path = "{crates}/counting_alloc"
init = "Counting::new(7)"
setup = "ALLOC.enable();"

[allocator.panicking]
path = "{crates}/counting_alloc"
init = "Counting::new(1)"
setup = 'panic!("boom at start");'

[allocator.hanging]
path = "{crates}/counting_alloc"
init = "Counting::new(2)"
setup = "loop {{ std::hint::spin_loop(); }}"

[sampling]
sample_size = 3
warm_up_time = 0.05
measurement_time = 0.2

[[benchmark]]
workload = "fastpath"
params = {{ ops = 200 }}
"""


def test_a_panicking_and_a_hanging_guest_fail_only_their_cells(tmp_path):
    (tmp_path / "suite.toml").write_text(SUITE.format(crates=CRATES))
    done = hab("run", "suite.toml", "--threads", "1", "--no-dry", "--out", "res", cwd=tmp_path, timeout=3600)
    assert done.returncode == 1, done.stderr[-3000:]
    units = {u["unit"]["allocator"]: u for u in _units((tmp_path / "res" / "latest").resolve())}
    assert units["system"]["ok"] and units["counting"]["ok"], "a user crate with enable() runs in Hermit"
    assert "counting_alloc: enabled (tag 7)" in units["counting"]["stderr"]
    panicked = units["panicking"]
    assert panicked["failure_kind"] == "signal" and "boom at start" in panicked["reason"], panicked["reason"]
    hung = units["hanging"]
    assert hung["failure_kind"] == "timeout" and hung["reason"].startswith("timeout after")
    assert "panicking: killed by SIGABRT" in done.stdout


def test_native_and_hermit_side_by_side(tmp_path):
    done = hab(
        "run",
        *TINY,
        "-a",
        "system,talc",
        "--target",
        "native,hermit",
        "--threads",
        "1",
        "--no-dry",
        "--out",
        "res",
        cwd=tmp_path,
        timeout=3600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    headings = [line for line in done.stdout.splitlines() if line.startswith("c0")]
    assert [h.split()[3] for h in headings] == ["native", "hermit"]  # c00 rayon_boxes on native  ...
    assert "Summary over 1 cell on native" in done.stdout and "Summary over 1 cell on hermit" in done.stdout
    side = hab("compare", "res", "--targets", "native,hermit", cwd=tmp_path, check_exit=0).stdout
    assert "on native" in side.splitlines()[0] and "on hermit" in side.splitlines()[1]
    assert "talc" in side and "system" in side
    doc = json.loads(hab("compare", "res", "--targets", "native,hermit", "--json", cwd=tmp_path, check_exit=0).stdout)
    assert doc["settings"]["targets"] == ["native", "hermit"]
    assert {r["allocator"] for c in doc["cells"] for r in c["results"]} == {"system", "talc"}


def test_uhyve_refuses_with_one_line_where_kvm_is_not_usable(tmp_path):
    done = hab("run", "--target", "uhyve", "-a", "system", "-w", "fastpath", "--no-dry", cwd=tmp_path, timeout=3600)
    if done.returncode == 0:
        pytest.skip("KVM and uhyve work on this machine")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("hab: error: --target uhyve") and ("KVM" in last or "uhyve not found" in last), last
    assert not (tmp_path / "hab-results").exists()
