//! Single-lock heaps for the allocators Hermit's kernel uses, and others of
//! that kind.
//!
//! Hermit's kernel heap is one heap (talc since 2023, linked_list_allocator
//! before) over one large region, behind one lock that every thread of the
//! application contends on. buddy_system_allocator, a heap for bare-metal
//! kernels of the same shape, gets the same treatment. [`LockedArena`] rebuilds that shape in a Linux
//! process: one anonymous mapping reserved at the first allocation (the kernel
//! commits its pages lazily, on first touch) and one `std::sync::Mutex`
//! around the heap. Hermit's lock is an interrupt-disabling ticket lock; a
//! user-space spin lock would behave worse than that under preemption, so a
//! futex-backed mutex is the closer match here.
//!
//! The arena size is read from `HAB_ARENA_BYTES` at the first allocation
//! (default 64 GiB of address space; only touched pages cost memory).

use std::alloc::{GlobalAlloc, Layout};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

mod mapping;

/// Address space reserved for the arena when `HAB_ARENA_BYTES` is unset.
pub const DEFAULT_ARENA_BYTES: usize = 64 << 30;

/// A heap algorithm that manages one region handed to it once.
pub trait ArenaHeap: Send {
    /// The heap before it owns any memory.
    const EMPTY: Self;

    /// Hands the whole region `[base, base + size)` to the heap.
    ///
    /// # Safety
    /// The region must be valid, writable and unused, and given only once.
    unsafe fn init(&mut self, base: *mut u8, size: usize);

    /// Allocates a block, or returns null when the arena is exhausted.
    ///
    /// # Safety
    /// `layout` has a non-zero size.
    unsafe fn alloc(&mut self, layout: Layout) -> *mut u8;

    /// Frees a block.
    ///
    /// # Safety
    /// `ptr` came from `alloc` or `realloc` on this heap with `layout`.
    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout);

    /// Resizes a block; the default moves it to a new block.
    ///
    /// # Safety
    /// As for `dealloc`, and `new_size` is non-zero.
    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        let new = self.alloc(new_layout);
        if !new.is_null() {
            ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new
    }
}

struct State<H> {
    ready: bool,
    heap: H,
}

/// A [`GlobalAlloc`] made of one heap `H`, one lock and one lazily mapped region.
pub struct LockedArena<H: ArenaHeap> {
    state: Mutex<State<H>>,
    bytes: usize, // the region's size; 0: `HAB_ARENA_BYTES` or the default
    base: AtomicUsize,
    end: AtomicUsize,
}

impl<H: ArenaHeap> LockedArena<H> {
    /// An arena that maps its region at the first allocation.
    pub const fn new() -> Self {
        Self::with_bytes(0)
    }

    /// An arena of `bytes` of address space, whatever `HAB_ARENA_BYTES` says.
    pub const fn with_bytes(bytes: usize) -> Self {
        LockedArena {
            state: Mutex::new(State { ready: false, heap: H::EMPTY }),
            bytes,
            base: AtomicUsize::new(0),
            end: AtomicUsize::new(0),
        }
    }

    /// Whether `ptr` lies in this arena's region (false before its first allocation).
    #[inline]
    pub fn contains(&self, ptr: *mut u8) -> bool {
        let addr = ptr as usize;
        addr >= self.base.load(Relaxed) && addr < self.end.load(Relaxed)
    }

    fn with_heap<R>(&self, f: impl FnOnce(&mut H) -> R) -> R {
        let mut guard = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if !guard.ready {
            if let Some((base, size)) = mapping::region(self.bytes) {
                // SAFETY: a fresh region of `size` bytes, handed over once.
                unsafe { guard.heap.init(base, size) };
                self.end.store(base as usize + size, Relaxed);
                self.base.store(base as usize, Relaxed);
            }
            guard.ready = true;
        }
        f(&mut guard.heap)
    }
}

impl<H: ArenaHeap> Default for LockedArena<H> {
    fn default() -> Self {
        Self::new()
    }
}

unsafe impl<H: ArenaHeap> GlobalAlloc for LockedArena<H> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.with_heap(|heap| heap.alloc(layout))
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.with_heap(|heap| heap.dealloc(ptr, layout))
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.with_heap(|heap| heap.realloc(ptr, layout, new_size))
    }
}

/// talc, as the Hermit kernel has used it since 2023.
pub type TalcArena = LockedArena<talc::Talc<talc::ErrOnOom>>;

/// linked_list_allocator, the Hermit kernel heap before 2023.
pub type LinkedListArena = LockedArena<linked_list_allocator::Heap>;

/// buddy_system_allocator's heap (blocks up to 2^32 bytes), a bare-metal
/// kernel heap of the same one-region, one-lock shape.
pub type BuddyArena = LockedArena<buddy_system_allocator::Heap<BUDDY_ORDER>>;

/// Orders of the buddy heap: the largest block is 2^(BUDDY_ORDER-1) bytes.
pub const BUDDY_ORDER: usize = 33;

impl ArenaHeap for talc::Talc<talc::ErrOnOom> {
    const EMPTY: Self = talc::Talc::new(talc::ErrOnOom);

    unsafe fn init(&mut self, base: *mut u8, size: usize) {
        // A failed claim leaves the heap empty; allocations then return null.
        let _ = self.claim(talc::Span::from_base_size(base, size));
    }

    unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.malloc(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        self.free(NonNull::new_unchecked(ptr), layout)
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let block = NonNull::new_unchecked(ptr);
        if new_size <= layout.size() {
            self.shrink(block, layout, new_size);
            return ptr;
        }
        self.grow(block, layout, new_size).map_or(ptr::null_mut(), NonNull::as_ptr)
    }
}

impl ArenaHeap for linked_list_allocator::Heap {
    const EMPTY: Self = linked_list_allocator::Heap::empty();

    unsafe fn init(&mut self, base: *mut u8, size: usize) {
        linked_list_allocator::Heap::init(self, base, size)
    }

    unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        self.allocate_first_fit(layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        self.deallocate(NonNull::new_unchecked(ptr), layout)
    }
}

impl ArenaHeap for buddy_system_allocator::Heap<BUDDY_ORDER> {
    const EMPTY: Self = buddy_system_allocator::Heap::empty();

    unsafe fn init(&mut self, base: *mut u8, size: usize) {
        buddy_system_allocator::Heap::init(self, base as usize, size)
    }

    unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        buddy_system_allocator::Heap::alloc(self, layout).map_or(ptr::null_mut(), NonNull::as_ptr)
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8, layout: Layout) {
        buddy_system_allocator::Heap::dealloc(self, NonNull::new_unchecked(ptr), layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise<H: ArenaHeap>(arena: &LockedArena<H>) {
        unsafe {
            let layout = Layout::from_size_align(100, 64).unwrap();
            let a = arena.alloc(layout);
            assert!(!a.is_null());
            assert_eq!(a as usize % 64, 0);
            a.write_bytes(7, 100);
            let b = arena.realloc(a, layout, 5000);
            assert!(!b.is_null());
            assert!(std::slice::from_raw_parts(b, 100).iter().all(|&x| x == 7));
            let c = arena.alloc(Layout::from_size_align(1 << 20, 8).unwrap());
            assert!(!c.is_null());
            arena.dealloc(c, Layout::from_size_align(1 << 20, 8).unwrap());
            arena.dealloc(b, Layout::from_size_align(5000, 64).unwrap());
        }
    }

    #[test]
    fn talc_arena_allocates_aligned_and_reallocates() {
        static ARENA: TalcArena = TalcArena::new();
        exercise(&ARENA);
    }

    #[test]
    fn linked_list_arena_allocates_aligned_and_reallocates() {
        static ARENA: LinkedListArena = LinkedListArena::new();
        exercise(&ARENA);
    }

    #[test]
    fn buddy_arena_allocates_aligned_and_reallocates() {
        static ARENA: BuddyArena = BuddyArena::new();
        exercise(&ARENA);
    }

    #[test]
    fn exhausted_arena_returns_null() {
        let arena: LockedArena<talc::Talc<talc::ErrOnOom>> = LockedArena::new();
        let huge = Layout::from_size_align(DEFAULT_ARENA_BYTES * 2, 8).unwrap();
        assert!(unsafe { arena.alloc(huge) }.is_null());
    }
}
