"""criterion.rs's estimates on one series of samples, with bootstrap CIs.

A sample is `iters` iterations that took `times` ns in total. Per-iteration
times are `t = times / iters`. Estimates on `t`: mean, median, standard
deviation (n-1), median absolute deviation (x 1.4826, as criterion); for
Linear sampling also the slope of `times` over `iters` through the origin,
`sum(x*y) / sum(x*x)`. The typical time is the slope when there is one,
else the mean. Intervals: plain bootstrap with replacement (pairs for the
slope), percentile method.
"""

from dataclasses import dataclass

import numpy as np

from hab.stats.bootstrap import Estimate, index_chunks, summarize

MAD_SCALE = 1.4826
NAMES = ("mean", "median", "std_dev", "median_abs_dev", "slope")


def _median_rows(sorted_rows: np.ndarray) -> np.ndarray:
    n = sorted_rows.shape[1]
    return (sorted_rows[:, (n - 1) // 2] + sorted_rows[:, n // 2]) / 2.0


def _stats_rows(t: np.ndarray, x: np.ndarray | None, y: np.ndarray | None) -> dict:
    """Every estimate for each row of resampled per-iteration times."""
    out = {
        "mean": t.mean(axis=1),
        "std_dev": t.std(axis=1, ddof=1) if t.shape[1] > 1 else np.zeros(t.shape[0]),
    }
    median = _median_rows(np.sort(t, axis=1))
    out["median"] = median
    out["median_abs_dev"] = _median_rows(np.sort(np.abs(t - median[:, None]), axis=1)) * MAD_SCALE
    if x is not None:
        out["slope"] = (x * y).sum(axis=1) / (x * x).sum(axis=1)
    return out


def points(iters: np.ndarray, times: np.ndarray, linear: bool) -> dict[str, float]:
    """Point estimates (no resampling)."""
    iters, times = np.asarray(iters, float), np.asarray(times, float)
    t = times / iters
    rows = _stats_rows(t[None, :], iters[None, :] if linear else None, times[None, :] if linear else None)
    return {name: float(v[0]) for name, v in rows.items()}


@dataclass
class Estimates:
    """The estimates of one series and the bootstrap distribution of its typical time."""

    estimates: dict  # name -> Estimate
    typical_name: str
    typical_distribution: np.ndarray
    per_iteration: np.ndarray

    @property
    def typical(self) -> Estimate:
        return self.estimates[self.typical_name]


def estimate(iters, times, linear: bool, nresamples: int, confidence: float,
             rng: np.random.Generator) -> Estimates:
    """All estimates with intervals from `nresamples` bootstrap resamples."""
    iters, times = np.asarray(iters, float), np.asarray(times, float)
    t = times / iters
    point = points(iters, times, linear)
    parts: dict[str, list] = {name: [] for name in point}
    for idx in index_chunks(rng, t.size, nresamples):
        rows = _stats_rows(t[idx], iters[idx] if linear else None, times[idx] if linear else None)
        for name, values in rows.items():
            parts[name].append(values)
    dists = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    typical = "slope" if linear else "mean"
    return Estimates(
        estimates={name: summarize(point[name], dists[name], confidence) for name in point},
        typical_name=typical,
        typical_distribution=dists[typical],
        per_iteration=t,
    )
