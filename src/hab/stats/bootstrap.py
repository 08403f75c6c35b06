"""Seeded bootstrap resampling and percentile confidence intervals.

Each analysed series gets its own generator derived from the run's analysis
seed and a stable key (cell, allocator), so the same raw samples always give
the same intervals, whatever else is in the run or the order of analysis.
"""

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

#: Resampled rows processed at once (bounds memory for long series).
CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap percentile interval."""

    point: float
    lower: float
    upper: float
    standard_error: float
    confidence: float

    def to_dict(self) -> dict:
        return asdict(self)


def generator(seed: int, *key: str) -> np.random.Generator:
    """A generator for one series, fixed by the run seed and the series key."""
    digest = hashlib.sha256("\x1f".join(key).encode()).digest()
    return np.random.default_rng(np.random.SeedSequence([seed, int.from_bytes(digest[:8], "little")]))


def index_chunks(rng: np.random.Generator, n: int, nresamples: int):
    """Resample indices (rows of n draws with replacement), a chunk at a time."""
    rows = max(1, CHUNK_ELEMENTS // max(n, 1))
    done = 0
    while done < nresamples:
        take = min(rows, nresamples - done)
        yield rng.integers(0, n, size=(take, n))
        done += take


def summarize(point: float, distribution: np.ndarray, confidence: float) -> Estimate:
    """Percentile interval and standard error of a bootstrap distribution."""
    alpha = 1.0 - confidence
    lower, upper = np.percentile(distribution, [50.0 * alpha, 50.0 * (1.0 + confidence)])
    se = float(np.std(distribution, ddof=1)) if distribution.size > 1 else 0.0
    return Estimate(float(point), float(lower), float(upper), se, confidence)


def ratio(a_point: float, a_dist: np.ndarray, b_point: float, b_dist: np.ndarray,
          confidence: float) -> tuple[Estimate, np.ndarray]:
    """a/b with an interval from independent bootstrap distributions of a
    and b; also returns the ratio's distribution."""
    dist = a_dist / b_dist
    return summarize(a_point / b_point, dist, confidence), dist


def geometric_mean(points: list[float], dists: list[np.ndarray], confidence: float) -> Estimate:
    """Geometric mean of independent ratios, with its bootstrap interval."""
    logs = np.mean([np.log(d) for d in dists], axis=0)
    point = float(np.exp(np.mean(np.log(points))))
    return summarize(point, np.exp(logs), confidence)
