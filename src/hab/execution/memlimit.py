"""`--max-rss`: capping the memory of each engine process.

Where the harness may create memory cgroups (cgroup v2 `memory.max`, or v1
`memory.limit_in_bytes`), every engine process is moved into a fresh child
of the harness's own cgroup as soon as it starts, with swap capped as well;
the kernel's OOM killer stops it at the cap and the cgroup's event counter
says so. Memory touched in the first instants, before the move, is charged
outside the cap (the engine's start-up, well under a MiB of it).
Elsewhere the RSS sampler enforces the cap: the process is killed when a
sample exceeds it, so the cap is only as sharp as `--rss-interval`.
"""

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from hab.execution.guardian import GUARDIAN
from hab.records.run import MemoryCap

_ROOT = Path("/sys/fs/cgroup")
_counter = itertools.count()


@dataclass(frozen=True)
class _Layout:
    version: int
    parent: Path  # the harness's own cgroup directory


def _own_cgroup() -> _Layout | None:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            parent = _ROOT / "memory" / path.lstrip("/")
            if parent.is_dir():
                return _Layout(1, parent)
    for line in lines:
        if line.startswith("0::"):
            parent = _ROOT / line[3:].lstrip("/")
            if (_ROOT / "cgroup.controllers").is_file() and parent.is_dir():
                return _Layout(2, parent)
    return None


class Group:
    """One engine process's cgroup."""

    def __init__(self, layout: _Layout, limit: int):
        self.layout = layout
        self.path = layout.parent / f"hab-{os.getpid()}-{next(_counter)}"
        self.path.mkdir()
        GUARDIAN.watch_cgroup(self.path)
        try:
            if layout.version == 2:
                (self.path / "memory.max").write_text(str(limit))
                swap = self.path / "memory.swap.max"
                if swap.exists():
                    swap.write_text("0")
            else:
                (self.path / "memory.limit_in_bytes").write_text(str(limit))
                memsw = self.path / "memory.memsw.limit_in_bytes"
                if memsw.exists():
                    memsw.write_text(str(limit))
        except OSError:
            self.remove()
            raise

    def add(self, pid: int) -> None:
        (self.path / "cgroup.procs").write_text(str(pid))

    def oom_killed(self) -> bool:
        name = "memory.events" if self.layout.version == 2 else "memory.oom_control"
        try:
            lines = (self.path / name).read_text().splitlines()
        except OSError:
            return False
        counts = dict(line.split()[:2] for line in lines if len(line.split()) >= 2)
        return int(counts.get("oom_kill", 0)) > 0

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            return  # still busy: the guardian retries when hab ends
        GUARDIAN.release_cgroup(self.path)


@dataclass(frozen=True)
class Cap:
    """A memory cap for engine processes and how it is enforced."""

    limit_bytes: int
    layout: _Layout | None  # None: enforced by the RSS sampler

    @property
    def enforced_by(self) -> str:
        return f"cgroup v{self.layout.version}" if self.layout else "RSS sampler"

    def group(self) -> Group | None:
        """A fresh cgroup for one process (None when the sampler enforces the cap)."""
        return Group(self.layout, self.limit_bytes) if self.layout else None

    def record(self) -> MemoryCap:
        """What the run stores of the cap."""
        return MemoryCap(self.limit_bytes, self.enforced_by)


def make_cap(limit_bytes: int) -> Cap:
    """A cap enforced by a cgroup if one can be made here, else by the sampler."""
    layout = _own_cgroup()
    if layout is not None:
        try:
            Group(layout, limit_bytes).remove()
        except OSError:
            layout = None
    return Cap(limit_bytes, layout)
