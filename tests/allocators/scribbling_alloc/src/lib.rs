//! A deliberately broken allocator for hab's verify-mode tests: on every
//! `EVERY`-th allocation it flips one byte in the middle of a block (of
//! `VICTIMS` blocks) it handed out recently and that is still live, the way a heap overflow or
//! a use-after-free inside an allocator damages its users' data. The
//! allocation itself is correct; the damage is silent unless someone
//! checks the contents of live blocks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

const RECENT: usize = 64;

/// `VICTIMS` above 1 is for tests that must see the damage in every run: a
/// block another thread is freeing at that instant has already been checked
/// (verify checks a block before it frees it, and a large block's check
/// takes milliseconds), so damage to it is lost, where one of two victims
/// is almost always a block at rest.
pub struct Scribbling<const EVERY: u64 = 256, const VICTIMS: usize = 1> {
    requests: AtomicU64,
    next: AtomicUsize,
    recent: [(AtomicUsize, AtomicUsize); RECENT], // (address, size) of recent blocks still live
    told: AtomicBool,
    books: broken_common::SpinLock, // held around every use of `recent`, and while scribbling
}

impl<const EVERY: u64, const VICTIMS: usize> Scribbling<EVERY, VICTIMS> {
    pub const fn new() -> Self {
        Scribbling {
            requests: AtomicU64::new(0),
            next: AtomicUsize::new(0),
            recent: [const { (AtomicUsize::new(0), AtomicUsize::new(0)) }; RECENT],
            told: AtomicBool::new(false),
            books: broken_common::SpinLock::new(),
        }
    }

    fn remember(&self, addr: usize, size: usize) {
        let slot = &self.recent[self.next.fetch_add(1, Relaxed) % RECENT];
        slot.0.store(0, Relaxed);
        slot.1.store(size, Relaxed);
        slot.0.store(addr, Relaxed);
    }

    fn forget(&self, addr: usize) {
        for (a, _) in &self.recent {
            let _ = a.compare_exchange(addr, 0, Relaxed, Relaxed);
        }
    }

    /// Flips a byte of up to `VICTIMS` remembered live blocks (taking each
    /// off the list, so that no block is damaged twice).
    fn scribble(&self, seed: u64) {
        let mut damaged = 0;
        for i in 0..RECENT {
            let (addr, size) = &self.recent[(seed as usize + i) % RECENT];
            let a = addr.swap(0, Relaxed);
            if a != 0 {
                let n = size.load(Relaxed);
                // SAFETY: not safe at all, which is the point: the block is
                // live and owned by the program; the byte is inside it.
                unsafe { *((a + n / 2) as *mut u8) ^= 0x5a };
                broken_common::note_once(&self.told, "scribbling: flipped a byte of a live block");
                damaged += 1;
                if damaged == VICTIMS {
                    return;
                }
            }
        }
    }
}

impl<const EVERY: u64, const VICTIMS: usize> Default for Scribbling<EVERY, VICTIMS> {
    fn default() -> Self {
        Scribbling::new()
    }
}

unsafe impl<const EVERY: u64, const VICTIMS: usize> GlobalAlloc for Scribbling<EVERY, VICTIMS> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let n = self.requests.fetch_add(1, Relaxed);
        if n % EVERY == EVERY - 1 {
            self.books.with(|| self.scribble(n / EVERY));
        }
        let ptr = System.alloc(layout);
        if !ptr.is_null() && layout.size() > 0 {
            self.books.with(|| self.remember(ptr as usize, layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Off the books before the C heap gets it back: only live blocks are damaged.
        self.books.with(|| self.forget(ptr as usize));
        System.dealloc(ptr, layout)
    }
}
