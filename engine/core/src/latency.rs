//! Latency mode: timing a sampled subset of single allocator operations.
//!
//! Every `every`-th operation a [`Probe`] sees is timed with two clock reads
//! around the call and recorded in an HDR histogram (3 significant digits)
//! for its operation. Probes stay off during the warm-up; [`Latency::start`]
//! turns them on. Each thread records into its own slot (no sharing while
//! timing); [`Latency::report`] merges the slots. Nothing is subtracted: the
//! report states the timer's own cost ([`timer_cost`]) next to the figures.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use base64::Engine;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::limits::MAX_THREADS;

/// Largest latency a histogram holds (longer ones are clamped): one minute.
pub const MAX_NS: u64 = 60_000_000_000;

/// Slots available to threads (thread indices wrap around this).
pub const SLOTS: usize = 2 * MAX_THREADS as usize + 2;

/// The operations that are timed; the value indexes a thread's histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Alloc = 0,
    Free = 1,
    Realloc = 2,
}

/// Names of the operations, in the order of their values.
const OPS: [&str; 3] = ["alloc", "free", "realloc"];

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds")
}

/// One thread's histograms, one per operation.
struct OpHistograms([Histogram<u64>; 3]);

impl OpHistograms {
    fn new() -> OpHistograms {
        OpHistograms([histogram(), histogram(), histogram()])
    }
}

/// The latency recorder shared by all threads of a run.
pub struct Latency {
    every: u32,
    on: AtomicBool,
    slots: Vec<Mutex<Option<OpHistograms>>>,
}

impl Latency {
    /// Times one operation in `every` (1: all of them).
    pub fn new(every: u32) -> Latency {
        Latency {
            every: every.max(1),
            on: AtomicBool::new(false),
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Starts recording (after the warm-up).
    pub fn start(&self) {
        self.on.store(true, Relaxed);
    }

    /// A probe for the thread with index `slot`. Two threads must not hold
    /// probes for the same slot at once (the second would wait for the first).
    pub fn probe(&self, slot: usize) -> Probe<'_> {
        let guard = self.slots[slot % SLOTS].lock().unwrap_or_else(|p| p.into_inner());
        Probe { every: self.every, countdown: slot as u32 % self.every, on: &self.on, hist: guard }
    }

    /// Every slot merged, per operation that was timed at least once.
    pub fn report(&self) -> Vec<OpLatency> {
        let mut merged = OpHistograms::new();
        for slot in &self.slots {
            let guard = slot.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(h) = guard.as_ref() {
                for (into, from) in merged.0.iter_mut().zip(&h.0) {
                    into.add(from).expect("histograms with equal bounds merge");
                }
            }
        }
        OPS.iter().zip(&merged.0).filter(|(_, h)| !h.is_empty()).map(|(name, h)| OpLatency::of(name, h)).collect()
    }

    pub fn every(&self) -> u32 {
        self.every
    }
}

/// One thread's view of the recorder: decides which operations to time.
pub struct Probe<'a> {
    every: u32,
    countdown: u32,
    on: &'a AtomicBool,
    hist: MutexGuard<'a, Option<OpHistograms>>,
}

impl Probe<'_> {
    /// Whether the next operation is to be timed.
    #[inline]
    pub fn due(&mut self) -> bool {
        if self.countdown == 0 {
            self.countdown = self.every - 1;
            self.on.load(Relaxed)
        } else {
            self.countdown -= 1;
            false
        }
    }

    /// Records one timed operation.
    pub fn record(&mut self, op: Op, ns: u64) {
        let hists = self.hist.get_or_insert_with(OpHistograms::new);
        hists.0[op as usize].saturating_record(ns.max(1));
    }
}

/// Percentiles of one operation's latency, in ns, with the histogram itself
/// (HdrHistogram V2 compressed, base64) so runs can be merged later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpLatency {
    pub op: String,
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub histogram: String,
}

impl OpLatency {
    fn of(op: &str, h: &Histogram<u64>) -> OpLatency {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new().serialize(h, &mut bytes).expect("histogram serializes");
        OpLatency {
            op: op.into(),
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            histogram: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }
}

/// What timing costs here: the same two clock reads a probe makes, around nothing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimerCost {
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p99_ns: u64,
}

/// Measures [`TimerCost`] over `rounds` empty timings.
pub fn timer_cost(rounds: u32) -> TimerCost {
    let mut h = histogram();
    for _ in 0..rounds {
        let start = Instant::now();
        let ns = start.elapsed().as_nanos() as u64;
        h.saturating_record(ns.max(1));
    }
    TimerCost { min_ns: h.min(), p50_ns: h.value_at_quantile(0.5), p99_ns: h.value_at_quantile(0.99) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_record_one_in_every_after_start_and_slots_merge() {
        let lat = Latency::new(4);
        {
            let mut p = lat.probe(0);
            for _ in 0..40 {
                if p.due() {
                    p.record(Op::Alloc, 100);
                }
            }
        }
        assert!(lat.report().is_empty(), "nothing is recorded before start");
        lat.start();
        for slot in [0, 1] {
            let mut p = lat.probe(slot);
            for i in 0..40 {
                if p.due() {
                    p.record(if i % 2 == 0 { Op::Alloc } else { Op::Free }, 100 + i);
                }
            }
        }
        let report = lat.report();
        let total: u64 = report.iter().map(|r| r.count).sum();
        assert_eq!(total, 20);
        assert!(report.iter().all(|r| r.min >= 100 && r.max < 140 && !r.histogram.is_empty()));
    }

    #[test]
    fn timer_cost_is_positive_and_ordered() {
        let t = timer_cost(1000);
        assert!(t.min_ns >= 1 && t.min_ns <= t.p50_ns && t.p50_ns <= t.p99_ns);
    }
}
