//! `larson` checked through the counting allocator: the persistent slot
//! arrays, one free and one allocation per replacement, remote frees exactly
//! where a block crosses from one round's thread to the next, fresh threads
//! every round, the size sequence fixed by the seeds, nothing leaked.
//!
//! Test blocks are at least 256 bytes with alignment 1, which keeps them
//! apart from std's own allocations: thread handles and the like have
//! alignment 8, and the strings libtest's main thread formats while another
//! test records (thread names, "test NAME ... ok") stay shorter as long as
//! test names stay short.

mod common;

use std::sync::Arc;

use common::serial;
use hab_engine::params::Values;
use hab_engine::workloads::larson::{DEF, FILL_SEED, PICK_SEED, SIZE_SEED};
use hab_engine::workloads::{Instruments, Work, Workload};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy)]
struct P {
    threads: usize,
    slots: usize,
    min: usize,
    max: usize,
    rounds: usize,
    replacements: usize,
}

const SMALL: P = P { threads: 3, slots: 400, min: 256, max: 4096, rounds: 3, replacements: 40 };

fn params(p: P) -> Values {
    common::params_of(serde_json::json!({
        "slots": p.slots, "min_size": p.min, "max_size": p.max,
        "rounds": p.rounds, "replacements": p.replacements,
    }))
}

fn build_with(p: P, tools: Arc<Instruments>) -> Box<dyn Workload> {
    common::build(&DEF, params(p), p.threads as u64, false, tools).unwrap()
}

fn build(p: P) -> Box<dyn Workload> {
    build_with(p, common::plain())
}

fn is_block(p: P) -> impl Fn(usize, usize) -> bool {
    move |size, align| align == 1 && (p.min..=p.max).contains(&size)
}

/// What the pattern implies, worked out from the documented seeds and draw order.
#[derive(Debug, Default)]
struct Expected {
    fill_sizes: Vec<usize>,
    /// Sizes allocated per iteration (the same every iteration).
    iteration_sizes: Vec<usize>,
    /// Remote frees per iteration.
    remote: Vec<u64>,
}

fn expected(p: P, iterations: usize) -> Expected {
    let mut e = Expected { remote: vec![0; iterations], ..Expected::default() };
    for k in 0..p.threads {
        let mut fill = SmallRng::seed_from_u64(FILL_SEED ^ k as u64);
        e.fill_sizes.extend((0..p.slots).map(|_| fill.random_range(p.min..=p.max)));
        let mut picks = SmallRng::seed_from_u64(PICK_SEED ^ k as u64);
        // Which (iteration, round) allocated each slot's block; None: the build.
        let mut born: Vec<Option<(usize, usize)>> = vec![None; p.slots];
        for (it, remote) in e.remote.iter_mut().enumerate() {
            let mut sizes = SmallRng::seed_from_u64(SIZE_SEED ^ k as u64);
            for r in 0..p.rounds {
                for _ in 0..p.replacements {
                    let slot = picks.random_range(0..p.slots);
                    let size = sizes.random_range(p.min..=p.max);
                    if born[slot] != Some((it, r)) {
                        *remote += 1;
                    }
                    born[slot] = Some((it, r));
                    if it == 0 {
                        e.iteration_sizes.push(size);
                    }
                }
            }
        }
    }
    e
}

fn sorted_block_sizes(log: &common::Log, p: P) -> Vec<usize> {
    let pick = is_block(p);
    let mut sizes: Vec<usize> = log
        .events
        .iter()
        .filter(|e| matches!(e.kind, common::Kind::Alloc | common::Kind::AllocZeroed) && pick(e.size, e.align))
        .map(|e| e.size)
        .collect();
    sizes.sort_unstable();
    sizes
}

#[test]
fn replacements_free_remotely() {
    let _serial = serial();
    let p = SMALL;
    let per_iteration = (p.threads * p.rounds * p.replacements) as u64;
    let want = expected(p, 2);

    let (mut w, build_log) = common::record(|| build(p));
    let fill = build_log.complete().blocks(is_block(p));
    assert_eq!(
        (fill.allocs, fill.frees, fill.still_alive),
        ((p.threads * p.slots) as u64, 0, (p.threads * p.slots) as u64)
    );
    assert_eq!(fill.bytes, want.fill_sizes.iter().sum::<usize>() as u64);

    let mut remote = Vec::new();
    let mut works = Vec::new();
    for it in 0..2 {
        let (work, log) = common::record(|| w.iterate());
        let s = log.complete().blocks(is_block(p));
        works.push(work);
        assert_eq!(s.allocs, per_iteration, "one allocation per replacement");
        assert_eq!(s.frees, per_iteration, "one free per replacement");
        assert_eq!(s.zeroed + s.reallocs + s.misaligned, 0, "{s:?}");
        assert!(s.min_size >= p.min && s.max_size <= p.max, "{s:?}");
        // The live set stays at threads * slots: what this iteration allocated
        // and still holds replaces exactly the older blocks it freed.
        assert_eq!(s.still_alive, s.frees_of_older, "{s:?}");
        assert_eq!(s.alloc_threads, p.threads * p.rounds, "fresh threads every round");
        // Frees of blocks older than the recording are remote too (their
        // threads have exited); the log counts them separately.
        remote.push(s.remote_frees + s.frees_of_older);
        if it == 0 {
            let mut want_sizes = want.iteration_sizes.clone();
            want_sizes.sort_unstable();
            assert_eq!(sorted_block_sizes(&log, p), want_sizes, "sizes fixed by the seeds");
        }
    }
    assert_eq!(remote, want.remote, "remote frees: every block not allocated earlier in the same round");
    assert!(want.remote.iter().all(|&r| r * 2 > per_iteration), "most frees are remote: {:?}", want.remote);
    let bytes = want.iteration_sizes.iter().sum::<usize>() as u64;
    assert_eq!(works, vec![Work { allocations: per_iteration, bytes }; 2], "the same work every iteration");

    let ((), drop_log) = common::record(|| drop(w));
    let d = drop_log.complete().blocks(is_block(p));
    assert_eq!(
        (d.frees, d.frees_of_older),
        ((p.threads * p.slots) as u64, (p.threads * p.slots) as u64),
        "drop frees the arrays"
    );
}

#[test]
fn one_thread_frees_remotely() {
    let _serial = serial();
    let p = P { threads: 1, slots: 10, rounds: 4, replacements: 30, ..SMALL };
    let mut w = build(p);
    w.iterate();
    let (_, log) = common::record(|| w.iterate());
    let s = log.complete().blocks(is_block(p));
    assert_eq!(s.alloc_threads, 4, "one new thread per round");
    assert_eq!(s.remote_frees + s.frees_of_older, expected(p, 2).remote[1]);
    assert!(s.remote_frees > 0);
    drop(w);
}

#[test]
fn sizes_are_deterministic() {
    let _serial = serial();
    let p = P { threads: 2, slots: 20, rounds: 2, replacements: 100, ..SMALL };
    let run = || {
        let (_, log) = common::record(|| {
            let mut w = build(p);
            w.iterate();
            drop(w);
        });
        let s = log.complete().blocks(is_block(p));
        assert_eq!(s.still_alive, 0, "nothing leaks");
        sorted_block_sizes(&log, p)
    };
    let (a, b) = (run(), run());
    assert_eq!(a.len(), 2 * 20 + 2 * 2 * 100);
    assert_eq!(a, b);
    let other = P { min: 257, ..p };
    let (_, log) = common::record(|| {
        let mut w = build(other);
        w.iterate();
    });
    assert_ne!(sorted_block_sizes(&log, other), a);
}

#[test]
fn bad_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "larson",
        &[
            (r#"{"slots":0}"#, "slots must be in 1..="),
            (r#"{"min_size":0}"#, "min_size must be in 1..="),
            (r#"{"max_size":1000000000}"#, "max_size must be in 1..="),
            (r#"{"rounds":0}"#, "rounds must be in 1..="),
            (r#"{"replacements":0}"#, "replacements must be in 1..="),
            (r#"{"threads":1}"#, "unknown parameter 'threads'"),
        ],
    );
    assert!(common::dry_refusal("larson").contains("no dry variant"));
    // The order min_size <= max_size is checked with the spec: breaking it
    // refuses the spec; equal bounds are allowed.
    let err = common::refusal("larson", r#"{"min_size":500,"max_size":100}"#);
    assert_eq!(err, "min_size (500) must not exceed max_size (100)");
    assert!(common::resolve("larson", r#"{"min_size":100,"max_size":100}"#).is_ok());
}

#[test]
fn latency_mode_and_live_bytes() {
    let _serial = serial();
    let tools = common::timed(1);
    common::start_latency(&tools);
    let p = SMALL;
    let (_, report) = common::latency_iteration(&tools, build_with(p, tools.clone()));
    let count = |op: &str| report.count(op);
    let per_iteration = (p.threads * p.rounds * p.replacements) as u64;
    // Every operation of the iteration is timed (every = 1); the build and
    // the drop use meters without probes.
    assert_eq!((count("alloc"), count("free")), (per_iteration, per_iteration));
    assert_eq!(tools.live.current(), 0);
    assert!(tools.live.peak() >= (p.threads * p.slots * p.min) as u64);
}
