"""Builds that several `hab` processes share: the guest images in the cache.

Two processes (from different checkouts, or a build while another run
boots its guests) must not break each other:

- `exclusive(root)` holds a lock on a build folder for a whole build, so
  generated sources, target folders and outputs are never written by two
  builds at once; a waiting process says whom it waits for.
- `kept(path, store)` copies a finished image into a folder named by its
  content, written once and never changed, so a run boots the files it
  built even while another process rebuilds; `prune(store)` deletes what
  no build has kept for KEPT_DAYS.
- `log_file(root, name)` gives every build its own log, so one never
  overwrites the log another just named in its error.
"""

import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

#: Logs kept per build step (the newest; older ones are deleted).
LOGS_KEPT = 10
#: Days an image stays in a store after the last build that kept it.
KEPT_DAYS = 14


@contextmanager
def exclusive(root: Path, what: str, console: Console) -> Iterator[None]:
    """Holds `root`'s build lock (waiting, with a line, while another
    process holds it)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build-lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            console.print(f"[dim]waiting for {holder} to finish building {what} in {root}[/]")
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"hab (pid {os.getpid()})")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def kept(path: Path, store: Path) -> Path:
    """An unchanging copy of the file `path` in `store`, in a folder named by
    its content (made once; the same content is stored once)."""
    folder = store / _digest(path)[:20]
    target = folder / path.name
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{os.getpid()}.tmp"
        shutil.copy2(path, tmp)
        tmp.replace(target)
    os.utime(folder)  # kept now: prune() counts from here
    return target


def prune(store: Path) -> None:
    """Deletes the folders of `store` that no build kept in KEPT_DAYS (call
    it holding the build lock: a build in progress keeps what it uses)."""
    if not store.is_dir():
        return
    oldest = time.time() - KEPT_DAYS * 86400
    for folder in store.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < oldest:
            shutil.rmtree(folder, ignore_errors=True)


def log_file(root: Path, name: str) -> Path:
    """A log file of its own for one build step `name` in `root/logs`; the
    oldest logs of that step beyond LOGS_KEPT are deleted."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for old in sorted(logs.glob(f"{name}-*.log"))[: -LOGS_KEPT + 1]:
        old.unlink(missing_ok=True)
    now = time.time_ns()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now // 10**9))
    return logs / f"{name}-{stamp}.{now % 10**9:09d}-{os.getpid()}.log"
