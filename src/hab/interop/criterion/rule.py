"""criterion.rs's change-detection rule, reimplemented to measure it.

Given a baseline's and a new run's samples (one process each, as criterion
has them): Welch's t statistic on the per-iteration times, its null
distribution from a bootstrap of the pooled samples (two-tailed p), the
relative change of the mean with a bootstrap interval; a p below the
significance level and an interval wholly beyond the noise threshold make
"improved" or "regressed", a p below it otherwise "within noise", else
"no change". Used by the validation benchmark to put criterion's false
positive rate next to hab's on the same data.
"""

import numpy as np

#: criterion's own verdicts (hab's are in `hab.stats.change`).
IMPROVED, REGRESSED, WITHIN_NOISE, NO_CHANGE = "improved", "regressed", "within noise", "no change"


def _welch_t(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """t of each row of `a` against the same row of `b` (rows are samples)."""
    va, vb = a.var(axis=-1, ddof=1), b.var(axis=-1, ddof=1)
    return (a.mean(axis=-1) - b.mean(axis=-1)) / np.sqrt(va / a.shape[-1] + vb / b.shape[-1])


def _resampled(
    new: np.ndarray, base: np.ndarray, rng: np.random.Generator, nresamples: int, chunk: int
) -> tuple[np.ndarray, np.ndarray]:
    """The bootstrap null distribution of t (resampled from the pooled
    samples) and of the relative change of the mean, `chunk` resamples at a
    time so that memory stays bounded for long runs."""
    pooled = np.concatenate([new, base])
    t_null, change = [], []
    for start in range(0, nresamples, chunk):
        rows = min(chunk, nresamples - start)
        resampled = pooled[rng.integers(0, pooled.size, size=(rows, pooled.size))]
        t_null.append(_welch_t(resampled[:, : new.size], resampled[:, new.size :]))
        means_new = new[rng.integers(0, new.size, size=(rows, new.size))].mean(axis=1)
        means_base = base[rng.integers(0, base.size, size=(rows, base.size))].mean(axis=1)
        change.append(means_new / means_base - 1)
    return np.concatenate(t_null), np.concatenate(change)


def decide(
    base: np.ndarray,
    new: np.ndarray,
    rng: np.random.Generator,
    nresamples: int = 100_000,
    significance: float = 0.05,
    noise: float = 0.01,
    confidence: float = 0.95,
) -> str:
    """criterion's verdict for per-iteration times `new` against `base`."""
    base, new = np.asarray(base, float), np.asarray(new, float)
    t = _welch_t(new[None, :], base[None, :])[0]
    chunk = max(1, 2_000_000 // (new.size + base.size))
    t_null, change = _resampled(new, base, rng, nresamples, chunk)
    t_null = t_null[np.isfinite(t_null)]
    hits = int(np.sum(t_null < t))
    p = min(hits, t_null.size - hits) / t_null.size * 2
    lower, upper = np.percentile(change, [50 * (1 - confidence), 50 * (1 + confidence)])
    if p >= significance:
        return NO_CHANGE
    if lower > noise and upper > noise:
        return REGRESSED
    if lower < -noise and upper < -noise:
        return IMPROVED
    return WITHIN_NOISE
