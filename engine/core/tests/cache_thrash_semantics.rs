//! `cache_thrash` checked through the counting allocator: every pool thread
//! allocates, writes and frees `objects` objects of `obj_size` bytes, one at
//! a time, and frees nothing another thread allocated.

mod common;

use std::sync::Arc;

use common::{plain, serial};
use hab_engine::workloads::cache_thrash::DEF;
use hab_engine::workloads::{Instruments, Work, Workload};

fn build(json: &str, threads: u64, tools: Arc<Instruments>) -> Result<Box<dyn Workload>, String> {
    common::build_json(&DEF, json, threads, false, tools)
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
    let tools = common::timed(1);
    let w = build(SMALL, 2, tools.clone()).unwrap();
    let (_, report) = common::latency_iteration(&tools, w);
    assert_eq!((report.count("alloc"), report.count("free")), (120, 120), "every operation timed: {report:?}");
}

#[test]
fn out_of_range_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "cache_thrash",
        &[
            (r#"{"obj_size":0}"#, "obj_size must be in 1..=65536, got 0"),
            (r#"{"obj_size":100000}"#, "obj_size must be in 1..=65536, got 100000"),
            (r#"{"objects":0}"#, "objects must be in 1..="),
            (r#"{"writes":0}"#, "writes must be in 1..="),
            (r#"{"batch":1}"#, "unknown parameter 'batch'"),
        ],
    );
    assert_eq!(common::dry_refusal("cache_thrash"), "workload cache_thrash has no dry variant");
    let r = common::resolve("cache_thrash", "{}").unwrap();
    assert_eq!(serde_json::Value::Object(r.params), serde_json::json!({"obj_size":8,"objects":100,"writes":1000}));
}
