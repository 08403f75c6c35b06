"""Tukey's fences on per-iteration times, classified as criterion does.

Outliers are counted and reported, never removed.
"""

import numpy as np

CLASSES = ("low_severe", "low_mild", "high_mild", "high_severe")


def fences(t: np.ndarray) -> tuple[float, float, float, float]:
    """(low severe, low mild, high mild, high severe) fences: q1-3iqr, q1-1.5iqr, q3+1.5iqr, q3+3iqr."""
    q1, q3 = np.percentile(t, [25.0, 75.0])
    iqr = q3 - q1
    return float(q1 - 3 * iqr), float(q1 - 1.5 * iqr), float(q3 + 1.5 * iqr), float(q3 + 3 * iqr)


def classify(t: np.ndarray) -> dict[str, int]:
    """How many samples fall in each outlier class."""
    t = np.asarray(t, float)
    low_severe, low_mild, high_mild, high_severe = fences(t)
    return {
        "low_severe": int(np.sum(t < low_severe)),
        "low_mild": int(np.sum((t >= low_severe) & (t < low_mild))),
        "high_mild": int(np.sum((t > high_mild) & (t <= high_severe))),
        "high_severe": int(np.sum(t > high_severe)),
    }
