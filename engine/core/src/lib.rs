//! The hab workload engine.
//!
//! Every allocator binary declares its `#[global_allocator]` (the allocator
//! under test in a [`Routed`]) and calls [`main`]. The engine runs one workload under criterion-style sampling and
//! streams raw samples as protocol records; all analysis happens in the
//! Python harness. The same code runs natively and inside a Hermit guest.

pub mod entry;
#[cfg(target_os = "linux")]
pub mod guest;
pub mod heap;
pub mod latency;
pub mod library;
pub mod limits;
pub mod params;
pub mod protocol;
pub mod route;
pub mod rusage;
pub mod sampling;
pub mod spec;
pub mod verify;
pub mod wire;
pub mod workloads;

pub use entry::main;
pub use route::Routed;
