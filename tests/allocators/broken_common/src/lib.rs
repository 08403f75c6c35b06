//! What hab's deliberately broken test allocators share: a note on standard
//! error when their fault fires, and a lock that keeps their own books
//! consistent (so that the only fault is the one they are built to have).
//!
//! The note is one line, the first time only, written with the C library's
//! `write` because an allocator may not allocate. The detection benchmark
//! counts a verify run as a chance to catch the fault only when this line is
//! in the engine's stderr.

use std::sync::atomic::{AtomicBool, Ordering};

extern "C" {
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
}

/// The line every note starts with.
pub const MARKER: &str = "hab-test-fault:";

/// Writes `MARKER what` once per `told` flag.
pub fn note_once(told: &AtomicBool, what: &str) {
    if told.swap(true, Ordering::Relaxed) {
        return;
    }
    for part in [MARKER.as_bytes(), b" ", what.as_bytes(), b"\n"] {
        // SAFETY: fd 2 and a valid byte slice; a short or failed write only loses the note.
        unsafe { write(2, part.as_ptr(), part.len()) };
    }
}

/// A spin lock that allocates nothing: a test allocator's bookkeeping under
/// it cannot race with a free (which would turn the intended fault into a
/// use after free of the C heap's own metadata).
pub struct SpinLock(AtomicBool);

impl SpinLock {
    pub const fn new() -> Self {
        SpinLock(AtomicBool::new(false))
    }

    /// Runs `f` holding the lock.
    pub fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        while self.0.swap(true, Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let out = f();
        self.0.store(false, Ordering::Release);
        out
    }
}

impl Default for SpinLock {
    fn default() -> Self {
        Self::new()
    }
}
