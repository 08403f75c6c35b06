"""C allocators by `LD_PRELOAD`: finding their shared objects, their
Debian versions, and saying why one is not available here.

A preload allocator runs on the system engine binary with its shared object
in `LD_PRELOAD`; the engine reports which file `malloc` resolved to, and a
run whose `malloc` did not come from the preloaded file fails (see
`hab.execution.process.judge`).
"""

import functools
import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

from hab import debian
from hab.allocators.registry import Allocator


@functools.cache
def _ldconfig_cache() -> dict[str, str]:
    """File name -> path from the dynamic linker's cache (`ldconfig -p`)."""
    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.access(p, os.X_OK)), None
    )
    if ldconfig is None:
        return {}
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = {}
    for line in out.splitlines():
        name, sep, path = line.strip().partition(" => ")
        if sep:
            found.setdefault(name.split(" (")[0], path.strip())
    return found


def forget_cache() -> None:
    """Reads the linker cache again next time (after installing packages)."""
    _ldconfig_cache.cache_clear()


def _library_dirs() -> list[Path]:
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    dirs = [f"/usr/lib/{multiarch}", f"/lib/{multiarch}"] if multiarch else []
    return [Path(d) for d in dirs + ["/usr/local/lib", "/usr/lib", "/lib"]]


def locate(library: str) -> Path | None:
    """The shared object for `library` (a path, or a file name the dynamic
    linker would find), or None."""
    if "/" in library:
        path = Path(library).expanduser()
        return path.resolve() if path.is_file() else None
    cached = _ldconfig_cache().get(library)
    if cached and Path(cached).is_file():
        return Path(cached)
    return next((d / library for d in _library_dirs() if (d / library).is_file()), None)


def version(a: Allocator, installed: dict[str, str] | None = None) -> str:
    """The library's version: its Debian package's (from `installed`, the
    versions of many packages asked at once, when given)."""
    if a.debian:
        found = installed.get(a.debian) if installed is not None else debian.installed_version(a.debian)
        return f"{a.debian} {found}" if found else f"{a.debian} (not installed)"
    return Path(a.preload or "").name


def unavailable(a: Allocator) -> str | None:
    """Why a preload allocator cannot run here (with how to fix it), or None."""
    if locate(a.preload) is not None:
        return None
    if a.debian:
        return f"{a.preload} not found (Debian package {a.debian}; `hab setup` installs it)"
    return f"shared object {a.preload} not found"


def missing_packages(known: dict[str, Allocator]) -> list[str]:
    """Debian packages of the built-in preload allocators not available here."""
    return sorted({a.debian for a in known.values() if a.preload and a.debian and locate(a.preload) is None})
