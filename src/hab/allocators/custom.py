"""Allocators users bring: definitions from a suite's `[allocator.NAME]`
tables or from `hab run --crate/--preload`, checked and turned into
registry records.

A crate allocator names a cargo package (a local `path` or a crates.io
`version`, optional `features`) and the static initialiser of its
`#[global_allocator]`; `hab.build.custom` generates and builds its engine
binary. A preload allocator names a shared object for `LD_PRELOAD`.
"""

import re
import tomllib
from pathlib import Path

from hab.allocators.registry import PRELOAD_TARGETS, Allocator, check_keys, check_name
from hab.errors import UserError
from hab.records.target import TARGETS

_PACKAGE = re.compile(r"^[A-Za-z0-9_-]+$")
_CRATE_KEYS = {"crate", "path", "version", "features", "default-features", "global", "init", "setup", "about"}
_PRELOAD_KEYS = {"preload", "about"}


def global_type_of(init: str) -> str:
    """The static's type guessed from its initialiser: `T::new(..)` or
    `T::<N>::new(..)` gives `T` / `T::<N>`; a unit struct `T` gives `T`."""
    init = init.strip()
    if not init.endswith(")"):
        return init
    depth = 0
    for i in range(len(init) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(init[i], 0)
        if depth == 0:
            path, sep, _ = init[:i].rpartition("::")
            return path if sep else init
    return init


def _package_of(path: Path, where: str) -> str:
    try:
        manifest = tomllib.loads((path / "Cargo.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UserError(f"{where}: cannot read {path / 'Cargo.toml'}: {e}") from None
    name = manifest.get("package", {}).get("name")
    if not isinstance(name, str):
        raise UserError(f"{where}: {path / 'Cargo.toml'} has no [package] name")
    return name


def _strings(value, what: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{where}: {what} must be a list of strings")
    return value


def crate_allocator(name: str, table: dict, base: Path, where: str) -> Allocator:
    """A crate allocator from its definition; relative paths are taken from `base`."""
    check_name(name, where)
    check_keys(table, _CRATE_KEYS, set(), where)
    if ("path" in table) == ("version" in table):
        raise UserError(f"{where}: give the crate's path or its crates.io version (one of them)")
    init = table.get("init")
    if not isinstance(init, str) or not init.strip():
        raise UserError(f'{where}: needs init = "<static initialiser expression>"')
    spec: dict = {}
    if "path" in table:
        path = (base / str(table["path"])).expanduser().resolve()
        if not (path / "Cargo.toml").is_file():
            raise UserError(f"{where}: no Cargo.toml in {path}")
        spec["path"] = str(path)
        package = table.get("crate") or _package_of(path, where)
    else:
        package = table.get("crate")
        if not isinstance(package, str):
            raise UserError(f'{where}: a crates.io allocator needs crate = "<package name>"')
        spec["version"] = str(table["version"])
    if not isinstance(package, str) or not _PACKAGE.match(package):
        raise UserError(f"{where}: crate must be a cargo package name, got {package!r}")
    if "features" in table:
        spec["features"] = _strings(table["features"], "features", where)
    if "default-features" in table:
        if not isinstance(table["default-features"], bool):
            raise UserError(f"{where}: default-features must be true or false")
        spec["default-features"] = table["default-features"]
    for key in ("global", "setup", "about"):
        if key in table and not isinstance(table[key], str):
            raise UserError(f"{where}: {key} must be a string")
    source = spec.get("path") or f"{package} {spec['version']} from crates.io"
    return Allocator(
        name=name,
        about=table.get("about") or f"user crate {source}",
        global_type=table.get("global") or global_type_of(init),
        init=init.strip(),
        deps={package: spec},
        setup=table.get("setup", ""),
        package=package,
        origin=where,
        targets=TARGETS,  # a user's crate may well be made for a guest (virtual_alloc is for Hermit)
    )


def preload_allocator(name: str, table: dict, base: Path, where: str) -> Allocator:
    """A preload allocator from its definition; the shared object must exist."""
    check_name(name, where)
    check_keys(table, _PRELOAD_KEYS, set(), where)
    path = (base / str(table["preload"])).expanduser().resolve()
    if not path.is_file():
        raise UserError(f"{where}: shared object {path} not found")
    return Allocator(
        name=name,
        about=table.get("about") or f"user shared object {path}",
        global_type="",
        init="",
        preload=str(path),
        origin=where,
        targets=PRELOAD_TARGETS,
    )


def from_table(name: str, table, base: Path, where: str) -> Allocator:
    """One `[allocator.NAME]` table of a suite."""
    if not isinstance(table, dict):
        raise UserError(f"{where}: expected a table")
    if "preload" in table:
        if {"path", "crate", "version", "init"} & set(table):
            raise UserError(f"{where}: give preload (a shared object) or a crate (path or crate, with init), not both")
        return preload_allocator(name, table, base, where)
    return crate_allocator(name, table, base, where)


def from_options(
    crate: str | None,
    init: str | None,
    global_type: str | None,
    setup: str | None,
    features: list[str] | None,
    name: str | None,
    preloads: list[str],
) -> list[Allocator]:
    """Allocators defined on the command line (`--crate ... --init ...`, `--preload NAME=PATH`)."""
    defined = []
    if crate is None and any(v is not None for v in (init, global_type, setup, features, name)):
        raise UserError("--init, --global-type, --setup, --features and --name describe a --crate allocator")
    if crate is not None:
        if init is None:
            raise UserError("--crate needs --init, the static initialiser of its #[global_allocator]")
        table: dict = {"init": init}
        package, at, version = crate.partition("@")
        if at:
            table.update(crate=package, version=version)
        else:
            table["path"] = crate
        for key, value in (("global", global_type), ("setup", setup), ("features", features)):
            if value is not None:
                table[key] = value
        guess = package if at else (Path(crate).resolve().name or "custom")
        defined.append(crate_allocator(name or guess.replace("-", "_").lower(), table, Path.cwd(), "--crate"))
    for option in preloads:
        alloc, sep, path = option.partition("=")
        if not sep or not path:
            raise UserError(f"--preload: expected NAME=PATH, got {option!r}")
        defined.append(preload_allocator(alloc, {"preload": path}, Path.cwd(), f"--preload {alloc}"))
    return defined
