"""Run directories: metadata, one file per engine process, a `latest` link.

Layout of `<root>/<YYYYmmdd-HHMMSS>/`:
  run.json          suite, plan, environment, status (see docs/results.md)
  units/<id>.json   one engine process: raw samples, rusage, outcome
  verify/<id>.json  `--verify`: each pair's checking process

Every file is written to a temporary name and renamed into place, so an
interrupted run leaves only complete files: every finished unit survives.
"""

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from hab.errors import UserError
from hab.plan import Plan, Unit
from hab.runner import Outcome

FORMAT = 1
RUN_FILE = "run.json"
UNITS_DIR = "units"
VERIFY_DIR = "verify"
LATEST = "latest"
BASELINES = "baselines"
_BASELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def write_json(path: Path, data) -> None:
    """Writes `data` as JSON atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def unit_record(unit: Unit, outcome: Outcome) -> dict:
    """What is stored for one engine process."""
    def first(kind):
        return next((r for r in outcome.records if r.get("type") == kind), None)

    samples = [r for r in outcome.records if r.get("type") == "sample"]
    return {
        "format": FORMAT,
        "unit": {"cell": unit.cell, "allocator": unit.allocator, "repetition": unit.repetition},
        "ok": outcome.ok,
        "reason": outcome.reason,
        "exit_code": outcome.exit_code,
        "seconds": round(outcome.seconds, 3),
        "hello": first("hello"),
        "warmup": first("warmup"),
        "plan": first("plan"),
        "samples": {"iters": [s["iters"] for s in samples], "ns": [s["ns"] for s in samples]},
        "work": first("work"),
        "live": first("live"),
        "latency": first("latency"),
        "rusage": first("rusage"),
        "rss": outcome.rss,
        "stderr": outcome.stderr,
    }


class RunDir:
    """A run directory being written."""

    def __init__(self, path: Path, meta: dict):
        self.path = path
        self.meta = meta

    @classmethod
    def create(cls, root: Path, meta: dict) -> "RunDir":
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            root.mkdir(parents=True, exist_ok=True)
            path, n = root / stamp, 1
            while path.exists():
                n += 1
                path = root / f"{stamp}-{n}"
            (path / UNITS_DIR).mkdir(parents=True)
            run = cls(path, {"format": FORMAT, "id": path.name, **meta})
            run.save()
            _point_latest(root, path.name)
        except OSError as e:
            raise UserError(f"cannot write results under {root}: {e.strerror or e}") from None
        return run

    def save(self) -> None:
        write_json(self.path / RUN_FILE, self.meta)

    def write_unit(self, unit: Unit, outcome: Outcome) -> None:
        self.write_record(unit, unit_record(unit, outcome))

    def write_record(self, unit: Unit, record: dict, folder: str = UNITS_DIR) -> None:
        if folder != UNITS_DIR:  # created with the run
            (self.path / folder).mkdir(exist_ok=True)
        write_json(self.path / folder / f"{unit.id}.json", record)


def _point_latest(root: Path, name: str) -> None:
    link, tmp = root / LATEST, root / f".{LATEST}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(name, tmp)
    os.replace(tmp, link)


@dataclass
class StoredRun:
    path: Path
    meta: dict
    plan: Plan
    units: dict  # unit id -> stored unit record


def resolve(arg: str | None, root: Path) -> Path:
    """A run directory from a path to a run, to a results root, or nothing (latest)."""
    path = Path(arg) if arg else root
    for candidate in (path, path / LATEST):
        if (candidate / RUN_FILE).is_file():
            return candidate.resolve()
    raise UserError(f"no stored run at {path} (expected {RUN_FILE} there or under {LATEST}/)")


def baseline_path(root: Path, name: str) -> Path:
    if not _BASELINE_NAME.match(name):
        raise UserError(f"baseline names are letters, digits, '.', '_' and '-', got {name!r}")
    return root / BASELINES / name


def save_baseline(run: Path, root: Path, name: str) -> Path:
    """Copies a run to `<root>/baselines/<name>`, replacing an older one whole."""
    target = baseline_path(root, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(run, tmp)
    old = target.with_name(f".{name}.old")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def resolve_any(arg: str, root: Path) -> Path:
    """A run from a path (run or results root) or the name of a saved baseline."""
    if Path(arg).exists():
        return resolve(arg, root)
    if _BASELINE_NAME.match(arg) and (root / BASELINES / arg / RUN_FILE).is_file():
        return (root / BASELINES / arg).resolve()
    raise UserError(f"no stored run or baseline called {arg!r} (baselines live in {root / BASELINES})")


def load(path: Path) -> StoredRun:
    try:
        meta = json.loads((path / RUN_FILE).read_text())
        units = {}
        for f in sorted((path / UNITS_DIR).glob("*.json")):
            record = json.loads(f.read_text())
            u = record["unit"]
            units[Unit(u["cell"], u["allocator"], u["repetition"]).id] = record
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise UserError(f"cannot read run {path}: {e}") from None
    if meta.get("format") != FORMAT:
        raise UserError(f"run {path} has format {meta.get('format')}, this hab reads {FORMAT}")
    return StoredRun(path, meta, Plan.from_dict(meta["plan"]), units)
