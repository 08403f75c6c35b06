//! The workloads the engine can run and their registry ([`ALL`], [`find`]).
//! What every workload is given and implements lives in `api` (re-exported
//! here); the workloads use `api`, `common` and `pool`, never this module,
//! so the registry's references to them form no cycle.

pub use api::{Context, Instruments, Work, Workload, WorkloadDef};
pub use pool::Pool;
// Kept here for the workloads' users; the constant lives in `limits`.
pub use crate::limits::PAGE;

mod api;
pub mod cache_scratch;
pub mod cache_thrash;
mod common;
pub mod fastpath;
pub mod fragmentation;
pub mod large;
pub mod larson;
pub mod mstress;
pub mod pool;
pub mod rayon_boxes;
pub mod realloc_growth;
pub mod threadtest;
pub mod xmalloc;

/// Every workload this engine has.
pub const ALL: &[WorkloadDef] = &[
    rayon_boxes::DEF,
    cache_scratch::DEF,
    cache_thrash::DEF,
    threadtest::DEF,
    fastpath::DEF,
    larson::DEF,
    xmalloc::DEF,
    mstress::DEF,
    realloc_growth::DEF,
    large::DEF,
    fragmentation::DEF,
];

/// The workload called `name`.
pub fn find(name: &str) -> Result<&'static WorkloadDef, String> {
    ALL.iter().find(|w| w.name == name).ok_or_else(|| {
        let known: Vec<&str> = ALL.iter().map(|w| w.name).collect();
        format!("unknown workload '{name}' (known: {})", known.join(", "))
    })
}
