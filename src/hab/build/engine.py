"""Building the engine binaries a run needs with cargo (release, incremental).

Cargo's own freshness check is the cache: unchanged sources rebuild
nothing. Each built-in crate allocator is a binary of `engine/bins` behind
its own cargo feature (see `codegen`), so only the allocators asked for are
compiled; preload allocators run on the system binary; user crates get
their own generated project (see `custom`).
"""

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from hab.allocators import preload, registry
from hab.allocators.registry import Allocator
from hab.build import codegen, custom
from hab.build import guests as guest_images
from hab.build.bins import workspace_bins
from hab.build.guests import GuestBuild
from hab.errors import UserError
from hab.paths import target_dir


@dataclass(frozen=True)
class Build:
    """Engine binaries by allocator, and what building them cost."""

    binaries: dict[str, Path]
    seconds: float
    compiled: bool  # False when everything was already up to date
    preloads: dict[str, Path] = field(default_factory=dict)  # preload allocator -> its shared object
    revisions: dict[str, str] = field(default_factory=dict)  # user crate allocator -> its revision
    scripts: dict[str, Path] = field(default_factory=dict)  # package -> its build script's output file
    guests: dict[str, GuestBuild] = field(default_factory=dict)  # guest target -> its images


def generate(engine: Path, builtin: dict[str, Allocator], regenerate: bool) -> None:
    """Brings `engine/bins` in line with the registry (`regenerate`), or
    refuses to build from generated files that are out of date."""
    files = codegen.render(list(builtin.values()))
    if regenerate:
        codegen.sync(engine / "bins", files)
        return
    stale = codegen.out_of_sync(engine / "bins", files)
    if stale:
        raise UserError(
            f"engine/bins is out of date with {registry.registry_path(engine)} ({', '.join(stale)}): "
            "run `hab build` to regenerate it"
        )


def build(
    engine: Path,
    allocators: list[str],
    console: Console,
    known: dict[str, Allocator] | None = None,
    regenerate: bool = False,
    guests: dict[str, list[str]] | None = None,
    kernels: tuple[str, ...] = (),
) -> Build:
    """Builds what running `allocators` natively needs: built-in crate
    binaries, the system binary for preload allocators, user crates (see
    `custom`); and for each guest target in `guests` the images of its
    allocators (see `guests`; Hermit's on each of `kernels`, LABEL=SOURCE).
    `known` defaults to the built-in registry;
    `regenerate` rewrites `engine/bins` from the registry first (`hab build`)."""
    builtin = registry.load(engine)
    known = builtin if known is None else known
    generate(engine, builtin, regenerate)
    chosen = [known[a] for a in allocators]
    in_workspace = [a for a in chosen if a.builtin_crate]
    if any(a.kind == "preload" for a in chosen) and registry.SYSTEM not in {a.name for a in in_workspace}:
        in_workspace.append(builtin[registry.SYSTEM])
    binaries, preloads, revisions, compiled, seconds, scripts = {}, {}, {}, False, 0.0, {}
    if in_workspace:
        binaries, compiled, seconds, scripts = workspace_bins(
            engine, in_workspace, console, target_dir(engine) / "hab-build.log"
        )
    for a in chosen:
        if a.kind == "preload":
            found = preload.locate(a.preload)
            if found is None:
                raise UserError(f"allocator {a.name}: {preload.unavailable(a)}")
            binaries[a.name], preloads[a.name] = binaries[registry.SYSTEM], found
        elif not a.builtin_crate:
            made = custom.build(engine, a, console)
            binaries[a.name], revisions[a.name] = made.binary, made.revision
            compiled = compiled or made.compiled
            seconds += made.seconds
    if compiled:
        console.print(f"[dim]engine: built in {seconds:.1f} s[/]")
    images = {}
    for target, names in (guests or {}).items():
        images[target] = made = guest_images.build(target, engine, [known[a] for a in names], console, kernels)
        seconds += made.seconds
    return Build(binaries, seconds, compiled, preloads, revisions, scripts=scripts, guests=images)
