//! A deliberately broken allocator for hab's verify-mode tests: every
//! `EVERY`-th (default 64th) request of 16..=256 bytes gets a block it
//! handed out recently to the same thread and that is still alive (large
//! enough and suitably aligned), so two live blocks overlap. (The same
//! thread's: a block another thread is freeing at that moment would be a
//! reuse no one could tell from a correct allocator's.) It only breaks that size band, where a workload's blocks are
//! and the engine's own buffers mostly are not.
//!
//! The duplicate's later free is swallowed, so the process does not abort
//! on a double free: the breakage stays silent unless someone checks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

const BAND: std::ops::RangeInclusive<usize> = 16..=256;
const RECENT: usize = 64;
const SLOTS: usize = 1024;

pub struct Overlapping<const EVERY: u64 = 64> {
    requests: AtomicU64,
    next: AtomicUsize,
    recent: [(AtomicUsize, AtomicUsize, AtomicUsize); RECENT], // (address, size, thread) of recent live blocks
    duplicates: [AtomicUsize; SLOTS],
    told: AtomicBool,
    books: broken_common::SpinLock, // held around every use of `recent` and `duplicates`
}

impl<const EVERY: u64> Overlapping<EVERY> {
    pub const fn new() -> Self {
        Overlapping {
            requests: AtomicU64::new(0),
            next: AtomicUsize::new(0),
            recent: [const { (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)) }; RECENT],
            duplicates: [const { AtomicUsize::new(0) }; SLOTS],
            told: AtomicBool::new(false),
            books: broken_common::SpinLock::new(),
        }
    }

    /// A recent live block of this thread's that can pass for one of `layout`.
    fn victim(&self, layout: Layout) -> Option<usize> {
        let me = thread();
        self.recent.iter().find_map(|(addr, size, owner)| {
            let a = addr.load(Relaxed);
            let fits = a % layout.align() == 0 && size.load(Relaxed) >= layout.size();
            (a != 0 && fits && owner.load(Relaxed) == me).then_some(a)
        })
    }

    fn remember(&self, addr: usize, size: usize) {
        let slot = &self.recent[self.next.fetch_add(1, Relaxed) % RECENT];
        slot.1.store(size, Relaxed);
        slot.2.store(thread(), Relaxed);
        slot.0.store(addr, Relaxed);
    }

    fn remember_duplicate(&self, addr: usize) -> bool {
        self.duplicates.iter().any(|slot| slot.compare_exchange(0, addr, Relaxed, Relaxed).is_ok())
    }

    fn forget(&self, addr: usize) -> bool {
        if self.duplicates.iter().any(|slot| slot.compare_exchange(addr, 0, Relaxed, Relaxed).is_ok()) {
            return true;
        }
        for (a, _, _) in &self.recent {
            let _ = a.compare_exchange(addr, 0, Relaxed, Relaxed);
        }
        false
    }
}

/// This thread's identity, without allocating: the address of a thread-local.
fn thread() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|m| m as *const u8 as usize)
}

impl<const EVERY: u64> Default for Overlapping<EVERY> {
    fn default() -> Self {
        Overlapping::new()
    }
}

unsafe impl<const EVERY: u64> GlobalAlloc for Overlapping<EVERY> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !BAND.contains(&layout.size()) {
            return System.alloc(layout);
        }
        if self.requests.fetch_add(1, Relaxed) % EVERY == EVERY - 1 {
            let again = self.books.with(|| self.victim(layout).filter(|&addr| self.remember_duplicate(addr)));
            if let Some(addr) = again {
                broken_common::note_once(&self.told, "overlapping: handed out a live block again");
                return addr as *mut u8;
            }
        }
        let ptr = System.alloc(layout);
        self.books.with(|| self.remember(ptr as usize, layout.size()));
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // The block leaves the books before the C heap gets it back, so no
        // allocation can pick it as a victim once it is free.
        if !self.books.with(|| self.forget(ptr as usize)) {
            System.dealloc(ptr, layout)
        }
    }
}
