"""Finding stored runs (a path, a results root, `latest`, a baseline name),
saving baselines, and reading a run back with every file validated."""

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hab.errors import UserError
from hab.records.fields import RecordError
from hab.records.plan import Plan
from hab.records.run import RunMeta, RunStatus
from hab.records.unit import UnitRecord
from hab.store import ownership
from hab.store.rundir import LATEST, RUN_FILE, UNITS_DIR

BASELINES = "baselines"
_BASELINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class StoredRun:
    path: Path
    meta: RunMeta
    units: dict[str, UnitRecord]  # unit id -> record
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (unit file, what is wrong with it)

    @property
    def plan(self) -> Plan:
        return self.meta.plan


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


def _parse(path: Path, parse):
    """One stored file, parsed and validated; raises RecordError naming the problem."""
    try:
        data = json.loads(path.read_bytes().decode())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(getattr(e, "strerror", None) or str(e)) from None
    return parse(data)


def _read(path: Path, parse):
    """One stored file that the run cannot do without; any problem is an error naming the file."""
    try:
        return _parse(path, parse)
    except RecordError as e:
        raise UserError(f"cannot read {path}: {e}") from None


def previous_on_host(path: Path, looked_at: int = 20) -> Path | None:
    """The latest complete run before the run at `path`, in its results root,
    that ran on the same host (by name); None when there is none among the
    `looked_at` runs before it."""
    meta = read_meta(path)
    if meta.host is None or meta.host.hostname is None:
        return None
    earlier = sorted(p for p in path.parent.iterdir() if p.name < path.name and (p / RUN_FILE).is_file())[::-1]
    for candidate in earlier[:looked_at]:
        try:
            other = read_meta(candidate)
        except UserError:
            continue
        same_host = other.host is not None and other.host.hostname == meta.host.hostname
        if same_host and other.status is RunStatus.COMPLETE and other.source is None:
            return candidate
    return None


def read_meta(path: Path) -> RunMeta:
    """A run's run.json, validated; a run whose `hab` died while it was
    running reads as abandoned."""
    meta = _read(path / RUN_FILE, RunMeta.from_dict)
    if meta.status is RunStatus.RUNNING and meta.owner is not None and not ownership.alive(meta.owner):
        meta.status = RunStatus.ABANDONED
    return meta


def _unit(file: Path, planned: dict) -> UnitRecord:
    """One unit file, which must hold the unit of the plan its name says."""
    record = _parse(file, UnitRecord.from_dict)
    unit = record.unit
    if unit.id != file.stem:
        raise RecordError(f"it holds unit {unit.id}, not {file.stem}")
    if planned.get(unit.id) != unit:
        raise RecordError(f"unit {unit.id} is not in the run's plan")
    return record


def load(path: Path) -> StoredRun:
    """A stored run with its metadata and every unit record, validated. A
    damaged unit file is skipped and listed in `skipped` with its problem;
    a damaged run.json is an error."""
    meta = read_meta(path)
    planned = {u.id: u for u in meta.plan.units}
    units, skipped = {}, []
    for file in sorted((path / UNITS_DIR).glob("*.json")):
        try:
            record = _unit(file, planned)
        except RecordError as e:
            skipped.append((file.name, str(e)))
            continue
        units[record.unit.id] = record
    return StoredRun(path, meta, units, skipped)
