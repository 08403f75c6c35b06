"""Asking an engine binary what it can run, and whether a spec is valid."""

import subprocess
from pathlib import Path

from hab.errors import UserError
from hab.execution.protocol import parse_output, spec_json
from hab.records.fields import RecordError
from hab.records.workload import WorkloadInfo

#: Limit for the quick `--describe` and `--check` calls, in seconds.
QUERY_TIMEOUT = 30


def _query(binary: Path, args: list[str]):
    try:
        done = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=QUERY_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UserError(f"engine {binary.name} did not answer: {e}") from None
    return done, parse_output(done.stdout)


def describe(binary: Path) -> dict[str, WorkloadInfo]:
    """Workloads the engine offers, by name."""
    done, parsed = _query(binary, ["--describe"])
    record = parsed.first("describe")
    if done.returncode != 0 or record is None:
        raise UserError(f"engine {binary.name} --describe failed (exit {done.returncode})")
    try:
        workloads = [
            WorkloadInfo.from_describe(w, f"describe.workloads[{i}]")
            for i, w in enumerate(record.get("workloads") or [])
        ]
    except RecordError as e:
        raise UserError(f"engine {binary.name} --describe: {e}") from None
    return {w.name: w for w in workloads}


def check(binary: Path, spec: dict) -> dict:
    """The engine's `valid` record for `spec` (every default filled in);
    a spec the engine refuses is a UserError carrying its message."""
    done, parsed = _query(binary, ["--check", spec_json(spec)])
    valid, error = parsed.first("valid"), parsed.first("error")
    if done.returncode == 0 and valid is not None:
        return valid
    if error is not None:
        raise UserError(f"{spec.get('workload')}: {error['message']}")
    raise UserError(f"engine {binary.name} --check failed (exit {done.returncode})")
