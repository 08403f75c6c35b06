"""Writing a run directory as the run goes: metadata, one file per engine
process, a `latest` link.

Layout of `<root>/<YYYYmmdd-HHMMSS>/`:
  run.json          suite, plan, environment, status (see docs/results.md)
  units/<id>.json   one engine process: raw samples, rusage, outcome
  verify/<id>.json  `--verify`: each pair's checking process

Every file is written to a temporary name and renamed into place, so an
interrupted run leaves only complete files: every finished unit survives.
A write that fails (a full disk, a vanished directory) raises
`StorageError`, which stops the run as interrupted, to be resumed.
"""

import errno
import json
import os
import shutil
import time
from pathlib import Path

from hab.errors import StorageError, UserError
from hab.records.run import RunMeta
from hab.records.unit import UnitRecord, VerifyRecord

RUN_FILE = "run.json"
UNITS_DIR = "units"
VERIFY_DIR = "verify"
LATEST = "latest"


def write_text(path: Path, text: str) -> None:
    """Writes `text` atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data) -> None:
    """Writes `data` as JSON atomically."""
    write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def new_id(root: Path) -> str:
    """A fresh run id under `root`: the time, with a counter if it is taken."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name, n = stamp, 1
    while (root / name).exists():
        n += 1
        name = f"{stamp}-{n}"
    return name


def _in_place(path: Path, data) -> bool:
    """With the disk full, rewrites `path` in place in compact JSON if that
    fits in the blocks it already has (a last resort for run.json's status,
    not atomic); False if it cannot."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n"
    try:
        if len(text.encode()) > path.stat().st_size:
            return False
        with open(path, "r+b") as f:
            f.write(text.encode())
            f.truncate()
        return True
    except OSError:
        return False


class RunDir:
    """A run directory being written."""

    def __init__(self, path: Path, meta: RunMeta):
        self.path = path
        self.meta = meta

    @classmethod
    def create(cls, root: Path, meta: RunMeta) -> "RunDir":
        """Creates `<root>/<meta.id>` (an id from `new_id`) with its run.json,
        and points `latest` at it."""
        path = root / meta.id
        try:
            root.mkdir(parents=True, exist_ok=True)
            (path / UNITS_DIR).mkdir(parents=True)
            run = cls(path, meta)
            write_json(path / RUN_FILE, meta.to_dict())
            _point_latest(root, path.name)
        except OSError as e:
            shutil.rmtree(path, ignore_errors=True)  # nothing half-written stays
            raise UserError(f"cannot write results under {root}: {e.strerror or e}") from None
        return run

    def _write(self, path: Path, data) -> None:
        try:
            write_json(path, data)
        except OSError as e:
            raise StorageError(f"cannot write {path}: {e.strerror or e}") from None

    def save(self) -> None:
        """Writes run.json; on a full disk, in place if it fits (see `_in_place`)."""
        data = self.meta.to_dict()
        try:
            write_json(self.path / RUN_FILE, data)
        except OSError as e:
            if e.errno != errno.ENOSPC or not _in_place(self.path / RUN_FILE, data):
                raise StorageError(f"cannot write {self.path / RUN_FILE}: {e.strerror or e}") from None

    def keep_unit(self, record: UnitRecord) -> None:
        self._write(self.path / UNITS_DIR / f"{record.unit.id}.json", record.to_dict())

    def keep_verify(self, record: VerifyRecord) -> None:
        try:
            (self.path / VERIFY_DIR).mkdir(exist_ok=True)
        except OSError as e:
            raise StorageError(f"cannot write {self.path / VERIFY_DIR}: {e.strerror or e}") from None
        self._write(self.path / VERIFY_DIR / f"{record.unit.id}.json", record.to_dict())


def _point_latest(root: Path, name: str) -> None:
    link, tmp = root / LATEST, root / f".{LATEST}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(name, tmp)
    os.replace(tmp, link)
