//! `fastpath` checked through the counting allocator: every pool thread
//! replaces `ops` slots of its own working set per iteration (one free and
//! one allocation each), sizes within bounds and fixed by the seed, the live
//! set stays put, nothing is freed remotely, and the dry variant calls nothing.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{plain, serial};
use hab_engine::workloads::fastpath::{DEF, FILL_BASE, SEED_BASE};
use hab_engine::workloads::{Instruments, Work, Workload};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

fn build(json: &str, threads: u64, dry: bool, tools: Arc<Instruments>) -> Result<Box<dyn Workload>, String> {
    common::build_json(&DEF, json, threads, dry, tools)
}

// Blocks are told from the test harness's own allocations (strings, also of
// alignment 1, made on libtest's threads while a test records) by sizes no
// test name or output line reaches, between two powers of two.
const RANDOM: &str = r#"{"working_set":16,"ops":600,"min_size":300,"max_size":500}"#;
const BLOCK: fn(usize, usize) -> bool = |size, align| (300..=500).contains(&size) && align == 1;

/// Sizes allocated per thread, in order, sorted by their first sizes.
fn sizes_per_thread(log: &common::Log) -> Vec<Vec<usize>> {
    let mut per: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for e in &log.events {
        if BLOCK(e.size, e.align) && e.kind == common::Kind::Alloc {
            per.entry(e.thread).or_default().push(e.size);
        }
    }
    let mut out: Vec<Vec<usize>> = per.into_values().collect();
    out.sort();
    out
}

#[test]
fn every_operation_frees_one_block_and_allocates_one() {
    let _serial = serial();
    let mut w = build(RANDOM, 2, false, plain()).unwrap();
    w.iterate();
    let (work, log) = common::record(|| w.iterate());
    let s = log.complete().blocks(BLOCK);
    assert_eq!(work.allocations, 2 * 600);
    assert_eq!((s.allocs, s.frees, s.reallocs, s.zeroed), (1200, 1200, 0, 0));
    assert!(s.min_size >= 300 && s.max_size <= 500, "{s:?}");
    assert!(s.min_size < 320 && s.max_size > 480, "sizes spread over the range: {s:?}");
    assert_eq!((s.bytes, s.misaligned, s.remote_frees), (work.bytes, 0, 0));
    assert_eq!(s.alloc_threads, 2, "every pool thread allocates");
    // The live set stays at 32 blocks: each block from before the iteration
    // that was freed has been replaced by one still alive after it.
    assert_eq!(s.still_alive, s.frees_of_older);
    assert!(s.frees_of_older > 0 && s.frees_of_older <= 32, "{s:?}");
}

#[test]
fn the_live_set_stays_and_drop_frees_it_locally() {
    let _serial = serial();
    let tools = plain();
    let (mut w, log) = common::record(|| {
        let mut w = build(RANDOM, 2, false, tools.clone()).unwrap();
        w.iterate();
        w
    });
    let s = log.complete().blocks(BLOCK);
    assert_eq!((s.allocs, s.frees, s.still_alive, s.remote_frees), (32 + 1200, 1200, 32, 0));
    let ((), log) = common::record(|| {
        w.iterate();
        drop(w);
    });
    let s = log.complete().blocks(BLOCK);
    assert_eq!((s.allocs, s.frees, s.frees_of_older, s.still_alive, s.remote_frees), (1200, 1232, 32, 0, 0));
    assert_eq!(tools.live.current(), 0);
    let most = 32 * 500 + 2 * 64 * 1024;
    assert!(tools.live.peak() >= 32 * 300 && tools.live.peak() <= most, "{}", tools.live.peak());
}

/// The workload's blocks per thread, in order.
fn events_per_thread(log: &common::Log) -> BTreeMap<u32, Vec<common::Event>> {
    let mut per: BTreeMap<u32, Vec<common::Event>> = BTreeMap::new();
    for e in log.events.iter().filter(|e| BLOCK(e.size, e.align)) {
        per.entry(e.thread).or_default().push(*e);
    }
    per
}

#[test]
fn slots_and_sizes_follow_the_thread_seeds_in_every_iteration() {
    let _serial = serial();
    let (threads, ws, ops) = (3u64, 16usize, 400usize);
    let json = format!(r#"{{"working_set":{ws},"ops":{ops},"min_size":300,"max_size":500}}"#);
    let (mut w, fill) = common::record(|| build(&json, threads, false, plain()).unwrap());
    let (first_work, first) = common::record(|| w.iterate());
    let (again_work, again) = common::record(|| w.iterate());
    assert_eq!(sizes_per_thread(first.complete()), sizes_per_thread(again.complete()), "the same sizes every time");
    assert_eq!(first_work, again_work);
    let mut other = build(&json, threads, false, plain()).unwrap();
    assert_eq!(other.iterate(), first_work, "and in another workload built alike");

    // One 64-bit draw x per block: the slot is its high 32 bits scaled into
    // 0..ws, the size its low 32 bits scaled into 300..=500.
    let size = |x: u64| 300 + (((x & 0xffff_ffff) * 201) >> 32) as usize;
    let slot = |x: u64| (((x >> 32) * ws as u64) >> 32) as usize;
    let fill_sizes: Vec<Vec<usize>> = (0..threads)
        .map(|t| {
            let mut rng = SmallRng::seed_from_u64(FILL_BASE ^ t);
            (0..ws).map(|_| size(rng.next_u64())).collect()
        })
        .collect();
    let filled = events_per_thread(fill.complete());
    let iterated = events_per_thread(first.complete());
    assert_eq!((filled.len(), iterated.len()), (3, 3));
    let mut bytes = 0;
    let mut seen = Vec::new();
    for (thread, fill_events) in &filled {
        // Which pool thread this is: the one whose seed gave these sizes.
        let sizes: Vec<usize> = fill_events.iter().map(|e| e.size).collect();
        let t = fill_sizes.iter().position(|f| *f == sizes).expect("a fill from one of the seeds");
        seen.push(t);
        let mut slots: Vec<usize> = fill_events.iter().map(|e| e.addr).collect();
        let events = &iterated[thread];
        assert_eq!(events.len(), 2 * ops);
        let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ t as u64);
        for (k, op) in events.chunks(2).enumerate() {
            let x = rng.next_u64();
            let i = slot(x);
            assert_eq!((op[0].kind, op[0].addr), (common::Kind::Free, slots[i]), "thread {t} op {k} frees slot {i}");
            assert_eq!((op[1].kind, op[1].size), (common::Kind::Alloc, size(x)), "thread {t} op {k}");
            slots[i] = op[1].addr;
            bytes += size(x) as u64;
        }
    }
    seen.sort();
    assert_eq!(seen, [0, 1, 2]);
    assert_eq!(first_work, Work { allocations: threads * ops as u64, bytes });
}

#[test]
fn fixed_sizes_and_the_seq_pattern() {
    let _serial = serial();
    let json = r#"{"working_set":16,"ops":40,"min_size":360,"max_size":360,"pattern":"seq"}"#;
    let mut w = build(json, 2, false, plain()).unwrap();
    w.iterate();
    let (work, log) = common::record(|| w.iterate());
    let log = log.complete();
    let s = log.blocks(|size, align| size == 360 && align == 1);
    assert_eq!(work, Work { allocations: 80, bytes: 80 * 360 });
    assert_eq!((s.allocs, s.frees, s.min_size, s.max_size, s.remote_frees), (80, 80, 360, 360, 0));
    // 40 operations over 16 slots: the first lap frees the 16 blocks from
    // before, the rest free blocks of this iteration, 16 operations old.
    assert_eq!((s.frees_of_older, s.still_alive), (32, 32));
    let mut per: BTreeMap<u32, Vec<&common::Event>> = BTreeMap::new();
    for e in log.events.iter().filter(|e| e.size == 360 && e.align == 1) {
        per.entry(e.thread).or_default().push(e);
    }
    for events in per.values() {
        let allocs: Vec<usize> = events.iter().filter(|e| e.kind == common::Kind::Alloc).map(|e| e.addr).collect();
        let frees: Vec<usize> = events.iter().filter(|e| e.kind == common::Kind::Free).map(|e| e.addr).collect();
        assert_eq!((allocs.len(), frees.len()), (40, 40));
        assert_eq!(frees[16..], allocs[..24], "operation k frees the block of operation k-16");
    }
}

#[test]
fn the_dry_variant_does_the_same_work_without_allocating() {
    let _serial = serial();
    for pattern in ["random", "seq"] {
        let json = format!(r#"{{"working_set":16,"ops":600,"min_size":300,"max_size":500,"pattern":"{pattern}"}}"#);
        let real_tools = plain();
        let mut real = build(&json, 2, false, real_tools.clone()).unwrap();
        let real_work = real.iterate();
        let tools = plain();
        let me = common::thread_id();
        let (mut dry, startup) = common::record(|| {
            let mut dry = build(&json, 2, true, tools.clone()).unwrap();
            dry.iterate();
            dry
        });
        // The dry pool's threads: those that allocated while it started.
        let pool = startup.complete().allocating_threads(me);
        assert!(pool.len() >= 2, "{pool:?}");
        let (dry_work, log) = common::record(|| dry.iterate());
        assert_eq!(dry_work, real_work, "{pattern}");
        let log = log.complete();
        assert_eq!(log.allocations_by(&pool), 0, "{pattern}: the pool threads allocate nothing: {:?}", log.events);
        let mine = log.events_of(me);
        assert!(mine < 16, "a handful of broadcast calls, not one per operation: {mine}");
        assert_eq!(log.blocks(BLOCK).allocs, 0);
        drop(real);
        drop(dry);
        assert_eq!((tools.live.current(), real_tools.live.current()), (0, 0));
        assert!(tools.live.peak() >= 32 * 300, "the dry run keeps the live books: {}", tools.live.peak());
    }
}

#[test]
fn more_threads_than_cores_work() {
    let _serial = serial();
    let mut w = build(r#"{"working_set":8,"ops":100,"min_size":300,"max_size":500}"#, 9, false, plain()).unwrap();
    let (work, log) = common::record(|| w.iterate());
    let s = log.complete().blocks(BLOCK);
    assert_eq!((work.allocations, s.allocs, s.frees, s.alloc_threads, s.remote_frees), (900, 900, 900, 9, 0));
}

#[test]
fn latency_mode_times_allocations_and_frees() {
    let _serial = serial();
    for (every, timed) in [(1, 2400), (4, 600)] {
        let tools = common::timed(every);
        let w = build(RANDOM, 2, false, tools.clone()).unwrap();
        let (_, report) = common::latency_iteration(&tools, w);
        let (allocs, frees) = (report.count("alloc"), report.count("free"));
        assert!(allocs > 0 && frees > 0, "{report:?}");
        // Filling the working set and dropping it are not timed.
        assert_eq!(allocs + frees, timed, "one in {every} of 2 x 1200 operations: {report:?}");
        if every == 1 {
            assert_eq!((allocs, frees), (1200, 1200));
        }
    }
}

#[test]
fn out_of_range_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "fastpath",
        &[
            (r#"{"working_set":0}"#, "working_set must be in 1..="),
            (r#"{"ops":0}"#, "ops must be in 1..="),
            (r#"{"min_size":0}"#, "min_size must be in 1..=1048576, got 0"),
            (r#"{"max_size":2000000}"#, "max_size must be in 1..=1048576, got 2000000"),
            (r#"{"pattern":"zigzag"}"#, r#"pattern must be one of random, seq, got "zigzag""#),
            (r#"{"objects":1}"#, "unknown parameter 'objects'"),
        ],
    );
    let r = common::resolve("fastpath", "{}").unwrap();
    assert_eq!(r.params["pattern"], "random");
    assert_eq!((r.params["min_size"].as_u64(), r.params["max_size"].as_u64()), (Some(16), Some(128)));
    // The order min_size <= max_size is checked with the spec: breaking it
    // refuses the spec; equal bounds (fixed sizes) are allowed.
    let err = common::refusal("fastpath", r#"{"min_size":200,"max_size":100}"#);
    assert_eq!(err, "min_size (200) must not exceed max_size (100)");
    assert!(common::resolve("fastpath", r#"{"min_size":100,"max_size":100}"#).is_ok());
}
