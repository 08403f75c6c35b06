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
            [str(binary), "--library"], capture_output=True, text=True, timeout=TIMEOUT, env={**env, **BANNER_ENV}
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


@dataclass
class CargoFacts:
    """Per package: the features cargo resolved and the versions it locked,
    and the directory where build scripts leave their output."""

    features: dict[str, tuple[str, ...]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    build_dir: Path | None = None

    def build_script(self, package: str) -> dict[str, str]:
        """The `cargo:rustc-env` facts the package's newest build-script run
        declared about its build (BUILD_TYPE=Release ...), target triples left out."""
        if self.build_dir is None:
            return {}
        outputs = sorted(self.build_dir.glob(f"{package}-*/output"), key=lambda p: p.stat().st_mtime)
        facts = {}
        for line in outputs[-1].read_text(errors="replace").splitlines() if outputs else []:
            key, _, value = line.removeprefix("cargo:rustc-env=").partition("=")
            if line.startswith("cargo:rustc-env=") and value and not key.startswith("BUILD_TARGET"):
                facts[key] = value
        return facts

    def of(self, package: str) -> dict[str, str]:
        """What cargo says of how `package` was built."""
        features = self.features.get(package)
        facts = {FEATURES: ", ".join(features) or "none"} if features is not None else {}
        return {**facts, **self.build_script(package)}


def cargo_facts(engine: Path, target: Path) -> CargoFacts:
    """The engine workspace's resolved features (every allocator's feature
    on, as `hab build` builds them); empty when cargo cannot tell offline."""
    argv = ["cargo", "metadata", "--offline", "--all-features", "--format-version", "1"]
    try:
        done = subprocess.run(argv, cwd=engine, capture_output=True, text=True, timeout=60)
        meta = json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        meta = {}
    names = {p.get("id"): (p.get("name"), p.get("version")) for p in meta.get("packages") or []}
    facts = CargoFacts(build_dir=target / "release" / "build")
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
    package = a.version_package if a.kind == "crate" else None
    built = cargo.of(package) if package else {}
    if asked is not None:
        return replace(asked, config={**asked.config, **built})
    if package and (built.get(FEATURES, "none") != "none" or len(built) > 1):
        return LibraryInfo(package, cargo.versions.get(package, "?"), built, source="cargo")
    return None


def short_version(version: str) -> str:
    """A version for a table: a git-describe hash cut to 8 digits."""
    return re.sub(r"(-g[0-9a-f]{8})[0-9a-f]+$", r"\1", version)
