"""Choosing the accelerator of a guest: KVM when it works, else TCG.

"Works" is decided by trying: `/dev/kvm` must be there and usable, and a
tiny guest (the engine's `--describe`) must answer under KVM within a
timeout (on some machines KVM opens but its guests hang). The verdict is
kept for the machine's uptime (keyed by its boot id). Under TCG QEMU
emulates every instruction: correct, slow, and not allocator performance.
"""

import json
import os
import tempfile
from pathlib import Path

from hab import paths
from hab.build.guests import GuestImage
from hab.errors import UserError
from hab.execution.guest import qemu_argv, require_qemu, run_guest
from hab.records.target import TargetInfo

KVM = Path("/dev/kvm")
PROBE_TIMEOUT = 20.0


def kvm_problem() -> str | None:
    """Why KVM cannot be used here without trying it, or None."""
    if not KVM.exists():
        return f"{KVM} does not exist"
    if not os.access(KVM, os.R_OK | os.W_OK):
        return f"{KVM} is not readable and writable by this user"
    return None


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_kvm(target: TargetInfo, image: GuestImage) -> str | None:
    """Why a tiny guest does not answer under KVM, or None when it does."""
    problem = kvm_problem()
    if problem is not None:
        return problem
    kept = paths.cache_dir() / f"kvm-{target.name}.json"
    try:
        seen = json.loads(kept.read_text())
        if seen.get("boot_id") == _boot_id():
            return seen.get("problem")
    except (OSError, ValueError, AttributeError):
        pass
    problem = _try_kvm(target, image)
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps({"boot_id": _boot_id(), "problem": problem}))
    return problem


def _try_kvm(target: TargetInfo, image: GuestImage) -> str | None:
    with tempfile.TemporaryDirectory(prefix="hab-kvm-") as tmp:
        log = Path(tmp) / "serial.log"
        probe = TargetInfo(target.name, "kvm", cpu="host", memory_mib=target.memory_mib)
        outcome = run_guest(qemu_argv(probe, image, 1, ["--describe"], log), target.name, log, PROBE_TIMEOUT, 1)
    if any(r.get("type") == "describe" for r in outcome.records):
        return None
    return f"a tiny guest did not answer under KVM within {PROBE_TIMEOUT:g} s"


def choose(requested: str | None, target: TargetInfo, image: GuestImage | None) -> tuple[str, str | None]:
    """The accelerator for `target` and, for TCG, why KVM was not used."""
    require_qemu(target.name)
    if requested == "tcg":
        return "tcg", "TCG as asked (--accel tcg)"
    if image is None:  # no kernel of the run could be built: nothing to boot
        return "tcg", "no image was built to try KVM with"
    why = probe_kvm(target, image)
    if requested == "kvm" and why is not None:
        raise UserError(f"--accel kvm: KVM is not usable here: {why}")
    return ("kvm", None) if why is None else ("tcg", why)
