//! What the semantics tests share besides the event log: running one at a
//! time, building a workload, resolving a spec, reading latency mode's counts.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use hab_engine::latency::{Latency, OpLatency};
use hab_engine::params::{self, Values};
use hab_engine::spec::{Resolved, Spec};
use hab_engine::workloads::{Context, Instruments, Work, Workload, WorkloadDef};

/// Tests of a binary take this lock to run one at a time: the event log
/// sees every thread of the process, so no test may allocate while another
/// records. (Not the lock `record` takes, which a test takes while holding
/// this one.)
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Waits until no other test of this binary runs.
pub fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// Instruments for a throughput run (no latency recorder).
pub fn plain() -> Arc<Instruments> {
    Arc::new(Instruments::default())
}

/// Instruments for latency mode, timing one operation in `every` once
/// [`start_latency`] is called.
pub fn timed(every: u32) -> Arc<Instruments> {
    Arc::new(Instruments { latency: Some(Latency::new(every)), ..Default::default() })
}

/// Starts the latency recorder of `tools` (made by [`timed`]).
pub fn start_latency(tools: &Instruments) {
    tools.latency.as_ref().unwrap().start();
}

/// One iteration of `w` in latency mode: starts the recorder of `tools`
/// (made by [`timed`]; a recorder already started runs on), runs the
/// iteration, drops `w` and returns the iteration's work and what was timed.
pub fn latency_iteration(tools: &Instruments, mut w: Box<dyn Workload>) -> (Work, Timed) {
    start_latency(tools);
    let work = w.iterate();
    drop(w);
    (work, latency(tools))
}

/// What latency mode has timed so far.
pub fn latency(tools: &Instruments) -> Timed {
    Timed(tools.latency.as_ref().unwrap().report())
}

/// Latency mode's report.
pub struct Timed(pub Vec<OpLatency>);

impl Timed {
    /// How many operations `op` ("alloc", "free", "realloc") were timed.
    pub fn count(&self, op: &str) -> u64 {
        self.0.iter().find(|r| r.op == op).map_or(0, |r| r.count)
    }
}

impl fmt::Debug for Timed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Parameters as given, from JSON text.
pub fn params(json: &str) -> Values {
    serde_json::from_str(json).unwrap()
}

/// Parameters as given, from a JSON value.
pub fn params_of(json: serde_json::Value) -> Values {
    serde_json::from_value(json).unwrap()
}

/// `def` built on `threads` threads from `params` as they are (neither
/// checked nor completed with defaults).
pub fn build(
    def: &WorkloadDef,
    params: Values,
    threads: u64,
    dry: bool,
    tools: Arc<Instruments>,
) -> Result<Box<dyn Workload>, String> {
    let ctx = Context { params, threads, dry, spin_ns: 0.0, spin_turns: 0, tools };
    (def.build)(&ctx)
}

/// `def` built on `threads` threads from JSON parameters, checked and
/// completed with defaults first as a spec's are.
pub fn build_json(
    def: &WorkloadDef,
    json: &str,
    threads: u64,
    dry: bool,
    tools: Arc<Instruments>,
) -> Result<Box<dyn Workload>, String> {
    let given = params(json);
    let params = params::resolve(def.name, def.params, &given, threads)?;
    build(def, params, threads, dry, tools)
}

/// A spec for `workload` on two threads with `params` (JSON), resolved.
pub fn resolve(workload: &str, params: &str) -> Result<Resolved, String> {
    Spec::parse(&format!(r#"{{"protocol":1,"workload":"{workload}","threads":2,"params":{params}}}"#))
        .and_then(|s| s.resolve())
}

/// Why that spec is refused (panics if it is not).
pub fn refusal(workload: &str, params: &str) -> String {
    resolve(workload, params).expect_err(params)
}

/// Asserts that each `(params, message)` is refused with an error that
/// starts with `message`.
pub fn assert_refused(workload: &str, cases: &[(&str, &str)]) {
    for (params, message) in cases {
        let err = refusal(workload, params);
        assert!(err.starts_with(message), "{params}: {err}");
    }
}

/// Why a spec for `workload`'s dry variant on two threads is refused
/// (panics if it is not).
pub fn dry_refusal(workload: &str) -> String {
    let spec = format!(r#"{{"protocol":1,"workload":"{workload}","threads":2,"dry":true}}"#);
    Spec::parse(&spec).unwrap().resolve().expect_err("no dry variant")
}
