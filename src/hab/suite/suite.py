"""Suites: which workloads, parameter grids, allocators and thread counts
to run, and how to sample. They come from a preset or a TOML file, then
command-line options narrow or override them."""

import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from hab.allocators import custom
from hab.allocators.registry import Allocator
from hab.errors import UserError, unknown
from hab.records.plan import Sampling
from hab.records.target import ACCELERATORS, NATIVE, TARGETS
from hab.suite.values import parse_size

_SAMPLING_MODES = ("auto", "linear", "flat")
#: Upper bounds of user-given figures: beyond them a value is a typo, not a plan.
MAX_TIMEOUT_S = 7 * 24 * 3600.0
MAX_PHASE_S = 3600.0  # warm-up or measurement time of one engine process
MAX_REPETITIONS = 10_000
_TOP_KEYS = {
    "name",
    "allocators",
    "allocator",
    "threads",
    "repetitions",
    "dry",
    "timeout",
    "sampling",
    "benchmark",
    "targets",
    "guest",
}


@dataclass(frozen=True)
class Guest:
    """How guests run: memory, vCPUs (None: one per engine thread of the
    cell) and accelerator (None: KVM when it works, else TCG)."""

    memory_mib: int = 1024
    vcpus: int | None = None
    accel: str | None = None
    hermit_kernels: tuple[str, ...] = ()  # LABEL=SOURCE (a tag or a tree's absolute path); () the default tag


@dataclass(frozen=True)
class Benchmark:
    """A workload and its parameter grid (name -> list of values)."""

    workload: str
    params: dict[str, list] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    benchmarks: tuple[Benchmark, ...]
    allocators: tuple[str, ...] | None = None  # None: every registered allocator
    threads: tuple[int, ...] | None = None  # None: the available cores
    repetitions: int = 1  # engine processes per (cell, allocator)
    dry: bool = True  # also run each workload's dry variant
    targets: tuple[str, ...] = (NATIVE,)  # where engine processes run
    guest: Guest = Guest()
    timeout: float | None = None  # per engine process; None: derived from sampling
    sampling: Sampling = Sampling()
    overrides: tuple[tuple[str, list[str]], ...] = ()  # (param, values) pairs from --param, applied at planning
    defined: tuple[Allocator, ...] = ()  # allocators the suite brings ([allocator.NAME] tables)

    def unit_timeout(self) -> float:
        """Seconds an engine process may take before it is killed."""
        if self.timeout is not None:
            return self.timeout
        return 60.0 + 4.0 * (self.sampling.warm_up_time + self.sampling.measurement_time)


def presets() -> list[str]:
    files = resources.files("hab.suite") / "presets"
    return sorted(p.name.removesuffix(".toml") for p in files.iterdir() if p.name.endswith(".toml"))


def load_preset(name: str) -> Suite:
    path = resources.files("hab.suite") / "presets" / f"{name}.toml"
    if not path.is_file():
        raise unknown("preset", name, presets())
    return parse(path.read_text(), f"preset {name}")


def load_file(path: Path) -> Suite:
    try:
        text = path.read_text()
    except OSError as e:
        raise UserError(f"cannot read suite {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a suite: not UTF-8 text") from None
    return parse(text, str(path), path.resolve().parent)


def _grid_values(value, where: str) -> list:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise UserError(f"{where}: empty list of values")
    for v in values:
        if not isinstance(v, (int, float, str)):
            raise UserError(f"{where}: values must be numbers or strings, got {v!r}")
    return values


def _int_list(value, where: str, minimum: int) -> tuple:
    values = value if isinstance(value, list) else [value]
    if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < minimum for v in values):
        raise UserError(f"{where}: expected integers >= {minimum}, got {value!r}")
    return tuple(values)


def _sampling(table, where: str) -> Sampling:
    if not isinstance(table, dict):
        raise UserError(f"{where}: [sampling] must be a table")
    unknown = set(table) - set(Sampling.__dataclass_fields__)
    if unknown:
        raise UserError(f"{where}: unknown sampling keys {', '.join(sorted(unknown))}")
    s = Sampling(**table)
    return check_sampling(s, where)


def check_sampling(s: Sampling, where: str) -> Sampling:
    if s.mode not in _SAMPLING_MODES:
        raise UserError(f"{where}: sampling mode must be one of {', '.join(_SAMPLING_MODES)}, got {s.mode!r}")
    if not isinstance(s.sample_size, int) or isinstance(s.sample_size, bool) or s.sample_size < 2:
        raise UserError(f"{where}: sample_size must be an integer >= 2, got {s.sample_size!r}")
    for name in ("warm_up_time", "measurement_time"):
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_PHASE_S:
            raise UserError(f"{where}: {name} must be a number of seconds in [0, {MAX_PHASE_S:g}], got {value!r}")
    if s.measurement_time <= 0:
        raise UserError(f"{where}: measurement_time must be > 0 seconds")
    return replace(s, warm_up_time=float(s.warm_up_time), measurement_time=float(s.measurement_time))


def check_timeout(value, where: str) -> float:
    """Seconds an engine process may run: a finite positive number, at most a week."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT_S:
        raise UserError(f"{where}: timeout must be a number of seconds in (0, {MAX_TIMEOUT_S:g}], got {value!r}")
    return float(value)


def check_repetitions(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPETITIONS:
        raise UserError(f"{where}: repetitions must be an integer in 1..{MAX_REPETITIONS}, got {value!r}")
    return value


def _defined(tables, where: str, base: Path) -> tuple:
    if not isinstance(tables, dict):
        raise UserError(f"{where}: [allocator.NAME] entries must be tables")
    return tuple(custom.from_table(name, table, base, f"{where}: [allocator.{name}]") for name, table in tables.items())


def check_targets(value, where: str) -> tuple[str, ...]:
    """A list of target names, each known and given once."""
    values = value if isinstance(value, list) else [value]
    if not values or any(not isinstance(v, str) or v not in TARGETS for v in values):
        raise UserError(f"{where}: expected targets among {', '.join(TARGETS)}, got {value!r}")
    if len(set(values)) != len(values):
        raise UserError(f"{where}: target listed twice in {', '.join(values)}")
    return tuple(values)


def guest_memory(text, where: str) -> int:
    """Guest memory in MiB from a size (`1GiB`, `512MiB`); at least 128 MiB."""
    try:
        size = parse_size(str(text)) if not isinstance(text, int) else text
    except ValueError as e:
        raise UserError(f"{where}: {e}") from None
    if size < 128 << 20 or size % (1 << 20):
        raise UserError(f"{where}: guest memory is whole MiB, at least 128MiB, got {text!r}")
    return size >> 20


_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,39}")


def hermit_kernel(text, where: str, base: Path) -> str:
    """`[LABEL=]SOURCE` as `LABEL=SOURCE`: SOURCE a kernel source tree (made
    absolute against `base`) or a tag (a word naming no folder); LABEL,
    when not given, the tag or the tree's folder name."""
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: expected [LABEL=]SOURCE (a kernel tag or source tree), got {text!r}")
    label, sep, source = text.partition("=")
    if not sep:
        label, source = "", text
    path = (base / source).expanduser()
    if path.is_dir():
        source = str(path.resolve())
    elif "/" in source or source.startswith("."):
        raise UserError(f"{where}: no kernel source tree at {source}")
    label = label or Path(source).name
    if not _LABEL.fullmatch(label):
        raise UserError(
            f"{where}: kernel label {label!r}: letters, digits and . _ + - (at most 40), "
            "starting with a letter or digit; name it with LABEL=SOURCE"
        )
    return f"{label}={source}"


def _hermit_kernels(values, where: str, base: Path) -> tuple[str, ...]:
    values = values if isinstance(values, list) else [values]
    choices = tuple(hermit_kernel(v, where, base) for v in values)
    labels = [c.split("=", 1)[0] for c in choices]
    twice = next((label for label in labels if labels.count(label) > 1), None)
    if twice is not None:
        raise UserError(f"{where}: two kernels labelled {twice}: name them with LABEL=SOURCE")
    return choices


def guest_settings(
    memory=None,
    vcpus=None,
    accel=None,
    where: str = "command line",
    base: Guest = Guest(),
    hermit_kernels=None,
    folder: Path | None = None,
) -> Guest:
    """`base` with the given guest settings checked and applied (kernel
    tree paths relative to `folder`, default the working directory)."""
    changes: dict = {}
    if hermit_kernels:
        changes["hermit_kernels"] = _hermit_kernels(hermit_kernels, f"{where}: hermit kernel", folder or Path.cwd())
    if memory is not None:
        changes["memory_mib"] = guest_memory(memory, f"{where}: guest memory")
    if vcpus is not None:
        if isinstance(vcpus, bool) or not isinstance(vcpus, int) or not 1 <= vcpus <= 255:
            raise UserError(f"{where}: vcpus must be an integer in 1..255, got {vcpus!r}")
        changes["vcpus"] = vcpus
    if accel is not None:
        if accel not in ACCELERATORS:
            raise UserError(f"{where}: accelerator must be kvm or tcg, got {accel!r}")
        changes["accel"] = accel
    return replace(base, **changes)


def _guest(table, where: str, base: Path) -> Guest:
    if not isinstance(table, dict) or set(table) - {"memory", "vcpus", "accel", "hermit_kernels"}:
        raise UserError(f"{where}: [guest] takes memory, vcpus, accel and hermit_kernels")
    return guest_settings(
        table.get("memory"),
        table.get("vcpus"),
        table.get("accel"),
        f"{where}: [guest]",
        hermit_kernels=table.get("hermit_kernels"),
        folder=base,
    )


def parse(text: str, where: str, base: Path | None = None) -> Suite:
    """A suite from TOML text; `where` names it in error messages, and
    paths in it are relative to `base` (default: the working directory)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{where}: not valid TOML: {e}") from None
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise UserError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    benches = data.get("benchmark", [])
    if not isinstance(benches, list) or not benches:
        raise UserError(f"{where}: a suite needs at least one [[benchmark]] table")
    benchmarks = []
    for i, b in enumerate(benches):
        bw = f"{where}: benchmark {i + 1}"
        if not isinstance(b, dict) or not isinstance(b.get("workload"), str):
            raise UserError(f'{bw}: needs workload = "name"')
        if set(b) - {"workload", "params"}:
            raise UserError(f"{bw}: unknown keys {', '.join(sorted(set(b) - {'workload', 'params'}))}")
        params = b.get("params", {})
        if not isinstance(params, dict):
            raise UserError(f"{bw}: params must be a table")
        grid = {k: _grid_values(v, f"{bw}: param {k}") for k, v in params.items()}
        benchmarks.append(Benchmark(b["workload"], grid))
    allocators = data.get("allocators")
    if allocators is not None and (
        not isinstance(allocators, list) or not allocators or not all(isinstance(a, str) and a for a in allocators)
    ):
        raise UserError(f"{where}: allocators must be a non-empty list of names (leave it out for all of them)")
    repetitions = check_repetitions(data.get("repetitions", 1), where)
    timeout = data.get("timeout")
    timeout = check_timeout(timeout, where) if timeout is not None else None
    dry = data.get("dry", True)
    if not isinstance(dry, bool):
        raise UserError(f"{where}: dry must be true or false")
    return Suite(
        name=str(data.get("name", where)),
        benchmarks=tuple(benchmarks),
        allocators=tuple(allocators) if allocators is not None else None,
        threads=_int_list(data["threads"], f"{where}: threads", 1) if "threads" in data else None,
        repetitions=repetitions,
        dry=dry,
        targets=check_targets(data["targets"], f"{where}: targets") if "targets" in data else (NATIVE,),
        guest=_guest(data.get("guest", {}), where, base or Path.cwd()),
        timeout=timeout,
        sampling=_sampling(data.get("sampling", {}), where),
        defined=_defined(data.get("allocator", {}), where, base or Path.cwd()),
    )


def split_list(text: str, option: str) -> list[str]:
    items = [x.strip() for x in text.split(",")]
    if not text.strip() or any(not x for x in items):
        raise UserError(f"{option}: expected a comma-separated list, got {text!r}")
    return items


def parse_param_option(text: str) -> tuple[str, list[str]]:
    """`name=v1,v2` -> (name, [v1, v2])."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip():
        raise UserError(f"--param: expected name=value[,value...], got {text!r}")
    return name.strip(), split_list(values, f"--param {name.strip()}")


def narrow(
    suite: Suite,
    *,
    allocators=None,
    workloads=None,
    params=(),
    threads=None,
    repetitions=None,
    timeout=None,
    dry=None,
    targets=None,
    guest: dict | None = None,
    **sampling,
) -> Suite:
    """The suite with command-line choices applied; None leaves a field as is."""
    changes: dict = {}
    if allocators is not None:
        changes["allocators"] = tuple(allocators)
    if workloads is not None:
        kept = [b for b in suite.benchmarks if b.workload in workloads]
        have = {b.workload for b in kept}
        kept += [Benchmark(w) for w in workloads if w not in have]
        changes["benchmarks"] = tuple(kept)
    if params:
        changes["overrides"] = tuple(params)
    if threads is not None:
        if any(t < 1 for t in threads):
            raise UserError(f"--threads: thread counts must be >= 1, got {','.join(map(str, threads))}")
        changes["threads"] = tuple(threads)
    if repetitions is not None:
        changes["repetitions"] = check_repetitions(repetitions, "--repetitions")
    if timeout is not None:
        changes["timeout"] = check_timeout(timeout, "--timeout")
    if dry is not None:
        changes["dry"] = dry
    if targets is not None:
        changes["targets"] = check_targets(list(targets), "--target")
    if guest:
        changes["guest"] = guest_settings(**guest, base=suite.guest)
    given = {k: v for k, v in sampling.items() if v is not None}
    if given:
        changes["sampling"] = check_sampling(replace(suite.sampling, **given), "command line")
    return replace(suite, **changes)
