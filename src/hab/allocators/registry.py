"""The allocator registry: `engine/allocators.toml`, read and checked.

An entry is either a crate allocator, which becomes one engine binary (see
`hab.build.codegen`), or a preload allocator: a C library's shared object put in
front of the system engine with `LD_PRELOAD` (see `hab.allocators.preload`). Names are
what users type (`--allocators jemalloc,talc`) and what results are keyed
by. Allocators users bring themselves use the same record (see `hab.allocators.custom`).
"""

import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from hab.errors import UserError, unknown
from hab.records.plan import DRY
from hab.records.target import GUESTS, LINUX_VM, NATIVE, TARGETS

#: The platform allocator. Its binary also runs the dry variant and the
#: preload allocators (with their shared object in LD_PRELOAD).
SYSTEM = "system"

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CRATE_KEYS = {
    "about",
    "deps",
    "global",
    "init",
    "setup",
    "package",
    "targets",
    "why_not",
    "uncounted",
    "native",
    "library",
}
#: The engine's answer to `--library` for an allocator that names no way to
#: ask its library (a Rust allocator: its crate version says it all).
NO_LIBRARY = "hab_engine::library::none"
_PRELOAD_KEYS = {"about", "preload", "debian"}
#: Where an entry runs unless it says otherwise: a crate wherever a Linux
#: engine runs (its C libraries need a Unix libc), a preload library only
#: next to the dynamic native engine.
CRATE_TARGETS = (NATIVE, LINUX_VM)
PRELOAD_TARGETS = (NATIVE,)
#: The `GlobalAlloc` operations. One the library does not serve itself falls
#: back to Rust's default: `alloc_zeroed` allocates and zeroes, `realloc`
#: allocates, copies and frees.
OPERATIONS = ("alloc", "dealloc", "alloc_zeroed", "realloc")
_SHORT = {"alloc_zeroed": "zeroed"}


@dataclass(frozen=True)
class Allocator:
    """One registry entry."""

    name: str
    about: str
    global_type: str
    init: str
    deps: dict = field(default_factory=dict)
    setup: str = ""
    package: str | None = None
    preload: str | None = None  # preload kind: the shared object's file name or path
    debian: str | None = None  # preload kind: the Debian package that ships it
    origin: str = "built-in"  # or where a user defined it
    targets: tuple[str, ...] = CRATE_TARGETS  # where it can run
    why_not: dict[str, str] = field(default_factory=dict)  # target -> why it cannot run there
    uncounted: str | None = None  # why it cannot run under Valgrind (--metric instructions)
    native: tuple[str, ...] | None = None  # OPERATIONS that reach the library's own code; None: unknown
    library: str = NO_LIBRARY  # Rust path of the binary's `--library` answer (fn() -> Option<Library>)

    @property
    def kind(self) -> str:
        return "preload" if self.preload else "crate"

    @property
    def builtin_crate(self) -> bool:
        """Built into the engine workspace (engine/bins)."""
        return self.kind == "crate" and self.origin == "built-in"

    def unavailable_on(self, target: str) -> str | None:
        """Why this allocator cannot run on `target`, or None when it can."""
        if target in self.targets:
            return None
        if target in self.why_not:
            return self.why_not[target]
        if self.kind == "preload":
            return "an LD_PRELOAD library runs only beside the dynamic native engine"
        return f"not built for {target}"

    @property
    def version_package(self) -> str | None:
        """The locked cargo package whose version is this allocator's."""
        return self.package or next(iter(self.deps), None)


def registry_path(engine: Path) -> Path:
    return engine / "allocators.toml"


def load(engine: Path) -> dict[str, Allocator]:
    """All registry entries, in file order."""
    path = registry_path(engine)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"cannot read allocator registry {path}: {e}") from None
    entries = {}
    for name, entry in data.items():
        where = f"{path}: [{name}]"
        check_name(name, where)
        if not isinstance(entry, dict):
            raise UserError(f"{where}: expected a table")
        entries[name] = _preload_entry(name, entry, where) if "preload" in entry else _crate_entry(name, entry, where)
    if SYSTEM in entries:  # a preload library serves the system binary's malloc, calloc, realloc and free
        system = entries[SYSTEM].native
        entries = {n: replace(a, native=system) if a.kind == "preload" else a for n, a in entries.items()}
    return entries


#: Longest allocator name: it is part of binary, crate and file names.
MAX_NAME = 40


def check_name(name: str, where: str) -> None:
    """Allocator names are what users type and results are keyed by."""
    if name == DRY:
        raise UserError(f"{where}: '{DRY}' is the name of the dry variant, not an allocator's")
    if len(name) > MAX_NAME:
        raise UserError(f"{where}: allocator names are at most {MAX_NAME} characters, got {len(name)}")
    if not _NAME.match(name):
        raise UserError(f"{where}: allocator names are lowercase words (a-z, 0-9, _), got {name!r}")


def check_keys(entry: dict, allowed: set, required: set, where: str) -> None:
    unknown = set(entry) - allowed
    if unknown:
        raise UserError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    missing = required - set(entry)
    if missing:
        raise UserError(f"{where}: missing {', '.join(sorted(missing))}")


def _targets(entry: dict, where: str) -> dict:
    """The `targets` and `why_not` of an entry, checked."""
    out = {}
    if "targets" in entry:
        targets = entry["targets"]
        if not isinstance(targets, list) or not targets or any(t not in TARGETS for t in targets):
            raise UserError(f"{where}: targets must be a list of {', '.join(TARGETS)}")
        out["targets"] = tuple(targets)
    why_not = entry.get("why_not", {})
    if not isinstance(why_not, dict) or any(t not in GUESTS or not isinstance(r, str) for t, r in why_not.items()):
        raise UserError(f"{where}: why_not must map guest targets ({', '.join(GUESTS)}) to reasons")
    if why_not:
        out["why_not"] = dict(why_not)
    return out


def _crate_entry(name: str, entry: dict, where: str) -> Allocator:
    check_keys(entry, _CRATE_KEYS, {"about", "global", "init"}, where)
    return Allocator(
        **_targets(entry, where),
        name=name,
        about=entry["about"],
        global_type=entry["global"],
        init=entry["init"],
        deps=dict(entry.get("deps", {})),
        setup=entry.get("setup", ""),
        package=entry.get("package"),
        uncounted=_reason(entry.get("uncounted"), f"{where}.uncounted"),
        native=_native(entry.get("native"), f"{where}.native"),
        library=_expression(entry.get("library", NO_LIBRARY), f"{where}.library"),
    )


def _native(value, where: str) -> tuple[str, ...] | None:
    """A `native` list, checked, in OPERATIONS order."""
    if value is None:
        return None
    if not isinstance(value, list) or any(op not in OPERATIONS for op in value) or len(set(value)) != len(value):
        raise UserError(f"{where}: expected a list of distinct operations among {', '.join(OPERATIONS)}")
    return tuple(op for op in OPERATIONS if op in value)


def native_summary(native: tuple[str, ...] | None) -> str:
    """Which operations fall back, compactly: "all" (none does), "no
    realloc", "no zeroed, realloc"; "unknown" when nobody said."""
    if native is None:
        return "unknown"
    missing = [_SHORT.get(op, op) for op in OPERATIONS if op not in native]
    return "no " + ", ".join(missing) if missing else "all"


def _expression(value, where: str) -> str:
    if not (isinstance(value, str) and value.strip()):
        raise UserError(f"{where}: expected a Rust expression (text)")
    return value


def _reason(value, where: str) -> str | None:
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise UserError(f"{where}: expected a reason (text)")
    return value


def _preload_entry(name: str, entry: dict, where: str) -> Allocator:
    check_keys(entry, _PRELOAD_KEYS, {"about", "preload"}, where)
    return Allocator(
        name=name,
        about=entry["about"],
        global_type="",
        init="",
        preload=entry["preload"],
        debian=entry.get("debian"),
        targets=PRELOAD_TARGETS,
    )


def locked_versions(engine: Path) -> dict[str, str]:
    """Package name -> version from the engine's Cargo.lock."""
    try:
        lock = tomllib.loads((engine / "Cargo.lock").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {p["name"]: p["version"] for p in lock.get("package", [])}


def version_of(allocator: Allocator, locked: dict[str, str]) -> str:
    """The allocator's version: its crate's locked version, or the C library's."""
    package = allocator.version_package
    if package is None:
        try:
            libc = os.confstr("CS_GNU_LIBC_VERSION")
        except (ValueError, OSError):
            libc = None
        return libc or "platform"
    version = locked.get(package, "?").split("-0-g")[0]  # drop a git describe suffix
    return f"{package} {version}"


def select(known: dict[str, Allocator], wanted: list[str]) -> list[str]:
    """Checks that every wanted allocator exists; returns them in order."""
    for name in wanted:
        if name not in known:
            raise unknown("allocator", name, known)
    if len(set(wanted)) != len(wanted):
        raise UserError(f"allocator listed twice in {', '.join(wanted)}")
    return list(wanted)
