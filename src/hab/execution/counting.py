"""Counting metrics: an engine process under Valgrind's callgrind.

The engine runs each sample's iterations inside `hab_measured_sample`;
callgrind zeroes its counters when that function is entered and writes a
dump when it returns, so each dump holds one sample's events (of every
thread), and start-up, warm-up and exit are left out. Iteration counts are
fixed per (cell, allocator), sized by one short native calibration process
(hab.execution.fixed), so that every process of a pair does the same work
(docs/metrics.md).

Counted processes run with a virtual clock (engine/vclock, preloaded):
every monotonic clock read advances time by CLOCK_STEP_NS. Allocators that
pace housekeeping by the clock (jemalloc's thread-cache garbage collection,
at most every 10 ms) then do the same work in every process; on the real
clock, slowed by Valgrind and by the machine's load, they did not, and
jemalloc's counts moved by up to 1% between identical processes.
"""

import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hab.errors import UserError
from hab.execution.fixed import Calibrations
from hab.execution.process import Outcome
from hab.records.failure import Failure, FailureKind
from hab.records.target import CALLGRIND
from hab.records.unit import Counts

TOOL = CALLGRIND
#: The engine function whose every call is one measured sample.
REGION = "hab_measured_sample"
#: Native time of one sample that the calibration aims at (rounded down to
#: a power of two of iterations, at least one).
SAMPLE_TARGET_NS = 2e6
#: Virtual nanoseconds per monotonic clock read in counted processes: about
#: the native pace of jemalloc's clock reads (3.8 us on rayon_boxes here).
CLOCK_STEP_NS = 4000
#: The variable that gives engine/vclock its step.
CLOCK_STEP_ENV = "HAB_VCLOCK_STEP_NS"

#: Slowdown under callgrind assumed for timeouts (50-110x measured here; margin on top).
SLOWDOWN = 250
#: Seconds Valgrind needs to start an engine and write its dumps, on top.
STARTUP_S = 20.0

#: glibc settings of counted processes: memset and memcpy of every size by
#: vector stores, never `rep stosb`/`rep movsb`, which Valgrind counts as one
#: instruction per byte (zeroing a 64 KiB box read as 65536 instructions,
#: and ran 16 times slower under callgrind).
STRING_TUNABLES = (
    "glibc.cpu.x86_rep_stosb_threshold=0xffffffffffffffff",
    "glibc.cpu.x86_rep_movsb_threshold=0xffffffffffffffff",
)

#: launch(spec, prefix, timeout, preload) runs the engine for `spec`, behind
#: the argv `prefix`, with the shared object `preload` (if any) preloaded first.
Launch = Callable[[dict, list[str], float, Path | None], Outcome]


def valgrind_binary() -> str:
    """Valgrind's path, or the one-line reason it cannot be used."""
    found = shutil.which("valgrind")
    if found is None:
        raise UserError("--metric instructions needs Valgrind: `hab setup` installs it (Debian package valgrind)")
    return found


def environment(env: dict) -> dict:
    """`env` with STRING_TUNABLES added to any GLIBC_TUNABLES it has, and the
    virtual clock's step (which only the preloaded clock reads)."""
    given = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
    return {**env, "GLIBC_TUNABLES": ":".join([*given, *STRING_TUNABLES]), CLOCK_STEP_ENV: str(CLOCK_STEP_NS)}


def callgrind_argv(valgrind: str, out_dir: Path, cache_sim: bool) -> list[str]:
    return [
        valgrind,
        f"--tool={TOOL}",
        "--quiet",
        f"--callgrind-out-file={out_dir}/cg.%p",
        f"--zero-before={REGION}",
        f"--dump-after={REGION}",
        f"--cache-sim={'yes' if cache_sim else 'no'}",
    ]


class DumpError(Exception):
    """Callgrind's dumps are missing or unreadable."""


_DUMP = re.compile(r"cg\.\d+\.(\d+)$")


def _events(path: Path) -> dict[str, int]:
    names = totals = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("events:"):
            names = line.split(":", 1)[1].split()
        elif line.startswith("totals:"):
            totals = line.split(":", 1)[1].split()
    if names is None or totals is None:
        raise DumpError(f"{path.name} has no events or totals line")
    try:
        values = [int(v) for v in totals]
    except ValueError:
        raise DumpError(f"{path.name}: totals are not whole numbers") from None
    if len(values) > len(names) or any(v < 0 for v in values):
        raise DumpError(f"{path.name}: totals do not match the events")
    values += [0] * (len(names) - len(values))  # callgrind leaves trailing zeros out
    return dict(zip(names, values, strict=True))


def read_dumps(out_dir: Path, samples: int) -> Counts:
    """The events of each sample from callgrind's numbered dumps in `out_dir`."""
    dumps = sorted((int(m.group(1)), p) for p in out_dir.iterdir() if (m := _DUMP.search(p.name)))
    if len(dumps) != samples:
        raise DumpError(f"{len(dumps)} dumps for {samples} samples")
    per_sample = [_events(p) for _, p in dumps]
    names = list(per_sample[0])
    if any(list(e) != names for e in per_sample):
        raise DumpError("dumps count different events")
    return Counts(TOOL, {n: tuple(e[n] for e in per_sample) for n in names})


@dataclass
class Counter:
    """Runs engine processes under callgrind; iteration counts are chosen
    once per (cell, allocator) and reused by its every process."""

    valgrind: str
    clock: Path  # engine/vclock's shared object
    cache_sim: bool = False
    calibrations: Calibrations = field(default_factory=lambda: Calibrations(SAMPLE_TARGET_NS))

    def run(self, launch: Launch, spec: dict, key: tuple[str, str], timeout: float) -> Outcome:
        chosen = self.calibrations.choose(lambda s: launch(s, [], timeout, None), spec, key)
        if isinstance(chosen, Outcome):
            return chosen
        fixed, met = chosen
        samples = int(spec["sampling"]["sample_size"])
        iterations = fixed["warm_up"] + samples * fixed["per_sample"]
        budget = timeout + STARTUP_S + SLOWDOWN * met * iterations / 1e9
        with tempfile.TemporaryDirectory(prefix="hab-callgrind-") as out:
            argv = callgrind_argv(self.valgrind, Path(out), self.cache_sim)
            outcome = launch({**spec, "fixed": fixed}, argv, budget, self.clock)
            if not outcome.ok:
                return outcome
            try:
                return replace(outcome, counts=replace(read_dumps(Path(out), samples), clock_step_ns=CLOCK_STEP_NS))
            except (DumpError, OSError) as e:
                return replace(outcome, failure=_garbage(str(e)))


def _garbage(why: str) -> Failure:
    return Failure(FailureKind.GARBAGE, f"{TOOL}: {why}")
