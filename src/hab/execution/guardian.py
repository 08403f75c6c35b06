"""The guardian: a small process that outlives `hab` to clean up after it.

`hab` starts one guardian (in its own session, so Ctrl-C and terminal
hang-ups do not reach it) and tells it over a pipe which process groups
(engines, guests) and cgroups it has made, and when each is gone. When
the pipe closes, because `hab` ended in any way including SIGKILL, the
guardian kills every group still on its list and removes the cgroups.
Engines therefore never outlive the harness that timed them.

Lines on the pipe: `+pg N`, `-pg N`, `+cg PATH`, `-cg PATH`.
"""

import os
import signal
import subprocess
import sys
import threading
import time

#: Seconds the guardian keeps trying to remove a cgroup whose processes are dying.
CGROUP_GRACE_S = 10.0


class Guardian:
    """hab's side of the pipe; started at the first `watch`. Problems with the
    guardian never stop a run: without it, cleanup is hab's own as before."""

    def __init__(self):
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _send(self, line: str) -> None:
        with self._lock:
            try:
                if self._proc is None:
                    self._proc = subprocess.Popen(
                        [sys.executable, "-m", "hab.execution.guardian"],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                        text=True,
                    )
                self._proc.stdin.write(line + "\n")
                self._proc.stdin.flush()
            except (OSError, ValueError):
                pass

    def watch_group(self, pgid: int) -> None:
        self._send(f"+pg {pgid}")

    def release_group(self, pgid: int) -> None:
        self._send(f"-pg {pgid}")

    def watch_cgroup(self, path) -> None:
        self._send(f"+cg {path}")

    def release_cgroup(self, path) -> None:
        self._send(f"-cg {path}")


#: The process's one guardian.
GUARDIAN = Guardian()


def _clean(groups: set[int], cgroups: set[str]) -> None:
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + CGROUP_GRACE_S
    while cgroups and time.monotonic() < deadline:
        for path in list(cgroups):
            try:
                os.rmdir(path)
                cgroups.discard(path)
            except FileNotFoundError:
                cgroups.discard(path)
            except OSError:
                pass
        if cgroups:
            time.sleep(0.05)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    groups: set[int] = set()
    cgroups: set[str] = set()
    for line in sys.stdin:
        op, _, what = line.rstrip("\n").partition(" ")
        if op in ("+pg", "-pg") and what.isdigit():
            (groups.add if op == "+pg" else groups.discard)(int(what))
        elif op in ("+cg", "-cg") and what:
            (cgroups.add if op == "+cg" else cgroups.discard)(what)
    _clean(groups, cgroups)


if __name__ == "__main__":
    main()
