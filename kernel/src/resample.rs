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
    /// Per-iteration times minus `shift` (keeps sums of squares exact),
    /// with x*y and x*x, all in sorted order of the per-iteration times.
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
            d: order.iter().map(|&i| t[i] - shift).collect(),
            shift,
            xy: order.iter().map(|&i| iters[i] * times[i]).collect(),
            xx: order.iter().map(|&i| iters[i] * iters[i]).collect(),
            sorted,
            rank,
            groups,
            processes,
        })
    }

    pub fn len(&self) -> usize {
        self.d.len()
    }

    pub fn is_empty(&self) -> bool {
        self.d.is_empty()
    }
}

/// A bound with its rejection threshold `2^32 mod n` (Lemire's
/// multiply-and-reject, threshold computed once per bound).
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

    /// Maps 32 random bits into `0..n`, or None in the rejection zone.
    #[inline]
    fn map(self, bits: u32) -> Option<usize> {
        let m = bits as u64 * self.n as u64;
        ((m as u32) >= self.threshold).then_some((m >> 32) as usize)
    }
}

/// Uniform indices below a bound, two from each 64-bit draw.
struct Indices {
    rng: Xoshiro256PlusPlus,
}

impl Indices {
    fn below(&mut self, bound: Bound) -> usize {
        loop {
            if let Some(i) = bound.map(self.rng.next_u64() as u32) {
                return i;
            }
        }
    }

    /// Two independent uniform indices (a pair with either half in the
    /// rejection zone is drawn again, which keeps both uniform).
    #[inline]
    fn two_below(&mut self, bound: Bound) -> (usize, usize) {
        loop {
            let r = self.rng.next_u64();
            if let (Some(a), Some(b)) = (bound.map(r as u32), bound.map((r >> 32) as u32)) {
                return (a, b);
            }
        }
    }
}

/// Positions in the sorted values of the order statistics `k` and `k + 1`
/// (0-based) of the multiset given by `counts`; the second is the first
/// when `k + 1` is past the end.
fn order_pair(counts: &[u32], k: usize) -> (usize, usize) {
    let mut seen = 0usize;
    let mut low = None;
    for (i, &c) in counts.iter().enumerate() {
        seen += c as usize;
        if low.is_none() && seen > k {
            low = Some(i);
        }
        if seen > k + 1 {
            return (low.unwrap_or(i), i);
        }
    }
    let low = low.unwrap_or(counts.len() - 1);
    (low, low)
}

/// All positions of `sorted`, ordered by distance from `center` (ties to
/// the left): the order in which a median absolute deviation meets them.
fn deviation_order(sorted: &[f64], center: f64) -> Vec<u32> {
    let n = sorted.len();
    let split = sorted.partition_point(|&v| v <= center);
    let (mut left, mut right) = (split, split);
    let mut order = Vec::with_capacity(n);
    while left > 0 || right < n {
        let take_left = left > 0 && (right >= n || center - sorted[left - 1] <= sorted[right] - center);
        if take_left {
            left -= 1;
            order.push(left as u32);
        } else {
            order.push(right as u32);
            right += 1;
        }
    }
    order
}

/// Order statistics `k` and `k + 1` of `|value - center|` over the multiset,
/// walking `order` (from `deviation_order` for this center).
fn deviation_pair(sorted: &[f64], counts: &[u32], order: &[u32], center: f64, k: usize) -> (f64, f64) {
    let mut seen = 0usize;
    let mut low = None;
    for &i in order {
        seen += counts[i as usize] as usize;
        if low.is_none() && seen > k {
            low = Some(i);
        }
        if seen > k + 1 {
            let low = low.unwrap_or(i);
            return ((sorted[low as usize] - center).abs(), (sorted[i as usize] - center).abs());
        }
    }
    let d = low.map_or(f64::NAN, |i| (sorted[i as usize] - center).abs());
    (d, d)
}

/// Deviation orders by median position pair, built when first needed: the
/// median of a resample takes few distinct positions, so most resamples
/// reuse an order.
struct Orders {
    /// Indexed by the lower median position: (upper position, order) pairs.
    by_low: Vec<Vec<(usize, Vec<u32>)>>,
}

impl Orders {
    fn new(n: usize) -> Orders {
        Orders { by_low: vec![Vec::new(); n] }
    }

    fn get(&mut self, sorted: &[f64], key: (usize, usize), center: f64) -> &[u32] {
        let slot = &mut self.by_low[key.0];
        let at = match slot.iter().position(|(hi, _)| *hi == key.1) {
            Some(at) => at,
            None => {
                slot.push((key.1, deviation_order(sorted, center)));
                slot.len() - 1
            }
        };
        &slot[at].1
    }
}

/// criterion's median of `m` values: interpolation at rank (m-1)/2.
fn interpolate(pair: (f64, f64), m: usize) -> f64 {
    let fraction = if m.is_multiple_of(2) { 0.5 } else { 0.0 };
    pair.0 + (pair.1 - pair.0) * fraction
}

/// Sums over the resample of d, d^2 and (when linear) x*y and x*x, from the
/// counts; two lanes per sum keep the additions from queueing.
fn weighted_sums<const LINEAR: bool>(s: &Series, counts: &[u32]) -> (f64, f64, f64, f64) {
    let mut acc = [[0.0f64; 2]; 4];
    let rows = counts.chunks_exact(2).zip(s.d.chunks_exact(2)).zip(s.xy.chunks_exact(2).zip(s.xx.chunks_exact(2)));
    for ((c, d), (xy, xx)) in rows {
        for lane in 0..2 {
            let c = c[lane] as f64;
            acc[0][lane] += c * d[lane];
            acc[1][lane] += c * d[lane] * d[lane];
            if LINEAR {
                acc[2][lane] += c * xy[lane];
                acc[3][lane] += c * xx[lane];
            }
        }
    }
    if counts.len() % 2 == 1 {
        let i = counts.len() - 1;
        let c = counts[i] as f64;
        acc[0][0] += c * s.d[i];
        acc[1][0] += c * s.d[i] * s.d[i];
        if LINEAR {
            acc[2][0] += c * s.xy[i];
            acc[3][0] += c * s.xx[i];
        }
    }
    let [a, b, c, d] = acc.map(|lanes| lanes[0] + lanes[1]);
    (a, b, c, d)
}

/// The five estimates of one resample; `counts` is scratch of `s.len()`.
fn one_resample<const LINEAR: bool>(
    s: &Series,
    rng: &mut Indices,
    counts: &mut [u32],
    orders: &mut Orders,
) -> [f64; 5] {
    counts.fill(0);
    let mut m = 0usize;
    let processes = s.groups.len();
    for _ in 0..processes {
        let (start, len, bound) = s.groups[if processes == 1 { 0 } else { rng.below(s.processes) }];
        let ranks = &s.rank[start..start + len];
        for _ in 0..len / 2 {
            let (a, b) = rng.two_below(bound);
            // SAFETY: `two_below` returns indices below `bound.n == ranks.len()`,
            // and every rank is a position in `sorted`, whose length `counts` has.
            unsafe {
                *counts.get_unchecked_mut(*ranks.get_unchecked(a) as usize) += 1;
                *counts.get_unchecked_mut(*ranks.get_unchecked(b) as usize) += 1;
            }
        }
        if len % 2 == 1 {
            counts[ranks[rng.below(bound)] as usize] += 1;
        }
        m += len;
    }
    let (sum_d, sum_dd, sum_xy, sum_xx) = weighted_sums::<LINEAR>(s, counts);
    let mf = m as f64;
    let mean = s.shift + sum_d / mf;
    let std_dev = if m > 1 { ((sum_dd - sum_d * sum_d / mf).max(0.0) / (mf - 1.0)).sqrt() } else { 0.0 };
    let k = (m - 1) / 2;
    let (lo, hi) = order_pair(counts, k);
    let key = if m.is_multiple_of(2) { (lo, hi) } else { (lo, lo) };
    let median = interpolate((s.sorted[lo], s.sorted[hi]), m);
    let order = orders.get(&s.sorted, key, median);
    let mad = interpolate(deviation_pair(&s.sorted, counts, order, median, k), m) * MAD_SCALE;
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
            let mut rng = Indices { rng };
            let mut counts = vec![0u32; s.len()];
            let mut orders = Orders::new(s.len());
            let size = CHUNK.min(nresamples - c * CHUNK);
            (0..size)
                .map(|_| {
                    if linear {
                        one_resample::<true>(s, &mut rng, &mut counts, &mut orders)
                    } else {
                        one_resample::<false>(s, &mut rng, &mut counts, &mut orders)
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
        if lo + 1 < v.len() {
            v[lo] + (v[lo + 1] - v[lo]) * (r - lo as f64)
        } else {
            v[lo]
        }
    }

    /// Every estimate of a resample equals the same estimate computed
    /// directly (sorting) on the values the counts stand for.
    #[test]
    fn scans_agree_with_sorting_on_every_resample() {
        let iters: Vec<f64> = (1..=23).map(|i| i as f64).collect();
        let times: Vec<f64> = iters.iter().enumerate().map(|(i, x)| x * (100.0 + ((i * 37) % 11) as f64)).collect();
        let s = Series::new(&iters, &times, &[0, 7, 15, 23]).unwrap();
        let mut rng = Indices { rng: Xoshiro256PlusPlus::seed_from_u64(9) };
        let mut counts = vec![0u32; s.len()];
        let mut orders = Orders::new(s.len());
        for _ in 0..500 {
            let got = one_resample::<true>(&s, &mut rng, &mut counts, &mut orders);
            let mut values: Vec<f64> = Vec::new();
            for (v, &c) in s.sorted.iter().zip(&counts) {
                values.extend(std::iter::repeat_n(*v, c as usize));
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
        let b =
            rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| bootstrap(&s, true, 5000, 77));
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
        let mut rng = Indices { rng: Xoshiro256PlusPlus::seed_from_u64(1) };
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
