"""Figures measured once per engine process (peak RSS, page faults, CPU
time, work counts): their mean over processes with an interval.

Many of them never vary (the work an iteration does, often the fault
count); those take an exact path: the value itself, a zero-width interval,
no resampling and no division by a zero spread.
"""

import math

import numpy as np
from scipy import stats as sps

from hab.stats.bootstrap import Estimate


def across_processes(values, confidence: float) -> Estimate | None:
    """Mean of one figure over processes, with a Student t interval
    (processes are the unit of replication); None when no process has it."""
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return None
    if np.all(v == v[0]):
        return Estimate.exact_value(v[0], confidence)
    mean = float(np.mean(v))
    se = float(np.std(v, ddof=1) / math.sqrt(v.size))
    half = float(sps.t.ppf(0.5 + confidence / 2, v.size - 1)) * se
    return Estimate(mean, mean - half, mean + half, se, confidence)
