"""`hab setup`: installs the Debian packages the built-in preload allocators
need (tcmalloc, tbbmalloc, Debian's jemalloc and mimalloc), with apt-get."""

import os
import shutil
import subprocess
import sys

from rich.markup import escape

from hab import paths
from hab.allocators import preload, registry
from hab.cli.common import stderr_console
from hab.errors import UserError


def _privileged(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return argv
    sudo = shutil.which("sudo")
    if sudo is None:
        raise UserError(f"installing needs root: run `{' '.join(argv)}` as root")
    return [sudo, *argv]


def main(args) -> int:
    console = stderr_console()
    known = registry.load(paths.engine_dir())
    missing = preload.missing_packages(known)
    if not missing:
        console.print("every preload allocator's shared object is here; nothing to install")
        return 0
    apt = shutil.which("apt-get")
    if apt is None:
        raise UserError(f"apt-get not found: install {', '.join(missing)} (or your system's equivalents) yourself")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = _privileged([apt, "install", "-y", "--no-install-recommends", *missing])
    console.print(f"installing {escape(', '.join(missing))} with apt-get")
    # Package lists may be missing (a fresh container): update them once and retry.
    if subprocess.run(install, env=env, stdout=sys.stderr, stdin=subprocess.DEVNULL).returncode != 0:
        subprocess.run(_privileged([apt, "update"]), env=env, stdout=sys.stderr, stdin=subprocess.DEVNULL)
        done = subprocess.run(install, env=env, stdout=sys.stderr, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise UserError(f"apt-get install {' '.join(missing)} failed (exit {done.returncode})")
    preload.forget_cache()
    still = preload.missing_packages(known)
    if still:
        raise UserError(f"installed, but the shared objects of {', '.join(still)} are still not found")
    console.print(f"installed {escape(', '.join(missing))}")
    return 0
