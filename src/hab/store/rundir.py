"""Writing a run directory as the run goes: metadata, one file per engine
process, a `latest` link.

Layout of `<root>/<YYYYmmdd-HHMMSS>/`:
  run.json          suite, plan, environment, status (see docs/results.md)
  units/<id>.json   one engine process: raw samples, rusage, outcome
  verify/<id>.json  `--verify`: each pair's checking process

Every file is written to a temporary name and renamed into place, so an
interrupted run leaves only complete files: every finished unit survives.
"""

import json
import os
import time
from pathlib import Path

from hab.errors import UserError
from hab.records.run import RunMeta
from hab.records.unit import UnitRecord, VerifyRecord

RUN_FILE = "run.json"
UNITS_DIR = "units"
VERIFY_DIR = "verify"
LATEST = "latest"


def write_json(path: Path, data) -> None:
    """Writes `data` as JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def new_id(root: Path) -> str:
    """A fresh run id under `root`: the time, with a counter if it is taken."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name, n = stamp, 1
    while (root / name).exists():
        n += 1
        name = f"{stamp}-{n}"
    return name


class RunDir:
    """A run directory being written."""

    def __init__(self, path: Path, meta: RunMeta):
        self.path = path
        self.meta = meta

    @classmethod
    def create(cls, root: Path, meta: RunMeta) -> "RunDir":
        """Creates `<root>/<meta.id>` (an id from `new_id`) with its run.json,
        and points `latest` at it."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            path = root / meta.id
            (path / UNITS_DIR).mkdir(parents=True)
            run = cls(path, meta)
            run.save()
            _point_latest(root, path.name)
        except OSError as e:
            raise UserError(f"cannot write results under {root}: {e.strerror or e}") from None
        return run

    def save(self) -> None:
        write_json(self.path / RUN_FILE, self.meta.to_dict())

    def keep_unit(self, record: UnitRecord) -> None:
        write_json(self.path / UNITS_DIR / f"{record.unit.id}.json", record.to_dict())

    def keep_verify(self, record: VerifyRecord) -> None:
        (self.path / VERIFY_DIR).mkdir(exist_ok=True)
        write_json(self.path / VERIFY_DIR / f"{record.unit.id}.json", record.to_dict())


def _point_latest(root: Path, name: str) -> None:
    link, tmp = root / LATEST, root / f".{LATEST}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(name, tmp)
    os.replace(tmp, link)
