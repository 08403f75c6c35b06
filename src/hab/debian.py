"""Debian packages: which are installed, installing the missing ones with
apt-get (through sudo when not root), and downloading one without
installing it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from hab.errors import UserError


def installed_versions(packages: list[str]) -> dict[str, str]:
    """The installed version of each of `packages` that is installed (one
    dpkg-query for all of them)."""
    dpkg = shutil.which("dpkg-query")
    if dpkg is None or not packages:
        return {}
    try:
        done = subprocess.run(
            [dpkg, "-W", "-f=${Package} ${db:Status-Abbrev} ${Version}\n", *packages],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    found = {}
    for line in done.stdout.splitlines():
        name, status, version = (line.split(" ", 2) + ["", ""])[:3]
        if status.startswith("ii") and version.strip():
            found[name.split(":")[0]] = version.strip()
    return found


def installed_version(package: str) -> str | None:
    """The installed version of a Debian package, or None."""
    return installed_versions([package]).get(package)


def _apt() -> str:
    apt = shutil.which("apt-get")
    if apt is None:
        raise UserError("apt-get not found: install the packages named above (or your system's equivalents) yourself")
    return apt


def _privileged(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return argv
    sudo = shutil.which("sudo")
    if sudo is None:
        raise UserError(f"installing needs root: run `{' '.join(argv)}` as root")
    return [sudo, *argv]


def _apt_run(argv: list[str]) -> int:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(argv, env=env, stdout=sys.stderr, stdin=subprocess.DEVNULL).returncode


def update() -> None:
    """Refreshes the package lists (a fresh container has none; a machine
    image may carry lists months old, whose candidates are outdated)."""
    _apt_run(_privileged([_apt(), "update"]))


def install(packages: list[str], console) -> None:
    """Installs (or upgrades to the current candidate) `packages`, after
    refreshing the package lists."""
    apt = _apt()
    from rich.markup import escape

    console.print(f"installing {escape(', '.join(packages))} with apt-get")
    update()
    code = _apt_run(_privileged([apt, "install", "-y", "--no-install-recommends", *packages]))
    if code != 0:
        raise UserError(f"apt-get install {' '.join(packages)} failed (exit {code})")


def at_least(version: str, minimum: str) -> bool:
    """Whether Debian version `version` is `minimum` or later (dpkg's ordering)."""
    dpkg = shutil.which("dpkg") or "dpkg"
    try:
        done = subprocess.run([dpkg, "--compare-versions", version, "ge", minimum], timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return True  # cannot tell: the build will say what is wrong
    return done.returncode == 0


def missing(packages: list[str], minimum: dict[str, str] | None = None) -> list[str]:
    """The packages not installed, or installed older than their `minimum` version."""
    out = []
    installed = installed_versions(packages)
    for p in packages:
        version = installed.get(p)
        if version is None or (minimum and p in minimum and not at_least(version, minimum[p])):
            out.append(p)
    return out


def candidate(package: str) -> str | None:
    """The package a virtual or meta package currently depends on first
    (`apt-cache depends`), e.g. linux-image-amd64 -> linux-image-6.1.0-57-amd64."""
    cache = shutil.which("apt-cache")
    if cache is None:
        return None
    done = subprocess.run([cache, "depends", package], capture_output=True, text=True, timeout=60)
    for line in done.stdout.splitlines():
        kind, _, name = line.strip().partition(": ")
        if kind == "Depends" and name and not name.startswith("<"):
            return name.strip()
    return None


def download(package: str, directory: Path) -> Path:
    """Downloads `package`'s .deb into `directory` (nothing is installed)."""
    directory.mkdir(parents=True, exist_ok=True)
    argv = [_apt(), "-o", "APT::Sandbox::User=root", "download", package]
    done = subprocess.run(argv, cwd=directory, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900)
    debs = sorted(directory.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not debs:
        raise UserError(f"apt-get download {package} failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}")
    return debs[-1]
