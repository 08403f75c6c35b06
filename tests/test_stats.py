"""Statistics against hand-computed values, numpy and scipy."""

import numpy as np
import pytest
from scipy import stats as sps

from hab.stats import bootstrap, outliers, ratio
from hab.stats.estimates import MAD_SCALE, estimate, points


def test_point_estimates_match_hand_computation():
    iters = np.array([1.0, 2.0, 3.0, 4.0])
    times = np.array([10.0, 22.0, 27.0, 44.0])  # per iteration: 10, 11, 9, 11
    p = points(iters, times, linear=True)
    assert p["mean"] == pytest.approx(10.25)
    assert p["median"] == pytest.approx(10.5)
    assert p["std_dev"] == pytest.approx(np.sqrt(((-0.25) ** 2 + 0.75**2 + 1.25**2 + 0.75**2) / 3))
    # |t - 10.5| = 0.5, 0.5, 1.5, 0.5 -> median 0.5
    assert p["median_abs_dev"] == pytest.approx(0.5 * 1.4826)
    # sum(xy) = 10 + 44 + 81 + 176 = 311, sum(x^2) = 30
    assert p["slope"] == pytest.approx(311 / 30)


def test_point_estimates_match_numpy_and_scipy_on_random_data():
    rng = np.random.default_rng(7)
    iters = np.arange(1, 31, dtype=float) * 5
    times = iters * rng.lognormal(3, 0.2, size=30)
    t = times / iters
    p = points(iters, times, linear=False)
    assert "slope" not in p
    assert p["mean"] == pytest.approx(np.mean(t))
    assert p["median"] == pytest.approx(np.median(t))
    assert p["std_dev"] == pytest.approx(np.std(t, ddof=1))
    assert p["median_abs_dev"] == pytest.approx(sps.median_abs_deviation(t, scale=1 / MAD_SCALE))


def test_bootstrap_interval_agrees_with_scipy_percentile_bootstrap():
    rng = np.random.default_rng(11)
    t = rng.normal(1000.0, 50.0, size=40)
    ours = estimate(
        [(np.ones(40), t)], linear=False, nresamples=20_000, confidence=0.95, seed=bootstrap.seed_for(0, "scipy")
    )
    for name, fn in (("mean", np.mean), ("median", np.median)):
        ref = sps.bootstrap(
            (t,),
            fn,
            n_resamples=20_000,
            confidence_level=0.95,
            method="percentile",
            random_state=np.random.default_rng(1),
        ).confidence_interval
        est = ours.estimates[name]
        width = ref.high - ref.low
        assert est.lower == pytest.approx(ref.low, abs=0.1 * width), name
        assert est.upper == pytest.approx(ref.high, abs=0.1 * width), name


def test_bootstrap_interval_of_the_mean_matches_the_normal_theory_interval():
    rng = np.random.default_rng(3)
    t = rng.normal(500.0, 20.0, size=200)
    e = estimate([(np.ones(200), t)], False, 50_000, 0.95, bootstrap.seed_for(1, "normal")).estimates["mean"]
    half = 1.96 * np.std(t, ddof=1) / np.sqrt(200)
    assert e.upper - e.lower == pytest.approx(2 * half, rel=0.08)
    assert e.standard_error == pytest.approx(np.std(t, ddof=1) / np.sqrt(200), rel=0.08)
    assert e.lower < e.point < e.upper


def test_linear_sampling_gives_a_slope_interval_around_the_true_slope():
    rng = np.random.default_rng(5)
    iters = np.arange(1, 21, dtype=float) * 10
    times = iters * 250.0 + rng.normal(0, 100, size=20)
    e = estimate([(iters, times)], True, 20_000, 0.95, bootstrap.seed_for(0, "slope"))
    assert e.typical_name == "slope"
    assert e.typical.lower < 250.0 < e.typical.upper


def test_same_seed_and_key_give_identical_intervals_and_other_keys_differ():
    t = np.random.default_rng(0).normal(10, 1, 25)
    one = estimate([(np.ones(25), t)], False, 5_000, 0.95, bootstrap.seed_for(42, "c00", "system"))
    two = estimate([(np.ones(25), t)], False, 5_000, 0.95, bootstrap.seed_for(42, "c00", "system"))
    other = estimate([(np.ones(25), t)], False, 5_000, 0.95, bootstrap.seed_for(42, "c00", "talc"))
    assert one.estimates == two.estimates
    assert one.estimates["mean"].lower != other.estimates["mean"].lower


def test_constant_samples_give_a_zero_width_interval_without_errors():
    e = estimate(
        [(np.arange(1, 11, dtype=float), np.arange(1, 11, dtype=float) * 7.0)],
        True,
        1_000,
        0.95,
        bootstrap.seed_for(0, "flat"),
    )
    for est in e.estimates.values():
        assert est.exact and est.lower == est.point == est.upper
    assert e.typical.point == pytest.approx(7.0)
    assert e.estimates["std_dev"].point == 0.0 and e.estimates["median_abs_dev"].point == 0.0


def test_tukey_fences_and_classes():
    t = np.array([10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 40, 60, -30, 2], dtype=float)
    q1, q3 = np.percentile(t, [25, 75])
    iqr = q3 - q1
    assert outliers.fences(t) == pytest.approx((q1 - 3 * iqr, q1 - 1.5 * iqr, q3 + 1.5 * iqr, q3 + 3 * iqr))
    counts = outliers.classify(t)
    # q1 = 11.25, q3 = 17.75, iqr = 6.5: mild above 27.5, severe above 37.25 / below -8.25; 2 is inside.
    assert counts == {"low_severe": 1, "low_mild": 0, "high_mild": 0, "high_severe": 2}


def test_ratio_and_geometric_mean():
    a = np.array([2.0, 4.0, 6.0])
    b = np.array([1.0, 2.0, 2.0])
    est, dist = bootstrap.ratio(4.0, a, 2.0, b, 0.95)
    assert est.point == 2.0
    assert list(dist) == [2.0, 2.0, 3.0]
    exact = [ratio.exact(2.0, 0.95), ratio.exact(8.0, 0.95)]
    geo = ratio.geometric_mean(exact, 0.95)
    assert geo.exact and geo.point == pytest.approx(4.0)


def test_paired_ratio_is_a_t_interval_on_the_logs_of_the_rounds():
    rounds = [1.1, 1.25, 1.3, 1.18]
    logs = np.log(rounds)
    low, high = sps.t.interval(0.95, len(logs) - 1, loc=logs.mean(), scale=sps.sem(logs))
    paired = ratio.paired(rounds, 0.95)
    assert paired.method == "paired" and paired.dof == 3
    assert paired.estimate.point == pytest.approx(np.exp(logs.mean()))
    assert (paired.estimate.lower, paired.estimate.upper) == pytest.approx((np.exp(low), np.exp(high)))
    assert ratio.paired([1.5, 1.5, 1.5], 0.95).estimate.exact
    with pytest.raises(ValueError):
        ratio.paired([1.5], 0.95)
    # The mean of two cells: standard errors add in quadrature, the smaller dof wins.
    other = ratio.paired([0.9, 0.8, 0.85], 0.95)
    geo = ratio.geometric_mean([paired, other], 0.95)
    se = np.hypot(paired.log_se, other.log_se) / 2
    centre = (np.log(paired.estimate.point) + np.log(other.estimate.point)) / 2
    half = sps.t.ppf(0.975, 2) * se
    assert (geo.lower, geo.point, geo.upper) == pytest.approx(np.exp([centre - half, centre, centre + half]))
