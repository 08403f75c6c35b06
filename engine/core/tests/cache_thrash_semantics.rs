//! `cache_thrash` checked through the counting allocator: every pool thread
//! allocates, writes and frees `objects` objects of `obj_size` bytes, one at
//! a time, and frees nothing another thread allocated.

mod common;

use std::sync::{Arc, Mutex, MutexGuard};

use hab_engine::latency::Latency;
use hab_engine::params::{self, Values};
use hab_engine::spec::Spec;
use hab_engine::workloads::cache_thrash::DEF;
use hab_engine::workloads::{Context, Instruments, Work, Workload};

/// Tests run one at a time: the event log sees every thread of the process.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

fn build(json: &str, threads: u64, tools: Arc<Instruments>) -> Result<Box<dyn Workload>, String> {
    let given: Values = serde_json::from_str(json).unwrap();
    let params = params::resolve(DEF.name, DEF.params, &given, threads)?;
    let ctx = Context { params, threads, dry: false, spin_ns: 0.0, tools };
    (DEF.build)(&ctx)
}

fn plain() -> Arc<Instruments> {
    Arc::new(Instruments::default())
}

// Objects are told from the test harness's own allocations (strings, also
// of alignment 1, made on libtest's threads while a test records) by a size
// no test name or output line reaches and that is no power of two.
const SMALL: &str = r#"{"obj_size":104,"objects":60,"writes":3}"#;
const OBJ: fn(usize, usize) -> bool = |size, align| size == 104 && align == 1;

#[test]
fn every_thread_allocates_writes_and_frees_its_own_objects() {
    let _serial = serial();
    let mut w = build(SMALL, 3, plain()).unwrap();
    w.iterate();
    let me = common::thread_id();
    let (work, log) = common::record(|| w.iterate());
    let log = log.complete();
    let s = log.blocks(OBJ);
    assert_eq!(work, Work { allocations: 180, bytes: 180 * 104 });
    assert_eq!((s.allocs, s.frees, s.reallocs, s.zeroed), (180, 180, 0, 0));
    assert_eq!((s.min_size, s.max_size, s.bytes, s.misaligned), (104, 104, 180 * 104, 0));
    assert_eq!((s.remote_frees, s.frees_of_older, s.still_alive), (0, 0, 0), "no sharing, no leak");
    assert_eq!(s.alloc_threads, 3, "every pool thread allocates");
    let blocks: Vec<_> = log.events.iter().filter(|e| OBJ(e.size, e.align)).collect();
    assert!(blocks.iter().all(|e| e.thread != me), "the caller allocates no object");
    let mut threads: Vec<u32> = blocks.iter().map(|e| e.thread).collect();
    threads.sort();
    threads.dedup();
    for t in threads {
        let mine: Vec<_> = blocks.iter().filter(|e| e.thread == t).collect();
        assert_eq!(mine.len(), 2 * 60);
        for pair in mine.chunks(2) {
            assert_eq!((pair[0].kind, pair[1].kind), (common::Kind::Alloc, common::Kind::Free));
            assert_eq!(pair[0].addr, pair[1].addr, "one object alive at a time");
        }
    }
}

#[test]
fn nothing_is_left_after_the_workload_is_dropped() {
    let _serial = serial();
    let tools = plain();
    let ((), log) = common::record(|| {
        let mut w = build(SMALL, 2, tools.clone()).unwrap();
        w.iterate();
        w.iterate();
    });
    let s = log.complete().blocks(OBJ);
    assert_eq!((s.allocs, s.frees, s.remote_frees, s.still_alive), (240, 240, 0, 0));
    assert_eq!(tools.live.current(), 0);
}

#[test]
fn more_threads_than_cores_work() {
    let _serial = serial();
    let mut w = build(r#"{"obj_size":104,"objects":10,"writes":2}"#, 9, plain()).unwrap();
    let (work, log) = common::record(|| w.iterate());
    let s = log.complete().blocks(OBJ);
    assert_eq!((work.allocations, s.allocs, s.frees, s.alloc_threads), (90, 90, 90, 9));
}

#[test]
fn latency_mode_times_allocations_and_frees() {
    let _serial = serial();
    let tools = Arc::new(Instruments { latency: Some(Latency::new(1)), ..Default::default() });
    let mut w = build(SMALL, 2, tools.clone()).unwrap();
    tools.latency.as_ref().unwrap().start();
    w.iterate();
    drop(w);
    let report = tools.latency.as_ref().unwrap().report();
    let count = |op: &str| report.iter().find(|r| r.op == op).map_or(0, |r| r.count);
    assert_eq!((count("alloc"), count("free")), (120, 120), "every operation timed: {report:?}");
}

#[test]
fn out_of_range_parameters_are_refused() {
    let _serial = serial();
    let resolve = |p: &str| {
        Spec::parse(&format!(r#"{{"protocol":1,"workload":"cache_thrash","threads":2,"params":{p}}}"#))
            .and_then(|s| s.resolve())
    };
    for (p, message) in [
        (r#"{"obj_size":0}"#, "obj_size must be in 1..=65536, got 0"),
        (r#"{"obj_size":100000}"#, "obj_size must be in 1..=65536, got 100000"),
        (r#"{"objects":0}"#, "objects must be in 1..="),
        (r#"{"writes":0}"#, "writes must be in 1..="),
        (r#"{"batch":1}"#, "unknown parameter 'batch'"),
    ] {
        let err = resolve(p).err().unwrap();
        assert!(err.contains(message), "{p}: {err}");
    }
    let dry = Spec::parse(r#"{"protocol":1,"workload":"cache_thrash","dry":true}"#).and_then(|s| s.resolve());
    assert_eq!(dry.err().unwrap(), "workload cache_thrash has no dry variant");
    let r = resolve("{}").unwrap();
    assert_eq!(serde_json::Value::Object(r.params), serde_json::json!({"obj_size":8,"objects":100,"writes":1000}));
}
