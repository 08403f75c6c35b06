"""Shared fixtures. Tests marked `engine` use real engine binaries, built
once per session with cargo (release) exactly as `hab run` builds them."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from hab import paths
from hab.allocators import registry
from hab.build import engine


@pytest.fixture(scope="session")
def binaries() -> dict[str, Path]:
    """Every built-in crate allocator's engine binary, built as `hab run` builds them."""
    eng = paths.engine_dir()
    crates = [name for name, a in registry.load(eng).items() if a.kind == "crate"]
    return engine.build(eng, crates, Console(stderr=True)).binaries


def hab(*args: str, cwd: Path, check_exit: int | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs the real `hab` command line in a subprocess (no terminal, fixed width)."""
    env = {**os.environ, "COLUMNS": "120", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "hab", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check_exit is not None:
        assert done.returncode == check_exit, done.stderr
    return done
