//! A counting global allocator for workload semantics tests.
//!
//! While [`record`] runs its closure, every allocator call on any thread is
//! logged (kind, address, size, alignment, calling thread) into a fixed
//! static log, without allocating. [`Log`] then answers what a semantics test
//! asks: how many blocks of which sizes, which frees were remote (another
//! thread than the one that allocated), what is still alive, the peak of
//! live bytes. A test binary includes it with `mod common;` and gets the
//! counting allocator as its `#[global_allocator]`, and with [`build`]'s
//! helpers: the per-binary serial lock, building workloads, resolving specs.
#![allow(dead_code)]

mod build;

// Not every test binary uses these (the self-test uses none).
#[allow(unused_imports)]
pub use build::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};

/// Events the log holds; more are counted in `dropped` and fail `Log::complete`.
const CAP: usize = 1 << 21;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Alloc,
    AllocZeroed,
    Free,
    /// A reallocation: `addr` is the new address, `old_addr` the old one.
    Realloc,
}

#[derive(Debug, Clone, Copy)]
pub struct Event {
    pub kind: Kind,
    pub addr: usize,
    pub old_addr: usize,
    pub size: usize,
    pub old_size: usize,
    pub align: usize,
    pub thread: u32,
}

struct Slot([AtomicUsize; 6]);

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot([const { AtomicUsize::new(0) }; 6]);
static LOG: [Slot; CAP] = [EMPTY; CAP];
static NEXT: AtomicUsize = AtomicUsize::new(0);
static ON: AtomicBool = AtomicBool::new(false);
static THREADS: AtomicU32 = AtomicU32::new(1);

thread_local! {
    static THREAD: Cell<u32> = const { Cell::new(0) };
}

/// A small number naming the calling thread (stable for its lifetime).
pub fn thread_id() -> u32 {
    THREAD
        .try_with(|t| {
            if t.get() == 0 {
                t.set(THREADS.fetch_add(1, SeqCst));
            }
            t.get()
        })
        .unwrap_or(u32::MAX)
}

fn log(kind: Kind, addr: usize, old_addr: usize, layout: Layout, old_size: usize) {
    if !ON.load(SeqCst) {
        return;
    }
    let i = NEXT.fetch_add(1, SeqCst);
    if i >= CAP {
        return;
    }
    let code = match kind {
        Kind::Alloc => 0,
        Kind::AllocZeroed => 1,
        Kind::Free => 2,
        Kind::Realloc => 3,
    };
    let s = &LOG[i].0;
    s[0].store(code | (thread_id() as usize) << 8, SeqCst);
    s[1].store(addr, SeqCst);
    s[2].store(old_addr, SeqCst);
    s[3].store(layout.size(), SeqCst);
    s[4].store(old_size, SeqCst);
    s[5].store(layout.align(), SeqCst);
}

pub struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        log(Kind::Alloc, p as usize, 0, layout, 0);
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        log(Kind::AllocZeroed, p as usize, 0, layout, 0);
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        log(Kind::Free, ptr as usize, 0, layout, 0);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        let new = Layout::from_size_align_unchecked(new_size, layout.align());
        log(Kind::Realloc, p as usize, ptr as usize, new, layout.size());
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Tests share the log; they take this lock to run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `f` with logging on (on all threads) and returns its result and the log.
pub fn record<R>(f: impl FnOnce() -> R) -> (R, Log) {
    let _serial: MutexGuard<()> = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    NEXT.store(0, SeqCst);
    ON.store(true, SeqCst);
    let result = f();
    ON.store(false, SeqCst);
    let n = NEXT.load(SeqCst);
    let events = (0..n.min(CAP))
        .map(|i| {
            let s = &LOG[i].0;
            let head = s[0].load(SeqCst);
            Event {
                kind: [Kind::Alloc, Kind::AllocZeroed, Kind::Free, Kind::Realloc][head & 0xff],
                thread: (head >> 8) as u32,
                addr: s[1].load(SeqCst),
                old_addr: s[2].load(SeqCst),
                size: s[3].load(SeqCst),
                old_size: s[4].load(SeqCst),
                align: s[5].load(SeqCst),
            }
        })
        .collect();
    (result, Log { events, dropped: n.saturating_sub(CAP) })
}

/// What the allocator saw while recording.
pub struct Log {
    pub events: Vec<Event>,
    pub dropped: usize,
}

/// Blocks from [`Log::blocks`]: the allocations a test cares about.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Allocations (plain and zeroed).
    pub allocs: u64,
    pub zeroed: u64,
    /// Frees of any matching block, including ones allocated before recording.
    pub frees: u64,
    pub reallocs: u64,
    /// Frees on another thread than the allocation (allocation seen in the log).
    pub remote_frees: u64,
    /// Frees of blocks allocated before recording started.
    pub frees_of_older: u64,
    /// Blocks allocated while recording and not freed by its end.
    pub still_alive: u64,
    pub min_size: usize,
    pub max_size: usize,
    /// Bytes requested by allocations and reallocations (new sizes).
    pub bytes: u64,
    /// Peak of live bytes (allocated while recording) in log order.
    pub peak_live_bytes: u64,
    /// Distinct threads that allocated.
    pub alloc_threads: usize,
    /// Misaligned blocks (address not a multiple of the requested alignment).
    pub misaligned: u64,
}

impl Log {
    /// Panics unless the log held every event.
    pub fn complete(&self) -> &Log {
        assert_eq!(self.dropped, 0, "the event log overflowed; use smaller parameters");
        self
    }

    /// Summary of the events whose layout `pick(size, align)` accepts
    /// (so a test can tell a workload's blocks from its bookkeeping).
    pub fn blocks(&self, pick: impl Fn(usize, usize) -> bool) -> Summary {
        let mut s = Summary { min_size: usize::MAX, ..Summary::default() };
        let mut alive: HashMap<usize, (u32, usize)> = HashMap::new();
        let mut threads = HashSet::new();
        let mut live: u64 = 0;
        for e in &self.events {
            match e.kind {
                Kind::Alloc | Kind::AllocZeroed if pick(e.size, e.align) => {
                    s.allocs += 1;
                    s.zeroed += (e.kind == Kind::AllocZeroed) as u64;
                    s.min_size = s.min_size.min(e.size);
                    s.max_size = s.max_size.max(e.size);
                    s.bytes += e.size as u64;
                    s.misaligned += (e.addr % e.align != 0) as u64;
                    threads.insert(e.thread);
                    alive.insert(e.addr, (e.thread, e.size));
                    live += e.size as u64;
                    s.peak_live_bytes = s.peak_live_bytes.max(live);
                }
                Kind::Free if pick(e.size, e.align) => {
                    s.frees += 1;
                    match alive.remove(&e.addr) {
                        Some((thread, size)) => {
                            s.remote_frees += (thread != e.thread) as u64;
                            live -= size as u64;
                        }
                        None => s.frees_of_older += 1,
                    }
                }
                Kind::Realloc if pick(e.size, e.align) => {
                    s.reallocs += 1;
                    s.bytes += e.size as u64;
                    s.max_size = s.max_size.max(e.size);
                    s.misaligned += (e.addr % e.align != 0) as u64;
                    let thread = match alive.remove(&e.old_addr) {
                        Some((thread, size)) => {
                            live -= size as u64;
                            thread
                        }
                        None => e.thread,
                    };
                    alive.insert(e.addr, (thread, e.size));
                    live += e.size as u64;
                    s.peak_live_bytes = s.peak_live_bytes.max(live);
                }
                _ => {}
            }
        }
        s.still_alive = alive.len() as u64;
        s.alloc_threads = threads.len();
        if s.allocs == 0 {
            s.min_size = 0;
        }
        s
    }

    /// Summary of every event.
    pub fn all(&self) -> Summary {
        self.blocks(|_, _| true)
    }

    /// Threads besides `me` that allocated (or reallocated): recording a
    /// pool's start, the pool's threads (rayon's own set-up allocates).
    /// Frees do not count, so that threads of earlier pools exiting
    /// meanwhile (freeing, and allocating once on exit) cannot mislead.
    pub fn allocating_threads(&self, me: u32) -> HashSet<u32> {
        self.events.iter().filter(|e| e.thread != me && e.kind != Kind::Free).map(|e| e.thread).collect()
    }

    /// Allocations (and reallocations) made by `threads`.
    pub fn allocations_by(&self, threads: &HashSet<u32>) -> usize {
        self.events.iter().filter(|e| threads.contains(&e.thread) && e.kind != Kind::Free).count()
    }

    /// Events of `thread`, of any kind.
    pub fn events_of(&self, thread: u32) -> usize {
        self.events.iter().filter(|e| e.thread == thread).count()
    }

    /// Keeps only the events of the threads that made at least `at_least`
    /// plain allocations `pick(size, align)` accepts: a workload's own
    /// threads, not e.g. the test harness's main thread starting and ending
    /// other tests meanwhile.
    pub fn keep_threads(&mut self, at_least: usize, pick: impl Fn(usize, usize) -> bool) {
        let mut allocs: HashMap<u32, usize> = HashMap::new();
        for e in self.events.iter().filter(|e| e.kind == Kind::Alloc && pick(e.size, e.align)) {
            *allocs.entry(e.thread).or_default() += 1;
        }
        self.events.retain(|e| allocs.get(&e.thread).is_some_and(|&n| n >= at_least));
    }
}
