"""Which process a run belongs to, and whether it is still alive: a run
whose `hab` died (SIGKILL, a crash, a power cut) says `running` in its
run.json for ever; its owner tells it apart from one that is running."""

import os
from pathlib import Path

from hab.records.run import Owner


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def _start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of
    /proc/PID/stat), which tells a process from a later one with its PID."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def current() -> Owner:
    """This process as a run's owner."""
    pid = os.getpid()
    return Owner(pid, _boot_id(), _start_ticks(pid))


def alive(owner: Owner) -> bool:
    """Whether `owner` is still running. Without /proc nothing can be told
    and the owner counts as alive."""
    here = _boot_id()
    if here is None or owner.boot_id is None:
        return True
    if here != owner.boot_id:
        return False
    return _start_ticks(owner.pid) == owner.start_ticks
