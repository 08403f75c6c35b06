"""Running one engine process and judging what came back.

Whatever happens to the process (a signal, an abort, a hang, a non-zero
exit, output that is not the protocol), the result is an `Outcome` with a
one-line reason; nothing here raises for an allocator's misbehaviour.
"""

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

from hab import rss
from hab.protocol import Parsed, parse_output

STDERR_KEPT = 4000  # characters of stderr stored with a unit


@dataclass
class Outcome:
    ok: bool
    reason: str | None
    records: list[dict] = field(default_factory=list)
    exit_code: int | None = None
    seconds: float = 0.0
    stderr: str = ""
    rss: dict | None = None  # the RSS series (rss.Series.to_dict()), if sampled


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _protocol_problem(parsed: Parsed) -> str | None:
    """What is missing or malformed in a run that exited 0, if anything."""
    if parsed.bad_lines:
        return f"unreadable record: {parsed.bad_lines[0][:120]}"
    for kind in ("hello", "warmup", "plan", "work", "live", "rusage", "done"):
        if parsed.first(kind) is None:
            return f"no {kind} record"
    if parsed.first("hello").get("latency_every") and parsed.first("latency") is None:
        return "no latency record in latency mode"
    planned = parsed.first("plan")["iters"]
    samples = parsed.of_type("sample")
    if [s.get("iters") for s in samples] != planned:
        return f"{len(samples)} samples do not match the plan of {len(planned)}"
    if any(not isinstance(s.get("ns"), int) or s["ns"] < 0 for s in samples):
        return "a sample has no valid time"
    return None


def judge(exit_code: int, parsed: Parsed, stderr: str) -> tuple[bool, str | None]:
    """(ok, reason) for a finished process."""
    error = parsed.first("error")
    detail = error["message"] if error else _last_line(stderr)
    if exit_code < 0:
        reason = f"killed by {_signal_name(-exit_code)}"
        return False, f"{reason}: {detail}" if detail else reason
    if exit_code > 0:
        return False, detail or f"exit status {exit_code}"
    problem = _protocol_problem(parsed)
    if problem:
        return False, f"garbage output: {problem}"
    return True, None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_engine(argv: list[str], timeout: float, env: dict | None = None,
               rss_interval: float | None = None) -> Outcome:
    """Runs one engine process to completion (or `timeout` seconds),
    sampling its RSS every `rss_interval` seconds if given."""
    started = time.monotonic()
    # Ctrl-C while Popen is still starting the child would orphan it, so
    # SIGINT waits until `proc` exists and the kill-on-interrupt path holds.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace", env=env, start_new_session=True)
    except OSError as e:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        return Outcome(False, f"cannot start engine: {e.strerror}", seconds=0.0)
    timed_out = False
    sampler = None
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if rss_interval:
            sampler = rss.Sampler(proc.pid, rss_interval).start()
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        stdout, stderr = proc.communicate()
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        series = sampler.stop() if sampler else None
    seconds = time.monotonic() - started
    parsed = parse_output(stdout)
    if timed_out:
        ok, reason = False, f"timeout after {timeout:g} s"
    else:
        ok, reason = judge(proc.returncode, parsed, stderr)
    return Outcome(ok, reason, parsed.records, proc.returncode, seconds, stderr[-STDERR_KEPT:],
                   series.to_dict() if series else None)
