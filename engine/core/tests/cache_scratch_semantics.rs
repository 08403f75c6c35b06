//! `cache_scratch` checked through the counting allocator: the calling thread
//! allocates one object per pool thread, each pool thread frees its object
//! (remotely) and then allocates, writes and frees `objects` objects.

mod common;

use std::sync::Arc;

use common::{plain, serial};
use hab_engine::workloads::cache_scratch::DEF;
use hab_engine::workloads::{Instruments, Work, Workload};

fn build(json: &str, threads: u64, tools: Arc<Instruments>) -> Result<Box<dyn Workload>, String> {
    common::build_json(&DEF, json, threads, false, tools)
}

// Objects are told from the test harness's own allocations (strings, also
// of alignment 1, made on libtest's threads while a test records) by a size
// no test name or output line reaches and that is no power of two.
const SMALL: &str = r#"{"obj_size":104,"objects":40,"writes":3}"#;
const OBJ: fn(usize, usize) -> bool = |size, align| size == 104 && align == 1;

#[test]
fn the_caller_hands_one_object_to_each_thread_which_frees_it_remotely() {
    let _serial = serial();
    let mut w = build(SMALL, 3, plain()).unwrap();
    w.iterate();
    let me = common::thread_id();
    let (work, log) = common::record(|| w.iterate());
    let log = log.complete();
    let s = log.blocks(OBJ);
    let per_iteration = 3 + 3 * 40;
    assert_eq!(work, Work { allocations: per_iteration, bytes: per_iteration * 104 });
    assert_eq!((s.allocs, s.frees, s.reallocs, s.zeroed), (per_iteration, per_iteration, 0, 0));
    assert_eq!((s.min_size, s.max_size, s.bytes, s.misaligned), (104, 104, per_iteration * 104, 0));
    assert_eq!(s.remote_frees, 3, "exactly the handed-over objects are freed remotely");
    assert_eq!((s.frees_of_older, s.still_alive), (0, 0), "nothing leaks");
    assert_eq!(s.alloc_threads, 4, "the caller and the three pool threads allocate");

    // The caller allocates the three objects first, back to back.
    let blocks: Vec<_> = log.events.iter().filter(|e| OBJ(e.size, e.align)).collect();
    assert!(blocks[..3].iter().all(|e| e.kind == common::Kind::Alloc && e.thread == me));
    let by_caller = blocks.iter().filter(|e| e.thread == me).count();
    assert_eq!(by_caller, 3, "the caller only allocates the handed-over objects");
    // Each pool thread's first call is the free of its handed-over object,
    // then it alternates allocation and free of its own objects.
    let mut pool_threads: Vec<u32> = blocks.iter().map(|e| e.thread).filter(|&t| t != me).collect();
    pool_threads.sort();
    pool_threads.dedup();
    assert_eq!(pool_threads.len(), 3);
    let handed: Vec<usize> = blocks[..3].iter().map(|e| e.addr).collect();
    for t in pool_threads {
        let mine: Vec<_> = blocks.iter().filter(|e| e.thread == t).collect();
        assert_eq!(mine.len(), 1 + 2 * 40);
        assert_eq!(mine[0].kind, common::Kind::Free);
        assert!(handed.contains(&mine[0].addr));
        for pair in mine[1..].chunks(2) {
            assert_eq!((pair[0].kind, pair[1].kind), (common::Kind::Alloc, common::Kind::Free));
            assert_eq!(pair[0].addr, pair[1].addr);
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
    assert_eq!((s.allocs, s.frees, s.remote_frees, s.still_alive), (2 * 82, 2 * 82, 4, 0));
    assert_eq!(tools.live.current(), 0);
    assert_eq!(tools.live.peak(), 2 * 104, "at most one object per thread is alive");
}

#[test]
fn more_threads_than_cores_work() {
    let _serial = serial();
    let mut w = build(r#"{"obj_size":104,"objects":10,"writes":2}"#, 9, plain()).unwrap();
    let (work, log) = common::record(|| w.iterate());
    let s = log.complete().blocks(OBJ);
    assert_eq!((work.allocations, s.allocs, s.frees, s.remote_frees), (99, 99, 99, 9));
}

#[test]
fn latency_mode_times_allocations_and_frees() {
    let _serial = serial();
    let tools = common::timed(1);
    let w = build(SMALL, 2, tools.clone()).unwrap();
    let (_, report) = common::latency_iteration(&tools, w);
    assert_eq!((report.count("alloc"), report.count("free")), (82, 82), "every operation timed: {report:?}");
}

#[test]
fn out_of_range_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "cache_scratch",
        &[
            (r#"{"obj_size":0}"#, "obj_size must be in 1..=65536, got 0"),
            (r#"{"obj_size":100000}"#, "obj_size must be in 1..=65536, got 100000"),
            (r#"{"objects":0}"#, "objects must be in 1..="),
            (r#"{"writes":0}"#, "writes must be in 1..="),
            (r#"{"rounds":1}"#, "unknown parameter 'rounds'"),
        ],
    );
    assert_eq!(common::dry_refusal("cache_scratch"), "workload cache_scratch has no dry variant");
    let r = common::resolve("cache_scratch", "{}").unwrap();
    assert_eq!(serde_json::Value::Object(r.params), serde_json::json!({"obj_size":8,"objects":100,"writes":1000}));
}
