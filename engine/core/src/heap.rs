//! Blocks from the global allocator and the bookkeeping every workload shares.
//!
//! Workloads allocate through a [`Meter`]: it calls the global allocator (the
//! one under test; in verify mode as the workload's, see [`crate::route`]), keeps a running tally of requested bytes alive so the
//! report can state peak live bytes next to peak RSS, and in latency mode
//! times a sampled subset of single operations (see [`crate::latency`]).
//!
//! A meter's calls are *checked* in verify mode and when it has a latency
//! probe ([`Meter::checked`]); otherwise a call is the allocator's plus the
//! books. [`Meter::alloc`] and [`Meter::free`] decide that per call, with the
//! checked work out of line. A tight loop can decide it once instead: written
//! once over [`Heap`], it runs on the meter itself when it is checked and on
//! the meter's [`Plain`] path otherwise, which keeps the books in locals
//! (registers) and calls a [`Source`]: the global allocator ([`Global`]), or
//! in a dry variant a stand-in that calls none, so that the dry loop does
//! exactly the real loop's work but the allocator calls.
//!
//! The live tally is kept per meter and flushed to the shared [`Live`]
//! counter once it has moved by [`FLUSH_BYTES`] (and when the meter is
//! dropped), so the timed path touches a shared cache line rarely. A flush
//! also offers the meter's own high-water mark since its last flush, added
//! to the shared count, as a peak candidate. The peak is exact for one
//! thread and, with several, may miss up to `FLUSH_BYTES` per other meter
//! alive at the time (their unflushed growth).

use std::alloc::{self, Layout};
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use crate::latency::{Op, Probe};
use crate::limits::PAGE;
use crate::{route, verify};

/// A meter publishes its tally once it has moved by this many bytes.
pub const FLUSH_BYTES: i64 = 16 << 10;

/// Requested bytes alive across the process, and their peak.
#[derive(Debug, Default)]
pub struct Live {
    current: AtomicI64,
    peak: AtomicU64,
}

impl Live {
    pub fn new() -> Live {
        Live::default()
    }

    /// Adds a meter's net `delta`; `high` is the highest its unflushed
    /// tally reached since its last flush. Out of line: a loop's books call
    /// it once per [`FLUSH_BYTES`] they move.
    #[cold]
    #[inline(never)]
    fn publish(&self, delta: i64, high: i64) {
        let before = self.current.fetch_add(delta, Relaxed);
        let candidate = before + high.max(delta);
        if candidate > 0 {
            self.peak.fetch_max(candidate as u64, Relaxed);
        }
    }

    /// Highest tally seen so far, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak.load(Relaxed)
    }

    /// Bytes alive now, as far as flushed meters have told.
    pub fn current(&self) -> i64 {
        self.current.load(Relaxed)
    }
}

/// How a fresh block's bytes are prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Uninitialised (`alloc`).
    Uninit,
    /// Zeroed by the allocator (`alloc_zeroed`).
    Zeroed,
}

/// One live allocation. It has no destructor: a workload gives every block
/// back through [`Meter::free`] (the semantics tests check that nothing leaks).
#[derive(Debug)]
pub struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a block is plain owned memory; moving it to another thread (a
// remote free) is exactly what several workloads do.
unsafe impl Send for Block {}

impl Block {
    pub fn size(&self) -> usize {
        self.layout.size()
    }

    pub fn align(&self) -> usize {
        self.layout.align()
    }

    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The block's first byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// The block's bytes, possibly uninitialised.
    pub fn bytes(&mut self) -> &mut [MaybeUninit<u8>] {
        // SAFETY: the block owns `size` bytes at `ptr` until it is freed.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().cast(), self.layout.size()) }
    }

    /// Writes `value` at `offset` (volatile, so the write is never elided).
    /// In verify mode it writes the verification pattern's byte instead.
    #[inline]
    pub fn poke(&mut self, offset: usize, value: u8) {
        self.poke_in(verify::on(), offset, value);
    }

    /// [`poke`](Self::poke) with verify mode's state (`verify::on()`) read
    /// by the caller, so that a tight loop reads it once.
    #[inline]
    pub fn poke_in(&mut self, verifying: bool, offset: usize, value: u8) {
        assert!(offset < self.layout.size());
        let value = if verifying { verify::expected(self.addr(), self.size(), offset) } else { value };
        // SAFETY: in bounds, checked above.
        unsafe { self.ptr.as_ptr().add(offset).write_volatile(value) }
    }

    /// Writes bytes 0 and `size-1`: the block is used, as the seed does it.
    #[inline]
    pub fn touch_ends(&mut self) {
        let last = self.layout.size() - 1;
        self.poke(0, 1);
        self.poke(last, 1);
    }

    /// Writes one byte per 4 KiB page and the last byte.
    pub fn touch_pages(&mut self) {
        let size = self.layout.size();
        for offset in (0..size).step_by(PAGE) {
            self.poke(offset, 1);
        }
        self.poke(size - 1, 1);
    }
}

/// A meter's books since its last flush: requested bytes allocated minus
/// freed (`pending`) and the highest that reached (`high`).
#[derive(Debug)]
struct Tally<'a> {
    live: &'a Live,
    pending: i64,
    high: i64,
}

impl<'a> Tally<'a> {
    fn new(live: &'a Live) -> Tally<'a> {
        Tally { live, pending: 0, high: 0 }
    }

    /// Counts `size` requested bytes as alive.
    ///
    /// Between calls `pending <= high < FLUSH_BYTES` (a tally that reaches
    /// `FLUSH_BYTES` is flushed to zero), so only a new high can call for a
    /// flush: the common case is one comparison.
    #[inline(always)]
    fn alloc(&mut self, size: usize) {
        self.pending += size as i64;
        if self.pending > self.high {
            self.high = self.pending;
            if self.pending >= FLUSH_BYTES {
                self.flush();
            }
        }
    }

    /// Counts `size` requested bytes as freed.
    #[inline(always)]
    fn free(&mut self, size: usize) {
        self.pending -= size as i64;
        if self.pending <= -FLUSH_BYTES {
            self.flush();
        }
    }

    #[inline(always)]
    fn flush(&mut self) {
        self.live.publish(self.pending, self.high);
        self.pending = 0;
        self.high = 0;
    }
}

/// What a loop allocates from: a [`Meter`], or a meter's [`Plain`] path. A
/// loop written once over `impl Heap` runs on whichever the meter allows:
///
/// ```ignore
/// if meter.checked() { run(meter) } else { run(&mut meter.plain()) }
/// ```
pub trait Heap {
    /// A new block of `size` bytes aligned to `align` (see [`Meter::alloc`]).
    fn alloc(&mut self, size: usize, align: usize, fill: Fill) -> Block;

    /// Gives `block` back.
    fn free(&mut self, block: Block);

    /// Whether blocks carry verify mode's pattern (see [`Block::poke_in`]).
    fn verifying(&self) -> bool;
}

/// Where a [`Plain`] path's blocks come from.
///
/// # Safety
/// A non-null pointer from `alloc` is a block of `layout.size()` bytes
/// aligned to `layout.align()`, prepared as `fill` says, that nothing else
/// uses until it is given back to `free` (workloads read and write it).
pub unsafe trait Source {
    /// A block for `layout`, or null when memory ran out.
    ///
    /// # Safety
    /// `layout` has a non-zero size.
    unsafe fn alloc(&mut self, layout: Layout, fill: Fill) -> *mut u8;

    /// Gives back a block.
    ///
    /// # Safety
    /// `ptr` came from `alloc` with `layout`, of this source or one that the
    /// source takes blocks back from, and was not given back yet.
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout);
}

/// The global allocator: the allocator under test. It takes back the
/// blocks of every `Global` and of the meter's own calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct Global;

// SAFETY: the global allocator's blocks are as `Source` asks.
unsafe impl Source for Global {
    #[inline(always)]
    unsafe fn alloc(&mut self, layout: Layout, fill: Fill) -> *mut u8 {
        match fill {
            Fill::Uninit => alloc::alloc(layout),
            Fill::Zeroed => alloc::alloc_zeroed(layout),
        }
    }

    #[inline(always)]
    unsafe fn free(&mut self, ptr: NonNull<u8>, layout: Layout) {
        alloc::dealloc(ptr.as_ptr(), layout)
    }
}

/// Marks the address of a new block as used, so that an allocation whose
/// block is freed unread is not optimised away. Where inline assembly is
/// stable this is an empty `asm!` with the address in a register, which
/// costs no instruction; `black_box` (elsewhere) stores it to the stack.
#[inline(always)]
fn keep(ptr: NonNull<u8>) {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: the assembly is empty: it reads nothing and changes nothing.
    unsafe {
        std::arch::asm!("/* {0} */", in(reg) ptr.as_ptr(), options(nostack, preserves_flags, readonly));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    black_box(ptr);
}

/// A block from `source`, counted in `tally`: the whole of an unchecked
/// allocation.
#[inline(always)]
fn plain_alloc<S: Source>(source: &mut S, tally: &mut Tally, size: usize, align: usize, fill: Fill) -> Block {
    let layout = Layout::from_size_align(size.max(1), align).expect("valid block layout");
    // SAFETY: the layout has a non-zero size.
    let raw = unsafe { source.alloc(layout, fill) };
    let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
    keep(ptr);
    tally.alloc(layout.size());
    Block { ptr, layout }
}

/// Gives `block` back to `source`, counted in `tally`.
#[inline(always)]
fn plain_free<S: Source>(source: &mut S, tally: &mut Tally, block: Block) {
    let Block { ptr, layout } = block;
    // SAFETY: the block came from a source that `source` takes blocks back
    // from: `Global`'s from the meter or a `Global` path (`Meter::plain`),
    // others as `Meter::plain_from`'s caller promised.
    unsafe { source.free(ptr, layout) };
    tally.free(layout.size());
}

/// Allocation through the global allocator, counted; one per thread or task.
pub struct Meter<'a> {
    tally: Tally<'a>,
    probe: Option<Probe<'a>>,
}

impl<'a> Meter<'a> {
    /// A meter without latency probes.
    pub fn new(live: &'a Live) -> Meter<'a> {
        Meter { tally: Tally::new(live), probe: None }
    }

    /// A meter that also times a sampled subset of operations.
    pub fn with_probe(live: &'a Live, probe: Option<Probe<'a>>) -> Meter<'a> {
        Meter { tally: Tally::new(live), probe }
    }

    /// Counts `size` requested bytes as alive (also for dry variants, which
    /// keep the books without calling the allocator).
    #[inline]
    pub fn tally_alloc(&mut self, size: usize) {
        self.tally.alloc(size);
    }

    /// Counts `size` requested bytes as freed.
    #[inline]
    pub fn tally_free(&mut self, size: usize) {
        self.tally.free(size);
    }

    /// Whether the meter's calls do more than call the allocator and keep
    /// the books: verify mode's checks, or a latency probe's sampling.
    #[inline]
    pub fn checked(&self) -> bool {
        self.probe.is_some() || verify::on()
    }

    /// The meter's unchecked path, for a loop while the meter is not
    /// [`checked`](Self::checked): the global allocator's calls and the
    /// books, nothing else. It keeps the books as a local value, which the
    /// compiler can hold in registers (a meter's stay in memory wherever a
    /// call in the loop could unwind past the meter); they go back into the
    /// meter when the path is dropped. Its blocks and the meter's are one
    /// kind: either frees either's.
    ///
    /// # Panics
    /// If the meter is checked.
    #[inline]
    pub fn plain(&mut self) -> Plain<'_, 'a, Global> {
        // SAFETY: `Global` takes back the blocks of the meter and of every
        // `Global`, and the meter's calls take back its blocks.
        unsafe { self.plain_from(Global) }
    }

    /// [`plain`](Self::plain) with the blocks from `source` instead, for a
    /// dry variant's stand-in (a dry variant's meter is never checked).
    ///
    /// # Safety
    /// Blocks from this path are given back only through plain paths whose
    /// sources take them back (see [`Source::free`]), never to the meter's
    /// own calls, and this path is given back only such blocks.
    ///
    /// # Panics
    /// If the meter is checked.
    #[inline]
    pub unsafe fn plain_from<S: Source>(&mut self, source: S) -> Plain<'_, 'a, S> {
        assert!(!self.checked(), "a checked meter has no plain path");
        let live = self.tally.live;
        let tally = std::mem::replace(&mut self.tally, Tally::new(live));
        Plain { meter: self, tally, source }
    }

    #[inline]
    fn timed<T>(&mut self, op: Op, f: impl FnOnce() -> T) -> T {
        let Some(probe) = &mut self.probe else { return f() };
        if !probe.due() {
            return f();
        }
        let start = Instant::now();
        let out = f();
        let ns = start.elapsed().as_nanos() as u64;
        probe.record(op, ns);
        out
    }

    /// A new block of `size` bytes aligned to `align`. Running out of
    /// memory aborts the process, as it does for `Box`.
    #[inline]
    pub fn alloc(&mut self, size: usize, align: usize, fill: Fill) -> Block {
        if self.checked() {
            self.alloc_checked(size, align, fill)
        } else {
            plain_alloc(&mut Global, &mut self.tally, size, align, fill)
        }
    }

    #[inline(never)]
    fn alloc_checked(&mut self, size: usize, align: usize, fill: Fill) -> Block {
        let checked = verify::on();
        let align = if checked { verify::align_for(align) } else { align };
        let layout = Layout::from_size_align(size.max(1), align).expect("valid block layout");
        // SAFETY: the layout has a non-zero size.
        let get = || unsafe { Global.alloc(layout, fill) };
        let raw = self.timed(Op::Alloc, || if checked { route::workload(get) } else { get() });
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
        keep(ptr);
        if checked {
            let returned = verify::stamp();
            verify::admit(ptr.as_ptr() as usize, layout.size(), layout.align(), fill == Fill::Zeroed, returned);
        }
        self.tally_alloc(layout.size());
        Block { ptr, layout }
    }

    /// Gives `block` back to the allocator.
    #[inline]
    pub fn free(&mut self, block: Block) {
        if self.checked() {
            self.free_checked(block)
        } else {
            plain_free(&mut Global, &mut self.tally, block)
        }
    }

    #[inline(never)]
    fn free_checked(&mut self, block: Block) {
        let Block { ptr, layout } = block;
        if verify::on() {
            verify::release(ptr.as_ptr() as usize, layout.size(), "free");
        }
        // SAFETY: `ptr` came from the global allocator with `layout`.
        self.timed(Op::Free, || unsafe { alloc::dealloc(ptr.as_ptr(), layout) });
        self.tally_free(layout.size());
    }

    /// Resizes `block` to `new_size` bytes (contents kept up to the smaller size).
    #[inline]
    pub fn realloc(&mut self, block: &mut Block, new_size: usize) {
        let old = block.layout;
        let new_layout = Layout::from_size_align(new_size.max(1), old.align()).expect("valid block layout");
        let checked = verify::on();
        let old_addr = block.addr();
        if checked {
            verify::release(old_addr, old.size(), "realloc");
        }
        // SAFETY: the block came from the global allocator with `old`; the
        // new size is non-zero and fits the alignment.
        let raw = self.timed(Op::Realloc, || unsafe { alloc::realloc(block.ptr.as_ptr(), old, new_layout.size()) });
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(new_layout) };
        if checked {
            let returned = verify::stamp();
            verify::readmit(
                old_addr,
                old.size(),
                ptr.as_ptr() as usize,
                new_layout.size(),
                new_layout.align(),
                returned,
            );
        }
        block.ptr = ptr;
        block.layout = new_layout;
        self.tally_free(old.size());
        self.tally_alloc(new_layout.size());
    }
}

impl Heap for Meter<'_> {
    #[inline]
    fn alloc(&mut self, size: usize, align: usize, fill: Fill) -> Block {
        Meter::alloc(self, size, align, fill)
    }

    #[inline]
    fn free(&mut self, block: Block) {
        Meter::free(self, block)
    }

    #[inline]
    fn verifying(&self) -> bool {
        verify::on()
    }
}

/// A meter's unchecked path ([`Meter::plain`]): allocations from a
/// [`Source`], counted in books of its own that go back to the meter when
/// it is dropped.
pub struct Plain<'m, 'a, S: Source> {
    meter: &'m mut Meter<'a>,
    tally: Tally<'a>,
    source: S,
}

impl<S: Source> Heap for Plain<'_, '_, S> {
    #[inline(always)]
    fn alloc(&mut self, size: usize, align: usize, fill: Fill) -> Block {
        plain_alloc(&mut self.source, &mut self.tally, size, align, fill)
    }

    #[inline(always)]
    fn free(&mut self, block: Block) {
        plain_free(&mut self.source, &mut self.tally, block)
    }

    #[inline(always)]
    fn verifying(&self) -> bool {
        false
    }
}

impl<S: Source> Drop for Plain<'_, '_, S> {
    #[inline]
    fn drop(&mut self) {
        std::mem::swap(&mut self.meter.tally, &mut self.tally);
    }
}

impl Drop for Meter<'_> {
    fn drop(&mut self) {
        self.tally.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_peak_follows_the_tally_within_the_flush_bound() {
        let live = Live::new();
        {
            let mut m = Meter::new(&live);
            let blocks: Vec<Block> = (0..100).map(|_| m.alloc(10_000, 8, Fill::Uninit)).collect();
            for b in blocks {
                m.free(b);
            }
        }
        assert_eq!(live.current(), 0);
        assert_eq!(live.peak(), 1_000_000, "one thread: exact");
    }

    #[test]
    fn a_small_short_peak_is_not_lost_between_flushes() {
        let live = Live::new();
        {
            let mut m = Meter::new(&live);
            let a = m.alloc(1000, 8, Fill::Uninit);
            let b = m.alloc(2000, 8, Fill::Uninit);
            m.free(a);
            m.free(b);
        }
        assert_eq!((live.current(), live.peak()), (0, 3000));
    }

    #[test]
    fn books_kept_on_the_plain_path_go_back_to_the_meter() {
        let live = Live::new();
        {
            let mut m = Meter::new(&live);
            assert!(!m.checked());
            let a = m.alloc(1000, 8, Fill::Uninit);
            let b = {
                let mut plain = m.plain();
                assert!(!plain.verifying());
                let b = Heap::alloc(&mut plain, 2000, 8, Fill::Zeroed);
                Heap::free(&mut plain, a);
                b
            };
            assert_eq!(live.current(), 0, "not flushed yet");
            m.free(b);
        }
        assert_eq!((live.current(), live.peak()), (0, 3000));
    }

    /// A stand-in source that hands out one buffer's bytes and counts calls.
    struct Counting<'b> {
        buffer: &'b mut [u8],
        calls: usize,
    }

    // SAFETY: one block at a time (the test frees each before the next),
    // within the buffer.
    unsafe impl Source for Counting<'_> {
        unsafe fn alloc(&mut self, layout: Layout, _: Fill) -> *mut u8 {
            assert!(layout.size() <= self.buffer.len());
            self.calls += 1;
            self.buffer.as_mut_ptr()
        }

        unsafe fn free(&mut self, ptr: NonNull<u8>, _: Layout) {
            assert_eq!(ptr.as_ptr(), self.buffer.as_mut_ptr());
            self.calls += 1;
        }
    }

    #[test]
    fn the_plain_path_calls_its_source_and_keeps_the_books() {
        let live = Live::new();
        let mut buffer = [0u8; 64];
        {
            let mut m = Meter::new(&live);
            // SAFETY: the blocks go back to the same path.
            let mut plain = unsafe { m.plain_from(Counting { buffer: &mut buffer, calls: 0 }) };
            let mut block = Heap::alloc(&mut plain, 0, 1, Fill::Uninit);
            assert_eq!(block.size(), 1, "a zero-byte request is one byte");
            block.poke(0, 7);
            Heap::free(&mut plain, block);
            let block = Heap::alloc(&mut plain, 40, 1, Fill::Uninit);
            Heap::free(&mut plain, block);
            assert_eq!(plain.source.calls, 4);
        }
        assert_eq!(buffer[0], 7);
        assert_eq!((live.current(), live.peak()), (0, 40));
    }

    #[test]
    fn realloc_keeps_contents_and_zeroed_blocks_are_zero() {
        let live = Live::new();
        let mut m = Meter::new(&live);
        let mut b = m.alloc(16, 16, Fill::Zeroed);
        assert!(b.bytes().iter().all(|x| unsafe { x.assume_init() } == 0));
        assert_eq!(b.addr() % 16, 0);
        b.poke(3, 7);
        m.realloc(&mut b, 100_000);
        assert_eq!(b.size(), 100_000);
        assert_eq!(unsafe { b.bytes()[3].assume_init() }, 7);
        m.free(b);
        drop(m);
        assert_eq!(live.current(), 0);
        assert!(live.peak() >= 100_000);
    }
}
