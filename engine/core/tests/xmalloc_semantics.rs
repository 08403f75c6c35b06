//! `xmalloc` checked through the counting allocator: producers allocate,
//! consumers free, every free is remote, nothing stays alive, each producer's
//! size sequence is fixed by its seed, and the thread split is as documented.
//!
//! Test blocks are at least 256 bytes with alignment 1, which keeps them
//! apart from std's own allocations: thread handles, channel waiters and
//! batch vectors have alignment 8, and the strings libtest's main thread
//! formats while another test records stay shorter as long as test names
//! stay short.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::serial;
use hab_engine::params::Values;
use hab_engine::workloads::xmalloc::{Config, DEF, SEED_BASE};
use hab_engine::workloads::{Instruments, Work, Workload};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MIN: usize = 256;
const MAX: usize = 4096;

fn params(blocks: u64, batch: u64, depth: u64) -> Values {
    common::params_of(serde_json::json!({
        "blocks": blocks, "min_size": MIN, "max_size": MAX, "batch": batch, "depth": depth,
    }))
}

fn build_with(params: Values, threads: u64, tools: Arc<Instruments>) -> Box<dyn Workload> {
    common::build(&DEF, params, threads, false, tools).unwrap()
}

fn build(params: Values, threads: u64) -> Box<dyn Workload> {
    build_with(params, threads, common::plain())
}

fn is_block(size: usize, align: usize) -> bool {
    align == 1 && (MIN..=MAX).contains(&size)
}

fn split(threads: u64) -> (usize, usize) {
    let cfg = Config::from_params(&params(1, 1, 1), threads);
    (cfg.producers, cfg.consumers)
}

/// Producer `p`'s sizes for one iteration, from the documented seed.
fn producer_sizes(p: usize, blocks: u64) -> Vec<usize> {
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ p as u64);
    (0..blocks).map(|_| rng.random_range(MIN..=MAX)).collect()
}

/// Block sizes in allocation order, per allocating thread, and the threads that freed blocks.
fn by_thread(log: &common::Log) -> (Vec<Vec<usize>>, HashSet<u32>) {
    let mut sizes: HashMap<u32, Vec<usize>> = HashMap::new();
    let mut freeing = HashSet::new();
    for e in &log.events {
        if !is_block(e.size, e.align) {
            continue;
        }
        match e.kind {
            common::Kind::Alloc | common::Kind::AllocZeroed => sizes.entry(e.thread).or_default().push(e.size),
            common::Kind::Free => {
                freeing.insert(e.thread);
            }
            common::Kind::Realloc => {}
        }
    }
    let mut sequences: Vec<Vec<usize>> = sizes.into_values().collect();
    sequences.sort();
    (sequences, freeing)
}

#[test]
fn threads_split_into_producers_and_consumers() {
    let _serial = serial();
    let want = [(1, (1, 1)), (2, (1, 1)), (3, (1, 2)), (4, (2, 2)), (5, (2, 3)), (9, (4, 5))];
    for (threads, split_want) in want {
        assert_eq!(split(threads), split_want, "threads = {threads}");
    }
}

#[test]
fn consumers_free_every_block_remotely() {
    let _serial = serial();
    for threads in [1, 2, 3, 4, 5] {
        let (producers, consumers) = split(threads);
        let (blocks, batch) = (300, 16);
        let mut want: Vec<Vec<usize>> = (0..producers).map(|p| producer_sizes(p, blocks)).collect();
        want.sort();
        let bytes: u64 = want.iter().flatten().map(|&s| s as u64).sum();
        let total = producers as u64 * blocks;

        let (mut w, build_log) = common::record(|| build(params(blocks, batch, 2), threads));
        assert_eq!(build_log.complete().blocks(is_block).allocs, 0, "no blocks at build time");
        let mut works = Vec::new();
        for _ in 0..2 {
            let (work, log) = common::record(|| w.iterate());
            works.push(work);
            let s = log.complete().blocks(is_block);
            assert_eq!((s.allocs, s.frees, s.remote_frees), (total, total, total), "threads = {threads}");
            assert_eq!((s.still_alive, s.frees_of_older), (0, 0), "nothing outlives the iteration");
            assert_eq!(s.zeroed + s.reallocs + s.misaligned, 0, "{s:?}");
            assert!(s.min_size >= MIN && s.max_size <= MAX, "{s:?}");
            assert_eq!(s.alloc_threads, producers, "threads = {threads}");
            let (sequences, freeing) = by_thread(&log);
            assert_eq!(sequences, want, "each producer's sizes follow its seed, threads = {threads}");
            assert_eq!(freeing.len(), consumers, "every consumer frees, threads = {threads}");
        }
        assert_eq!(works, vec![Work { allocations: total, bytes }; 2]);
        let ((), drop_log) = common::record(|| drop(w));
        assert_eq!(drop_log.complete().blocks(is_block).frees, 0, "nothing left to free");
    }
}

#[test]
fn one_block_batches_and_depth_one_work() {
    let _serial = serial();
    let (mut w, log) = common::record(|| {
        let mut w = build(params(50, 1, 1), 4);
        w.iterate();
        w.iterate();
        w
    });
    let s = log.complete().blocks(is_block);
    assert_eq!((s.allocs, s.frees, s.remote_frees, s.still_alive), (200, 200, 200, 0));
    w.iterate();
}

#[test]
fn bad_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "xmalloc",
        &[
            (r#"{"blocks":0}"#, "blocks must be in 1..="),
            (r#"{"min_size":0}"#, "min_size must be in 1..="),
            (r#"{"max_size":1000000000}"#, "max_size must be in 1..="),
            (r#"{"batch":0}"#, "batch must be in 1..="),
            (r#"{"depth":0}"#, "depth must be in 1..="),
            (r#"{"depth":100000}"#, "depth must be in 1..="),
        ],
    );
    assert!(common::dry_refusal("xmalloc").contains("no dry variant"));
    // The order min_size <= max_size is checked with the spec: breaking it
    // refuses the spec; equal bounds are allowed.
    let err = common::refusal("xmalloc", r#"{"min_size":500,"max_size":100}"#);
    assert_eq!(err, "min_size (500) must not exceed max_size (100)");
    assert!(common::resolve("xmalloc", r#"{"min_size":100,"max_size":100}"#).is_ok());
}

#[test]
fn latency_mode_and_live_bytes() {
    let _serial = serial();
    let tools = common::timed(1);
    common::start_latency(&tools);
    let (_, report) = common::latency_iteration(&tools, build_with(params(200, 8, 2), 3, tools.clone()));
    let count = |op: &str| report.count(op);
    assert_eq!((count("alloc"), count("free")), (200, 200), "every operation timed");
    assert_eq!(tools.live.current(), 0);
    assert!(tools.live.peak() >= MIN as u64 * 8, "at least a batch alive at once");
}
