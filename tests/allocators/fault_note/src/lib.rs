//! How hab's deliberately broken test allocators say that their fault
//! fired: one line on standard error, the first time only, written with
//! the C library's `write` because an allocator may not allocate. The
//! detection benchmark counts a verify run as a chance to catch the fault
//! only when this line is in the engine's stderr.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

extern "C" {
    fn write(fd: i32, buf: *const u8, count: usize) -> isize;
}

/// The line every note starts with.
pub const MARKER: &str = "hab-test-fault:";

/// Writes `MARKER what` once per `told` flag.
pub fn once(told: &AtomicBool, what: &str) {
    if told.swap(true, Relaxed) {
        return;
    }
    for part in [MARKER.as_bytes(), b" ", what.as_bytes(), b"\n"] {
        // SAFETY: fd 2 and a valid byte slice; a short or failed write only loses the note.
        unsafe { write(2, part.as_ptr(), part.len()) };
    }
}
