"""What an allocator's library says of itself, and how cargo built it.

The engine's `--library` answer comes from the library's own introspection
(jemalloc's `mallctl`, `mi_version`, gperftools' `tc_version`, glibc's
version); mimalloc and oneTBB print further build facts when asked through
their environment, and those lines are read off stderr. For a crate, cargo
adds the features its `-sys` package was built with and what that
package's build script says it built (snmalloc's build type), so that two
builds of "the same" allocator can be told apart.
"""

import json
import re
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path

from hab.allocators.registry import Allocator
from hab.execution.protocol import parse_output
from hab.records.fields import RecordError
from hab.records.run import LibraryInfo

#: Asks mimalloc and oneTBB's allocator to print their build facts.
BANNER_ENV = {"MIMALLOC_VERBOSE": "1", "TBB_VERSION": "1"}
#: Lines of those banners kept, and the key each becomes (None: the
#: line's own name).
_BANNERS = (
    (re.compile(r"^(?:mimalloc: )?secure level: (\d+)$"), "secure level"),
    (re.compile(r"^(?:mimalloc: )?debug level\s*: (\d+)$"), "debug level"),
    (re.compile(r"^TBBmalloc: (TBB_USE_DEBUG|TBB_USE_ASSERT)\s+(\S+)$"), None),
)
_TBB_VERSION = re.compile(r"^TBBmalloc: VERSION\s+(\S+)$")
#: Limit for one `--library` answer, in seconds.
TIMEOUT = 20
#: Key under which a crate's cargo features are listed.
FEATURES = "cargo features"


def _with_banners(info: LibraryInfo, stderr: str) -> LibraryInfo:
    config, version = dict(info.config), info.version
    for line in stderr.splitlines():
        line = line.strip()
        for pattern, key in _BANNERS:
            m = pattern.match(line)
            if m:
                config[key or m.group(1)] = m.group(m.lastindex)
        m = _TBB_VERSION.match(line)
        if m and info.name == "tbbmalloc":
            version = m.group(1)
    return replace(info, version=version, config=config)


def ask(binary: Path, env: dict) -> LibraryInfo | None:
    """The engine's `--library` answer with the banner facts the library
    printed; None when the engine has no library to ask or did not answer."""
    try:
        done = subprocess.run(
            [str(binary), "--library"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TIMEOUT,
            env={**env, **BANNER_ENV},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    record = parse_output(done.stdout).first("library")
    if done.returncode != 0 or record is None or record.get("library") is None:
        return None
    try:
        info = LibraryInfo.from_dict(record["library"], f"{binary.name} --library")
    except RecordError:
        return None
    return _with_banners(info, done.stderr)


#: A compiler flag variable the `cc` crate read, as it prints it in the
#: build script's output (`CXXFLAGS = Some(-DNDEBUG)`).
_CC_FLAGS = re.compile(r"^(CFLAGS|CXXFLAGS) = Some\((.*)\)$")


def script_facts(output: Path) -> dict[str, str]:
    """What a build script's `output` file says of the build: the
    `cargo:rustc-env` facts it declared (BUILD_TYPE=Release ..., target
    triples left out) and the C and C++ flags `cc` was given."""
    try:
        lines = output.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    facts = {}
    for line in lines:
        key, _, value = line.removeprefix("cargo:rustc-env=").partition("=")
        if line.startswith("cargo:rustc-env=") and value and not key.startswith("BUILD_TARGET"):
            facts[key] = value
        elif m := _CC_FLAGS.match(line):
            facts[m.group(1)] = m.group(2).strip('"')
    return facts


def newest_scripts(target: Path) -> dict[str, Path]:
    """Package name -> its newest build-script output under `target`'s
    release builds: what `hab list` can tell without building (a build
    knows its own, `cargo.build_scripts`)."""
    newest: dict[str, tuple[float, Path]] = {}
    for output in (target / "release" / "build").glob("*-*/output"):
        try:
            mtime = output.stat().st_mtime
        except OSError:
            continue
        package = output.parent.name.rsplit("-", 1)[0]
        if package not in newest or mtime > newest[package][0]:
            newest[package] = (mtime, output)
    return {package: output for package, (_, output) in newest.items()}


@dataclass
class CargoFacts:
    """Per package of the engine workspace: the features cargo resolved,
    the versions it locked, and its build script's output file."""

    features: dict[str, tuple[str, ...]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    scripts: dict[str, Path] = field(default_factory=dict)

    def of(self, package: str) -> dict[str, str]:
        """What cargo says of how `package` was built."""
        features = self.features.get(package)
        facts = {FEATURES: ", ".join(features) or "none"} if features is not None else {}
        script = self.scripts.get(package)
        return {**facts, **(script_facts(script) if script else {})}


def cargo_facts(engine: Path, scripts: dict[str, Path]) -> CargoFacts:
    """The engine workspace's resolved features (every allocator's feature
    on, as `hab build` builds them), with `scripts` (package -> build-script
    output); no features when cargo cannot tell offline."""
    argv = ["cargo", "metadata", "--offline", "--all-features", "--format-version", "1"]
    try:
        done = subprocess.run(argv, cwd=engine, capture_output=True, text=True, timeout=60)
        meta = json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        meta = {}
    names = {p.get("id"): (p.get("name"), p.get("version")) for p in meta.get("packages") or []}
    facts = CargoFacts(scripts=dict(scripts))
    for node in (meta.get("resolve") or {}).get("nodes") or []:
        name, version = names.get(node.get("id"), (None, None))
        if isinstance(name, str):
            facts.features[name] = tuple(f for f in node.get("features") or [] if isinstance(f, str))
            facts.versions[name] = str(version)
    return facts


def describe(a: Allocator, binary: Path | None, env: dict, cargo: CargoFacts) -> LibraryInfo | None:
    """The library behind `a`: asked through `binary` (run with `env`),
    with the cargo facts of its package for a crate; None when neither
    says anything."""
    asked = ask(binary, env) if binary is not None and binary.is_file() else None
    # cargo's facts are the engine workspace's: a user's crate builds apart
    package = a.version_package if a.builtin_crate else None
    built = cargo.of(package) if package else {}
    if asked is not None:
        return replace(asked, config={**asked.config, **built})
    if package and (built.get(FEATURES, "none") != "none" or len(built) > 1):
        return LibraryInfo(package, cargo.versions.get(package, "?"), built, source="cargo")
    return None


def short_version(version: str) -> str:
    """A version for a table: a git-describe hash cut to 8 digits."""
    return re.sub(r"(-g[0-9a-f]{8})[0-9a-f]+$", r"\1", version)
