"""Lint gates: ruff (format and check) on the Python, rustfmt on every Rust
crate, clippy with warnings as errors on the engine and the kernel."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ["src", "tests", "benchmarks"]
CRATES = [
    "engine",
    "kernel",
    "tests/criterion_bench",
    *(f"tests/allocators/{p.name}" for p in sorted((ROOT / "tests" / "allocators").iterdir())),
]


def _run(argv: list[str], timeout: float = 120, cwd: Path = ROOT) -> None:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)}\n{done.stdout[-4000:]}{done.stderr[-4000:]}"


def test_python_is_formatted_and_lint_clean():
    _run([sys.executable, "-m", "ruff", "format", "--check", *PYTHON])
    _run([sys.executable, "-m", "ruff", "check", *PYTHON])


@pytest.mark.parametrize("crate", CRATES)
def test_rust_is_formatted(crate):
    _run(["cargo", "fmt", "--all", "--check"], cwd=ROOT / crate)


@pytest.mark.slow
@pytest.mark.parametrize("crate", ["engine", "kernel"])
def test_clippy_finds_nothing(crate):
    # In the release profile the C allocators' build scripts (jemalloc,
    # mimalloc, snmalloc, rpmalloc) reuse what the engine builds of the
    # other tests compiled: in the debug profile they took 5 minutes more.
    _run(
        [
            "cargo",
            "clippy",
            "--release",
            "--locked",
            "--manifest-path",
            f"{crate}/Cargo.toml",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        timeout=1800,
    )
