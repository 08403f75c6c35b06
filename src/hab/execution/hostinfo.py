"""Facts about the machine a run happened on (what pyperf's `system tune`
looks at): CPU, cores, kernel, governor, turbo, ASLR, memory; and what
changes allocators without a word: transparent huge pages and environment
variables such as GLIBC_TUNABLES."""

import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from hab.records.run import HostFacts


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _cpu_model() -> str | None:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _turbo() -> str | None:
    no_turbo = _read("/sys/devices/system/cpu/intel_pstate/no_turbo")
    if no_turbo is not None:
        return "off" if no_turbo == "1" else "on"
    boost = _read("/sys/devices/system/cpu/cpufreq/boost")
    if boost is not None:
        return "on" if boost == "1" else "off"
    return None


def _mem_total_kib() -> int | None:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return None


def _rustc() -> str | None:
    try:
        done = subprocess.run(["rustc", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


#: Environment variables that change what an allocator does: glibc's
#: tunables and mallopt variables, the preload itself, and the libraries'
#: own configuration variables (jemalloc, mimalloc, tcmalloc, TBB, and the
#: engine's arena size).
ALLOCATOR_ENV_PREFIXES = (
    "GLIBC_TUNABLES",
    "MALLOC_",
    "LD_PRELOAD",
    "_RJEM_MALLOC_CONF",
    "JE_MALLOC_CONF",
    "MIMALLOC_",
    "TCMALLOC_",
    "TBB_",
    "HAB_ARENA_BYTES",
)


def allocator_env(environ=None) -> dict[str, str]:
    """The variables of `environ` (default: this process's) that change allocators."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in sorted(environ.items()) if k.startswith(ALLOCATOR_ENV_PREFIXES)}


def _thp() -> str | None:
    """Transparent huge pages: the modes in force ("always/madvise"), from the bracketed choices."""
    modes = []
    for name in ("enabled", "defrag"):
        text = _read(f"/sys/kernel/mm/transparent_hugepage/{name}")
        if text is None:
            return None
        chosen = [w[1:-1] for w in text.split() if w.startswith("[") and w.endswith("]")]
        modes.append(chosen[0] if chosen else text)
    return "/".join(modes)


def collect() -> HostFacts:
    """Host facts; a fact the system does not expose is None."""
    return HostFacts(
        hostname=socket.gethostname(),
        cpu_model=_cpu_model(),
        cores_online=os.cpu_count(),
        cores_usable=available_cores(),
        kernel=f"{platform.system()} {platform.release()}",
        cpu_governor=_read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        turbo=_turbo(),
        aslr=_read("/proc/sys/kernel/randomize_va_space"),
        mem_total_kib=_mem_total_kib(),
        python=sys.version.split()[0],
        rustc=_rustc(),
        thp=_thp(),
        allocator_env=allocator_env(),
    )


def git_revision(path: Path) -> dict:
    """Commit of the repository holding `path`, and whether it has local changes."""

    def git(*args):
        try:
            done = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "."))}
