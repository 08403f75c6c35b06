//! A deliberately broken allocator for hab's verify-mode tests: it ignores
//! the requested alignment and always takes malloc's (16 bytes on x86-64
//! glibc), so larger alignments are honoured only by chance.

use std::alloc::{GlobalAlloc, Layout, System};

pub struct Misaligned;

fn ignoring_alignment(layout: Layout) -> Layout {
    Layout::from_size_align(layout.size(), 1).expect("a size that was valid stays valid")
}

unsafe impl GlobalAlloc for Misaligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        System.alloc(ignoring_alignment(layout))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, ignoring_alignment(layout))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        System.realloc(ptr, ignoring_alignment(layout), new_size)
    }
}
