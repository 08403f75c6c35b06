//! The hierarchical bootstrap of criterion's estimates.
//!
//! One resample draws as many processes as there are, with replacement,
//! then, within each drawn process, as many of its samples as it has, with
//! replacement (with a single process this is criterion's plain bootstrap).
//! A resample is kept as counts over the per-iteration times sorted once,
//! so the median and the median absolute deviation come from one linear
//! scan each instead of a sort.
//!
//! Resamples are generated in fixed chunks, each with its own generator
//! seeded from `(seed, chunk)`: the result depends on the seed only, never
//! on the number of threads.

use numpy::ndarray::Array2;
use rand::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use rayon::prelude::*;

/// Rows of the returned distributions.
pub const STATS: [&str; 5] = ["mean", "median", "std_dev", "median_abs_dev", "slope"];
/// criterion's scale factor for the median absolute deviation: criterion
/// writes 1.4826 but it reaches f64 through an f32.
pub const MAD_SCALE: f64 = 1.4826f32 as f64;
const CHUNK: usize = 2048;

/// The samples of one (cell, allocator), grouped by engine process.
pub struct Series {
    /// Per-iteration times minus `shift` (keeps sums of squares exact).
    d: Vec<f64>,
    shift: f64,
    xy: Vec<f64>,
    xx: Vec<f64>,
    sorted: Vec<f64>,
    rank: Vec<u32>,
    groups: Vec<(usize, usize, Bound)>,
    processes: Bound,
}

impl Series {
    /// `iters[i]` iterations took `times[i]` ns; process `p` owns
    /// `offsets[p]..offsets[p+1]`.
    pub fn new(iters: &[f64], times: &[f64], offsets: &[usize]) -> Result<Series, String> {
        let n = iters.len();
        if times.len() != n {
            return Err(format!("{} iteration counts but {} times", n, times.len()));
        }
        if offsets.len() < 2 || offsets[0] != 0 || offsets[offsets.len() - 1] != n {
            return Err("offsets must run from 0 to the number of samples".into());
        }
        if offsets.windows(2).any(|w| w[1] <= w[0]) {
            return Err("every process needs at least one sample".into());
        }
        if iters.iter().any(|&x| !(x > 0.0 && x.is_finite())) || times.iter().any(|y| !y.is_finite()) {
            return Err("iteration counts must be positive and times finite".into());
        }
        let t: Vec<f64> = iters.iter().zip(times).map(|(x, y)| y / x).collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| t[a].total_cmp(&t[b]));
        let mut rank = vec![0u32; n];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as u32;
        }
        let sorted: Vec<f64> = order.iter().map(|&i| t[i]).collect();
        let shift = sorted[n / 2];
        if n > u32::MAX as usize {
            return Err("too many samples".into());
        }
        let groups: Vec<_> = offsets.windows(2).map(|w| (w[0], w[1] - w[0], Bound::new(w[1] - w[0]))).collect();
        let processes = Bound::new(groups.len());
        Ok(Series {
            d: t.iter().map(|v| v - shift).collect(),
            shift,
            xy: iters.iter().zip(times).map(|(x, y)| x * y).collect(),
            xx: iters.iter().map(|x| x * x).collect(),
            sorted,
            rank,
            groups,
            processes,
        })
    }

    pub fn len(&self) -> usize {
        self.d.len()
    }
}

/// Uniform indices below a bound, two per 64-bit draw (Lemire's
/// multiply-and-reject; the rejection threshold is computed once per bound).
struct Indices {
    rng: Xoshiro256PlusPlus,
    spare: Option<u32>,
}

/// A bound with its rejection threshold `2^32 mod n`.
#[derive(Clone, Copy)]
struct Bound {
    n: u32,
    threshold: u32,
}

impl Bound {
    fn new(n: usize) -> Bound {
        let n = n as u32;
        Bound { n, threshold: n.wrapping_neg() % n }
    }
}

impl Indices {
    fn next_u32(&mut self) -> u32 {
        match self.spare.take() {
            Some(x) => x,
            None => {
                let r = self.rng.next_u64();
                self.spare = Some((r >> 32) as u32);
                r as u32
            }
        }
    }

    /// Uniform in `0..bound.n`.
    fn below(&mut self, bound: Bound) -> usize {
        loop {
            let m = self.next_u32() as u64 * bound.n as u64;
            if (m as u32) >= bound.threshold {
                return (m >> 32) as usize;
            }
        }
    }
}

/// The values at order statistics `k` and `k + 1` (0-based) of the multiset
/// given by `counts` over `sorted`; the second is the first when `k + 1` is
/// past the end.
fn order_pair(sorted: &[f64], counts: &[u32], k: usize) -> (f64, f64) {
    let mut seen = 0usize;
    let mut low = None;
    for (value, &c) in sorted.iter().zip(counts) {
        seen += c as usize;
        if low.is_none() && seen > k {
            low = Some(*value);
        }
        if seen > k + 1 {
            return (low.unwrap_or(*value), *value);
        }
    }
    let low = low.unwrap_or(f64::NAN);
    (low, low)
}

/// Order statistics `k` and `k + 1` of `|value - center|` over the multiset,
/// walking outwards from `center` through the sorted values.
fn deviation_pair(sorted: &[f64], counts: &[u32], center: f64, k: usize) -> (f64, f64) {
    let n = sorted.len();
    let split = sorted.partition_point(|&v| v <= center);
    let (mut left, mut right) = (split, split); // next candidates: left - 1 and right
    let mut seen = 0usize;
    let mut low = None;
    // Entries with a zero count are walked over like the others: they add
    // nothing, so they can never be the order statistic.
    loop {
        let take_left = match (left > 0, right < n) {
            (true, true) => center - sorted[left - 1] <= sorted[right] - center,
            (true, false) => true,
            (false, true) => false,
            (false, false) => {
                let low = low.unwrap_or(f64::NAN);
                return (low, low);
            }
        };
        let (deviation, c) = if take_left {
            left -= 1;
            (center - sorted[left], counts[left])
        } else {
            right += 1;
            (sorted[right - 1] - center, counts[right - 1])
        };
        seen += c as usize;
        if low.is_none() && seen > k {
            low = Some(deviation);
        }
        if seen > k + 1 {
            return (low.unwrap_or(deviation), deviation);
        }
    }
}

/// criterion's median of `m` values: interpolation at rank (m-1)/2.
fn interpolate(pair: (f64, f64), m: usize) -> f64 {
    let fraction = if m % 2 == 0 { 0.5 } else { 0.0 };
    pair.0 + (pair.1 - pair.0) * fraction
}

/// The five estimates of one resample; `counts` is scratch of `s.len()`.
fn one_resample<const LINEAR: bool>(s: &Series, rng: &mut Indices, counts: &mut [u32]) -> [f64; 5] {
    counts.fill(0);
    let (mut m, mut sum_d, mut sum_dd, mut sum_xy, mut sum_xx) = (0usize, 0.0, 0.0, 0.0, 0.0);
    let processes = s.groups.len();
    for _ in 0..processes {
        let (start, len, bound) = s.groups[if processes == 1 { 0 } else { rng.below(s.processes) }];
        for _ in 0..len {
            let i = start + rng.below(bound);
            counts[s.rank[i] as usize] += 1;
            sum_d += s.d[i];
            sum_dd += s.d[i] * s.d[i];
            if LINEAR {
                sum_xy += s.xy[i];
                sum_xx += s.xx[i];
            }
        }
        m += len;
    }
    let mf = m as f64;
    let mean = s.shift + sum_d / mf;
    let std_dev = if m > 1 { ((sum_dd - sum_d * sum_d / mf).max(0.0) / (mf - 1.0)).sqrt() } else { 0.0 };
    let k = (m - 1) / 2;
    let median = interpolate(order_pair(&s.sorted, counts, k), m);
    let mad = interpolate(deviation_pair(&s.sorted, counts, median, k), m) * MAD_SCALE;
    let slope = if LINEAR { sum_xy / sum_xx } else { f64::NAN };
    [mean, median, std_dev, mad, slope]
}

/// `nresamples` hierarchical resamples; row `j` of the result is the
/// distribution of `STATS[j]`.
pub fn bootstrap(s: &Series, linear: bool, nresamples: usize, seed: u64) -> Array2<f64> {
    let chunks: Vec<Vec<[f64; 5]>> = (0..nresamples.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ (c as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut rng = Indices { rng, spare: None };
            let mut counts = vec![0u32; s.len()];
            let size = CHUNK.min(nresamples - c * CHUNK);
            (0..size)
                .map(|_| {
                    if linear {
                        one_resample::<true>(s, &mut rng, &mut counts)
                    } else {
                        one_resample::<false>(s, &mut rng, &mut counts)
                    }
                })
                .collect()
        })
        .collect();
    let mut out = Array2::zeros((STATS.len(), nresamples));
    for (col, row) in chunks.iter().flatten().enumerate() {
        for (stat, value) in row.iter().enumerate() {
            out[[stat, col]] = *value;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(f64::total_cmp);
        let r = 0.5 * (v.len() - 1) as f64;
        let lo = r.floor() as usize;
        if lo + 1 < v.len() { v[lo] + (v[lo + 1] - v[lo]) * (r - lo as f64) } else { v[lo] }
    }

    /// Every estimate of a resample equals the same estimate computed
    /// directly (sorting) on the values the counts stand for.
    #[test]
    fn scans_agree_with_sorting_on_every_resample() {
        let iters: Vec<f64> = (1..=23).map(|i| i as f64).collect();
        let times: Vec<f64> = iters.iter().enumerate().map(|(i, x)| x * (100.0 + ((i * 37) % 11) as f64)).collect();
        let s = Series::new(&iters, &times, &[0, 7, 15, 23]).unwrap();
        let mut rng = Indices { rng: Xoshiro256PlusPlus::seed_from_u64(9), spare: None };
        let mut counts = vec![0u32; s.len()];
        for _ in 0..500 {
            let got = one_resample::<true>(&s, &mut rng, &mut counts);
            let mut values: Vec<f64> = Vec::new();
            for (v, &c) in s.sorted.iter().zip(&counts) {
                values.extend(std::iter::repeat(*v).take(c as usize));
            }
            let m = values.len() as f64;
            let mean = values.iter().sum::<f64>() / m;
            let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (m - 1.0)).sqrt();
            let med = median(&mut values.clone());
            let mut devs: Vec<f64> = values.iter().map(|v| (v - med).abs()).collect();
            let mad = median(&mut devs) * MAD_SCALE;
            for (a, b) in got[..4].iter().zip([mean, med, sd, mad]) {
                assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{got:?} vs {mean} {med} {sd} {mad}");
            }
        }
    }

    #[test]
    fn one_process_resamples_only_its_own_samples_and_constant_data_stays_constant() {
        let s = Series::new(&[2.0; 10], &[8.0; 10], &[0, 10]).unwrap();
        let d = bootstrap(&s, true, 3000, 1);
        for stat in 0..5 {
            let expected = [4.0, 4.0, 0.0, 0.0, 4.0][stat];
            assert!(d.row(stat).iter().all(|&v| (v - expected).abs() < 1e-12), "{}", STATS[stat]);
        }
    }

    #[test]
    fn same_seed_same_distributions_whatever_the_thread_count() {
        let iters: Vec<f64> = (1..=40).map(f64::from).collect();
        let times: Vec<f64> = iters.iter().map(|x| x * 3.0 + (x * 7.0) % 5.0).collect();
        let s = Series::new(&iters, &times, &[0, 20, 40]).unwrap();
        let a = bootstrap(&s, true, 5000, 77);
        let b = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| bootstrap(&s, true, 5000, 77));
        assert_eq!(a, b);
        assert_ne!(a, bootstrap(&s, true, 5000, 78));
    }

    #[test]
    fn between_process_spread_widens_the_distribution_of_the_mean() {
        // Two processes whose levels differ: resampling processes must move the mean.
        let iters = vec![1.0; 20];
        let times: Vec<f64> = (0..20).map(|i| if i < 10 { 100.0 } else { 110.0 }).collect();
        let grouped = bootstrap(&Series::new(&iters, &times, &[0, 10, 20]).unwrap(), false, 4000, 3);
        let means = grouped.row(0);
        assert!(means.iter().any(|&m| m == 100.0) && means.iter().any(|&m| m == 110.0));
        assert!(grouped.row(4).iter().all(|v| v.is_nan()), "no slope without linear sampling");
    }

    #[test]
    fn indices_are_uniform_below_the_bound() {
        let mut rng = Indices { rng: Xoshiro256PlusPlus::seed_from_u64(1), spare: None };
        let bound = Bound::new(7);
        let mut seen = [0u32; 7];
        for _ in 0..70_000 {
            seen[rng.below(bound)] += 1;
        }
        assert!(seen.iter().all(|&c| (9_500..10_500).contains(&c)), "{seen:?}");
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(Series::new(&[1.0], &[1.0, 2.0], &[0, 1]).is_err());
        assert!(Series::new(&[1.0, 1.0], &[1.0, 2.0], &[0, 0, 2]).is_err());
        assert!(Series::new(&[0.0], &[1.0], &[0, 1]).is_err());
    }
}
