//! rpmalloc as the global allocator, with every `GlobalAlloc` operation
//! reaching the library.
//!
//! The rpmalloc crate (0.2.2) implements `alloc`, `alloc_zeroed` and
//! `dealloc` but not `realloc`, so Rust's default ran instead: allocate a
//! new block, copy, free the old one, on every resize. The library's own
//! `rprealloc` keeps a block that still fits its size class or its spans,
//! and over-allocates a small growth by 37% when it has to move. [`RpMalloc`]
//! makes the crate's calls for the first three operations and the library's
//! reallocation for the fourth.
//!
//! Initialisation is the crate's: none here. rpmalloc-sys is built in its
//! preload mode, as the crate builds it, so the library initialises itself:
//! a process constructor and destructor, a `pthread_create` of its own that
//! sets up each new thread's heap and finalises it from a thread-key
//! destructor, and a heap made at the first call of any other thread. (The
//! C code's `malloc` stays glibc's: preload mode does not override it.)

use std::alloc::{GlobalAlloc, Layout};

use rpmalloc_sys as ffi;

/// The alignment of every rpmalloc block (`SMALL_GRANULARITY` in
/// rpmalloc.c); larger alignments need the `rpaligned_*` calls.
pub const NATURAL_ALIGN: usize = 16;

/// rpmalloc through rpmalloc-sys: `rpaligned_alloc`, `rpaligned_calloc`,
/// `rpfree` (as the rpmalloc crate calls them) and `rprealloc`, or
/// `rpaligned_realloc` above [`NATURAL_ALIGN`].
///
/// As with the crate's `alloc`, alignments of rpmalloc's span size (64 KiB)
/// or more are refused by the library: the call returns null.
pub struct RpMalloc;

// SAFETY: every call is the library's, which returns null or a block of at
// least the asked size and alignment that stays valid until `rpfree`; a
// failed reallocation leaves the old block as it was.
unsafe impl GlobalAlloc for RpMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ffi::rpaligned_alloc(layout.align(), layout.size()).cast()
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ffi::rpaligned_calloc(layout.align(), 1, layout.size()).cast()
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        ffi::rpfree(ptr.cast())
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= NATURAL_ALIGN {
            ffi::rprealloc(ptr.cast(), new_size).cast()
        } else {
            // The old size spares the library a copy of the whole usable block.
            ffi::rpaligned_realloc(ptr.cast(), layout.align(), new_size, layout.size(), 0).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Grows a block of `align` through every rpmalloc size range (small,
    /// medium, large spans, huge pages) and shrinks it again, checking its
    /// alignment and that the bytes it had survive each move.
    fn grow_and_shrink(align: usize) {
        let sizes = [24, 200, 3000, 40_000, 300_000, 5 << 20, 100, 8];
        unsafe {
            let mut layout = Layout::from_size_align(16, align).unwrap();
            let mut ptr = RpMalloc.alloc(layout);
            assert!(!ptr.is_null());
            for i in 0..16 {
                ptr.add(i).write(i as u8);
            }
            for new_size in sizes {
                let kept = layout.size().min(new_size);
                ptr = RpMalloc.realloc(ptr, layout, new_size);
                assert!(!ptr.is_null());
                assert!((ptr as usize).is_multiple_of(align), "{new_size} bytes aligned to {align}");
                for i in 0..kept.min(16) {
                    assert_eq!(ptr.add(i).read(), i as u8, "byte {i} after a realloc to {new_size}");
                }
                ptr.add(new_size - 1).write(0xaa);
                layout = Layout::from_size_align(new_size, align).unwrap();
            }
            RpMalloc.dealloc(ptr, layout);
        }
    }

    #[test]
    fn realloc_keeps_contents_at_natural_alignment() {
        grow_and_shrink(1);
        grow_and_shrink(NATURAL_ALIGN);
    }

    #[test]
    fn realloc_keeps_contents_and_alignment_above_it() {
        for align in [32, 256, 4096, 32 << 10] {
            grow_and_shrink(align);
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_and_aligned() {
        for (size, align) in [(1, 1), (4000, 64), (1 << 20, 4096)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            unsafe {
                let ptr = RpMalloc.alloc_zeroed(layout);
                assert!(!ptr.is_null() && (ptr as usize).is_multiple_of(align));
                assert!(std::slice::from_raw_parts(ptr, size).iter().all(|&b| b == 0));
                RpMalloc.dealloc(ptr, layout);
            }
        }
    }
}
