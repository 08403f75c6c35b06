//! `threadtest` checked through the counting allocator: batches of
//! `batch` objects per round on every pool thread, freed in allocation order
//! by the thread that allocated them, and a dry variant that calls nothing.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::{plain, serial};
use hab_engine::workloads::threadtest::DEF;
use hab_engine::workloads::{Instruments, Work, Workload};

fn build(json: &str, threads: u64, dry: bool, tools: Arc<Instruments>) -> Result<Box<dyn Workload>, String> {
    common::build_json(&DEF, json, threads, dry, tools)
}

/// Peak of live bytes per allocating thread, of blocks `pick` accepts.
fn peak_per_thread(log: &common::Log, pick: impl Fn(usize, usize) -> bool) -> Vec<u64> {
    let mut owner: HashMap<usize, (u32, usize)> = HashMap::new();
    let mut live: HashMap<u32, (u64, u64)> = HashMap::new();
    for e in &log.events {
        if !pick(e.size, e.align) {
            continue;
        }
        match e.kind {
            common::Kind::Alloc | common::Kind::AllocZeroed => {
                owner.insert(e.addr, (e.thread, e.size));
                let (now, peak) = live.entry(e.thread).or_default();
                *now += e.size as u64;
                *peak = (*peak).max(*now);
            }
            common::Kind::Free => {
                if let Some((thread, size)) = owner.remove(&e.addr) {
                    live.get_mut(&thread).unwrap().0 -= size as u64;
                }
            }
            common::Kind::Realloc => panic!("threadtest never reallocates"),
        }
    }
    let mut peaks: Vec<u64> = live.values().map(|&(_, peak)| peak).collect();
    peaks.sort();
    peaks
}

// Blocks are told from the test harness's own allocations (strings, also of
// alignment 1, made on libtest's threads while a test records) by a size no
// test name or output line reaches and that is no power of two.
const SMALL: &str = r#"{"rounds":4,"batch":300,"obj_size":120}"#;
const OBJ: fn(usize, usize) -> bool = |size, align| size == 120 && align == 1;

#[test]
fn every_thread_allocates_and_frees_its_batches_with_no_sharing() {
    let _serial = serial();
    let mut w = build(SMALL, 3, false, plain()).unwrap();
    w.iterate();
    let (work, log) = common::record(|| w.iterate());
    let s = log.complete().blocks(OBJ);
    assert_eq!(work, Work { allocations: 3 * 4 * 300, bytes: 3 * 4 * 300 * 120 });
    assert_eq!((s.allocs, s.frees, s.reallocs, s.zeroed), (3600, 3600, 0, 0));
    assert_eq!((s.remote_frees, s.frees_of_older, s.still_alive), (0, 0, 0), "no sharing, no leak");
    assert_eq!((s.min_size, s.max_size, s.bytes, s.misaligned), (120, 120, 3600 * 120, 0));
    assert_eq!(s.alloc_threads, 3, "every pool thread allocates");
    assert_eq!(peak_per_thread(&log, OBJ), vec![300 * 120; 3], "a thread holds one batch at most");
    drop(w);
}

#[test]
fn a_batch_is_freed_in_allocation_order() {
    let _serial = serial();
    let mut w = build(r#"{"rounds":2,"batch":50,"obj_size":120}"#, 1, false, plain()).unwrap();
    let (_, log) = common::record(|| w.iterate());
    let blocks: Vec<_> = log.complete().events.iter().filter(|e| OBJ(e.size, e.align)).collect();
    assert_eq!(blocks.len(), 2 * 2 * 50);
    for round in blocks.chunks(100) {
        let (allocs, frees) = round.split_at(50);
        assert!(allocs.iter().all(|e| e.kind == common::Kind::Alloc));
        assert!(frees.iter().all(|e| e.kind == common::Kind::Free));
        let order: Vec<usize> = allocs.iter().map(|e| e.addr).collect();
        assert_eq!(order, frees.iter().map(|e| e.addr).collect::<Vec<_>>());
    }
}

#[test]
fn the_dry_variant_does_the_same_work_without_allocating() {
    let _serial = serial();
    let mut real = build(SMALL, 2, false, plain()).unwrap();
    let real_work = real.iterate();
    let tools = plain();
    let me = common::thread_id();
    let (mut dry, startup) = common::record(|| {
        let mut dry = build(SMALL, 2, true, tools.clone()).unwrap();
        dry.iterate();
        dry
    });
    // The dry pool's threads: those that allocated while it started.
    let pool = startup.complete().allocating_threads(me);
    assert!(pool.len() >= 2, "{pool:?}");
    let (dry_work, log) = common::record(|| dry.iterate());
    assert_eq!(dry_work, real_work);
    let log = log.complete();
    assert_eq!(log.allocations_by(&pool), 0, "the pool threads allocate nothing: {:?}", log.events);
    let mine = log.events_of(me);
    assert!(mine < 16, "a handful of broadcast calls, not one per object: {mine}");
    assert_eq!(log.blocks(OBJ).allocs, 0);
    assert!(tools.live.peak() >= 300 * 120, "the dry run keeps the live books: {}", tools.live.peak());
    drop(dry);
    assert_eq!(tools.live.current(), 0);
}

#[test]
fn nothing_is_left_after_the_workload_is_dropped() {
    let _serial = serial();
    let tools = plain();
    let ((), log) = common::record(|| {
        let mut w = build(SMALL, 2, false, tools.clone()).unwrap();
        w.iterate();
        w.iterate();
    });
    let s = log.complete().blocks(OBJ);
    assert_eq!((s.allocs, s.frees, s.still_alive), (4800, 4800, 0));
    assert_eq!(tools.live.current(), 0);
    assert!(tools.live.peak() >= 300 * 120 && tools.live.peak() <= 2 * 300 * 120, "{}", tools.live.peak());
}

#[test]
fn more_threads_than_cores_work() {
    let _serial = serial();
    let mut w = build(r#"{"rounds":2,"batch":100,"obj_size":120}"#, 9, false, plain()).unwrap();
    let (work, log) = common::record(|| w.iterate());
    let s = log.complete().blocks(OBJ);
    assert_eq!((work.allocations, s.allocs, s.frees, s.alloc_threads), (1800, 1800, 1800, 9));
}

#[test]
fn latency_mode_times_allocations_and_frees() {
    let _serial = serial();
    let tools = common::timed(1);
    let w = build(SMALL, 2, false, tools.clone()).unwrap();
    let (_, report) = common::latency_iteration(&tools, w);
    assert_eq!((report.count("alloc"), report.count("free")), (2400, 2400), "every operation timed: {report:?}");
}

#[test]
fn out_of_range_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "threadtest",
        &[
            (r#"{"rounds":0}"#, "rounds must be in 1..="),
            (r#"{"batch":0}"#, "batch must be in 1..="),
            (r#"{"obj_size":0}"#, "obj_size must be in 1..="),
            (r#"{"obj_size":2000000}"#, "obj_size must be in 1..=1048576, got 2000000"),
            (r#"{"writes":1}"#, "unknown parameter 'writes'"),
        ],
    );
    let r = common::resolve("threadtest", "{}").unwrap();
    assert_eq!(serde_json::Value::Object(r.params), serde_json::json!({"rounds":50,"batch":1000,"obj_size":64}));
}
