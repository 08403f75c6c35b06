"""Guest runs without a guest: the hypervisors' command lines, the spec on a
kernel command line, the initramfs format, and the verdicts a serial log
gives, with a stand-in hypervisor (a Python script) writing the log."""

import base64
import json
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import hab
from hab import debian
from hab.build import cpio
from hab.build.guests import GuestImage
from hab.execution import guest
from hab.execution.protocol import MARKER
from hab.records.failure import FailureKind as Kind
from hab.records.target import TargetInfo

HERMIT = TargetInfo("hermit", "tcg", None, "max", 1024)
LINUX = TargetInfo("linux-vm", "kvm", None, "host", 512)
IMAGE = GuestImage(Path("/img/loader"), Path("/img/app"))
GOOD = [
    '{"type":"hello","protocol":1}',
    '{"type":"warmup","iters":3,"ns":100}',
    '{"type":"plan","mode":"flat","iters":[2,2],"met_ns":33.0,"expected_ns":132.0}',
    '{"type":"sample","i":0,"iters":2,"ns":70}',
    '{"type":"sample","i":1,"iters":2,"ns":66}',
    '{"type":"work","allocations":10,"bytes":100}',
    '{"type":"live","peak_bytes":1000,"start_rss_kib":null}',
    '{"type":"rusage","max_rss_kib":null}',
    '{"type":"done","wall_ns":500000000}',
]


def test_the_spec_crosses_a_kernel_command_line_as_one_base64url_word():
    spec = {"workload": "rayon_boxes", "params": {"init": "zero", "keep_prob": 0.01}, "threads": 2}
    word = guest.spec_argument(spec)
    assert word.startswith("b64:") and all(c.isalnum() or c in "-_" for c in word[4:])
    decoded = json.loads(base64.urlsafe_b64decode(word[4:] + "=" * (-len(word[4:]) % 4)))
    assert decoded == {"protocol": 1, **spec}


def test_qemu_command_lines_for_hermit_and_linux_vm(tmp_path):
    log = tmp_path / "serial.log"
    argv = guest.qemu_argv(HERMIT, IMAGE, 2, ["b64:e30"], log)
    assert argv[:5] == ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max"]
    assert argv[argv.index("-smp") + 1] == "2" and argv[argv.index("-m") + 1] == "1024M"
    assert argv[argv.index("-serial") + 1] == f"file:{log}"
    assert argv[argv.index("-kernel") + 1] == "/img/loader" and argv[argv.index("-initrd") + 1] == "/img/app"
    assert "isa-debug-exit,iobase=0xf4,iosize=0x04" in argv and "-no-reboot" in argv
    assert argv[argv.index("-append") + 1].endswith("-- b64:e30")
    linux = guest.qemu_argv(LINUX, IMAGE, 1, ["b64:e30"], log)
    assert linux[1:5] == ["-accel", "kvm", "-cpu", "host"] and linux[linux.index("-m") + 1] == "512M"
    assert linux[linux.index("-append") + 1] == "console=ttyS0 panic=-1 quiet -- b64:e30"
    assert "-net" in linux and "-freq" not in " ".join(linux)


def test_uhyve_runs_the_application_with_its_own_options():
    uhyve = TargetInfo("uhyve", "kvm", None, "host", 2048)
    argv = guest.uhyve_argv("/usr/bin/uhyve", uhyve, GuestImage(Path("/img/app")), 4, ["b64:e30"])
    assert argv == ["/usr/bin/uhyve", "--cpu-count", "4", "--memory-size", "2048MiB", "/img/app", "--", "b64:e30"]


def test_guest_statuses_read_like_native_exit_codes():
    assert guest.guest_status("linux-vm", 139) == -11  # the init's 128 + SIGSEGV
    assert guest.guest_status("linux-vm", 2) == 2
    assert guest.guest_status("hermit", -1) == -6  # Hermit's abort
    assert guest.guest_status("hermit", 0) == 0


def test_the_initramfs_is_newc_with_init_executable(tmp_path):
    init = tmp_path / "engine"
    init.write_bytes(b"\x7fELF" + b"x" * 1001)
    out = tmp_path / "initrd.cpio"
    cpio.write_init_archive(init, out)
    data = out.read_bytes()
    entries, at = [], 0
    while True:
        header = data[at : at + 110]
        assert header[:6] == b"070701" and len(data) % 4 == 0
        fields = [int(header[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[at + 110 : at + 110 + namesize - 1].decode()
        at += 110 + namesize
        at += -at % 4
        body = data[at : at + size]
        at += size + (-size % 4)
        if name == "TRAILER!!!":
            break
        entries.append((name, oct(mode), body))
    assert [(n, m) for n, m, _ in entries] == [("dev", "0o40755"), ("proc", "0o40755"), ("init", "0o100755")]
    assert entries[2][2] == init.read_bytes()
    before = out.stat().st_mtime_ns
    cpio.write_init_archive(init, out)
    assert out.stat().st_mtime_ns == before, "an unchanged archive is not rewritten"


def fake_hypervisor(tmp_path: Path, body: str) -> list[str]:
    """A stand-in QEMU: writes `body`'s lines to the -serial file, then runs its tail."""
    script = tmp_path / "qemu.py"
    script.write_text(
        "import sys, time\nlog = open(sys.argv[sys.argv.index('-serial') + 1][5:], 'w')\n" + textwrap.dedent(body)
    )
    return [sys.executable, str(script), "-serial", f"file:{tmp_path / 'serial.log'}"]


def serial(lines: list[str]) -> str:
    return "".join(f"log.write({line!r} + '\\r\\n'); log.flush()\n" for line in lines)


def run(tmp_path, body, target="hermit", timeout=30.0):
    return guest.run_guest(fake_hypervisor(tmp_path, body), target, tmp_path / "serial.log", timeout, 2)


def test_a_guest_that_reports_exit_status_0_delivers_its_records_and_boot_time(tmp_path):
    lines = ["\x1b[0;32m[0][INFO] kernel noise\x1b[0m", *(MARKER + r for r in GOOD), "[0][INFO] exit status 0"]
    outcome = run(tmp_path, serial(lines) + "time.sleep(0.7)\nsys.exit(3)\n")
    assert outcome.ok, outcome.failure
    assert outcome.exit_code == 0 and outcome.guest.hypervisor_status == 3 and outcome.guest.vcpus == 2
    assert outcome.guest.boot_seconds is not None and 0.1 < outcome.guest.boot_seconds < 30
    assert "kernel noise" in outcome.stderr and "\x1b" not in outcome.stderr


def test_guest_failures_fail_with_the_right_kind(tmp_path):
    panic = serial(
        [
            MARKER + GOOD[0],
            "thread 'main' (1) panicked at src/main.rs:3:5:",
            "boom",
            "Number of interrupts",
            "[0][FPU]: 1",
            "exit status -1",
        ]
    )
    outcome = run(tmp_path, panic + "sys.exit(1)\n")
    assert outcome.failure.kind is Kind.SIGNAL
    assert outcome.failure.reason == "killed by SIGABRT: thread 'main' (1) panicked at src/main.rs:3:5: boom"
    oom = run(tmp_path, serial(["memory allocation of 4096 bytes failed", "exit status -1"]) + "sys.exit(1)\n")
    assert oom.failure.kind is Kind.OUT_OF_MEMORY
    crash = run(tmp_path, serial(["exit status 139"]) + "sys.exit(1)\n", target="linux-vm")
    assert crash.failure.reason == "killed by SIGSEGV" and crash.exit_code == -11
    silent = run(tmp_path, serial(["TLS is at 0x1000"]) + "sys.exit(0)\n")
    assert silent.failure.kind is Kind.EXIT
    assert silent.failure.reason == "the guest ended without an exit status (QEMU exit 0): TLS is at 0x1000"
    garbage = run(tmp_path, serial([MARKER + "{oops", "exit status 0"]) + "sys.exit(3)\n")
    assert garbage.failure.kind is Kind.GARBAGE


def test_a_hanging_guest_is_killed_at_the_timeout_and_keeps_its_records(tmp_path):
    outcome = run(tmp_path, serial([MARKER + GOOD[0]]) + "time.sleep(60)\n", timeout=1.0)
    assert (outcome.failure.kind, outcome.failure.reason) == (Kind.TIMEOUT, "timeout after 1 s")
    assert outcome.records[0]["type"] == "hello" and outcome.seconds < 30


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "hermit", "--latency"], "--latency cannot run in hermit"),
        (["--target", "vax"], "--target: expected targets among native, hermit, linux-vm, uhyve"),
        (["--target", "hermit", "--accel", "hvf"], "unknown --accel 'hvf' (known: kvm, tcg)"),
        (["--target", "hermit", "--guest-memory", "64MiB"], "at least 128MiB"),
        (["--target", "hermit", "--vcpus", "0"], "vcpus must be an integer in 1..255"),
        (["--target", "hermit", "-a", "jemalloc"], "allocator jemalloc runs on none of the targets hermit"),
    ],
)
def test_bad_target_options_are_one_line_errors(tmp_path, args, message):
    done = hab("run", *args, cwd=tmp_path, check_exit=2)
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_debian_packages_below_their_minimum_version_count_as_missing():
    # dpkg itself is installed on any Debian machine; its version is far above 1.0 and below 999.
    assert debian.missing(["dpkg"], {"dpkg": "1.0"}) == []
    assert debian.missing(["dpkg"], {"dpkg": "999"}) == ["dpkg"]
    assert debian.missing(["hab-no-such-package"]) == ["hab-no-such-package"]
    assert debian.at_least("1.96.0+dfsg1-1~deb12u2", "1.88") and not debian.at_least("1.85.0+dfsg3-1~deb12u3", "1.88")
