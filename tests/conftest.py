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


def hab(
    *args: str,
    cwd: Path,
    check_exit: int | None = None,
    timeout: float = 600,
    columns: int = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Runs the real `hab` command line in a subprocess (no terminal, `columns`
    wide, with `env` added to the environment)."""
    env = {**os.environ, **(env or {}), "COLUMNS": str(columns), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "hab", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check_exit is not None:
        assert done.returncode == check_exit, done.stderr
    return done


#: A small run that makes every kind of figure and table: two thread counts
#: (scaling), latency mode, RSS sampling, a reference allocator.
REPORT_RUN = [
    "run",
    "-a",
    "system,talc",
    "-w",
    "rayon_boxes",
    "-p",
    "max_size=4KiB",
    "-t",
    "1,2",
    "--latency",
    "--repetitions",
    "3",
    "--sample-size",
    "5",
    "--warm-up-time",
    "0.05",
    "--measurement-time",
    "0.1",
    "--rss-interval",
    "0.005",
    "--out",
    "res",
]


@pytest.fixture(scope="session")
def report_runs(tmp_path_factory, binaries):
    """Two such runs, B with talc slowed several times over by the spin knob
    (so that every flag of a big slowdown shows), and their comparison
    report: (run A, run B, working directory with compare.html)."""
    cwd = tmp_path_factory.mktemp("reports")
    first = hab(*REPORT_RUN, cwd=cwd, check_exit=0)
    assert "HTML report: " in first.stderr
    a = (cwd / "res" / "latest").resolve()
    hab(*REPORT_RUN, "--spin", "talc=2000", cwd=cwd, check_exit=0)
    b = (cwd / "res" / "latest").resolve()
    hab("report", str(a), str(b), "-o", "compare.html", cwd=cwd, check_exit=0)
    return a, b, cwd
