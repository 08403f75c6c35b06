"""One engine process inside a guest: the hypervisor's command line, the
run, and its verdict from the serial log.

The spec travels base64url-encoded on the kernel command line (`b64:...`:
no quoting survives both Hermit's and Linux's argument splitting intact);
records come back on the serial console, which QEMU writes to a file (read
from a file, never a lost last line). The guest's own exit status is the
console's `exit status N` line: QEMU's status only carries what the guest
wrote to the `isa-debug-exit` port, `(N << 1) | 1`. A guest that panics,
hangs, prints garbage or stops early fails like a native process, with the
same failure kinds; boot time is the wall time outside the engine's own.
"""

import base64
import re
import shutil
import signal
import time
from pathlib import Path

from hab.build.guests import GuestImage
from hab.errors import UserError
from hab.execution import icount
from hab.execution.child import Child
from hab.execution.counting import STRING_TUNABLES
from hab.execution.process import STDERR_KEPT, Outcome, judge
from hab.execution.protocol import MARKER, parse_output, spec_json
from hab.records.failure import Failure, FailureKind
from hab.records.target import HERMIT, LINUX_VM, UHYVE, TargetInfo
from hab.records.unit import GuestRun

QEMU = "qemu-system-x86_64"
_EXIT = re.compile(r"exit status (-?\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc")
#: Seconds a guest may take beyond a native process's timeout (boot, power-off).
BOOT_ALLOWANCE = 30.0


def require_qemu(target: str) -> None:
    """The one-line reason QEMU cannot run `target`'s guests, raised when it is missing."""
    if shutil.which(QEMU) is None:
        raise UserError(f"{QEMU} not found: `hab setup --target {target}` installs qemu-system-x86")


def spec_argument(spec: dict) -> str:
    """A spec as one kernel command-line word."""
    return "b64:" + base64.urlsafe_b64encode(spec_json(spec).encode()).decode().rstrip("=")


def host_mhz() -> int | None:
    """The host CPU's clock in MHz (`/proc/cpuinfo`): Hermit measures its own
    under TCG and is off by up to 7% unless told."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return round(float(line.split(":", 1)[1]))
    except (OSError, ValueError):
        return None
    return None


def qemu_argv(target: TargetInfo, image: GuestImage, vcpus: int, args: list[str], log: Path) -> list[str]:
    """QEMU's command line for one engine process of `target` with engine arguments `args`."""
    accel = ["-accel", "kvm", "-cpu", "host"] if target.accelerator == "kvm" else ["-accel", "tcg", "-cpu", target.cpu]
    counted = target.counter == icount.METHOD
    argv = [
        QEMU,
        *accel,
        *(icount.QEMU_OPTIONS if counted else ()),
        "-smp",
        str(vcpus),
        "-m",
        f"{target.memory_mib}M",
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        f"file:{log}",
        "-no-reboot",
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
        "-kernel",
        str(image.kernel),
        "-initrd",
        str(image.initrd),
    ]
    if target.name == HERMIT:
        mhz = icount.HERMIT_FREQ_MHZ if counted else host_mhz() if target.accelerator == "tcg" else None
        boot = ([f"-freq {mhz}"] if mhz else []) + ["--", *args]
        return [*argv, "-nic", "none", "-append", " ".join(boot)]
    if target.name == LINUX_VM:
        # Under icount the kernel boots one CPU and the engine, as init, brings
        # the others online (QEMU 7.2's round-robin starves a second vCPU during
        # the kernel's own SMP bring-up); the TSC, which counts instructions
        # then, is the clock. glibc's memset and memcpy avoid rep string
        # instructions, as in Valgrind's counted processes (QEMU counts each of
        # their steps): the kernel hands `NAME=value` words before `--` to init
        # as its environment.
        tunables = f"GLIBC_TUNABLES={':'.join(STRING_TUNABLES)}"
        counting = ["maxcpus=1", "tsc=reliable", tunables] if counted else []
        words = ["console=ttyS0", "panic=-1", "quiet", *counting, "--", *args]
        return [*argv, "-net", "none", "-append", " ".join(words)]
    raise ValueError(f"no QEMU command line for target {target.name}")


def uhyve_argv(uhyve: str, target: TargetInfo, image: GuestImage, vcpus: int, args: list[str]) -> list[str]:
    """uhyve's command line: it runs the application itself, forwards the
    guest's console to its stdout and exits with the guest's status."""
    return [
        uhyve,
        "--cpu-count",
        str(vcpus),
        "--memory-size",
        f"{target.memory_mib}MiB",
        str(image.kernel),
        "--",
        *args,
    ]


def _console(log: Path) -> str:
    try:
        return _ANSI.sub("", log.read_bytes().decode(errors="replace")).replace("\r", "")
    except OSError:
        return ""


def guest_status(target: str, status: int) -> int:
    """The guest's `exit status N` as the runner reads exit codes (negative: a signal)."""
    if target == LINUX_VM and status > 128:
        return -(status - 128)  # the init reports a child killed by signal s as 128 + s
    if target == HERMIT and status == -1:
        return -signal.SIGABRT  # Hermit's panic=abort and allocation failures end with -1
    return status


def run_guest(argv: list[str], target: str, log: Path, timeout: float, vcpus: int) -> Outcome:
    """Runs one guest whose console goes to `log` to its end (or `timeout`)
    and judges what the console shows."""
    log.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        child = Child(argv)
    except OSError as e:
        reason = f"cannot start {argv[0]}: {e.strerror}"
        return Outcome(Failure(FailureKind.START, reason), guest=GuestRun(vcpus, None, None))
    with child:
        ended = child.wait(timeout)
    out, err, timed_out = ended.stdout, ended.stderr, ended.timed_out
    seconds = time.monotonic() - started
    console = _console(log) if target != UHYVE else out
    parsed = parse_output(console)
    others = "\n".join(line for line in console.splitlines() if MARKER not in line and line.strip())
    statuses = _EXIT.findall(others)
    done = parsed.first("done") or {}
    wall = done.get("wall_ns")
    boot = round(max(0.0, seconds - wall / 1e9), 3) if isinstance(wall, int) else None
    guest = GuestRun(vcpus, boot, ended.returncode)
    kept = (others + ("\n" + err.strip() if err.strip() else ""))[-STDERR_KEPT:]
    if timed_out:
        failure = Failure(FailureKind.TIMEOUT, f"timeout after {timeout:g} s")
        return Outcome(failure, parsed.records, None, seconds, kept, guest=guest)
    if target == UHYVE:
        status = ended.returncode
    elif statuses:
        status = guest_status(target, int(statuses[-1]))
    else:
        last = others.strip().splitlines()[-1][:200] if others.strip() else "no console output"
        reason = f"the guest ended without an exit status (QEMU exit {ended.returncode}): {last}"
        return Outcome(Failure(FailureKind.EXIT, reason), parsed.records, None, seconds, kept, guest=guest)
    return Outcome(judge(status, parsed, _telling(others)), parsed.records, status, seconds, kept, guest=guest)


def _telling(console: str) -> str:
    """The console with its most telling line last, for the one-line reason:
    a panic with its message (`panicked at FILE:LINE:COL:` and the next line)
    or a kernel panic, rather than the statistics a kernel prints on its way
    down."""
    lines = [line for line in console.splitlines() if line.strip() and not _EXIT.search(line)]
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if "panicked at" in line:
            message = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].startswith("[") else ""
            return "\n".join([*lines, f"{line.strip()} {message}".strip()])
        if "[PANIC]" in line or "memory allocation of" in line:
            return "\n".join([*lines, line.strip()])
    return "\n".join(lines)
