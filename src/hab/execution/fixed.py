"""Fixed iteration counts for counting metrics.

A time-boxed sample does a different number of iterations in every
process; a count must not. Before the first counted process of a (cell,
allocator), one short calibration process measures one iteration (the
mean of its warm-up: `met_ns` of its plan record); every counted process
of that pair then runs the same power of two of iterations per sample and
as warm-up (spec field `fixed`, docs/protocol.md).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from hab.execution.process import Outcome
from hab.records.failure import Failure, FailureKind
from hab.records.plan import Sampling

#: The calibration process: a short timed run whose warm-up gives the time of one iteration.
CALIBRATION = Sampling("flat", 2, 0.05, 0.05)


def fixed_iterations(met: float, per_sample: float) -> dict:
    """Warm-up and per-sample iterations for an iteration of `met` (ns, or
    instructions): the power of two nearest below `per_sample` worth (so that
    calibrations a little apart choose the same counts), at least one; the
    warm-up one sample's worth."""
    if not (math.isfinite(met) and met > 0):
        raise ValueError(f"calibration gave no usable time per iteration: {met!r}")
    per = 1 << max(0, math.floor(math.log2(max(1.0, per_sample / met))))
    return {"warm_up": per, "per_sample": per}


def met_ns(outcome: Outcome) -> float | None:
    """The mean time of one warm-up iteration from a process's plan record."""
    plan = next((r for r in outcome.records if r.get("type") == "plan"), None)
    met = plan.get("met_ns") if plan else None
    return float(met) if isinstance(met, (int, float)) and math.isfinite(met) and met > 0 else None


@dataclass
class Calibrations:
    """Fixed iteration counts chosen once per (cell, allocator) by a
    calibration process, aiming at `per_sample` of its measure per sample."""

    per_sample: float
    _chosen: dict[tuple[str, str], tuple[dict, float]] = field(default_factory=dict)

    def choose(
        self, calibrate: Callable[[dict], Outcome], spec: dict, key: tuple[str, str]
    ) -> tuple[dict, float] | Outcome:
        """(fixed iterations, measure of one iteration) for `key`, running
        `calibrate(spec with the calibration's sampling)` the first time; the
        calibration's Outcome instead when it failed."""
        chosen = self._chosen.get(key)
        if chosen is not None:
            return chosen
        outcome = calibrate({**spec, "sampling": CALIBRATION.to_dict()})
        met = met_ns(outcome)
        if not outcome.ok:
            return outcome
        if met is None:
            return replace(outcome, failure=Failure(FailureKind.GARBAGE, "calibration: no plan record"))
        chosen = self._chosen[key] = (fixed_iterations(met, self.per_sample), met)
        return chosen
