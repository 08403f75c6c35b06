//! Limits and sizes several modules share. A leaf: it uses no other module
//! of the crate, so anything may depend on it.

/// Largest thread count a spec may ask for.
pub const MAX_THREADS: u64 = 4096;

/// Page size assumed where workloads touch one byte per page.
pub const PAGE: usize = 4096;
