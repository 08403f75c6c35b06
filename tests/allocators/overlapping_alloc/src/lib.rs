//! A deliberately broken allocator for hab's verify-mode tests: when the
//! 64th, 128th, ... request asks for the same size as the one before, it
//! gets that block again while the block is still alive, so two live blocks
//! overlap. (Same size only: a workload's blocks come in runs of equal
//! sizes, the engine's own buffers rarely do.)
//!
//! The duplicate's later free is swallowed, so the process does not abort
//! on a double free: the breakage stays silent unless someone checks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

const EVERY: u64 = 64;
const SLOTS: usize = 1024;

pub struct Overlapping {
    requests: AtomicU64,
    last: AtomicUsize,
    last_size: AtomicUsize,
    duplicates: [AtomicUsize; SLOTS],
}

impl Overlapping {
    pub const fn new() -> Overlapping {
        Overlapping {
            requests: AtomicU64::new(0),
            last: AtomicUsize::new(0),
            last_size: AtomicUsize::new(0),
            duplicates: [const { AtomicUsize::new(0) }; SLOTS],
        }
    }

    fn remember_duplicate(&self, addr: usize) -> bool {
        self.duplicates.iter().any(|slot| slot.compare_exchange(0, addr, Relaxed, Relaxed).is_ok())
    }

    fn forget_duplicate(&self, addr: usize) -> bool {
        self.duplicates.iter().any(|slot| slot.compare_exchange(addr, 0, Relaxed, Relaxed).is_ok())
    }
}

impl Default for Overlapping {
    fn default() -> Self {
        Overlapping::new()
    }
}

unsafe impl GlobalAlloc for Overlapping {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let n = self.requests.fetch_add(1, Relaxed);
        let last = self.last.load(Relaxed);
        if n % EVERY == EVERY - 1
            && last != 0
            && last % layout.align() == 0
            && layout.size() == self.last_size.load(Relaxed)
            && self.remember_duplicate(last)
        {
            return last as *mut u8;
        }
        let ptr = System.alloc(layout);
        self.last.store(ptr as usize, Relaxed);
        self.last_size.store(layout.size(), Relaxed);
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.forget_duplicate(ptr as usize) {
            return;
        }
        let _ = self.last.compare_exchange(ptr as usize, 0, Relaxed, Relaxed);
        System.dealloc(ptr, layout)
    }
}
