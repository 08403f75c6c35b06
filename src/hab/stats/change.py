"""Is B faster or slower than A? Verdicts in criterion's vocabulary.

The effect is the ratio of typical times B/A with an interval from the two
runs' independent hierarchical bootstrap distributions. The significance
test treats the engine process as the unit of replication (Georges et al.):
Welch's t-test on the per-process typical times, which carries the
between-process variance that within-process samples cannot show. With a
single process on a side the test falls back to the bootstrap distribution
of the ratio and says so. Values that never varied take an exact path.

Verdict: p >= alpha -> "no change"; otherwise the interval of the change
wholly above +threshold -> "regressed", wholly below -threshold ->
"improved", else "within noise".
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import stats as sps

from hab.stats import bootstrap
from hab.stats.bootstrap import Estimate


class Verdict(StrEnum):
    IMPROVED = "improved"
    REGRESSED = "regressed"
    WITHIN_NOISE = "within noise"
    NO_CHANGE = "no change"
    #: The slot of the reference allocator in a relative comparison: its own
    #: change is what the machine did between the runs, not a verdict.
    REFERENCE = "reference"


@dataclass
class Change:
    ratio: Estimate  # typical time B / A
    ratio_dist: np.ndarray
    p_value: float
    test: str  # "welch", "exact" or "bootstrap"
    verdict: Verdict

    def to_dict(self) -> dict:
        return {
            "ratio": self.ratio.to_dict(),
            "p_value": self.p_value,
            "test": self.test,
            "verdict": self.verdict.value,
        }


def _p_value(a: np.ndarray, b: np.ndarray, ratio_dist: np.ndarray, exact: bool) -> tuple[float, str]:
    if exact:
        return (1.0 if a[0] == b[0] else 0.0), "exact"
    if a.size >= 2 and b.size >= 2:
        return float(sps.ttest_ind(b, a, equal_var=False).pvalue), "welch"
    below = float(np.mean(ratio_dist <= 1.0))
    above = float(np.mean(ratio_dist >= 1.0))
    return min(1.0, 2.0 * min(below, above)), "bootstrap"


def verdict(p_value: float, ratio: Estimate, alpha: float, threshold: float) -> Verdict:
    if p_value >= alpha:
        return Verdict.NO_CHANGE
    if ratio.lower - 1.0 > threshold:
        return Verdict.REGRESSED
    if ratio.upper - 1.0 < -threshold:
        return Verdict.IMPROVED
    return Verdict.WITHIN_NOISE


def change(
    old: Estimate,
    old_dist: np.ndarray,
    old_processes: list,
    new: Estimate,
    new_dist: np.ndarray,
    new_processes: list,
    *,
    alpha: float,
    threshold: float,
) -> Change:
    """The change from A (old) to B (new) of one (cell, allocator): their
    typical times, its bootstrap distributions and per-process values."""
    ratio, dist = bootstrap.ratio(new.point, new_dist, old.point, old_dist, new.confidence)
    if old.exact and new.exact:
        ratio = Estimate.exact_value(new.point / old.point, new.confidence)
    p, test = _p_value(
        np.asarray(old_processes, float), np.asarray(new_processes, float), dist, old.exact and new.exact
    )
    return Change(ratio, dist, p, test, verdict(p, ratio, alpha, threshold))
