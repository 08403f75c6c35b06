"""Running one engine process and judging what came back.

Whatever happens to the process (a signal, an abort, a hang, a non-zero
exit, output that is not the protocol), the result is an `Outcome` with a
failure of a known kind and a one-line reason; nothing here raises for an
allocator's misbehaviour.
"""

import os
import re
import signal
import time
from dataclasses import dataclass, field

from hab.execution import rss
from hab.execution.child import Child, kill_group
from hab.execution.memlimit import Cap, Group
from hab.execution.protocol import Parsed, parse_output
from hab.records.failure import Failure, FailureKind
from hab.records.unit import Counts, GuestRun, RssSeries
from hab.suite.values import format_size

STDERR_KEPT = 4000  # characters of stderr stored with a unit
#: What Rust's default allocation error handler prints before it aborts.
_ALLOCATION_FAILED = re.compile(r"memory allocation of \d+ bytes failed", re.MULTILINE)


@dataclass
class Outcome:
    failure: Failure | None  # None: a complete run
    records: list[dict] = field(default_factory=list)
    exit_code: int | None = None
    seconds: float = 0.0
    stderr: str = ""
    rss: RssSeries | None = None  # if sampled
    guest: GuestRun | None = None  # in a guest: vCPUs, boot time, the hypervisor's status
    counts: Counts | None = None  # under a counting tool: its events per sample

    @property
    def ok(self) -> bool:
        return self.failure is None


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
    hello = parsed.first("hello") or {}
    if hello.get("verify"):
        return None if parsed.first("verified") and parsed.first("done") else "no verified or done record"
    for kind in ("hello", "warmup", "plan", "work", "live", "rusage", "done"):
        if parsed.first(kind) is None:
            return f"no {kind} record"
    if parsed.first("hello").get("latency_every") and parsed.first("latency") is None:
        return "no latency record in latency mode"
    planned = parsed.first("plan").get("iters")
    samples = parsed.of_type("sample")
    if [s.get("iters") for s in samples] != planned:
        return f"{len(samples)} samples do not match the plan of {len(planned)}"
    if any(not isinstance(s.get("ns"), int) or s["ns"] < 0 for s in samples):
        return "a sample has no valid time"
    return None


def _preload_problem(parsed: Parsed, preload: str) -> str | None:
    """Whether `malloc` came from the preloaded shared object, as the engine saw it."""
    seen = (parsed.first("hello") or {}).get("malloc_from")
    if seen is None or os.path.realpath(seen) == os.path.realpath(preload):
        return None
    return f"LD_PRELOAD of {preload} did not take effect: malloc resolves to {seen}"


def judge(exit_code: int, parsed: Parsed, stderr: str, preload: str | None = None) -> Failure | None:
    """What went wrong with a finished process, if anything; `preload` is the
    shared object that should provide `malloc`."""
    error = parsed.first("error")
    message = str(error.get("message", "")) if error else ""
    if error and error.get("kind") == "corrupt":
        return Failure(FailureKind.CORRUPT, f"corrupt: {message}")
    if error and error.get("kind") == "leak":
        return Failure(FailureKind.LEAK, f"leak: {message}")
    if preload and parsed.first("hello") and (problem := _preload_problem(parsed, preload)):
        return Failure(FailureKind.PRELOAD, problem)
    detail = message or _last_line(stderr)
    if exit_code < 0:
        reason = f"killed by {_signal_name(-exit_code)}"
        failed = _ALLOCATION_FAILED.search(stderr)  # anywhere: a backtrace note may follow it
        if failed:
            return Failure(FailureKind.OUT_OF_MEMORY, f"out of memory: {failed.group(0)} ({reason})")
        return Failure(FailureKind.SIGNAL, f"{reason}: {detail}" if detail else reason)
    if exit_code > 0:
        return Failure(FailureKind.EXIT, detail or f"exit status {exit_code}")
    problem = _protocol_problem(parsed)
    if problem:
        return Failure(FailureKind.GARBAGE, f"garbage output: {problem}")
    return None


def _out_of_memory(cap: Cap, why: str, enforced_by: str | None = None) -> Failure:
    reason = f"out of memory: {why} --max-rss {format_size(cap.limit_bytes)} ({enforced_by or cap.enforced_by})"
    return Failure(FailureKind.OUT_OF_MEMORY, reason)


def _confine(cap: Cap, pid: int) -> Group | None:
    """Moves `pid` into a fresh cgroup of `cap`; None if the sampler must enforce it."""
    try:
        group = cap.group()
    except OSError:
        return None
    if group is not None:
        try:
            group.add(pid)
        except OSError:
            group.remove()
            return None
    return group


def run_engine(
    argv: list[str],
    timeout: float,
    env: dict | None = None,
    rss_interval: float | None = None,
    cap: Cap | None = None,
    preload: str | None = None,
) -> Outcome:
    """Runs one engine process to completion (or `timeout` seconds),
    sampling its RSS every `rss_interval` seconds if given, capped by `cap`;
    `preload` is the shared object an `LD_PRELOAD` in `env` should put in place."""
    started = time.monotonic()
    try:
        child = Child(argv, env)
    except OSError as e:
        return Outcome(Failure(FailureKind.START, f"cannot start engine: {e.strerror}"))
    sampler = group = None
    with child:
        try:
            limit_kib = None
            if cap is not None:
                group = _confine(cap, child.pid)
                if group is None:
                    limit_kib = cap.limit_bytes // 1024
            if rss_interval or limit_kib:
                sampler = rss.Sampler(
                    child.pid, rss_interval or rss.DEFAULT_INTERVAL, limit_kib, lambda: kill_group(child.proc)
                ).start()
            ended = child.wait(timeout)
        finally:
            series = sampler.stop() if sampler else None
            oom_killed = group is not None and group.oom_killed()
            if group is not None:
                group.remove()
    stdout, stderr, timed_out = ended.stdout, ended.stderr, ended.timed_out
    seconds = time.monotonic() - started
    parsed = parse_output(stdout)
    if timed_out:
        failure = Failure(FailureKind.TIMEOUT, f"timeout after {timeout:g} s")
    elif oom_killed:
        failure = _out_of_memory(cap, "killed by the kernel at")
    elif sampler is not None and sampler.exceeded_kib is not None:
        failure = _out_of_memory(cap, f"RSS {sampler.exceeded_kib // 1024} MiB exceeded", "RSS sampler")
    else:
        failure = judge(ended.returncode, parsed, stderr, preload)
        if failure and failure.kind is FailureKind.OUT_OF_MEMORY and cap is not None:
            failure = _out_of_memory(cap, "allocation failed under")
    return Outcome(failure, parsed.records, ended.returncode, seconds, stderr[-STDERR_KEPT:], series)
