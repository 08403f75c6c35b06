//! `rayon_boxes` checked against the seed's semantics through a counting
//! allocator: how many blocks are allocated and freed, their sizes, the stash
//! bound, the size sequence per seed, and the dry variant's silence.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Mutex;

use hab_engine::params::Values;
use hab_engine::workloads::rayon_boxes::{self, Config, DryTask, Init, SEED_BASE};
use hab_engine::workloads::{Context, Instruments, Work};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

const LOG_CAP: usize = 4096;

/// What the counting allocator saw on one thread while counting was on.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Seen {
    blocks: u64,
    zeroed_blocks: u64,
    block_frees: u64,
    other_allocs: u64,
    other_frees: u64,
    reallocs: u64,
    min_size: usize,
    max_size: usize,
    live: u64,
    peak_live: u64,
}

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static SEEN: Cell<Seen> = const { Cell::new(Seen {
        blocks: 0, zeroed_blocks: 0, block_frees: 0, other_allocs: 0, other_frees: 0,
        reallocs: 0, min_size: usize::MAX, max_size: 0, live: 0, peak_live: 0,
    }) };
    static SIZES: Cell<[usize; LOG_CAP]> = const { Cell::new([0; LOG_CAP]) };
}

/// Counts block allocations (alignment 1, as `Box<[u8]>`) on the pool's worker threads.
static ALL_THREADS: AtomicBool = AtomicBool::new(false);
static ALL_BLOCKS: AtomicU64 = AtomicU64::new(0);
static ALL_BLOCK_FREES: AtomicU64 = AtomicU64::new(0);

struct Counting;

/// Whether the caller is a rayon pool worker: the only threads the pooled
/// test counts on (the test harness's own threads allocate strings too).
fn on_worker() -> bool {
    rayon::current_thread_index().is_some()
}

fn on_alloc(layout: Layout, zeroed: bool) {
    if layout.align() == 1 && ALL_THREADS.load(SeqCst) && on_worker() {
        ALL_BLOCKS.fetch_add(1, SeqCst);
    }
    if !COUNTING.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let _ = SEEN.try_with(|seen| {
        let mut s = seen.get();
        if layout.align() == 1 {
            let size = layout.size();
            if (s.blocks as usize) < LOG_CAP {
                let _ = SIZES.try_with(|log| {
                    let mut l = log.get();
                    l[s.blocks as usize] = size;
                    log.set(l);
                });
            }
            s.blocks += 1;
            s.zeroed_blocks += zeroed as u64;
            s.min_size = s.min_size.min(size);
            s.max_size = s.max_size.max(size);
            s.live += 1;
            s.peak_live = s.peak_live.max(s.live);
        } else {
            s.other_allocs += 1;
        }
        seen.set(s);
    });
}

fn on_free(layout: Layout) {
    if layout.align() == 1 && ALL_THREADS.load(SeqCst) && on_worker() {
        ALL_BLOCK_FREES.fetch_add(1, SeqCst);
    }
    if !COUNTING.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let _ = SEEN.try_with(|seen| {
        let mut s = seen.get();
        if layout.align() == 1 {
            s.block_frees += 1;
            s.live -= 1;
        } else {
            s.other_frees += 1;
        }
        seen.set(s);
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout, false);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        on_alloc(layout, true);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        on_free(layout);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = SEEN.try_with(|seen| {
                let mut s = seen.get();
                s.reallocs += 1;
                seen.set(s);
            });
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Instruments for tasks run directly (no latency probes).
static TOOLS: std::sync::LazyLock<Instruments> = std::sync::LazyLock::new(Instruments::default);

/// Tests share the all-threads counters; they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` with counting on for this thread; returns what was seen and the
/// first sizes allocated.
fn counted<R>(f: impl FnOnce() -> R) -> (R, Seen, Vec<usize>) {
    SEEN.with(|s| s.set(Seen { min_size: usize::MAX, ..Seen::default() }));
    COUNTING.with(|c| c.set(true));
    let result = f();
    COUNTING.with(|c| c.set(false));
    let seen = SEEN.with(Cell::get);
    let n = (seen.blocks as usize).min(LOG_CAP);
    let sizes = SIZES.with(|l| l.get()[..n].to_vec());
    (result, seen, sizes)
}

fn cfg(max_size: usize, iters: u64, keep_max: usize, keep_prob: f64, init: Init) -> Config {
    Config { max_size, iters_per_task: iters, keep_max, keep_prob, tasks: 1, init, spin: 0 }
}

#[test]
fn one_task_allocates_and_frees_one_block_per_step_within_bounds() {
    let _serial = SERIAL.lock().unwrap();
    let c = cfg(1000, 2000, 8, 0.3, Init::Zero);
    let (work, seen, _) = counted(|| rayon_boxes::task(&c, 3, &TOOLS, 0));
    assert_eq!(work, Work { allocations: 2000, bytes: work.bytes });
    assert_eq!(seen.blocks, 2000);
    assert_eq!(seen.zeroed_blocks, 2000, "the seed allocates zeroed");
    assert_eq!(seen.block_frees, 2000, "every block is freed by the end of the task");
    assert!(seen.min_size >= 1 && seen.max_size <= 1000, "{seen:?}");
    // Stash of max(keep_max, 1) = 8, grown once when a 9th block lands before the swap_remove.
    assert_eq!((seen.other_allocs, seen.reallocs, seen.other_frees), (1, 1, 1));
    // The step's block plus a full stash: keep_max + 1 live at most, and reached.
    assert_eq!(seen.peak_live, 9);
    let mean = work.bytes as f64 / 2000.0;
    assert!((400.0..600.0).contains(&mean), "sizes uniform in 1..=1000, mean {mean}");
}

#[test]
fn keep_max_zero_keeps_nothing_alive_between_steps() {
    let _serial = SERIAL.lock().unwrap();
    let (_, seen, _) = counted(|| rayon_boxes::task(&cfg(64, 500, 0, 0.5, Init::Zero), 0, &TOOLS, 0));
    assert_eq!(seen.peak_live, 1);
    assert_eq!(seen.block_frees, 500);
}

#[test]
fn keep_prob_zero_never_stashes_and_one_always_does() {
    let _serial = SERIAL.lock().unwrap();
    let (_, never, _) = counted(|| rayon_boxes::task(&cfg(64, 300, 16, 0.0, Init::Zero), 0, &TOOLS, 0));
    assert_eq!(never.peak_live, 1);
    let (_, always, _) = counted(|| rayon_boxes::task(&cfg(64, 300, 16, 1.0, Init::Zero), 0, &TOOLS, 0));
    assert_eq!(always.peak_live, 17);
}

#[test]
fn size_sequence_is_fixed_by_the_task_seed() {
    let _serial = SERIAL.lock().unwrap();
    let c = cfg(1 << 16, 200, 4, 0.01, Init::None);
    let (_, _, first) = counted(|| rayon_boxes::task(&c, 5, &TOOLS, 0));
    let (_, _, again) = counted(|| rayon_boxes::task(&c, 5, &TOOLS, 0));
    let (_, _, other) = counted(|| rayon_boxes::task(&c, 6, &TOOLS, 0));
    assert_eq!(first.len(), 200);
    assert_eq!(first, again);
    assert_ne!(first, other);
    // The first draw of SmallRng::seed_from_u64(0xA110C ^ t) is the first size.
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ 5);
    assert_eq!(first[0], rng.random_range(1..=1usize << 16));
}

#[test]
fn none_and_touch_allocate_uninitialised_blocks() {
    let _serial = SERIAL.lock().unwrap();
    for init in [Init::None, Init::Touch] {
        let (_, seen, _) = counted(|| rayon_boxes::task(&cfg(10_000, 100, 4, 0.1, init), 1, &TOOLS, 0));
        assert_eq!((seen.blocks, seen.zeroed_blocks), (100, 0), "{init:?}");
    }
}

#[test]
fn dry_variant_does_the_same_work_without_calling_the_allocator() {
    let _serial = SERIAL.lock().unwrap();
    for init in [Init::Zero, Init::None, Init::Touch] {
        let c = cfg(4096, 1000, 8, 0.2, init);
        let (real, _, _) = counted(|| rayon_boxes::task(&c, 2, &TOOLS, 0));
        let mut dry = DryTask::new(&c).unwrap();
        let (dry_work, seen, _) = counted(|| dry.run(&c, 2, &TOOLS));
        assert_eq!(dry_work, real, "same sizes drawn, {init:?}");
        assert_eq!(seen, Seen { min_size: usize::MAX, ..Seen::default() }, "no allocator call, {init:?}");
    }
}

#[test]
fn the_pooled_workload_allocates_tasks_times_iters_blocks_per_iteration() {
    let _serial = SERIAL.lock().unwrap();
    let params: Values = serde_json::from_str(
        r#"{"max_size":512,"iters_per_task":300,"keep_max":4,"keep_prob":0.1,"tasks":6,"init":"zero"}"#,
    )
    .unwrap();
    let ctx = Context {
        params,
        threads: 3,
        dry: false,
        spin_ns: 0.0,
        spin_turns: 0,
        tools: Arc::new(Instruments::default()),
    };
    let mut workload = (rayon_boxes::DEF.build)(&ctx).unwrap();
    workload.iterate();
    ALL_BLOCKS.store(0, SeqCst);
    ALL_BLOCK_FREES.store(0, SeqCst);
    ALL_THREADS.store(true, SeqCst);
    let work = workload.iterate();
    ALL_THREADS.store(false, SeqCst);
    assert_eq!(work.allocations, 6 * 300);
    assert_eq!(ALL_BLOCKS.load(SeqCst), 6 * 300);
    assert_eq!(ALL_BLOCK_FREES.load(SeqCst), 6 * 300);
}

#[test]
fn spin_adds_busy_work_but_no_allocations() {
    let _serial = SERIAL.lock().unwrap();
    let plain = cfg(256, 2000, 4, 0.1, Init::None);
    let spun = Config { spin: 2000, ..plain };
    let start = std::time::Instant::now();
    let (w0, seen0, _) = counted(|| rayon_boxes::task(&plain, 1, &TOOLS, 0));
    let plain_ns = start.elapsed().as_nanos();
    let start = std::time::Instant::now();
    let (w1, seen1, _) = counted(|| rayon_boxes::task(&spun, 1, &TOOLS, 0));
    let spun_ns = start.elapsed().as_nanos();
    assert_eq!((w0, seen0), (w1, seen1), "same work, same allocator calls");
    assert!(spun_ns > plain_ns, "2000 turns x 2000 steps take longer than none");
}
