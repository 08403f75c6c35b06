"""Seeds, intervals and ratios for bootstrap distributions.

Each analysed series gets its own 64-bit seed derived from the run's
analysis seed and a stable key (cell, allocator), so the same raw samples
always give the same intervals, whatever else is in the run or the order of
analysis. The resampling itself runs in the native kernel (`hab._kernel`).
"""

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from hab import _kernel


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval. `exact` marks a value that did not
    vary at all, whose interval is the point itself."""

    point: float
    lower: float
    upper: float
    standard_error: float
    confidence: float
    exact: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def scaled(self, factor: float) -> "Estimate":
        """The estimate of `factor` times the quantity (factor > 0)."""
        return Estimate(
            self.point * factor,
            self.lower * factor,
            self.upper * factor,
            self.standard_error * factor,
            self.confidence,
            self.exact,
        )

    @classmethod
    def exact_value(cls, value: float, confidence: float) -> "Estimate":
        return cls(float(value), float(value), float(value), 0.0, confidence, True)


def seed_for(seed: int, *key: str) -> int:
    """The 64-bit seed of one series, fixed by the run seed and the series key."""
    digest = hashlib.sha256("\x1f".join((str(seed), *key)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def summarize(point: float, distribution: np.ndarray, confidence: float) -> Estimate:
    """Percentile interval and standard error of a bootstrap distribution."""
    dist = np.ascontiguousarray(distribution, dtype=np.float64)
    if dist.size and np.all(dist == dist[0]) and dist[0] == point:
        return Estimate.exact_value(point, confidence)
    lower, upper, se = _kernel.summarize(dist, confidence)
    return Estimate(float(point), lower, upper, se, confidence)


def ratio(
    a_point: float, a_dist: np.ndarray, b_point: float, b_dist: np.ndarray, confidence: float
) -> tuple[Estimate, np.ndarray]:
    """a/b with an interval from independent bootstrap distributions of a
    and b; also returns the ratio's distribution."""
    dist = a_dist / b_dist
    return summarize(a_point / b_point, dist, confidence), dist
