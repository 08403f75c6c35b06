//! Reading an interval off a bootstrap distribution.

/// numpy's and criterion's percentile: linear interpolation at rank
/// `q * (n - 1)`. Reorders `values`.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    let rank = q * (values.len() - 1) as f64;
    let below = rank.floor() as usize;
    let (_, &mut low, above) = values.select_nth_unstable_by(below, f64::total_cmp);
    let fraction = rank - below as f64;
    if fraction == 0.0 || above.is_empty() {
        return low;
    }
    let high = above.iter().copied().fold(f64::INFINITY, f64::min);
    low + (high - low) * fraction
}

/// `(lower, upper, standard error)`: the percentile interval at
/// `confidence` and the standard deviation (n - 1) of the distribution.
pub fn summarize(values: &mut [f64], confidence: f64) -> (f64, f64, f64) {
    let n = values.len();
    if n == 0 || values.iter().any(|v| v.is_nan()) {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let se = if n > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
    let alpha = 1.0 - confidence;
    let lower = percentile(values, alpha / 2.0);
    let upper = percentile(values, 1.0 - alpha / 2.0);
    (lower, upper, se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_linear_interpolation_percentiles() {
        let mut v: Vec<f64> = (0..101).rev().map(f64::from).collect();
        let (lo, hi, se) = summarize(&mut v, 0.95);
        assert!((lo - 2.5).abs() < 1e-9 && (hi - 97.5).abs() < 1e-9, "{lo} {hi}");
        assert!((se - 29.3001706).abs() < 1e-6);
        let mut w = vec![1.0, 2.0, 3.0, 4.0];
        // rank 0.025 * 3 = 0.075 -> 1.075; rank 2.925 -> 3.925
        let (lo, hi, _) = summarize(&mut w, 0.95);
        assert!((lo - 1.075).abs() < 1e-12 && (hi - 3.925).abs() < 1e-12);
    }

    #[test]
    fn nan_and_empty_give_nan() {
        assert!(summarize(&mut [], 0.95).0.is_nan());
        assert!(summarize(&mut [1.0, f64::NAN], 0.95).2.is_nan());
    }
}
