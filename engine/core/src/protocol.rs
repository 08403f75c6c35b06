//! The output protocol: one JSON record per line, behind a fixed marker.
//!
//! Lines look like `@@hab {"type":"sample",...}`. The marker lets a reader pick
//! the records out of a serial console that interleaves kernel messages;
//! anything else on the stream is ignored. `docs/protocol.md` is the
//! reference; this module is its implementation.

use std::io::Write;

use serde::{Deserialize, Serialize};

use crate::latency::{OpLatency, TimerCost};
use crate::library::Library;
use crate::params::{ParamDef, Values};
use crate::sampling::PlanMode;
use crate::wire::{Fixed, Sampling};

// The version belongs to specs and records alike; it lives in `wire`.
pub use crate::wire::PROTOCOL_VERSION;

/// Every record line starts with this.
pub const MARKER: &str = "@@hab ";

/// A workload as `describe` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadInfo {
    pub name: String,
    pub about: String,
    pub has_dry: bool,
    pub params: Vec<serde_json::Value>,
}

impl WorkloadInfo {
    pub fn new(name: &str, about: &str, has_dry: bool, params: &[ParamDef]) -> Self {
        let params = params.iter().map(|p| serde_json::to_value(p).expect("params serialize")).collect();
        WorkloadInfo { name: name.into(), about: about.into(), has_dry, params }
    }
}

/// Process resource usage at the end of a run; `None` where the OS has no such figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub max_rss_kib: Option<u64>,
    pub minor_faults: Option<u64>,
    pub major_faults: Option<u64>,
    pub user_us: Option<u64>,
    pub system_us: Option<u64>,
}

/// One line of engine output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Record {
    /// Answer to `--describe`: what this binary can run.
    Describe { protocol: u32, engine_version: String, allocator: String, workloads: Vec<WorkloadInfo> },
    /// Answer to `--library`: the allocator library's own account of
    /// itself, or none (a Rust allocator, or one with no introspection).
    Library { allocator: String, library: Option<Library> },
    /// Answer to `--check`: the spec is valid; every default filled in.
    Valid {
        workload: String,
        threads: u64,
        dry: bool,
        spin_ns: f64,
        latency_every: Option<u32>,
        params: Values,
        sampling: Sampling,
    },
    /// First record of a run: exactly what is being run.
    Hello {
        protocol: u32,
        engine_version: String,
        allocator: String,
        workload: String,
        dry: bool,
        spin_ns: f64,
        /// Exact busy loop turns before each allocation (validation knob).
        #[serde(default)]
        spin_turns: u64,
        latency_every: Option<u32>,
        threads: u64,
        params: Values,
        sampling: Sampling,
        os: String,
        arch: String,
        /// Verify mode: checks instead of timing (no warm-up, plan or samples).
        #[serde(default)]
        verify: bool,
        /// The shared object `malloc` resolves to, where the OS can tell:
        /// shows whether an `LD_PRELOAD` allocator took effect.
        #[serde(default)]
        malloc_from: Option<String>,
        /// Fixed iteration counts, when the spec asked for them.
        #[serde(default)]
        fixed: Option<Fixed>,
        /// CPUs this process may run on (`available_parallelism`), where
        /// the OS can tell: in a guest, the vCPUs that came online.
        #[serde(default)]
        cpus: Option<u64>,
    },
    /// Work done by one iteration (identical for every iteration).
    Work { allocations: u64, bytes: u64 },
    /// The warm-up: total iterations and their total time.
    Warmup { iters: u64, ns: u64 },
    /// The sampling plan chosen after the warm-up.
    Plan { mode: PlanMode, iters: Vec<u64>, met_ns: f64, expected_ns: f64 },
    /// One sample: `iters` iterations took `ns` nanoseconds in total.
    Sample { i: u64, iters: u64, ns: u64 },
    /// Memory the workload asked for: the peak of requested bytes alive over
    /// the whole process (its own bookkeeping), and the RSS before the
    /// workload was set up.
    Live { peak_bytes: u64, start_rss_kib: Option<u64> },
    /// Latency mode: the timer's own cost and per-operation latencies over
    /// the measurement (warm-up excluded), in ns, nothing subtracted.
    Latency { every: u32, timer: TimerCost, ops: Vec<OpLatency> },
    /// Resource usage of the whole process, after the last sample.
    Rusage(Usage),
    /// Verify mode passed: iterations run and what was checked.
    Verified { iters: u64, allocations: u64, checked_bytes: u64 },
    /// Last record of a successful run.
    Done { wall_ns: u64 },
    /// The run failed; the process exits non-zero after this record.
    Error { kind: ErrorKind, message: String },
}

/// Why a run failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad arguments or spec (exit status 2).
    Spec,
    /// The workload could not be set up or run (exit status 1).
    Runtime,
    /// A panic (exit status 101).
    Panic,
    /// Verify mode found the allocator misbehaving (exit status 3).
    Corrupt,
    /// Verify mode found the allocator keeping freed memory (exit status 4).
    Leak,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Spec => 2,
            ErrorKind::Runtime => 1,
            ErrorKind::Panic => 101,
            ErrorKind::Corrupt => 3,
            ErrorKind::Leak => 4,
        }
    }
}

impl Record {
    /// The record as one marked line, without the newline.
    pub fn to_line(&self) -> String {
        format!("{MARKER}{}", serde_json::to_string(self).expect("records serialize"))
    }

    /// Reads a record from a line; `None` when the line carries no marker.
    pub fn from_line(line: &str) -> Option<Result<Record, String>> {
        let at = line.find(MARKER)?;
        let json = line[at + MARKER.len()..].trim_end();
        Some(serde_json::from_str(json).map_err(|e| format!("bad record: {e}")))
    }

    /// Writes the record as one line and flushes, so that nothing is lost
    /// if the process dies right after.
    pub fn emit(&self, out: &mut impl Write) {
        let mut line = self.to_line();
        line.push('\n');
        // A closed stdout leaves nobody to tell; the exit status still does.
        let _ = out.write_all(line.as_bytes()).and_then(|_| out.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::Mode;

    fn round_trip(record: Record) {
        let line = record.to_line();
        assert!(line.starts_with(MARKER));
        assert!(!line.contains('\n'));
        let noisy = format!("[0.123][INFO] kernel says hi {line}\r");
        assert_eq!(Record::from_line(&noisy).unwrap().unwrap(), record);
    }

    #[test]
    fn every_record_survives_a_round_trip_through_a_noisy_line() {
        let sampling = Sampling { mode: Mode::Flat, sample_size: 10, warm_up_time: 0.5, measurement_time: 2.0 };
        let params: Values = serde_json::from_str(r#"{"max_size":65536,"keep_prob":0.01,"init":"zero"}"#).unwrap();
        let records = [
            Record::Hello {
                protocol: PROTOCOL_VERSION,
                engine_version: "0.1.0".into(),
                allocator: "system".into(),
                workload: "rayon_boxes".into(),
                dry: false,
                spin_ns: 0.0,
                spin_turns: 7,
                latency_every: None,
                threads: 2,
                params: params.clone(),
                sampling,
                os: "linux".into(),
                arch: "x86_64".into(),
                verify: false,
                malloc_from: None,
                fixed: Some(Fixed { warm_up: 3, per_sample: 100 }),
                cpus: Some(2),
            },
            Record::Valid {
                workload: "w".into(),
                threads: 1,
                dry: false,
                spin_ns: 12.5,
                latency_every: Some(8),
                params,
                sampling,
            },
            Record::Live { peak_bytes: 1 << 33, start_rss_kib: None },
            Record::Latency {
                every: 8,
                timer: TimerCost { min_ns: 17, p50_ns: 20, p99_ns: 41 },
                ops: vec![OpLatency {
                    op: "alloc".into(),
                    count: 9,
                    min: 20,
                    mean: 33.5,
                    p50: 30,
                    p90: 40,
                    p99: 50,
                    p999: 60,
                    max: 70,
                    histogram: "HISTFAAAAB".into(),
                }],
            },
            Record::Work { allocations: 40_000, bytes: 1 << 40 },
            Record::Warmup { iters: 7, ns: 3_000_000_001 },
            Record::Plan { mode: PlanMode::Linear, iters: vec![3, 6, 9], met_ns: 1234.5, expected_ns: 22221.0 },
            Record::Sample { i: 0, iters: 3, ns: u64::MAX },
            Record::Rusage(Usage {
                max_rss_kib: Some(1024),
                minor_faults: Some(3),
                major_faults: None,
                user_us: Some(1),
                system_us: Some(0),
            }),
            Record::Done { wall_ns: 5 },
            Record::Error { kind: ErrorKind::Spec, message: "threads must be \"positive\"".into() },
        ];
        for record in records {
            round_trip(record);
        }
    }

    #[test]
    fn lines_without_the_marker_are_not_records() {
        assert!(Record::from_line("exit status 0").is_none());
        assert!(Record::from_line(&format!("{MARKER}{{not json")).unwrap().is_err());
    }

    #[test]
    fn record_tags_are_stable() {
        let line = Record::Sample { i: 1, iters: 2, ns: 3 }.to_line();
        assert_eq!(line, r#"@@hab {"type":"sample","i":1,"iters":2,"ns":3}"#);
    }
}
