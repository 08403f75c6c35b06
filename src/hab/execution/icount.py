"""Counting metrics inside guests: QEMU's instruction counter (`-icount`).

Under `-icount shift=0,sleep=off,align=off` QEMU advances the guest's
virtual clock by one nanosecond per guest instruction executed, on every
vCPU (they take turns on one host thread), and never by host time. The
engine's own timed samples, read from the guest's clock, are then counts
of the instructions the guest executed during each sample: the engine's
iterations, the kernel's work they caused (system calls, page faults,
scheduling) and interrupts, summed over the vCPUs. With `-seed` and a
real-time clock on the virtual clock nothing of the host leaks in, and the
same image and spec repeat exactly (docs/metrics.md).

Guests under icount always run under TCG: KVM executes instructions
natively and counts none. Iteration counts are fixed per (cell, allocator)
by a calibration process in the same guest (hab.execution.fixed), whose
warm-up measures one iteration in instructions.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hab.execution.fixed import Calibrations
from hab.execution.process import Outcome
from hab.records.target import QEMU_ICOUNT
from hab.records.unit import Counts

METHOD = QEMU_ICOUNT
#: QEMU options of a counted guest: one virtual ns per instruction, no
#: warping to host time, a fixed seed for the guest's random numbers, and a
#: real-time clock that starts at a fixed date and follows the virtual clock.
QEMU_OPTIONS = (
    "-icount",
    "shift=0,sleep=off,align=off",
    "-seed",
    "1",
    "-rtc",
    "base=2020-01-01T00:00:00,clock=vm",
)
#: Under icount the TSC ticks once per virtual nanosecond: Hermit must be
#: told 1000 MHz (it would scale every time by its guess of the frequency).
HERMIT_FREQ_MHZ = 1000
#: Instructions per sample the calibration aims at (Hermit's clock ticks
#: every 1000 instructions: a tick is 0.005% of a sample).
SAMPLE_TARGET = 2e7
#: Guest instructions per second of host time assumed for timeouts (QEMU
#: 7.2 here runs 30-100 M under icount; margin below that).
RATE = 1e7

#: launch(spec, timeout) boots the guest for `spec` and judges its run.
Launch = Callable[[dict, float], Outcome]


def counts(outcome: Outcome) -> Counts:
    """The instruction counts of a counted guest's samples: their times in
    virtual nanoseconds."""
    ns = tuple(int(r["ns"]) for r in outcome.records if r.get("type") == "sample")
    return Counts(METHOD, {"Ir": ns})


@dataclass
class IcountCounter:
    """Runs guest engine processes whose samples QEMU's icount turns into
    instruction counts; iteration counts are chosen once per (cell,
    allocator) and reused by its every process."""

    calibrations: Calibrations = field(default_factory=lambda: Calibrations(SAMPLE_TARGET))

    def run(self, launch: Launch, spec: dict, key: tuple[str, str], timeout: float) -> Outcome:
        chosen = self.calibrations.choose(lambda s: launch(s, timeout), spec, key)
        if isinstance(chosen, Outcome):
            return chosen
        fixed, met = chosen
        iterations = fixed["warm_up"] + int(spec["sampling"]["sample_size"]) * fixed["per_sample"]
        outcome = launch({**spec, "fixed": fixed}, timeout + met * iterations / RATE)
        if outcome.guest is not None:  # the engine's wall time is virtual: no boot time to tell
            outcome = replace(outcome, guest=replace(outcome.guest, boot_seconds=None))
        return replace(outcome, counts=counts(outcome)) if outcome.ok else outcome
