//! `fragmentation` checked through the counting allocator: the four phases'
//! counts and sizes, phase 3 refilling the bytes phase 2 freed, the peak of
//! live bytes, nothing leaking, the sequence fixed by the seed, bad
//! parameters refused.

mod common;

use std::sync::Arc;

use common::{serial, Kind};
use hab_engine::heap::{Live, Meter};
use hab_engine::workloads::fragmentation::{bookkeeping, thread_iteration, Config, Phases, DEF, SEED_BASE};
use hab_engine::workloads::{Instruments, Workload};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const CFG: Config =
    Config { count: 2000, small_min: 16, small_max: 128, free_fraction: 0.75, large_min: 256, large_max: 1024 };
const JSON: &str =
    r#"{"count":2000,"small_min":16,"small_max":128,"free_fraction":0.75,"large_min":256,"large_max":1024}"#;

fn build(json: &str, threads: u64, tools: Arc<Instruments>) -> Result<Box<dyn Workload>, String> {
    common::build(&DEF, common::params(json), threads, false, tools)
}

fn small(size: usize, align: usize) -> bool {
    align == 1 && (16..=128).contains(&size)
}

fn big(size: usize, align: usize) -> bool {
    align == 1 && (256..=1024).contains(&size)
}

/// One thread's iteration, run directly, with its log.
fn direct(cfg: &Config, w: usize) -> (Phases, common::Log) {
    let live = Live::new();
    let mut blocks = bookkeeping(cfg).unwrap();
    let capacity = blocks.capacity();
    let mut meter = Meter::new(&live);
    let me = common::thread_id();
    let (phases, mut log) = common::record(|| thread_iteration(cfg, w, &mut meter, &mut blocks));
    log.complete();
    log.events.retain(|e| e.thread == me);
    assert!(blocks.is_empty());
    assert_eq!(blocks.capacity(), capacity, "the bookkeeping never grows");
    drop(meter);
    assert_eq!(live.current(), 0);
    (phases, log)
}

/// Keeps the events of the threads that allocated at least 1000 blocks, i.e.
/// the pool's workers (all of this workload's frees are local).
fn workers_only(log: &mut common::Log) {
    log.keep_threads(1000, |_, _| true);
}

#[test]
fn the_four_phases_allocate_and_free_what_the_pattern_says() {
    let _serial = serial();
    let (p, log) = direct(&CFG, 0);
    let log = log.complete();
    let s = log.blocks(small);
    let l = log.blocks(big);
    assert_eq!((s.allocs, s.frees, s.still_alive), (2000, 2000, 0));
    assert_eq!((l.allocs, l.frees, l.still_alive), (p.large_blocks, p.large_blocks, 0));
    assert_eq!((s.min_size, s.max_size), (16, 128));
    assert!(l.min_size >= 256 && l.max_size <= 1024, "{l:?}");
    assert_eq!(log.all().allocs, 2000 + p.large_blocks, "no other allocation");
    assert_eq!(log.all().frees, 2000 + p.large_blocks);
    assert_eq!(p.work.allocations, 2000 + p.large_blocks);
    assert_eq!(p.work.bytes, s.bytes + l.bytes);
    assert_eq!((p.small_bytes, p.large_bytes), (s.bytes, l.bytes));
    assert_eq!(p.freed_blocks, 1500, "round(2000 * 0.75)");
    // Phase 3 refills the freed bytes, overshooting by less than one block.
    assert!(p.large_bytes >= p.freed_bytes && p.large_bytes < p.freed_bytes + 1024, "{p:?}");
    assert_eq!(p.large_blocks, l.allocs);
    // The log's order: 2000 small allocations, 1500 small frees, the large
    // allocations, then every remaining block freed.
    let kinds: Vec<(Kind, bool)> = log.events.iter().map(|e| (e.kind, e.size <= 128)).collect();
    let n = p.large_blocks as usize;
    assert!(kinds[..2000].iter().all(|&k| k == (Kind::Alloc, true)));
    assert!(kinds[2000..3500].iter().all(|&k| k == (Kind::Free, true)));
    assert!(kinds[3500..3500 + n].iter().all(|&k| k == (Kind::Alloc, false)));
    assert!(kinds[3500 + n..4000 + n].iter().all(|&k| k == (Kind::Free, true)));
    assert!(kinds[4000 + n..].iter().all(|&k| k == (Kind::Free, false)));
    assert_eq!(kinds.len(), 4000 + 2 * n);
    let freed: u64 = log.events[2000..3500].iter().map(|e| e.size as u64).sum();
    assert_eq!(freed, p.freed_bytes);
    // Live bytes peak at the end of phase 3: the phase-1 total plus less than one large block.
    let peak = log.all().peak_live_bytes;
    assert!(peak >= p.small_bytes && peak < p.small_bytes + 1024, "peak {peak}, phase 1 {}", p.small_bytes);
    assert_eq!(peak, p.small_bytes - p.freed_bytes + p.large_bytes);
    // The victims are spread over the whole phase-1 range, not a prefix.
    let first_addrs: Vec<usize> = log.events[..2000].iter().map(|e| e.addr).collect();
    let victim_pos: Vec<usize> =
        log.events[2000..3500].iter().map(|e| first_addrs.iter().position(|&a| a == e.addr).unwrap()).collect();
    assert!(victim_pos.iter().any(|&i| i < 100) && victim_pos.iter().any(|&i| i >= 1900));
}

#[test]
fn the_fraction_decides_how_much_is_freed_and_refilled() {
    let _serial = serial();
    let (none, log) = direct(&Config { free_fraction: 0.0, ..CFG }, 1);
    assert_eq!((none.freed_blocks, none.large_blocks, log.complete().all().allocs), (0, 0, 2000));
    let (all, log) = direct(&Config { free_fraction: 1.0, ..CFG }, 1);
    assert_eq!(all.freed_blocks, 2000);
    assert_eq!(all.freed_bytes, all.small_bytes);
    assert_eq!(log.complete().all().allocs, 2000 + all.large_blocks);
    assert!(all.large_bytes >= all.small_bytes && all.large_bytes < all.small_bytes + 1024);
}

#[test]
fn sizes_and_victims_are_fixed_by_the_worker_seed() {
    let _serial = serial();
    let sequence = |w: usize| {
        let (p, log) = direct(&CFG, w);
        let events: Vec<(Kind, usize)> = log.complete().events.iter().map(|e| (e.kind, e.size)).collect();
        (p, events)
    };
    let (p, first) = sequence(2);
    assert!(sequence(2) == (p, first.clone()), "the same seed gives the same sequence");
    assert!(sequence(3).1 != first, "another worker draws another sequence");
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ 2);
    let expected: Vec<usize> = (0..5).map(|_| rng.random_range(16..=128usize)).collect();
    let got: Vec<usize> = first[..5].iter().map(|e| e.1).collect();
    assert_eq!(got, expected);
}

#[test]
fn the_pooled_iteration_runs_each_worker_on_its_own_thread_without_leaks() {
    let _serial = serial();
    let expected: Vec<Phases> = (0..2).map(|w| direct(&CFG, w).0).collect();
    let mut workload = build(JSON, 2, Arc::default()).unwrap();
    let first = workload.iterate();
    let (work, mut log) = common::record(|| workload.iterate());
    log.complete();
    workers_only(&mut log);
    let s = log.blocks(small);
    let l = log.blocks(big);
    let large_blocks: u64 = expected.iter().map(|p| p.large_blocks).sum();
    assert_eq!((s.allocs, s.frees, s.still_alive, s.remote_frees), (4000, 4000, 0, 0));
    assert_eq!((l.allocs, l.frees, l.still_alive, l.remote_frees), (large_blocks, large_blocks, 0, 0));
    assert_eq!(s.alloc_threads, 2);
    assert_eq!(work, expected[0].work + expected[1].work);
    assert_eq!(first, work, "every iteration does the same work");
    let both = log.blocks(|size, align| small(size, align) || big(size, align));
    let phase1: Vec<u64> = expected.iter().map(|p| p.small_bytes).collect();
    assert!(both.peak_live_bytes >= phase1[0].max(phase1[1]), "{both:?}");
    assert!(both.peak_live_bytes < phase1[0] + phase1[1] + 2 * 1024, "{both:?}");
}

#[test]
fn the_live_record_sees_the_phase_one_peak() {
    let _serial = serial();
    let tools: Arc<Instruments> = Arc::default();
    let mut workload = build(JSON, 1, tools.clone()).unwrap();
    let p = direct(&CFG, 0).0;
    workload.iterate();
    drop(workload);
    let peak = tools.live.peak();
    assert!(peak >= p.small_bytes && peak < p.small_bytes + 1024, "peak {peak}, phase 1 {}", p.small_bytes);
    assert_eq!(tools.live.current(), 0);
}

#[test]
fn out_of_range_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "fragmentation",
        &[
            (r#"{"count":0}"#, "count must be in 1..="),
            (r#"{"free_fraction":1.5}"#, "free_fraction must be in [0, 1]"),
            (r#"{"small_min":0}"#, "small_min must be in 1..="),
            (r#"{"large_max":0}"#, "large_max must be in 1..="),
        ],
    );
    let resolve = |p: &str| common::resolve("fragmentation", p);
    // The orders small_min <= small_max and large_min <= large_max are checked
    // with the spec: breaking either refuses the spec; equal bounds are allowed.
    for (p, message) in [
        (r#"{"small_min":200,"small_max":100}"#, "small_min (200) must not exceed small_max (100)"),
        (r#"{"large_min":2000,"large_max":1024}"#, "large_min (2000) must not exceed large_max (1024)"),
    ] {
        assert_eq!(resolve(p).unwrap_err(), message);
    }
    assert!(resolve(r#"{"small_min":100,"small_max":100,"large_min":1024,"large_max":1024}"#).is_ok());
    let d = Config::from_params(&resolve("{}").unwrap().params);
    assert_eq!(d, Config { count: 20_000, ..CFG });
}

#[test]
fn latency_mode_times_allocations_and_frees() {
    let _serial = serial();
    let tools = common::timed(1);
    let w = build(JSON, 2, tools.clone()).unwrap();
    let (work, report) = common::latency_iteration(&tools, w);
    let count = |op: &str| report.count(op);
    assert_eq!((count("alloc"), count("free")), (work.allocations, work.allocations));
}
