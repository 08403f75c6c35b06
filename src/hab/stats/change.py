"""Is B faster or slower than A? One model gives both the interval and the
verdict, so a verdict can never contradict the interval printed beside it.

The engine process is the unit of replication (Georges et al.): each side
is a set of per-process values (typical times, or, relative to a reference
allocator, each process's time over the reference's in the same round).
The change is the ratio of their geometric means, B/A, and its interval is
Welch's t interval on the difference of the mean logarithms (unequal
variances, Welch-Satterthwaite degrees of freedom), mapped back to a ratio.

Verdict, with the noise threshold t:
- regressed: the whole interval above 1 + t;
- improved: the whole interval below 1 - t;
- no change: the whole interval inside [1 - t, 1 + t];
- inconclusive: anything else, with the reason (the interval is wider than
  the noise band, or it straddles an edge of it).

With a single process on a side the between-process variation is unknown:
the interval falls back to the bootstrap of that process's samples (too
narrow for a claim of sameness), and "no change" becomes inconclusive.
Values that never varied take an exact path: the ratio itself.
"""

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import stats as sps

from hab.stats.bootstrap import Estimate, summarize
from hab.stats.ratio import LogRatio


class Verdict(StrEnum):
    IMPROVED = "improved"
    REGRESSED = "regressed"
    NO_CHANGE = "no change"
    INCONCLUSIVE = "inconclusive"
    #: The slot of the reference allocator in a relative comparison: its own
    #: change is what the machine did between the runs, not a verdict.
    REFERENCE = "reference"


@dataclass(frozen=True)
class Change:
    ratio: Estimate  # B / A, geometric, with its interval
    verdict: Verdict
    reason: str | None  # why it is inconclusive
    processes: tuple[int, int]  # per-process values on each side
    method: str  # "welch" (processes), "bootstrap" (one process a side) or "exact"
    log_se: float  # standard error of log(B/A), for summaries
    dof: float  # its degrees of freedom (inf for the exact and bootstrap paths)

    @property
    def log_ratio(self) -> LogRatio:
        return LogRatio(self.ratio, self.log_se, self.dof, self.method)

    def to_dict(self) -> dict:
        return {
            "ratio": self.ratio.to_dict(),
            "verdict": self.verdict.value,
            "reason": self.reason,
            "processes": list(self.processes),
            "method": self.method,
        }


def decide(ratio: Estimate, threshold: float, one_process: bool = False) -> tuple[Verdict, str | None]:
    """The verdict of a ratio's interval against the noise band ±threshold.
    With one process on a side sameness is never claimed, and an unclear
    interval says so first."""
    low, high = 1.0 - threshold, 1.0 + threshold
    if ratio.lower > high:
        return Verdict.REGRESSED, None
    if ratio.upper < low:
        return Verdict.IMPROVED, None
    if low <= ratio.lower and ratio.upper <= high:
        if one_process:
            return Verdict.INCONCLUSIVE, "one process on a side: the variation between processes is unknown"
        return Verdict.NO_CHANGE, None
    if ratio.lower < low and ratio.upper > high:
        reason = f"interval wider than the ±{threshold:.1%} noise band: more processes narrow it"
    else:
        reason = f"interval crosses the edge of the ±{threshold:.1%} noise band"
    return Verdict.INCONCLUSIVE, f"one process on a side, {reason}" if one_process else reason


def change(
    old: list[float],
    new: list[float],
    *,
    threshold: float,
    confidence: float,
    bootstrap: tuple[float, np.ndarray] | None = None,
    exact: bool = False,
) -> Change:
    """The change from per-process values `old` (A) to `new` (B). With one
    process on a side, `bootstrap` (the ratio of the typical times and its
    bootstrap distribution) gives the estimate; `exact` says that no sample
    on either side varied."""
    a, b = np.log(np.asarray(old, float)), np.log(np.asarray(new, float))
    diff = float(b.mean() - a.mean())
    point = math.exp(diff)
    processes = (a.size, b.size)
    if exact:
        ratio = Estimate.exact_value(point, confidence)
        return Change(ratio, *decide(ratio, threshold), processes, "exact", 0.0, math.inf)
    if a.size < 2 or b.size < 2:
        if bootstrap is None:
            raise ValueError("one process on a side needs the bootstrap distribution of the ratio")
        ratio = summarize(*bootstrap, confidence)
        log_se = float(np.std(np.log(bootstrap[1])))
        return Change(ratio, *decide(ratio, threshold, one_process=True), processes, "bootstrap", log_se, math.inf)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1)) if se > 0 else math.inf
    half = float(sps.t.ppf(0.5 + confidence / 2, dof)) * se
    ratio = Estimate(point, math.exp(diff - half), math.exp(diff + half), point * se, confidence)
    return Change(ratio, *decide(ratio, threshold), processes, "welch", se, dof)
