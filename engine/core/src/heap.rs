//! Blocks from the global allocator and the bookkeeping every workload shares.
//!
//! Workloads allocate through a [`Meter`]: it calls the global allocator (the
//! one under test; in verify mode as the workload's, see [`crate::route`]), keeps a running tally of requested bytes alive so the
//! report can state peak live bytes next to peak RSS, and in latency mode
//! times a sampled subset of single operations (see [`crate::latency`]).
//!
//! The live tally is kept per meter and flushed to the shared [`Live`]
//! counter once it has moved by [`FLUSH_BYTES`] (and when the meter is
//! dropped), so the timed path touches a shared cache line rarely. A flush
//! also offers the meter's own high-water mark since its last flush, added
//! to the shared count, as a peak candidate. The peak is exact for one
//! thread and, with several, may miss up to `FLUSH_BYTES` per other meter
//! alive at the time (their unflushed growth).

use std::alloc::{self, Layout};
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
    /// tally reached since its last flush.
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
pub struct Tally<'a> {
    live: &'a Live,
    pending: i64,
    high: i64,
}

impl<'a> Tally<'a> {
    fn new(live: &'a Live) -> Tally<'a> {
        Tally { live, pending: 0, high: 0 }
    }

    /// Counts `size` requested bytes as alive.
    #[inline]
    pub fn alloc(&mut self, size: usize) {
        self.pending += size as i64;
        self.high = self.high.max(self.pending);
        if self.pending >= FLUSH_BYTES {
            self.flush();
        }
    }

    /// Counts `size` requested bytes as freed.
    #[inline]
    pub fn free(&mut self, size: usize) {
        self.pending -= size as i64;
        if self.pending <= -FLUSH_BYTES {
            self.flush();
        }
    }

    #[inline]
    fn flush(&mut self) {
        self.live.publish(self.pending, self.high);
        self.pending = 0;
        self.high = 0;
    }
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

    /// Runs `f` on the meter's books taken out as a local value, for a
    /// tight loop that only keeps books (a dry variant's): the compiler
    /// can keep a local's fields in registers, while a meter's stay in
    /// memory wherever a call in the loop could unwind past the meter. The
    /// books go back into the meter when `f` returns (a panic in `f` loses
    /// them, as it ends the run anyway).
    #[inline]
    pub fn with_tally<R>(&mut self, f: impl FnOnce(&mut Tally<'a>) -> R) -> R {
        let empty = Tally::new(self.tally.live);
        let mut tally = std::mem::replace(&mut self.tally, empty);
        let out = f(&mut tally);
        self.tally = tally;
        out
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
        let checked = verify::on();
        let align = if checked { verify::align_for(align) } else { align };
        let layout = Layout::from_size_align(size.max(1), align).expect("valid block layout");
        // SAFETY: the layout has a non-zero size.
        let get = || unsafe {
            match fill {
                Fill::Uninit => alloc::alloc(layout),
                Fill::Zeroed => alloc::alloc_zeroed(layout),
            }
        };
        let raw = self.timed(Op::Alloc, || if checked { route::workload(get) } else { get() });
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
        black_box(ptr);
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
    fn books_kept_on_a_lent_tally_go_back_to_the_meter() {
        let live = Live::new();
        {
            let mut m = Meter::new(&live);
            m.tally_alloc(1000);
            m.with_tally(|t| {
                t.alloc(2000);
                t.free(1000);
            });
            m.tally_free(2000);
        }
        assert_eq!((live.current(), live.peak()), (0, 3000));
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
