"""Building the virtual clock (engine/vclock) that counted engine
processes run with: see `hab.execution.counting`."""

from pathlib import Path

from rich.console import Console

from hab import paths
from hab.build import cargo
from hab.errors import UserError

PACKAGE, TARGET = "hab-vclock", "hab_vclock"


def build(engine: Path, console: Console) -> Path:
    """The clock's shared object, built (or found fresh) by cargo."""
    stdout, _ = cargo.run(
        cargo.release_build(engine, PACKAGE),
        console,
        paths.target_dir(engine) / "hab-vclock-build.log",
        "the virtual clock",
    )
    found = cargo.shared_library(stdout, TARGET)
    if found is None:
        raise UserError(f"the virtual clock: cargo built no shared object for {PACKAGE}")
    return found
