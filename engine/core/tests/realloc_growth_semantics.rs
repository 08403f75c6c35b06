//! `realloc_growth` checked through the counting allocator: allocations,
//! reallocations and frees per iteration, the sizes grown through, the
//! markers surviving every move, nothing leaking, bad parameters refused.

mod common;

use std::sync::Arc;

use common::{serial, Kind};
use hab_engine::heap::{Live, Meter};
use hab_engine::workloads::realloc_growth::{self, grow, marker, release, tag, Config, DEF};
use hab_engine::workloads::{Instruments, Workload};

fn build(json: &str, threads: u64, tools: Arc<Instruments>) -> Result<Box<dyn Workload>, String> {
    common::build(&DEF, common::params(json), threads, false, tools)
}

/// Keeps the events of the threads that allocated the 333-byte buffers, i.e.
/// the pool's workers (all of this workload's frees are local).
fn workers_only(log: &mut common::Log) {
    log.keep_threads(1, |size, align| size == 333 && align == 1);
}

/// Sizes 333, 433, ..., 1233, 1300: unlike anything else in the process.
const SMALL: &str = r#"{"buffers":3,"start_size":333,"final_size":1300,"step":100}"#;

#[test]
fn growths_is_the_ceiling_of_the_distance_over_the_step() {
    let _serial = serial();
    let c = |start_size, final_size, step| Config { buffers: 1, start_size, final_size, step };
    assert_eq!(c(16, 64 << 10, 256).growths(), 256, "65520/256 = 255.9, rounded up");
    assert_eq!(c(16, 16 + 256 * 10, 256).growths(), 10);
    assert_eq!(c(10, 1000, 100).growths(), 10);
    assert_eq!(c(10, 1000, 5000).growths(), 1);
    assert_eq!(c(100, 100, 7).growths(), 0);
    let odd = c(10, 1000, 100);
    assert_eq!((odd.size_after(0), odd.size_after(9), odd.size_after(10)), (10, 910, 1000));
}

#[test]
fn one_iteration_allocates_grows_and_frees_every_buffer_on_its_own_thread() {
    let _serial = serial();
    let mut w = build(SMALL, 2, common::plain()).unwrap();
    let first = w.iterate();
    let (work, mut log) = common::record(|| w.iterate());
    log.complete();
    workers_only(&mut log);
    let s = log.blocks(|size, align| align == 1 && (333..=1300).contains(&size));
    // 2 threads x 3 buffers, each grown ceil(967/100) = 10 times.
    assert_eq!((s.allocs, s.reallocs, s.frees), (6, 60, 6));
    assert_eq!((s.still_alive, s.remote_frees, s.frees_of_older, s.zeroed), (0, 0, 0, 0));
    assert_eq!((s.min_size, s.max_size, s.alloc_threads), (333, 1300, 2));
    assert_eq!(work.allocations, 66);
    let grown: u64 = (1..=10).map(|k| (333 + 100 * k).min(1300)).sum();
    assert_eq!(work.bytes, 6 * (333 + grown));
    assert_eq!(s.bytes, work.bytes);
    assert_eq!(first, work, "every iteration does the same work");
    // Every buffer ends at final_size: the frees give back 1300-byte blocks.
    let frees: Vec<usize> =
        log.events.iter().filter(|e| e.kind == Kind::Free && e.align == 1 && e.size >= 333).map(|e| e.size).collect();
    assert_eq!(frees, vec![1300; 6]);
    // Each thread grows its buffers round-robin: sizes go 433,433,433,533,...
    let t = log.events.iter().find(|e| e.kind == Kind::Realloc).unwrap().thread;
    let mine: Vec<usize> =
        log.events.iter().filter(|e| e.kind == Kind::Realloc && e.thread == t).map(|e| e.size).collect();
    let expected: Vec<usize> = (1..=10).flat_map(|k| [(333 + 100 * k).min(1300); 3]).collect();
    assert_eq!(mine, expected);
}

#[test]
fn the_markers_survive_every_reallocation() {
    let _serial = serial();
    let live = Live::new();
    for cfg in [
        Config { buffers: 4, start_size: 16, final_size: 70_000, step: 256 },
        Config { buffers: 2, start_size: 1, final_size: 999, step: 64 },
        Config { buffers: 1, start_size: 5, final_size: 5, step: 3 },
    ] {
        let mut meter = Meter::new(&live);
        let mut buffers = Vec::new();
        let work = grow(&cfg, &mut meter, &mut buffers);
        assert_eq!(work.allocations as usize, cfg.buffers * (1 + cfg.growths()));
        assert_eq!(buffers.len(), cfg.buffers);
        for (b, block) in buffers.iter_mut().enumerate() {
            assert_eq!(block.size(), cfg.final_size, "{cfg:?}");
            let bytes = block.bytes();
            // SAFETY: these bytes were written by the workload before the moves.
            let at = |i: usize| unsafe { bytes[i].assume_init() };
            assert_eq!(at(0), marker(b), "buffer {b} of {cfg:?}");
            if cfg.start_size > 1 {
                assert_eq!(at(cfg.start_size - 1), 1);
            }
            for k in 1..=cfg.growths() {
                assert_eq!(at(cfg.size_after(k) - 1), tag(k), "growth {k} of {cfg:?}");
            }
        }
        release(&mut meter, &mut buffers);
        assert!(buffers.is_empty());
        drop(meter);
        assert_eq!(live.current(), 0);
    }
}

#[test]
fn out_of_range_parameters_are_refused() {
    let _serial = serial();
    common::assert_refused(
        "realloc_growth",
        &[
            (r#"{"buffers":0}"#, "buffers must be in 1..="),
            (r#"{"step":0}"#, "step must be in 1..="),
            (r#"{"start_size":0}"#, "start_size must be in 1..="),
            (r#"{"final_size":2147483648}"#, "final_size must be in 1..="),
            (r#"{"growth":2}"#, "unknown parameter 'growth'"),
        ],
    );
    let resolve = |p: &str| common::resolve("realloc_growth", p);
    // The order start_size <= final_size is checked with the spec: breaking it
    // refuses the spec; equal sizes are allowed.
    let err = resolve(r#"{"start_size":4096,"final_size":100}"#).unwrap_err();
    assert_eq!(err, "start_size (4096) must not exceed final_size (100)");
    assert!(resolve(r#"{"start_size":4096,"final_size":4096}"#).is_ok());
    let defaults = resolve("{}").unwrap().params;
    let c = realloc_growth::Config::from_params(&defaults);
    assert_eq!(c, Config { buffers: 4, start_size: 16, final_size: 65536, step: 64 });
}

#[test]
fn latency_mode_times_allocations_reallocations_and_frees() {
    let _serial = serial();
    let tools = common::timed(1);
    let w = build(SMALL, 2, tools.clone()).unwrap();
    let (_, report) = common::latency_iteration(&tools, w);
    let count = |op: &str| report.count(op);
    assert_eq!((count("alloc"), count("realloc"), count("free")), (6, 60, 6));
}
