"""Why an engine process failed: a kind to act on, a reason to read."""

from dataclasses import dataclass
from enum import StrEnum


class FailureKind(StrEnum):
    """What went wrong with one engine process."""

    START = "start"  # the engine could not be started
    BUILD = "build"  # its guest image could not be built (a Hermit kernel that does not build)
    SIGNAL = "signal"  # killed by a signal: a crash or an abort
    EXIT = "exit"  # a non-zero exit status (an engine error record or stderr says why)
    GARBAGE = "garbage"  # exit 0, but output that breaks the protocol
    TIMEOUT = "timeout"  # killed at the harness's timeout
    OUT_OF_MEMORY = "out-of-memory"  # over --max-rss, or an allocation failed
    PRELOAD = "preload"  # the LD_PRELOAD did not replace malloc
    CORRUPT = "corrupt"  # verify mode found a bad block
    LEAK = "leak"  # verify mode found memory growing far past the live blocks
    UNVERIFIED = "unverified"  # the verify process failed in another way
    UNCLASSIFIED = "unclassified"  # stored by a hab that did not record kinds

    @property
    def label(self) -> str:
        """How run headings name the kind."""
        return "verification failed" if self is FailureKind.UNVERIFIED else self.value


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    reason: str  # one line for people, e.g. "killed by SIGSEGV: ..."

    def to_dict(self) -> dict:
        return {"kind": self.kind.value, "reason": self.reason}
