"""criterion.rs's estimates on the samples of one (cell, allocator), with
hierarchical bootstrap intervals.

A sample is `iters` iterations that took `times` ns in total; the samples
come from one or more engine processes. Per-iteration times are
`t = times / iters`. Estimates over all samples: mean, median, standard
deviation (n-1), median absolute deviation (x 1.4826, as criterion), and for
Linear sampling the slope of `times` over `iters` through the origin,
`sum(x*y) / sum(x*x)`. The typical time is the slope when there is one,
else the mean. Intervals: resample processes, then samples within each
(plain bootstrap when there is one process, as criterion), percentile method.
"""

from dataclasses import dataclass

import numpy as np

from hab import _kernel
from hab.stats.bootstrap import Estimate

#: criterion's scale for the median absolute deviation: 1.4826 as criterion
#: ends up with it, passed through an f32 (1.4825999736785889), so that hab
#: and criterion agree to the last bits.
MAD_SCALE = float(np.float32(1.4826))
#: Row order of the kernel's distributions.
NAMES = ("mean", "median", "std_dev", "median_abs_dev", "slope")


def _median(v: np.ndarray) -> float:
    """criterion's median: linear interpolation at rank (n-1)/2."""
    s = np.sort(v)
    rank = 0.5 * (s.size - 1)
    low = int(np.floor(rank))
    if low + 1 >= s.size:
        return float(s[low])
    return float(s[low] + (s[low + 1] - s[low]) * (rank - low))


def points(iters, times, linear: bool) -> dict[str, float]:
    """Point estimates of one set of samples, computed as criterion does."""
    x, y = np.asarray(iters, float), np.asarray(times, float)
    t = y / x
    mean = float(np.sum(t) / t.size)
    median = _median(t)
    out = {
        "mean": mean,
        "median": median,
        "std_dev": float(np.sqrt(np.sum((t - mean) ** 2) / (t.size - 1))) if t.size > 1 else 0.0,
        "median_abs_dev": _median(np.abs(t - median)) * MAD_SCALE,
    }
    if linear:
        out["slope"] = float(np.dot(x, y) / np.dot(x, x))
    return out


@dataclass
class Estimates:
    """The estimates of one series and the bootstrap distribution of its typical time."""

    estimates: dict  # name -> Estimate
    typical_name: str
    typical_distribution: np.ndarray
    per_iteration: np.ndarray  # all samples, process after process

    @property
    def typical(self) -> Estimate:
        return self.estimates[self.typical_name]


def estimate(groups: list, linear: bool, nresamples: int, confidence: float, seed: int) -> Estimates:
    """All estimates for samples grouped by process: `groups` is a list of
    `(iters, times)` pairs, one per engine process."""
    iters = np.concatenate([np.asarray(g[0], float) for g in groups])
    times = np.concatenate([np.asarray(g[1], float) for g in groups])
    offsets = np.cumsum([0] + [len(g[0]) for g in groups]).astype(np.uint64)
    point = points(iters, times, linear)
    summary, typical_dist = _kernel.bootstrap(iters, times, offsets, linear, nresamples, seed, confidence)
    estimates = {}
    for name, value in point.items():
        lower, upper, se = summary[NAMES.index(name)]
        if se == 0.0 and lower == upper == value:
            estimates[name] = Estimate.exact_value(value, confidence)
        else:
            estimates[name] = Estimate(value, float(lower), float(upper), float(se), confidence)
    typical = "slope" if linear else "mean"
    return Estimates(estimates, typical, typical_dist, times / iters)


def variance_components(per_process: list[np.ndarray]) -> dict | None:
    """How the variance of a per-iteration time splits between engine
    processes and samples within one (Kalibera & Jones' two levels).

    `within` is the pooled within-process variance, `between` the variance
    of process means beyond what within-process noise explains (method of
    moments, floored at 0); `between_share` = between / (between + within).
    None with fewer than two processes.
    """
    if len(per_process) < 2:
        return None
    means = np.array([np.mean(p) for p in per_process])
    sizes = np.array([p.size for p in per_process])
    dof = np.sum(sizes - 1)
    within = float(sum(np.sum((p - np.mean(p)) ** 2) for p in per_process) / dof) if dof > 0 else 0.0
    between = max(0.0, float(np.var(means, ddof=1) - within * np.mean(1.0 / sizes)))
    total = between + within
    return {
        "processes": len(per_process),
        "within": within,
        "between": between,
        "between_share": between / total if total > 0 else 0.0,
    }
