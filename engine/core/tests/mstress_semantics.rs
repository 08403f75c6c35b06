//! `mstress` checked through the counting allocator: fresh threads every
//! round, each thread's size sequence fixed by its seed, short-lived objects
//! freed by their own thread (at the latest when it exits), long-lived ones
//! kept in the transfer slots and freed remotely when displaced, and nothing
//! alive beyond the transfer slots.
//!
//! Test blocks are at least 256 bytes with alignment 1, which keeps them
//! apart from std's own allocations: thread handles and the like have
//! alignment 8, and the strings libtest's main thread formats while another
//! test records stay shorter as long as test names stay short.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::serial;
use hab_engine::params::Values;
use hab_engine::workloads::mstress::{DEF, SEED_BASE};
use hab_engine::workloads::{Instruments, Work, Workload};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Copy)]
struct P {
    threads: usize,
    transfer: usize,
    rounds: usize,
    steps: usize,
    local: usize,
    min: usize,
    max: usize,
    large_max: usize,
    large_prob: f64,
    transfer_prob: f64,
}

const SMALL: P = P {
    threads: 3,
    transfer: 40,
    rounds: 3,
    steps: 200,
    local: 20,
    min: 256,
    max: 1024,
    large_max: 4096,
    large_prob: 0.1,
    transfer_prob: 0.2,
};

fn params(p: P) -> Values {
    common::params_of(serde_json::json!({
        "transfer": p.transfer, "rounds": p.rounds, "steps": p.steps, "local": p.local,
        "min_size": p.min, "max_size": p.max, "large_max": p.large_max,
        "large_prob": p.large_prob, "transfer_prob": p.transfer_prob,
    }))
}

fn build_with(p: P, tools: Arc<Instruments>) -> Box<dyn Workload> {
    common::build(&DEF, params(p), p.threads as u64, false, tools).unwrap()
}

fn build(p: P) -> Box<dyn Workload> {
    build_with(p, common::plain())
}

fn is_block(p: P) -> impl Fn(usize, usize) -> bool {
    move |size, align| align == 1 && (p.min..=p.large_max).contains(&size)
}

/// One thread's draws, replayed from the documented seed and order.
#[derive(Debug, Default)]
struct Thread {
    sizes: Vec<usize>,
    /// Objects the thread frees from its own list (evictions and at exit).
    local_frees: u64,
    transfers: u64,
}

fn replay(p: P, r: usize, i: usize) -> Thread {
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ (r * p.threads + i) as u64);
    let mut t = Thread::default();
    let mut list = 0usize;
    for _ in 0..p.steps {
        let size = if rng.random_bool(p.large_prob) {
            rng.random_range(p.max..=p.large_max)
        } else {
            rng.random_range(p.min..=p.max)
        };
        t.sizes.push(size);
        if list >= p.local {
            rng.random_range(0..list);
            t.local_frees += 1;
            list -= 1;
        }
        list += 1;
        if rng.random_bool(p.transfer_prob) {
            rng.random_range(0..list);
            rng.random_range(0..p.transfer);
            list -= 1;
            t.transfers += 1;
        }
    }
    t.local_frees += list as u64;
    t
}

/// Block sizes in allocation order, per allocating thread (sorted list of sequences).
fn sequences(log: &common::Log, p: P) -> Vec<Vec<usize>> {
    let pick = is_block(p);
    let mut sizes: HashMap<u32, Vec<usize>> = HashMap::new();
    for e in &log.events {
        if matches!(e.kind, common::Kind::Alloc | common::Kind::AllocZeroed) && pick(e.size, e.align) {
            sizes.entry(e.thread).or_default().push(e.size);
        }
    }
    let mut out: Vec<Vec<usize>> = sizes.into_values().collect();
    out.sort();
    out
}

#[test]
fn transfer_slots_hold_what_outlives_threads() {
    let _serial = serial();
    let p = SMALL;
    let threads: Vec<Thread> = (0..p.rounds).flat_map(|r| (0..p.threads).map(move |i| replay(p, r, i))).collect();
    let mut want_sequences: Vec<Vec<usize>> = threads.iter().map(|t| t.sizes.clone()).collect();
    want_sequences.sort();
    let per_iteration = (p.threads * p.rounds * p.steps) as u64;
    let local_frees: u64 = threads.iter().map(|t| t.local_frees).sum();
    let transfers: u64 = threads.iter().map(|t| t.transfers).sum();
    let bytes: u64 = threads.iter().flat_map(|t| &t.sizes).map(|&s| s as u64).sum();
    assert!(transfers > 0);

    let (mut w, build_log) = common::record(|| build(p));
    assert_eq!(build_log.complete().blocks(is_block(p)).allocs, 0, "the transfer slots start empty");
    let mut occupied = 0u64;
    let mut works = Vec::new();
    for it in 0..3 {
        let (work, log) = common::record(|| w.iterate());
        works.push(work);
        let s = log.complete().blocks(is_block(p));
        assert_eq!(s.allocs, per_iteration, "steps allocations per thread and round");
        assert_eq!(s.zeroed + s.reallocs + s.misaligned, 0, "{s:?}");
        assert!(s.min_size >= p.min && s.max_size <= p.large_max, "{s:?}");
        assert_eq!(s.alloc_threads, p.threads * p.rounds, "fresh threads every round");
        assert_eq!(sequences(&log, p), want_sequences, "each thread's sizes follow its seed");
        // Frees: the threads' own (evictions, exit) plus one per displaced object.
        assert!(s.frees >= local_frees && s.frees <= local_frees + transfers, "{s:?}");
        // Older blocks alive at the start are the transfer slots' contents.
        assert!(s.frees_of_older <= occupied, "{s:?}, occupied {occupied}");
        // allocations = frees + growth of the occupied transfer slots.
        occupied = occupied + s.allocs - s.frees;
        assert!(occupied <= p.transfer as u64, "only transfer slots outlive the iteration: {occupied}");
        assert!(s.still_alive <= occupied, "{s:?}");
        if it > 0 {
            assert!(s.frees_of_older > 0, "objects of earlier iterations are displaced: {s:?}");
        }
        assert!(s.remote_frees > 0, "objects of exited threads are displaced: {s:?}");
    }
    assert!(occupied > 0);
    assert_eq!(works, vec![Work { allocations: per_iteration, bytes }; 3], "the same work every iteration");
    let ((), drop_log) = common::record(|| drop(w));
    let d = drop_log.complete().blocks(is_block(p));
    assert_eq!((d.frees, d.frees_of_older), (occupied, occupied), "drop frees the occupied transfer slots");
}

#[test]
fn without_transfers_threads_free_all_they_allocate() {
    let _serial = serial();
    let p = P { transfer_prob: 0.0, ..SMALL };
    let (_, log) = common::record(|| {
        let mut w = build(p);
        w.iterate();
        w.iterate();
        drop(w);
    });
    let s = log.complete().blocks(is_block(p));
    let total = (2 * p.threads * p.rounds * p.steps) as u64;
    assert_eq!((s.allocs, s.frees, s.remote_frees, s.still_alive), (total, total, 0, 0), "{s:?}");
    // With a list longer than the steps, every free happens as the thread exits.
    let p = P { local: 1000, ..p };
    let (_, log) = common::record(|| build(p).iterate());
    let pick = is_block(p);
    let mut last_alloc: HashMap<u32, usize> = HashMap::new();
    let mut first_free: HashMap<u32, usize> = HashMap::new();
    for (n, e) in log.complete().events.iter().enumerate() {
        if !pick(e.size, e.align) {
            continue;
        }
        match e.kind {
            common::Kind::Free => {
                first_free.entry(e.thread).or_insert(n);
            }
            _ => {
                last_alloc.insert(e.thread, n);
            }
        }
    }
    assert_eq!(last_alloc.len(), p.threads * p.rounds);
    for (thread, last) in last_alloc {
        assert!(first_free[&thread] > last, "thread {thread} frees its list as it exits");
    }
}

#[test]
fn large_prob_picks_the_size_range() {
    let _serial = serial();
    for (large_prob, lo, hi) in [(1.0, SMALL.max, SMALL.large_max), (0.0, SMALL.min, SMALL.max)] {
        let p = P { large_prob, ..SMALL };
        let (_, log) = common::record(|| build(p).iterate());
        let s = log.complete().blocks(is_block(p));
        assert!(s.min_size >= lo && s.max_size <= hi, "{large_prob}: {s:?}");
    }
}

#[test]
fn bad_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "mstress",
        &[
            (r#"{"transfer":0}"#, "transfer must be in 1..="),
            (r#"{"rounds":0}"#, "rounds must be in 1..="),
            (r#"{"steps":0}"#, "steps must be in 1..="),
            (r#"{"local":0}"#, "local must be in 1..="),
            (r#"{"min_size":0}"#, "min_size must be in 1..="),
            (r#"{"large_prob":1.5}"#, "large_prob must be in [0, 1]"),
            (r#"{"transfer_prob":-0.1}"#, "transfer_prob must be in [0, 1]"),
        ],
    );
    assert!(common::dry_refusal("mstress").contains("no dry variant"));
    let cross = [
        (r#"{"min_size":500,"max_size":100}"#, "min_size (500) must not exceed max_size (100)"),
        (r#"{"max_size":5000,"large_max":4096}"#, "max_size (5000) must not exceed large_max (4096)"),
    ];
    // The orders min_size <= max_size <= large_max are checked with the spec:
    // breaking either refuses the spec; equal bounds are allowed.
    let resolve = |given: &str| common::resolve("mstress", given);
    for (given, message) in cross {
        assert_eq!(resolve(given).err().as_deref(), Some(message), "{given}");
    }
    assert!(resolve(r#"{"min_size":4096,"max_size":4096,"large_max":4096}"#).is_ok());
}

#[test]
fn latency_mode_and_live_bytes() {
    let _serial = serial();
    let tools = common::timed(1);
    common::start_latency(&tools);
    let p = SMALL;
    let (_, report) = common::latency_iteration(&tools, build_with(p, tools.clone()));
    let count = |op: &str| report.count(op);
    let per_iteration = (p.threads * p.rounds * p.steps) as u64;
    // Every operation of the iteration is timed; the drop's meter has no probe.
    assert_eq!(count("alloc"), per_iteration);
    assert!(count("free") > 0 && count("free") <= per_iteration, "{report:?}");
    assert_eq!(tools.live.current(), 0);
    assert!(tools.live.peak() >= (p.local * p.min) as u64);
}
