"""`hab list [allocators|workloads]`: what can be benchmarked here."""

import shutil

from rich.console import Console
from rich.table import Table

from hab import debian, paths
from hab.allocators import lineup, preload, registry
from hab.build import engine
from hab.cli.console import stderr_console, width
from hab.execution import query
from hab.records.target import GUESTS
from hab.records.workload import ParamInfo
from hab.suite import values


def _allocators(console: Console, eng) -> None:
    known = registry.load(eng)
    locked = registry.locked_versions(eng)
    installed = debian.installed_versions([a.debian for a in known.values() if a.debian])
    cargo = shutil.which("cargo") is not None
    table = Table(title="Allocators", title_justify="left")
    table.add_column("name", no_wrap=True)
    for col in ("kind", "version", "available", "targets", "about"):
        table.add_column(col, overflow="fold")
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
        version = preload.version(a, installed) if a.kind == "preload" else registry.version_of(a, locked)
        table.add_row(a.name, a.kind, version, status, " ".join(a.targets), a.about)
    console.print(table)
    elsewhere = Table(title="Not on a guest target, and why", title_justify="left")
    for col in ("name", "target", "why"):
        elsewhere.add_column(col)
    for a in known.values():
        for target in GUESTS:
            why = a.unavailable_on(target)
            if why and a.kind == "crate":
                elsewhere.add_row(a.name, target, why)
    console.print(elsewhere)
    console.print("Preload allocators run only natively (LD_PRELOAD beside the dynamic system engine).")


def _param_range(p: ParamInfo) -> str:
    if p.kind == "choice":
        return " | ".join(p.choices)
    lo, hi = p.min, p.max
    if p.kind == "size":
        return f"{values.format_size(lo)}..{values.format_size(hi)}"
    return f"{lo:g}..{hi:g}" if p.kind == "float" else f"{lo}..{hi}"


def _workloads(console: Console, eng) -> None:
    binary = engine.build(eng, [registry.SYSTEM], stderr_console()).binaries[registry.SYSTEM]
    for w in query.describe(binary).values():
        table = Table(title=f"{w.name}: {w.about}" + ("" if w.has_dry else " (no dry variant)"), title_justify="left")
        for col in ("parameter", "kind", "default", "range", "about"):
            table.add_column(col)
        for p in w.params:
            shown = p.default if isinstance(p.default, str) else values.show(p, p.default)
            table.add_row(p.name, p.kind, shown, _param_range(p), p.about)
        console.print(table)
    console.print(
        "Targets: every workload runs natively, in linux-vm and in hermit (all eleven boot and complete there); "
        "hermit has no latency mode (its clock ticks in whole microseconds) and no RSS or rusage figures, and "
        "with 1 GiB of guest memory a Hermit guest held 96 threads and panicked at 128. uhyve needs KVM."
    )


def main(args) -> int:
    console = Console(highlight=False, width=width())
    eng = paths.engine_dir()
    if args.what in (None, "allocators"):
        _allocators(console, eng)
    if args.what in (None, "workloads"):
        _workloads(console, eng)
    return 0
