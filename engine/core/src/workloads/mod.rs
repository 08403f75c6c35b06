//! The workloads the engine can run, and what every workload provides.

use crate::params::{ParamDef, Values};
use crate::protocol::WorkloadInfo;

pub mod rayon_boxes;

/// Work done by one iteration: blocks allocated and bytes requested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    pub allocations: u64,
    pub bytes: u64,
}

impl Work {
    pub fn add(self, other: Work) -> Work {
        Work { allocations: self.allocations + other.allocations, bytes: self.bytes + other.bytes }
    }
}

/// A workload set up and ready to run; one call to `iterate` is one
/// iteration in the sampling plan.
pub trait Workload {
    fn iterate(&mut self) -> Work;
}

/// A workload's entry in the registry.
#[derive(Debug)]
pub struct WorkloadDef {
    pub name: &'static str,
    pub about: &'static str,
    pub params: &'static [ParamDef],
    /// Whether a dry variant (same work, no allocator calls) exists.
    pub has_dry: bool,
    /// Sets the workload up from resolved parameters; `dry` picks the dry
    /// variant; `spin_ns` asks for calibrated busy work before each allocation.
    pub build: fn(params: &Values, threads: u64, dry: bool, spin_ns: f64) -> Result<Box<dyn Workload>, String>,
}

impl WorkloadDef {
    pub fn info(&self) -> WorkloadInfo {
        WorkloadInfo::new(self.name, self.about, self.has_dry, self.params)
    }
}

/// Every workload this engine has.
pub const ALL: &[WorkloadDef] = &[rayon_boxes::DEF];

/// The workload called `name`.
pub fn find(name: &str) -> Result<&'static WorkloadDef, String> {
    ALL.iter().find(|w| w.name == name).ok_or_else(|| {
        let known: Vec<&str> = ALL.iter().map(|w| w.name).collect();
        format!("unknown workload '{name}' (known: {})", known.join(", "))
    })
}
