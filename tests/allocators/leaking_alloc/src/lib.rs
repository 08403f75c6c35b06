//! A deliberately broken allocator for hab's verify-mode tests: it never
//! frees. Every result it gives is correct and fast, and a benchmark that
//! does not look at memory would rank it well.

use std::alloc::{GlobalAlloc, Layout, System};

pub struct Leaking;

unsafe impl GlobalAlloc for Leaking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}
