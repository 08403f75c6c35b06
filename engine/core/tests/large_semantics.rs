//! `large` checked through the counting allocator: the live set filled at
//! build time and stable across iterations, one free and one allocation per
//! replacement, sizes within bounds, zeroed allocation for `init: zero`,
//! the size sequence fixed by the seed, bad parameters refused.

mod common;

use std::sync::Arc;

use common::{serial, Kind};
use hab_engine::heap::{Live, Meter};
use hab_engine::workloads::large::{fill, replace, Config, Init, DEF, SEED_BASE};
use hab_engine::workloads::{Instruments, Workload};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const MIN: usize = 100_000;
const MAX: usize = 300_000;

fn build(json: &str, threads: u64, tools: Arc<Instruments>) -> Result<Box<dyn Workload>, String> {
    common::build(&DEF, common::params(json), threads, false, tools)
}

fn spec(init: &str) -> String {
    format!(r#"{{"live":3,"min_size":{MIN},"max_size":{MAX},"ops":5,"init":"{init}"}}"#)
}

fn large(size: usize, align: usize) -> bool {
    align == 1 && (MIN..=MAX).contains(&size)
}

#[test]
fn the_live_set_is_filled_at_build_and_stays_at_threads_times_live() {
    let _serial = serial();
    let ((mut w, works), log) = common::record(|| {
        let mut w = build(&spec("none"), 2, Arc::default()).unwrap();
        let works = [w.iterate(), w.iterate(), w.iterate()];
        (w, works)
    });
    let s = log.complete().blocks(large);
    // 2 threads x 3 slots at build, then 3 iterations of 2 threads x 5 replacements.
    assert_eq!((s.allocs, s.frees, s.still_alive), (6 + 3 * 10, 3 * 10, 6));
    assert_eq!((s.remote_frees, s.frees_of_older, s.reallocs, s.zeroed), (0, 0, 0, 0));
    assert_eq!(s.alloc_threads, 2, "slots are filled and replaced on the pool's threads");
    assert!(s.min_size >= MIN && s.max_size <= MAX, "{s:?}");
    assert!(works.iter().all(|&x| x == works[0]), "{works:?}");
    assert_eq!(works[0].allocations, 10);
    // Each thread frees before it allocates: its live count goes 3, 2, 3, 2, 3, ...
    let mut per_thread = std::collections::HashMap::new();
    for (i, e) in log.events.iter().filter(|e| large(e.size, e.align)).enumerate() {
        let live = per_thread.entry(e.thread).or_insert(0i64);
        match e.kind {
            Kind::Alloc => *live += 1,
            Kind::Free => *live -= 1,
            _ => unreachable!(),
        }
        let expected = if i < 6 {
            1..=3
        } else if e.kind == Kind::Alloc {
            3..=3
        } else {
            2..=2
        };
        assert!(expected.contains(live), "event {i}: {e:?}, thread live {live}");
    }
    // Within one iteration, the bytes requested are the sum of the drawn sizes.
    let ((), iter_log) = common::record(|| {
        w.iterate();
    });
    let si = iter_log.complete().blocks(large);
    assert_eq!((si.allocs, si.frees), (10, 10));
    assert_eq!(si.bytes, works[0].bytes);
    let ((), drop_log) = common::record(|| drop(w));
    let d = drop_log.complete().blocks(large);
    assert_eq!((d.allocs, d.frees, d.frees_of_older), (0, 6, 6), "the drop frees the live set");
}

#[test]
fn init_zero_allocates_zeroed_and_the_others_do_not() {
    let _serial = serial();
    for (init, zeroed) in [("zero", true), ("none", false), ("touch", false)] {
        let (w, log) = common::record(|| {
            let mut w = build(&spec(init), 1, Arc::default()).unwrap();
            w.iterate();
            w
        });
        drop(w);
        let s = log.complete().blocks(large);
        assert_eq!(s.allocs, 3 + 5);
        assert_eq!(s.zeroed, if zeroed { s.allocs } else { 0 }, "{init}");
    }
}

#[test]
fn sizes_and_victims_are_fixed_by_the_worker_seed() {
    let _serial = serial();
    let cfg = Config { live: 4, min_size: MIN, max_size: MAX, ops: 20, init: Init::None };
    let live = Live::new();
    let run = |w: usize| {
        let mut meter = Meter::new(&live);
        let mut slots = Vec::with_capacity(cfg.live);
        fill(&cfg, w, &mut meter, &mut slots);
        let (work, log) = common::record(|| replace(&cfg, w, &mut meter, &mut slots));
        for b in slots.drain(..) {
            meter.free(b);
        }
        let me = common::thread_id();
        let sizes: Vec<usize> =
            log.complete().events.iter().filter(|e| e.kind == Kind::Alloc && e.thread == me).map(|e| e.size).collect();
        (work, sizes)
    };
    let (work, sizes) = run(3);
    assert_eq!((work.allocations, sizes.len()), (20, 20));
    assert_eq!(work.bytes, sizes.iter().map(|&s| s as u64).sum::<u64>());
    assert_eq!(run(3).1, sizes);
    assert_ne!(run(4).1, sizes);
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ 3);
    let _victim = rng.random_range(0..cfg.live);
    assert_eq!(sizes[0], rng.random_range(MIN..=MAX));
    assert_eq!(live.current(), 0);
}

#[test]
fn out_of_range_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "large",
        &[
            (r#"{"live":0}"#, "live must be in 1..="),
            (r#"{"ops":0}"#, "ops must be in 1..="),
            (r#"{"min_size":0}"#, "min_size must be in 1..="),
            (r#"{"init":"random"}"#, "init must be one of none, touch, zero"),
        ],
    );
    let resolve = |p: &str| common::resolve("large", p);
    // The order min_size <= max_size is checked with the spec: breaking it
    // refuses the spec; equal bounds are allowed.
    let err = resolve(r#"{"min_size":5000,"max_size":4000}"#).unwrap_err();
    assert_eq!(err, "min_size (5000) must not exceed max_size (4000)");
    assert!(resolve(r#"{"min_size":5000,"max_size":5000}"#).is_ok());
    let d = Config::from_params(&resolve("{}").unwrap().params);
    assert_eq!(d, Config { live: 2, min_size: 5 << 20, max_size: 25 << 20, ops: 8, init: Init::None });
}

#[test]
fn latency_mode_times_allocations_and_frees() {
    let _serial = serial();
    let tools = common::timed(1);
    let mut w = build(&spec("none"), 2, tools.clone()).unwrap();
    common::start_latency(&tools);
    w.iterate();
    let report = common::latency(&tools);
    let count = |op: &str| report.count(op);
    assert_eq!((count("alloc"), count("free")), (10, 10), "build-time fills are not timed");
    drop(w);
}
