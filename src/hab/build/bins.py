"""Building the binaries of `engine/bins`: one per built-in crate
allocator, each behind its cargo feature (see `codegen`)."""

from pathlib import Path

from rich.console import Console

from hab.allocators.registry import Allocator
from hab.build import cargo, codegen
from hab.errors import UserError


def workspace_bins(
    engine: Path,
    chosen: list[Allocator],
    console: Console,
    log: Path,
    what: str = "the engine",
    extra: list[str] = (),
    env: dict | None = None,
) -> tuple[dict[str, Path], bool, float, dict[str, Path]]:
    """Builds the binaries of the built-in crate allocators `chosen` (each
    with its feature), with `extra` cargo arguments; returns them by
    allocator, whether anything was compiled, the seconds it took, and each
    package's build-script output (`cargo.build_scripts`)."""
    wanted = {codegen.bin_name(a.name): a.name for a in chosen}
    features = sorted({codegen.feature(a) for a in chosen} - {None})
    argv = [*cargo.release_build(engine, "hab-bins"), *extra]
    for name in wanted:
        argv += ["--bin", name]
    if features:
        argv += ["--features", ",".join(features)]
    stdout, seconds = cargo.run(argv, console, log, what, env)
    binaries, compiled = cargo.artifacts(stdout, wanted)
    missing = set(wanted.values()) - set(binaries)
    if missing:
        raise UserError(f"{what}: the build produced no binary for {', '.join(sorted(missing))}")
    return binaries, compiled, seconds, cargo.build_scripts(stdout)
