//! What specs and records share on the wire: the protocol version and the
//! [`Sampling`] and [`Fixed`] settings a spec asks for and the `valid` and `hello` records
//! state. Both `spec` and `protocol` build on this module; it depends on
//! nothing but `sampling`, so neither of them depends on the other.

use serde::{Deserialize, Serialize};

use crate::sampling::Mode;

/// Version of the spec and record formats. Bump on incompatible changes.
pub const PROTOCOL_VERSION: u32 = 1;

/// Iteration counts that do not depend on the clock: `warm_up` iterations,
/// then `sample_size` samples of `per_sample` iterations each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Fixed {
    pub warm_up: u64,
    pub per_sample: u64,
}

/// Largest `fixed.warm_up` and `fixed.per_sample`.
pub const MAX_FIXED_ITERS: u64 = 1 << 32;

/// How to sample, in criterion's terms. Times are in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sampling {
    pub mode: Mode,
    pub sample_size: u64,
    pub warm_up_time: f64,
    pub measurement_time: f64,
}

impl Default for Sampling {
    /// criterion.rs's defaults.
    fn default() -> Self {
        Sampling { mode: Mode::Auto, sample_size: 100, warm_up_time: 3.0, measurement_time: 5.0 }
    }
}

impl Sampling {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(2..=100_000).contains(&self.sample_size) {
            return Err(format!("sample_size must be in 2..=100000, got {}", self.sample_size));
        }
        if !(self.warm_up_time.is_finite() && self.warm_up_time >= 0.0) {
            return Err(format!("warm_up_time must be >= 0 seconds, got {}", self.warm_up_time));
        }
        if !(self.measurement_time.is_finite() && self.measurement_time > 0.0) {
            return Err(format!("measurement_time must be > 0 seconds, got {}", self.measurement_time));
        }
        Ok(())
    }

    pub fn warm_up_ns(&self) -> u64 {
        (self.warm_up_time * 1e9) as u64
    }

    pub fn measurement_ns(&self) -> u64 {
        (self.measurement_time * 1e9) as u64
    }
}
