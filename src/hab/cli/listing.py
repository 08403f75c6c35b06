"""`hab list [allocators|workloads]`: what can be benchmarked here."""

import shutil
import sys

from hab import debian, paths
from hab.allocators import lineup, preload, registry
from hab.cli.console import stderr_console, width
from hab.execution import library, query
from hab.execution.engines import native_env
from hab.records.target import GUESTS
from hab.records.workload import ParamInfo
from hab.report import allocator_table
from hab.report.grid import Grid, text_table, wrap
from hab.suite import values


def _version(package: str, lib) -> str:
    """The library's own version where it told, then where it came from."""
    if lib is None or lib.source != "library":
        return package
    told = f"{lib.name} {library.short_version(lib.version)}"
    return told if told == package else f"{told} ({package})"


def _allocators(out, eng) -> None:
    known = registry.load(eng)
    locked = registry.locked_versions(eng)
    installed = debian.installed_versions([a.debian for a in known.values() if a.debian])
    cargo = shutil.which("cargo") is not None
    scripts = library.newest_scripts(paths.target_dir(eng))
    facts = library.cargo_facts(eng, scripts) if cargo else library.CargoFacts(scripts=scripts)
    columns = ["name", "kind", "version", "available", "targets", "native ops", "about"]
    table = Grid(columns, left=(0, 1, 2, 3, 4, 5), title="Allocators")
    builds = Grid(["name", "library", "build options and settings"], left=(0, 1, 2), title="Library builds")
    for a in known.values():
        binary = paths.binary_path(eng, registry.SYSTEM if a.kind == "preload" else a.name)
        reason = lineup.unavailable(a)
        if reason:
            status = f"no: {reason}"
        elif binary.is_file():
            status = "yes (built)"
        elif cargo:
            status = "yes (built on first use)"
        else:
            status = "no: cargo not found (install Rust: https://rustup.rs)"
        so = preload.locate(a.preload) if a.kind == "preload" else None
        lib = None if reason else library.describe(a, binary, native_env(so, False), facts)
        package = preload.version(a, installed) if a.kind == "preload" else registry.version_of(a, locked)
        version = _version(package, lib)
        table.add(a.name, a.kind, version, status, " ".join(a.targets), registry.native_summary(a.native), a.about)
        if lib is not None:
            builds.add(a.name, f"{lib.name} {library.short_version(lib.version)}", allocator_table.options(lib.config))
    out.write(text_table(table, width(), wrapped=(2, 3, 4, 5, 6)) + "\n")
    if builds.rows:
        out.write(text_table(builds, width(), wrapped=(1, 2)) + "\n")
    elsewhere = Grid(["name", "target", "why"], left=(0, 1, 2), title="Not on a guest target, and why")
    for a in known.values():
        for target in GUESTS:
            why = a.unavailable_on(target)
            if why and a.kind == "crate":
                elsewhere.add(a.name, target, why)
    out.write(text_table(elsewhere, width(), wrapped=(2,)) + "\n")
    note = (
        "Native ops: the GlobalAlloc operations that reach the library's own code; the others fall back to "
        "Rust's defaults (zeroed: allocate and zero; realloc: allocate, copy, free), for alignments up to 16 bytes "
        "(the workloads ask for 1). Preload allocators run only natively (LD_PRELOAD beside the dynamic system "
        "engine), and serve its malloc, calloc, realloc and free. Versions and build options come from the "
        "libraries themselves where they can tell (the built binaries are asked: jemalloc's mallctl, mimalloc's "
        "mi_version and banner, tcmalloc's tc_version, oneTBB's banner, glibc), and from cargo for crates "
        "(features, the build script's account)."
    )
    out.write(wrap(note, width()))
    out.write("\n")


def _param_range(p: ParamInfo) -> str:
    if p.kind == "choice":
        return " | ".join(p.choices)
    lo, hi = p.min, p.max
    if p.kind == "size":
        return f"{values.format_size(lo)}..{values.format_size(hi)}"
    return f"{lo:g}..{hi:g}" if p.kind == "float" else f"{lo}..{hi}"


def _workloads(out, eng) -> None:
    # The engine describes its workloads; the last built one will do (a run builds anew).
    binary = paths.binary_path(eng, registry.SYSTEM)
    if not binary.is_file():
        from hab.build import engine

        binary = engine.build(eng, [registry.SYSTEM], stderr_console()).binaries[registry.SYSTEM]
    for w in query.describe(binary).values():
        title = f"{w.name}: {w.about}" + ("" if w.has_dry else " (no dry variant)")
        columns = ["parameter", "kind", "default", "range", "about"]
        table = Grid(columns, left=(0, 1, 2, 3, 4), title=wrap(title, width()))
        for p in w.params:
            shown = p.default if isinstance(p.default, str) else values.show(p, p.default)
            table.add(p.name, p.kind, str(shown), _param_range(p), p.about)
        out.write(text_table(table, width(), wrapped=(3, 4)) + "\n")
    note = (
        "Targets: every workload runs natively, in linux-vm and in hermit (all eleven boot and complete there); "
        "hermit has no latency mode (its clock ticks in whole microseconds) and no RSS or rusage figures, and "
        "with 1 GiB of guest memory a Hermit guest held 96 threads and panicked at 128. uhyve needs KVM."
    )
    out.write(wrap(note, width()) + "\n")


def main(args) -> int:
    eng = paths.engine_dir()
    if args.what in (None, "allocators"):
        _allocators(sys.stdout, eng)
    if args.what in (None, "workloads"):
        _workloads(sys.stdout, eng)
    return 0
