//! A test allocator for hab's bring-your-own path: System, counted.
//!
//! It has a const constructor with arguments and must be switched on at
//! start (`ALLOC.enable()`), like the seed's `virtual_alloc`; until then
//! it refuses nothing but counts nothing either.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

pub struct Counting {
    enabled: AtomicBool,
    calls: AtomicU64,
    tag: u64,
}

impl Counting {
    pub const fn new(tag: u64) -> Counting {
        Counting { enabled: AtomicBool::new(false), calls: AtomicU64::new(0), tag }
    }

    pub fn enable(&self) {
        self.enabled.store(true, Relaxed);
        eprintln!("counting_alloc: enabled (tag {})", self.tag);
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Relaxed)
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.enabled.load(Relaxed) {
            self.calls.fetch_add(1, Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        System.realloc(ptr, layout, new_size)
    }
}
