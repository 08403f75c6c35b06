"""Starting and ending the harness's children (engines, guests): each in
its own session, under the guardian's watch, killed as a group on timeout,
Ctrl-C or any error, so none is ever orphaned."""

import os
import signal
import subprocess
from dataclasses import dataclass

from hab.execution.guardian import GUARDIAN


class _HeldInterrupt:
    """Holds Ctrl-C back while a child is being started: a KeyboardInterrupt
    inside `Popen` would orphan the child, since `Popen` never returns it.
    (Blocking SIGINT in this thread is not enough: the kernel may deliver it
    to another thread, numpy's for one, and Python still raises it here.)
    Outside the main thread, where handlers cannot be set, nothing is held."""

    def __init__(self):
        self.caught = False
        try:
            self.previous = signal.signal(signal.SIGINT, self._note)
        except ValueError:
            self.previous = None

    def _note(self, signum, frame) -> None:
        self.caught = True

    def release(self) -> None:
        """Puts the handler back and hands it a Ctrl-C that came meanwhile."""
        if self.previous is None:
            return
        signal.signal(signal.SIGINT, self.previous)
        if self.caught and callable(self.previous):
            self.previous(signal.SIGINT, None)


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@dataclass
class Ended:
    stdout: str
    stderr: str
    returncode: int
    timed_out: bool


class Child:
    """One child in its own session: `with Child(argv) as child: child.wait(t)`.
    Raises OSError if it cannot be started."""

    def __init__(self, argv: list[str], env: dict | None = None):
        held = _HeldInterrupt()
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                env=env,
                start_new_session=True,
            )
        except OSError:
            held.release()
            raise
        GUARDIAN.watch_group(self.proc.pid)
        try:
            held.release()  # hands over a Ctrl-C that came while starting
        except BaseException:
            self.__exit__(KeyboardInterrupt, None, None)
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> "Child":
        return self

    def wait(self, timeout: float) -> Ended:
        """Waits for the end (killing the group after `timeout` seconds)."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill_group(self.proc)
            out, err = self.proc.communicate()
            timed_out = True
        return Ended(out, err, self.proc.returncode, timed_out)

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            kill_group(self.proc)
            self.proc.wait()
        GUARDIAN.release_group(self.proc.pid)
