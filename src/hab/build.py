"""Building the engine binaries with cargo (release, incremental).

Cargo's own freshness check is the cache: unchanged sources rebuild
nothing. The registry is turned into `engine/bins` first (see `codegen`);
preload allocators run on the system binary; user crates get their own
generated project (see `custom_build`).
"""

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from hab import cargo, codegen, custom_build, preload, registry
from hab.errors import UserError
from hab.paths import target_dir
from hab.registry import Allocator


@dataclass(frozen=True)
class Build:
    """Engine binaries by allocator, and what building them cost."""

    binaries: dict[str, Path]
    seconds: float
    compiled: bool  # False when everything was already up to date
    preloads: dict[str, Path] = field(default_factory=dict)  # preload allocator -> its shared object
    revisions: dict[str, str] = field(default_factory=dict)  # user crate allocator -> its revision


def build(engine: Path, allocators: list[str], console: Console, known: dict[str, Allocator] | None = None) -> Build:
    """Builds what running `allocators` needs: built-in crate binaries, the
    system binary for preload allocators, user crates (see `custom_build`).
    `known` defaults to the built-in registry."""
    builtin = registry.load(engine)
    known = builtin if known is None else known
    codegen.sync(engine / "bins", codegen.render(list(builtin.values())))
    chosen = [known[a] for a in allocators]
    in_workspace = [a.name for a in chosen if a.builtin_crate]
    if any(a.kind == "preload" for a in chosen) and registry.REFERENCE not in in_workspace:
        in_workspace.append(registry.REFERENCE)
    binaries, preloads, revisions, compiled, seconds = {}, {}, {}, False, 0.0
    if in_workspace:
        wanted = {codegen.bin_name(a): a for a in in_workspace}
        argv = [cargo.executable(), "build", "--release", "--manifest-path", str(engine / "Cargo.toml"),
                "-p", "hab-bins", "--message-format=json-render-diagnostics"]
        for name in wanted:
            argv += ["--bin", name]
        stdout, seconds = cargo.run(argv, console, target_dir(engine) / "hab-build.log",
                                    "the engine")
        binaries, compiled = cargo.artifacts(stdout, wanted)
        missing = set(wanted.values()) - set(binaries)
        if missing:
            raise UserError(f"engine build produced no binary for {', '.join(sorted(missing))}")
    for a in chosen:
        if a.kind == "preload":
            found = preload.locate(a.preload)
            if found is None:
                raise UserError(f"allocator {a.name}: {preload.unavailable(a)}")
            binaries[a.name], preloads[a.name] = binaries[registry.REFERENCE], found
        elif not a.builtin_crate:
            made = custom_build.build(engine, a, console)
            binaries[a.name], revisions[a.name] = made.binary, made.revision
            compiled = compiled or made.compiled
            seconds += made.seconds
    if compiled:
        console.print(f"[dim]engine: built in {seconds:.1f} s[/]")
    return Build(binaries, seconds, compiled, preloads, revisions)
