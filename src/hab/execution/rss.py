"""RSS over time: the engine process's resident set, sampled from /proc.

A background thread reads `/proc/<pid>/statm` at a fixed interval while the
engine runs. Where /proc does not exist (macOS, a guest behind a serial
line) the series is simply empty.
"""

import os
import threading
import time

from hab.records.unit import RssSeries

#: Default sampling interval, in seconds (`hab run --rss-interval`): coarse
#: enough to cost a fast workload little (benchmarks/probe_overhead.py).
DEFAULT_INTERVAL = 0.02
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024 if hasattr(os, "sysconf") else 4


def rss_kib(pid: int) -> int | None:
    """Resident set size of `pid` in KiB, or None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            fields = f.read().split()
    except OSError:
        return None
    if len(fields) < 2:
        return None
    return int(fields[1]) * _PAGE_KIB


class Sampler:
    """Samples one process's RSS until `stop` (or until the process is gone).
    With `limit_kib`, a sample above it calls `on_exceed` once (the
    fallback enforcement of `--max-rss`, see `memlimit`)."""

    def __init__(self, pid: int, interval: float, limit_kib: int | None = None, on_exceed=None):
        self.pid = pid
        self.interval = interval
        self.limit_kib = limit_kib
        self.on_exceed = on_exceed
        self.exceeded_kib: int | None = None
        self.t_ms: list[float] = []  # since the sampler started
        self.rss_kib: list[int] = []
        self._start = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"rss-{pid}", daemon=True)

    def start(self) -> "Sampler":
        """Takes the first sample at once (so even a process that ends
        before the thread gets to run has one), then samples in the background."""
        self._start = time.monotonic()
        if self._sample():
            self._thread.start()
        return self

    def _sample(self) -> bool:
        kib = rss_kib(self.pid)
        if not kib:  # gone, or a zombie whose memory is already released
            return False
        self.t_ms.append(round((time.monotonic() - self._start) * 1000, 1))
        self.rss_kib.append(kib)
        if self.limit_kib is not None and kib > self.limit_kib and self.exceeded_kib is None:
            self.exceeded_kib = kib
            if self.on_exceed:
                self.on_exceed()
        return True

    def _run(self) -> None:
        tick = self._start
        while True:
            tick += self.interval
            if self._stop.wait(max(0.0, tick - time.monotonic())) or not self._sample():
                return

    def stop(self) -> RssSeries:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return RssSeries(round(self.interval * 1000, 3), tuple(self.t_ms), tuple(self.rss_kib))
