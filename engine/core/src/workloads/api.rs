//! The interface between the engine and its workloads: what every workload
//! is given ([`Context`], [`Instruments`]), what it implements
//! ([`Workload`]) and reports ([`Work`]), and its registry entry
//! ([`WorkloadDef`]). The workloads build on this module; the registry in
//! the parent module lists them.

use std::sync::Arc;

use super::pool::Pool;
use crate::heap::{Live, Meter};
use crate::latency::Latency;
use crate::params::{ParamDef, Values};
use crate::protocol::WorkloadInfo;

/// Work done by one iteration: allocator calls that return memory
/// (allocations and reallocations) and the bytes they requested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    pub allocations: u64,
    pub bytes: u64,
}

impl std::ops::Add for Work {
    type Output = Work;

    fn add(self, other: Work) -> Work {
        Work { allocations: self.allocations + other.allocations, bytes: self.bytes + other.bytes }
    }
}

impl std::iter::Sum for Work {
    fn sum<I: Iterator<Item = Work>>(iter: I) -> Work {
        iter.fold(Work::default(), |a, b| a + b)
    }
}

impl Work {
    /// Counts one allocation of `size` bytes.
    #[inline]
    pub fn count(&mut self, size: usize) {
        self.allocations += 1;
        self.bytes += size as u64;
    }
}

/// A workload set up and ready to run; one call to `iterate` is one
/// iteration in the sampling plan. Dropping it frees what it keeps alive.
pub trait Workload {
    fn iterate(&mut self) -> Work;
}

/// What the engine measures besides time, shared by all of a run's threads.
#[derive(Default)]
pub struct Instruments {
    /// Requested bytes alive and their peak.
    pub live: Live,
    /// Latency mode's recorder (`None` in throughput runs).
    pub latency: Option<Latency>,
}

impl Instruments {
    /// A meter for the thread (or task) with index `slot`; slots only matter
    /// in latency mode, where threads alive at once need distinct slots.
    pub fn meter(&self, slot: usize) -> Meter<'_> {
        Meter::with_probe(&self.live, self.latency.as_ref().map(|l| l.probe(slot)))
    }
}

/// Everything a workload is built from.
pub struct Context {
    pub params: Values,
    pub threads: u64,
    /// Build the dry variant (same work, no allocator calls).
    pub dry: bool,
    /// Calibrated busy work before each allocation, in ns (0: none).
    pub spin_ns: f64,
    /// Exact busy loop turns before each allocation (0: none; not with `spin_ns`).
    pub spin_turns: u64,
    pub tools: Arc<Instruments>,
}

impl Context {
    /// A rayon pool of `threads` workers, joined when dropped.
    pub fn pool(&self) -> Result<Pool, String> {
        Pool::new(self.threads)
    }
}

/// A workload's entry in the registry.
#[derive(Debug)]
pub struct WorkloadDef {
    pub name: &'static str,
    pub about: &'static str,
    pub params: &'static [ParamDef],
    /// Whether a dry variant (same work, no allocator calls) exists.
    pub has_dry: bool,
    /// Whether the workload honours `spin_ns` and `spin_turns` (busy work before allocations).
    pub has_spin: bool,
    /// Pairs of parameters `(low, high)` where `low <= high` must hold.
    pub ordered: &'static [(&'static str, &'static str)],
    /// Sets the workload up from validated parameters.
    pub build: fn(&Context) -> Result<Box<dyn Workload>, String>,
}

impl WorkloadDef {
    pub fn info(&self) -> WorkloadInfo {
        WorkloadInfo::new(self.name, self.about, self.has_dry, self.params)
    }
}
