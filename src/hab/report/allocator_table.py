"""The allocators of a run: where each came from, its library's own
version and build options, and which operations reach the library."""

from hab.allocators.registry import native_summary
from hab.records.run import RunMeta
from hab.report.grid import Grid


def options(config: dict[str, str]) -> str:
    """Build options as `key=value` pairs."""
    return ", ".join(f"{k}={v}" for k, v in config.items()) or "-"


def table(meta: RunMeta) -> Grid | None:
    """One row per allocator of the run; None for a run that recorded none."""
    if not meta.allocators:
        return None
    columns = ["allocator", "kind", "version", "library", "build options and settings", "native ops"]
    grid = Grid(columns, left=tuple(range(len(columns))), title="Allocators")
    for name, a in meta.allocators.items():
        lib = a.library
        told = f"{lib.name} {lib.version}" if lib is not None else "-"
        grid.add(
            name,
            a.kind,
            a.version or "?",
            told,
            options(lib.config) if lib is not None else "-",
            native_summary(a.native),
        )
    return grid
