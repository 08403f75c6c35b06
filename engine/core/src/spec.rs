//! The benchmark spec a harness sends: parsing and validation.
//!
//! A spec is one JSON object (see `docs/protocol.md`). [`Spec::resolve`]
//! checks everything before any work starts and fills every default, so the
//! engine either runs exactly what the `hello` record states or refuses.

use serde::Deserialize;

pub use crate::limits::MAX_THREADS;
use crate::params::{self, Values};
use crate::wire::PROTOCOL_VERSION;
pub use crate::wire::{Fixed, Sampling, MAX_FIXED_ITERS};
use crate::workloads::{self, WorkloadDef};

/// A spec as it arrives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub protocol: u32,
    pub workload: String,
    #[serde(default)]
    pub params: Values,
    /// Worker threads; defaults to the available parallelism.
    pub threads: Option<u64>,
    /// Run the workload's dry variant (all work but the allocator calls).
    #[serde(default)]
    pub dry: bool,
    /// Calibrated busy work before each allocation, in ns: a slowdown of
    /// known size for validating statistics (0: none).
    #[serde(default)]
    pub spin_ns: f64,
    /// Exactly this many busy loop turns before each allocation (0: none):
    /// a change of fixed instruction count, for counting metrics.
    #[serde(default)]
    pub spin_turns: u64,
    /// Latency mode: time one allocator operation in this many (absent:
    /// a throughput run with no probes).
    #[serde(default)]
    pub latency_every: Option<u32>,
    /// Verify mode: check the allocator's blocks for `warm_up_time`
    /// seconds of iterations (at least one) instead of timing it.
    #[serde(default)]
    pub verify: bool,
    #[serde(default)]
    pub sampling: Sampling,
    /// Fixed iteration counts instead of time-based ones (for counting
    /// metrics, where a run must do the same work every time).
    #[serde(default)]
    pub fixed: Option<Fixed>,
}

/// A validated spec with every default filled in.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub workload: &'static WorkloadDef,
    pub params: Values,
    pub threads: u64,
    pub dry: bool,
    pub spin_ns: f64,
    pub spin_turns: u64,
    pub latency_every: Option<u32>,
    pub verify: bool,
    pub sampling: Sampling,
    pub fixed: Option<Fixed>,
}

/// Largest `spin_turns`.
pub const MAX_SPIN_TURNS: u64 = 1_000_000_000;

/// Largest `latency_every`.
pub const MAX_LATENCY_EVERY: u32 = 1_000_000;

impl Spec {
    /// Parses a spec from JSON text.
    pub fn parse(text: &str) -> Result<Spec, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid spec JSON: {e}"))
    }

    /// Validates the spec and fills its defaults.
    pub fn resolve(&self) -> Result<Resolved, String> {
        if self.protocol != PROTOCOL_VERSION {
            return Err(format!(
                "spec is for protocol {}, this engine speaks protocol {PROTOCOL_VERSION}",
                self.protocol
            ));
        }
        let workload = workloads::find(&self.workload)?;
        let threads = match self.threads {
            Some(t) => t,
            None => std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        };
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(format!("threads must be in 1..={MAX_THREADS}, got {threads}"));
        }
        if self.dry && !workload.has_dry {
            return Err(format!("workload {} has no dry variant", workload.name));
        }
        self.sampling.validate()?;
        if !(self.spin_ns.is_finite() && (0.0..=1e9).contains(&self.spin_ns)) {
            return Err(format!("spin_ns must be in [0, 1e9], got {}", self.spin_ns));
        }
        if self.spin_turns > MAX_SPIN_TURNS {
            return Err(format!("spin_turns must be in 0..={MAX_SPIN_TURNS}, got {}", self.spin_turns));
        }
        if self.spin_turns > 0 && self.spin_ns > 0.0 {
            return Err("give spin_ns or spin_turns, not both".into());
        }
        if (self.spin_ns > 0.0 || self.spin_turns > 0) && !workload.has_spin {
            return Err(format!("workload {} has no spin knob (spin_ns, spin_turns)", workload.name));
        }
        if let Some(every) = self.latency_every {
            if !(1..=MAX_LATENCY_EVERY).contains(&every) {
                return Err(format!("latency_every must be in 1..={MAX_LATENCY_EVERY}, got {every}"));
            }
            if self.dry {
                return Err("latency mode times allocator calls; the dry variant makes none".into());
            }
        }
        if self.verify && (self.dry || self.latency_every.is_some()) {
            return Err("verify mode checks allocator calls untimed: not with dry or latency_every".into());
        }
        if let Some(fixed) = self.fixed {
            if fixed.warm_up > MAX_FIXED_ITERS || !(1..=MAX_FIXED_ITERS).contains(&fixed.per_sample) {
                return Err(format!(
                    "fixed.warm_up must be in 0..={MAX_FIXED_ITERS} and fixed.per_sample in 1..={MAX_FIXED_ITERS}"
                ));
            }
            if self.verify {
                return Err("verify mode runs for warm_up_time: not with fixed iteration counts".into());
            }
        }
        let params = params::resolve(workload.name, workload.params, &self.params, threads)?;
        params::check_order(&params, workload.ordered)?;
        Ok(Resolved {
            workload,
            params,
            threads,
            dry: self.dry,
            spin_ns: self.spin_ns,
            spin_turns: self.spin_turns,
            latency_every: self.latency_every,
            verify: self.verify,
            sampling: self.sampling,
            fixed: self.fixed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Resolved, String> {
        Spec::parse(text)?.resolve()
    }

    #[test]
    fn minimal_spec_gets_defaults() {
        let r = resolve(r#"{"protocol":1,"workload":"rayon_boxes","threads":3}"#).unwrap();
        assert_eq!(r.threads, 3);
        assert_eq!(r.params["tasks"], 6);
        assert_eq!(r.sampling, Sampling::default());
        assert!(!r.dry);
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let cases = [
            (r#"{"protocol":2,"workload":"rayon_boxes"}"#, "spec is for protocol 2"),
            (r#"{"protocol":1,"workload":"nosuch"}"#, "unknown workload 'nosuch'"),
            (r#"{"protocol":1,"workload":"rayon_boxes","threads":0}"#, "threads must be in 1..="),
            (r#"{"protocol":1,"workload":"rayon_boxes","extra":1}"#, "invalid spec JSON: unknown field `extra`"),
            (r#"{"protocol":1,"workload":"rayon_boxes","sampling":{"sample_size":1}}"#, "sample_size must be"),
            (r#"{"protocol":1,"workload":"rayon_boxes","params":{"max_size":0}}"#, "max_size must be in"),
            (r#"{"protocol":1,"workload":"rayon_boxes","params":{"keep_prob":1.5}}"#, "keep_prob must be in [0, 1]"),
            (r#"{"protocol":1,"workload":"rayon_boxes","spin_ns":-1}"#, "spin_ns must be in [0, 1e9]"),
            (r#"{"protocol":1,"workload":"rayon_boxes","spin_ns":1,"spin_turns":1}"#, "give spin_ns or spin_turns"),
            (r#"{"protocol":1,"workload":"fastpath","spin_turns":5}"#, "workload fastpath has no spin knob"),
            (r#"{"protocol":1,"workload":"rayon_boxes","latency_every":0}"#, "latency_every must be in 1..="),
            (r#"{"protocol":1,"workload":"rayon_boxes","latency_every":1,"dry":true}"#, "latency mode times"),
            (
                r#"{"protocol":1,"workload":"fastpath","params":{"min_size":64,"max_size":32}}"#,
                "min_size (64) must not exceed max_size (32)",
            ),
            (r#"{"protocol":1,"workload":"fastpath","fixed":{"warm_up":1,"per_sample":0}}"#, "fixed.warm_up must be"),
            (r#"{"protocol":1,"workload":"fastpath","fixed":{"warm_up":1}}"#, "invalid spec JSON: missing field"),
            (r#"{"protocol":1,"#, "invalid spec JSON"),
        ];
        for (text, start) in cases {
            let err = resolve(text).unwrap_err();
            assert!(err.starts_with(start), "{text}: {err}");
        }
    }
}
