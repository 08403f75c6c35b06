"""How each target of a run runs: its accelerator (probed for guests), CPU
model, memory, vCPUs, the hypervisor's version and what its images were
built from."""

import shutil
import subprocess

from rich.console import Console
from rich.markup import escape

from hab.build.engine import Build
from hab.errors import UserError
from hab.execution import accel, counting, icount
from hab.execution.engines import uhyve_binary
from hab.execution.guest import QEMU, require_qemu
from hab.records.target import HERMIT, NATIVE, UHYVE, TargetInfo
from hab.suite.suite import Guest


def _version(program: str) -> str | None:
    path = shutil.which(program)
    if path is None:
        return None
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = done.stdout.strip().splitlines()
    return first[0] if first else None


def describe(
    targets: tuple[str, ...], guest: Guest, built: Build, console: Console, counted: bool = False
) -> dict[str, TargetInfo]:
    """TargetInfo of every target; for guests the accelerator is chosen here
    (KVM when it works), with a visible line when it is TCG. Counted runs
    (`counted`) count natively under Valgrind and in QEMU guests by icount,
    which needs TCG."""
    out = {}
    for name in targets:
        if name == NATIVE:
            out[name] = TargetInfo(NATIVE, counter=counting.TOOL if counted else None)
            continue
        made = built.guests[name]
        memory, vcpus, images, kernels = guest.memory_mib, guest.vcpus, made.provenance, made.kernels
        if name == UHYVE:
            why = accel.probe_kvm(TargetInfo(HERMIT, memory_mib=memory), made.probe)
            if why is not None:
                raise UserError(f"--target uhyve needs KVM, which is not usable here: {why}")
            uhyve = uhyve_binary()
            out[name] = TargetInfo(name, "kvm", _version(uhyve), "host", memory, vcpus, images, kernels=kernels)
            continue
        if counted:  # _check_metric refused uhyve and --accel kvm
            require_qemu(name)
            out[name] = TargetInfo(name, "tcg", _version(QEMU), "max", memory, vcpus, images, icount.METHOD, kernels)
            continue
        chosen, why = accel.choose(guest.accel, TargetInfo(name, cpu="max", memory_mib=memory), made.probe)
        if why is not None:
            console.print(
                f"[yellow]{escape(name)}: QEMU emulates (TCG): {escape(why)}; times from an emulated CPU "
                "are not allocator performance[/]"
            )
        cpu = "host" if chosen == "kvm" else "max"
        out[name] = TargetInfo(name, chosen, _version(QEMU), cpu, memory, vcpus, images, kernels=kernels)
    return out
