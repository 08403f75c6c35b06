//! The global allocator every engine binary installs: the allocator under
//! test, wrapped so that verify mode can keep the engine's own blocks away
//! from it.
//!
//! Timing runs send every call to the allocator under test, the engine's
//! own allocations (rayon's jobs, output buffers) included, as the seed's
//! benchmark did; the wrapper costs one relaxed load per call. Once verify
//! mode [`separate`]s them, only the workload's blocks (allocated inside
//! [`workload`]) come from the allocator under test and everything else
//! from a private heap of the engine's own: a broken allocator then damages
//! blocks that verify checks, and not the thread pool's latches, which
//! would hang or crash the process before any check could report it. Frees
//! and resizes go to whichever heap holds the address, so blocks allocated
//! before the switch stay with the allocator under test.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// The allocator under test, `A`, as the process's global allocator. It
/// dereferences to `A`, so a setup line such as `ALLOC.enable();` reaches it.
pub struct Routed<A>(pub A);

impl<A> std::ops::Deref for Routed<A> {
    type Target = A;

    fn deref(&self) -> &A {
        &self.0
    }
}

/// The environment variable that separates the heaps from the start.
pub const VERIFY_ENV: &str = "HAB_VERIFY";

const UNDECIDED: u8 = 0;
const TOGETHER: u8 = 1;
const SEPARATE: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(UNDECIDED);

thread_local! {
    static WORKLOAD: Cell<bool> = const { Cell::new(false) };
}

/// The engine's own heap in verify mode: address space only, committed as used.
#[cfg(unix)]
static OWN: hab_arena::TalcArena = hab_arena::TalcArena::with_bytes(OWN_BYTES);
#[cfg(unix)]
const OWN_BYTES: usize = 16 << 30;

/// From now on, allocations outside [`workload`] come from the engine's own
/// heap (where the platform has one; elsewhere nothing changes).
pub fn separate() {
    if cfg!(unix) {
        MODE.store(SEPARATE, Relaxed);
    }
}

/// Whether the engine's own allocations are kept apart.
#[inline]
pub fn separated() -> bool {
    match MODE.load(Relaxed) {
        TOGETHER => false,
        SEPARATE => true,
        _ => decide(),
    }
}

/// The first call's decision: separate if [`VERIFY_ENV`] is `1`.
#[cold]
fn decide() -> bool {
    let separate = cfg!(unix) && verify_env_set();
    // A separation switched on meanwhile stays on.
    let _ = MODE.compare_exchange(UNDECIDED, if separate { SEPARATE } else { TOGETHER }, Relaxed, Relaxed);
    MODE.load(Relaxed) == SEPARATE
}

#[cfg(unix)]
fn verify_env_set() -> bool {
    // SAFETY: getenv does not allocate; it returns null or a NUL-terminated
    // string that is read at once.
    let raw = unsafe { libc::getenv(c"HAB_VERIFY".as_ptr()) };
    !raw.is_null() && unsafe { std::ffi::CStr::from_ptr(raw) }.to_bytes() == b"1"
}

#[cfg(not(unix))]
fn verify_env_set() -> bool {
    false
}

/// Runs `f`, whose allocations are the workload's: they come from the
/// allocator under test even when the engine's own are separated.
#[inline]
pub fn workload<R>(f: impl FnOnce() -> R) -> R {
    WORKLOAD.with(|w| {
        let outer = w.replace(true);
        let out = f();
        w.set(outer);
        out
    })
}

/// Whether `ptr` lies in the engine's own heap.
pub fn owns(ptr: *mut u8) -> bool {
    own_holding(ptr).is_some()
}

#[cfg(unix)]
#[inline]
fn own_for_new() -> Option<&'static hab_arena::TalcArena> {
    (separated() && !WORKLOAD.with(Cell::get)).then_some(&OWN)
}

#[cfg(unix)]
#[inline]
fn own_holding(ptr: *mut u8) -> Option<&'static hab_arena::TalcArena> {
    (separated() && OWN.contains(ptr)).then_some(&OWN)
}

#[cfg(not(unix))]
#[inline]
fn own_for_new() -> Option<&'static std::alloc::System> {
    None
}

#[cfg(not(unix))]
#[inline]
fn own_holding(_: *mut u8) -> Option<&'static std::alloc::System> {
    None
}

/// Whether every call goes to the allocator under test (a timing run, once decided).
#[inline(always)]
fn together() -> bool {
    MODE.load(Relaxed) == TOGETHER
}

// The paths that may use the engine's heap are out of line and cold, so that
// a timing run's call is the allocator's own plus one load and one branch,
// with no stack frame of the wrapper's. They take the call's arguments in
// the registers the call brought them in (size before alignment, `self`
// last), so that the timed path moves no register for their sake.
impl<A: GlobalAlloc> Routed<A> {
    #[cold]
    #[inline(never)]
    unsafe fn alloc_apart(size: usize, align: usize, zeroed: bool, this: &Self) -> *mut u8 {
        // SAFETY: the size and alignment of a layout the caller was given.
        let layout = unsafe { Layout::from_size_align_unchecked(size, align) };
        match (own_for_new(), zeroed) {
            (Some(own), false) => own.alloc(layout),
            (Some(own), true) => own.alloc_zeroed(layout),
            (None, false) => this.0.alloc(layout),
            (None, true) => this.0.alloc_zeroed(layout),
        }
    }

    #[cold]
    #[inline(never)]
    unsafe fn dealloc_apart(ptr: *mut u8, size: usize, align: usize, this: &Self) {
        // SAFETY: as in `alloc_apart`.
        let layout = unsafe { Layout::from_size_align_unchecked(size, align) };
        match own_holding(ptr) {
            Some(own) => own.dealloc(ptr, layout),
            None => this.0.dealloc(ptr, layout),
        }
    }

    #[cold]
    #[inline(never)]
    unsafe fn realloc_apart(ptr: *mut u8, size: usize, align: usize, new_size: usize, this: &Self) -> *mut u8 {
        // SAFETY: as in `alloc_apart`.
        let layout = unsafe { Layout::from_size_align_unchecked(size, align) };
        match own_holding(ptr) {
            Some(own) => own.realloc(ptr, layout, new_size),
            None => this.0.realloc(ptr, layout, new_size),
        }
    }
}

// SAFETY: every call goes to one of two sound allocators, and a block is
// freed or resized by the one that allocated it: `own_holding` tells the
// engine's heap by its address range, which the allocator under test never
// hands out.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Routed<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if together() {
            self.0.alloc(layout)
        } else {
            Self::alloc_apart(layout.size(), layout.align(), false, self)
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if together() {
            self.0.alloc_zeroed(layout)
        } else {
            Self::alloc_apart(layout.size(), layout.align(), true, self)
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if together() {
            self.0.dealloc(ptr, layout)
        } else {
            Self::dealloc_apart(ptr, layout.size(), layout.align(), self)
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if together() {
            self.0.realloc(ptr, layout, new_size)
        } else {
            Self::realloc_apart(ptr, layout.size(), layout.align(), new_size, self)
        }
    }
}
