"""Ratios of times on the log scale: one allocator over another in the same
run (paired by round), and the geometric mean of several ratios.

Each round of a run starts one engine process per allocator back to back,
so an allocator's process and the reference's process of the same round
ran next to each other: what the machine did during that round reaches
both, and their ratio cancels much of it. The per-round ratios are then the
unit of replication; their geometric mean is the ratio and a Student t
interval on their logarithms its interval. With fewer than two rounds the
between-process variation is unknown and the ratio falls back to the
bootstrap of the samples.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from hab.stats.bootstrap import Estimate, summarize


@dataclass(frozen=True)
class LogRatio:
    """A ratio with what a geometric mean of several of them needs."""

    estimate: Estimate
    log_se: float  # standard error of the ratio's logarithm
    dof: float  # its degrees of freedom (inf for bootstrap and exact values)
    method: str  # "paired" (rounds), "bootstrap" (one round) or "exact"


def exact(value: float, confidence: float) -> LogRatio:
    return LogRatio(Estimate.exact_value(value, confidence), 0.0, math.inf, "exact")


def _t_interval(logs: np.ndarray, confidence: float) -> tuple[Estimate, float, float]:
    mean = float(logs.mean())
    se = float(logs.std(ddof=1) / math.sqrt(logs.size))
    dof = float(logs.size - 1)
    half = float(sps.t.ppf(0.5 + confidence / 2, dof)) * se
    point = math.exp(mean)
    return Estimate(point, math.exp(mean - half), math.exp(mean + half), point * se, confidence), se, dof


def paired(per_round: list[float], confidence: float) -> LogRatio:
    """The geometric mean of per-round ratios (two or more) with a t interval."""
    logs = np.log(np.asarray(per_round, float))
    if logs.size < 2:
        raise ValueError("a paired ratio needs two rounds or more")
    if np.all(logs == logs[0]):
        return exact(math.exp(logs[0]), confidence)
    estimate, se, dof = _t_interval(logs, confidence)
    return LogRatio(estimate, se, dof, "paired")


def from_bootstrap(point: float, distribution: np.ndarray, confidence: float) -> LogRatio:
    """A ratio from the bootstrap distribution of the samples of one round."""
    est = summarize(point, distribution, confidence)
    if est.exact:
        return exact(point, confidence)
    return LogRatio(est, float(np.std(np.log(distribution))), math.inf, "bootstrap")


def geometric_mean(ratios: list[LogRatio], confidence: float) -> Estimate:
    """The geometric mean of independent ratios (cells) with a t interval;
    its degrees of freedom are the smallest of the ratios'."""
    logs = [math.log(r.estimate.point) for r in ratios]
    mean = sum(logs) / len(logs)
    se = math.sqrt(sum(r.log_se**2 for r in ratios)) / len(ratios)
    if se == 0:
        return Estimate.exact_value(math.exp(mean), confidence)
    dof = min(r.dof for r in ratios)
    half = float(sps.t.ppf(0.5 + confidence / 2, dof)) * se
    return Estimate(math.exp(mean), math.exp(mean - half), math.exp(mean + half), math.exp(mean) * se, confidence)
