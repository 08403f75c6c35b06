"""Where the engine sources, its build output and results live."""

import os
from pathlib import Path

from hab.errors import UserError

#: Default directory for run results, relative to the working directory.
RESULTS_ROOT = Path("hab-results")


def engine_dir() -> Path:
    """The engine's cargo workspace: `$HAB_ENGINE_DIR`, else the source tree's."""
    override = os.environ.get("HAB_ENGINE_DIR")
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "engine"
    if not (path / "Cargo.toml").is_file():
        raise UserError(
            f"engine sources not found at {path}; install hab from a clone (pip install -e .) or set HAB_ENGINE_DIR"
        )
    return path


def target_dir(engine: Path) -> Path:
    """Cargo's target directory for the engine workspace."""
    override = os.environ.get("CARGO_TARGET_DIR")
    return Path(override) if override else engine / "target"


def binary_path(engine: Path, allocator: str) -> Path:
    """Where the release engine binary for `allocator` is built."""
    return target_dir(engine) / "release" / f"hab-engine-{allocator}"


def cache_dir() -> Path:
    """Where guest toolchains, kernels and images are built and kept, outside
    any clone: `$HAB_CACHE_DIR`, else `$XDG_CACHE_HOME/hab`, else `~/.cache/hab`."""
    override = os.environ.get("HAB_CACHE_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "hab"
