//! Criterion-style sampling: a time-based warm-up, then a Linear or Flat plan.
//!
//! The arithmetic follows criterion.rs so that numbers are comparable:
//! warm-up runs 1, 2, 4, ... iterations until `warm_up` has passed and
//! estimates the mean time per iteration `met`; a Linear plan runs
//! `i * d` iterations in sample `i` (1..=n) with
//! `d = max(1, ceil(measurement / met / (n(n+1)/2)))`; a Flat plan runs
//! `max(1, ceil(measurement / n / met))` in every sample; Auto picks Linear
//! unless that plan would take more than twice the measurement time.

use serde::{Deserialize, Serialize};

/// How samples are sized, as the spec asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    Auto,
    Linear,
    Flat,
}

/// The plan actually used (Auto resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    Linear,
    Flat,
}

/// Iterations per sample, decided once after the warm-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub mode: PlanMode,
    pub iters: Vec<u64>,
}

impl Plan {
    /// Expected duration of the plan in nanoseconds at `met_ns` per iteration.
    pub fn expected_ns(&self, met_ns: f64) -> f64 {
        self.iters.iter().sum::<u64>() as f64 * met_ns
    }
}

/// Result of the warm-up: iterations run and the time they took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmUp {
    pub iters: u64,
    pub ns: u64,
}

impl WarmUp {
    /// Mean nanoseconds per iteration (at least 1, so plans stay finite).
    pub fn met_ns(&self) -> f64 {
        (self.ns.max(1) as f64) / (self.iters.max(1) as f64)
    }
}

/// Runs `1, 2, 4, ...` iterations through `time` until more than
/// `warm_up_ns` has elapsed. `time(n)` runs `n` iterations and returns ns.
pub fn warm_up(warm_up_ns: u64, time: &mut impl FnMut(u64) -> u64) -> WarmUp {
    let mut total = WarmUp { iters: 0, ns: 0 };
    let mut batch = 1u64;
    loop {
        total.ns = total.ns.saturating_add(time(batch));
        total.iters += batch;
        if total.ns > warm_up_ns {
            return total;
        }
        batch = batch.saturating_mul(2);
    }
}

fn linear(n: u64, measurement_ns: u64, met_ns: f64) -> Plan {
    let total_runs = n * (n + 1) / 2;
    let d = ((measurement_ns as f64 / met_ns / total_runs as f64).ceil() as u64).max(1);
    Plan { mode: PlanMode::Linear, iters: (1..=n).map(|i| i * d).collect() }
}

fn flat(n: u64, measurement_ns: u64, met_ns: f64) -> Plan {
    let per_sample = ((measurement_ns as f64 / n as f64 / met_ns).ceil() as u64).max(1);
    Plan { mode: PlanMode::Flat, iters: vec![per_sample; n as usize] }
}

/// The sampling plan for `n` samples filling `measurement_ns`.
pub fn plan(mode: Mode, n: u64, measurement_ns: u64, met_ns: f64) -> Plan {
    match mode {
        Mode::Linear => linear(n, measurement_ns, met_ns),
        Mode::Flat => flat(n, measurement_ns, met_ns),
        Mode::Auto => {
            let candidate = linear(n, measurement_ns, met_ns);
            if candidate.expected_ns(met_ns) > 2.0 * measurement_ns as f64 {
                flat(n, measurement_ns, met_ns)
            } else {
                candidate
            }
        }
    }
}

/// `n` samples of `per_sample` iterations each, whatever they take.
pub fn fixed(n: u64, per_sample: u64) -> Plan {
    Plan { mode: PlanMode::Flat, iters: vec![per_sample; n as usize] }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn warm_up_doubles_until_time_has_passed() {
        let mut calls = Vec::new();
        let w = warm_up(100 * MS, &mut |n| {
            calls.push(n);
            n * 10 * MS
        });
        // 10+20+40 = 70 ms, then +80 ms = 150 ms > 100 ms.
        assert_eq!(calls, vec![1, 2, 4, 8]);
        assert_eq!(w, WarmUp { iters: 15, ns: 150 * MS });
        assert_eq!(w.met_ns(), 10.0 * MS as f64);
    }

    #[test]
    fn warm_up_runs_at_least_once() {
        let w = warm_up(0, &mut |_| 5);
        assert_eq!(w, WarmUp { iters: 1, ns: 5 });
    }

    #[test]
    fn linear_plan_matches_criterion_arithmetic() {
        // n = 10: 55 runs; 5 s / 1 ms / 55 = 90.9 -> d = 91.
        let p = plan(Mode::Linear, 10, 5_000 * MS, MS as f64);
        assert_eq!(p.mode, PlanMode::Linear);
        assert_eq!(p.iters, (1..=10).map(|i| i * 91).collect::<Vec<_>>());
    }

    #[test]
    fn flat_plan_matches_criterion_arithmetic() {
        // 5 s / 20 samples / 3 ms = 83.3 -> 84 per sample.
        let p = plan(Mode::Flat, 20, 5_000 * MS, 3.0 * MS as f64);
        assert_eq!(p.iters, vec![84; 20]);
        // An iteration longer than the whole budget still runs once a sample.
        assert_eq!(plan(Mode::Flat, 4, MS, 10.0 * MS as f64).iters, vec![1; 4]);
    }

    #[test]
    fn auto_falls_back_to_flat_when_linear_overruns() {
        // Fast iterations: linear fits.
        assert_eq!(plan(Mode::Auto, 10, 5_000 * MS, MS as f64).mode, PlanMode::Linear);
        // 20 samples of a 1 s iteration: linear needs 210 s for a 30 s budget.
        let p = plan(Mode::Auto, 20, 30_000 * MS, 1_000.0 * MS as f64);
        assert_eq!(p.mode, PlanMode::Flat);
        assert_eq!(p.iters, vec![2; 20]);
    }
}
