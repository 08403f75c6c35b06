//! `fastpath`: the allocator's fast path over a small working set, in the
//! style of linux-scalability and glibc's bench-malloc-thread.
//!
//! Every pool thread owns a working set of `working_set` slots, each holding
//! one live block; the pool threads fill their own sets when the workload is
//! built (so all frees are local) and the sets stay alive across iterations
//! until the workload is dropped, when each thread frees its own.
//!
//! An operation picks a slot, picks a size, frees the slot's block,
//! allocates a new block of that size and writes its first byte. Every
//! iteration does the same `ops` operations per thread, so each pool thread
//! `t` works its operations out once, when the workload is built (outside
//! timing), as a sequence of `(slot, size)` pairs ([`Op`], 8 bytes each):
//! operation `k` takes the `k`-th 64-bit draw `x` of
//! `SmallRng::seed_from_u64(SEED_BASE ^ t)` (`next_u64`), scaled by
//! multiply-shift. With `pattern=random` (the default) the slot is
//! `(x >> 32) * working_set >> 32`, uniform in `0..working_set`; with
//! `pattern=seq` the slots go 0, 1, 2, ... round and round, from 0 at the
//! start of the sequence. The size is `min_size + (x mod 2^32) * span >> 32`
//! with `span = max_size - min_size + 1`, uniform in `min_size..=max_size`
//! (the bias of scaling 32 bits is below 2^-12 for every allowed range);
//! equal bounds mean a fixed size, and with `pattern=seq` no draw at all.
//! The initial working set's sizes come the same way from a generator
//! seeded with `FILL_BASE ^ t`.
//!
//! The sequence holds all `ops` operations up to [`MAX_SEQUENCE`] (2^20,
//! 8 MiB per thread); with more, it holds the first 2^20 (with
//! `pattern=seq` rounded down to a multiple of `working_set`, so the round
//! robin carries on) and an iteration goes round it again: the operations
//! repeat with a period of the sequence's length.
//!
//! The timed loop, per thread and iteration, walks the sequence: read the
//! next `(slot, size)`, free the slot's block, allocate `size` bytes, write
//! the block's first byte and store it in the slot. The allocation and the
//! free go through the thread's meter, decided once per iteration: in a
//! timing run its plain path (the allocator call and the live-byte books,
//! compiled into the loop with the books in registers), in latency mode
//! and verify mode the meter's checked calls (the probe that times one call
//! in `every`; the checks). The iteration's work (allocations and bytes) is
//! summed when the sequence is made, not counted in the loop.
//!
//! Per iteration there are `threads * ops` frees and as many allocations,
//! with the same sizes in every iteration, and the live set stays at
//! `threads * working_set` blocks. This is the workload for latency
//! percentiles: there is little besides the allocator calls in its loop.
//!
//! Blocks have alignment 1 (as `Box<[u8]>`).
//!
//! The dry variant runs the same loop (the same code, `replace`) on the
//! meter's plain path with a stand-in for the allocator: slot `i`'s blocks
//! are the region at offset `i * max_size` of a per-thread scratch buffer
//! allocated at build time, a free remembers the block's address and the
//! allocation after it returns it. So it reads the same sequence, takes and
//! stores the same blocks (address and layout), keeps the same live-byte
//! books (including the working set filled at build time) and writes the
//! same bytes; only the allocator calls are missing.

use std::alloc::Layout;
use std::num::NonZeroU32;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::{lock, on_workers};
use super::pool::Pool;
use crate::heap::{Block, Fill, Heap, Live, Meter, Source};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

/// Pool thread `t` seeds its per-iteration generator with `SEED_BASE ^ t`.
pub const SEED_BASE: u64 = 0xFA57_0A77;
/// Pool thread `t` draws its initial working set with `FILL_BASE ^ t`.
pub const FILL_BASE: u64 = 0xF111_5E75;

/// Largest dry scratch buffer per thread (`working_set * max_size`).
const MAX_SCRATCH: usize = 1 << 32;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "working_set",
        about: "live blocks per thread, kept across iterations; each operation replaces one",
        kind: Kind::Int { min: 1, max: 1 << 20 },
        default: DefaultValue::Int(64),
    },
    ParamDef {
        name: "ops",
        about: "operations (free a slot's block, allocate a new one) per thread per iteration",
        kind: Kind::Int { min: 1, max: 1 << 32 },
        default: DefaultValue::Int(50_000),
    },
    ParamDef {
        name: "min_size",
        about: "smallest block in bytes; sizes are uniform in min_size..=max_size",
        kind: Kind::Size { min: 1, max: 1 << 20 },
        default: DefaultValue::Int(16),
    },
    ParamDef {
        name: "max_size",
        about: "largest block in bytes (equal to min_size: fixed size)",
        kind: Kind::Size { min: 1, max: 1 << 20 },
        default: DefaultValue::Int(128),
    },
    ParamDef {
        name: "pattern",
        about: "which slot an operation replaces: random (uniform) or seq (round robin)",
        kind: Kind::Choice { choices: &["random", "seq"] },
        default: DefaultValue::Word("random"),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "fastpath",
    about: "allocator fast path (bench-malloc-thread style): every thread replaces random slots of a small \
            working set of small blocks in a tight loop",
    params: PARAMS,
    has_dry: true,
    has_spin: false,
    ordered: &[("min_size", "max_size")],
    build,
};

/// Which slot an operation replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Random,
    Seq,
}

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub working_set: usize,
    pub ops: u64,
    pub min_size: usize,
    pub max_size: usize,
    pub pattern: Pattern,
}

impl Config {
    /// Reads parameters that the spec has validated: each one by
    /// `params::resolve`, and `min_size <= max_size` by `params::check_order`
    /// (see `DEF.ordered`), so a spec that breaks it is refused.
    pub fn from_params(p: &Values) -> Config {
        Config {
            working_set: p.uint("working_set") as usize,
            ops: p.uint("ops"),
            min_size: p.uint("min_size") as usize,
            max_size: p.uint("max_size") as usize,
            pattern: if p.word("pattern") == "seq" { Pattern::Seq } else { Pattern::Random },
        }
    }

    /// Whether every block has the same size (no draw for sizes).
    #[inline]
    fn fixed(&self) -> bool {
        self.min_size == self.max_size
    }

    /// The size that the low 32 bits of a draw pick.
    #[inline]
    fn size(&self, x: u64) -> usize {
        self.min_size + scale(x as u32, self.max_size - self.min_size + 1)
    }
}

/// `bits` scaled into `0..n` (multiply-shift; `n` is at most 2^20 here).
#[inline]
pub fn scale(bits: u32, n: usize) -> usize {
    ((bits as u64 * n as u64) >> 32) as usize
}

/// One operation of a thread's sequence: the slot it replaces and the size
/// of the new block (both at most 2^20, see `PARAMS`; the size at least 1,
/// which the type tells the compiler, so that the timed loop does not make
/// a zero-byte request one byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub slot: u32,
    pub size: NonZeroU32,
}

/// Most operations a thread's precomputed sequence holds (8 MiB per thread):
/// with more `ops`, the timed loop goes round the sequence again.
pub const MAX_SEQUENCE: usize = 1 << 20;

/// How many operations thread sequences hold: all `ops`, or with more than
/// [`MAX_SEQUENCE`] that bound, rounded down to a multiple of `working_set`
/// with `pattern=seq` so that going round again continues the round robin.
pub fn sequence_len(cfg: &Config) -> usize {
    let cap = match cfg.pattern {
        Pattern::Random => MAX_SEQUENCE,
        Pattern::Seq => MAX_SEQUENCE - MAX_SEQUENCE % cfg.working_set,
    };
    cfg.ops.min(cap as u64) as usize
}

/// Thread `t`'s operations, the first [`sequence_len`] of an iteration:
/// slot and size from one 64-bit draw of `SmallRng::seed_from_u64(SEED_BASE
/// ^ t)` per operation (none with `pattern=seq` and a fixed size).
pub fn sequence(cfg: &Config, t: usize) -> Vec<Op> {
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ t as u64);
    let (fixed, seq) = (cfg.fixed(), cfg.pattern == Pattern::Seq);
    let mut next = 0;
    (0..sequence_len(cfg))
        .map(|_| {
            let x = if seq && fixed { 0 } else { rng.next_u64() };
            let slot = if seq {
                let i = next;
                next = if next + 1 == cfg.working_set { 0 } else { next + 1 };
                i
            } else {
                scale((x >> 32) as u32, cfg.working_set)
            };
            let size = if fixed { cfg.min_size } else { cfg.size(x) };
            Op { slot: slot as u32, size: NonZeroU32::new(size as u32).expect("sizes are at least 1") }
        })
        .collect()
}

/// The work of one iteration of `ops` operations going round `sequence`.
fn work_of(sequence: &[Op], ops: u64) -> Work {
    let bytes = |ops: &[Op]| ops.iter().map(|op| op.size.get() as u64).sum::<u64>();
    let n = sequence.len() as u64;
    let rest = &sequence[..(ops % n) as usize];
    Work { allocations: ops, bytes: ops / n * bytes(sequence) + bytes(rest) }
}

/// Calls `op(slot, size)` for `ops` operations, going round `sequence`.
#[inline(always)]
fn walk(sequence: &[Op], ops: u64, mut op: impl FnMut(usize, usize)) {
    let mut left = ops;
    while left > 0 {
        let n = left.min(sequence.len() as u64) as usize;
        for &Op { slot, size } in &sequence[..n] {
            op(slot as usize, size.get() as usize);
        }
        left -= n as u64;
    }
}

/// One iteration on a working set (every slot holds a block between
/// operations): for each of `ops` operations (going round `sequence`), frees
/// the slot's block and puts a fresh block of the operation's size there,
/// through `heap`. The real and the dry loop are both this code, on the
/// meter's plain path with the global allocator or with the dry stand-in.
///
/// # Safety
/// Every operation's slot is below `slots.len()`.
#[inline(always)]
unsafe fn replace(slots: &mut [Option<Block>], sequence: &[Op], ops: u64, heap: &mut impl Heap) {
    let verifying = heap.verifying();
    walk(sequence, ops, |i, size| {
        // SAFETY: `i < slots.len()`, the caller's promise.
        let slot = unsafe { slots.get_unchecked_mut(i) };
        heap.free(slot.take().expect("every slot holds a block"));
        let mut block = heap.alloc(size, 1, Fill::Uninit);
        block.poke_in(verifying, 0, 1);
        *slot = Some(block);
    });
}

/// The dry variant's stand-in for the allocator: a per-thread scratch buffer
/// of `working_set` regions of `max_size` bytes, slot `i`'s blocks at
/// region `i`. A free remembers its block's address and the allocation
/// after it returns that address (each operation frees a slot's block,
/// then allocates the slot's new one); allocations without a free before
/// them take the regions in order (the working set's fill). It ignores the
/// fill (fastpath's blocks are uninitialised). It takes back the blocks of
/// every `Regions` of the same buffer.
struct Regions {
    next: *mut u8,
    stride: usize,
}

// SAFETY: the blocks are regions of the scratch buffer, each `stride`
// (`max_size`) bytes, at least every size asked for, and alignment 1 is all
// fastpath asks. A region is handed out again only once its block was given
// back: the fill takes each of the `working_set` regions once, in order, and
// afterwards every allocation follows the free of a block and returns its
// region (`replace`).
unsafe impl Source for Regions {
    #[inline(always)]
    unsafe fn alloc(&mut self, _: Layout, _: Fill) -> *mut u8 {
        let at = self.next;
        self.next = at.wrapping_add(self.stride);
        opaque(at)
    }

    #[inline(always)]
    unsafe fn free(&mut self, ptr: NonNull<u8>, _: Layout) {
        self.next = ptr.as_ptr();
    }
}

/// `ptr`, through an empty `asm!` (no instruction): the compiler cannot
/// see where the stand-in's blocks come from, as it cannot for an
/// allocator's, so it compiles the dry loop as it does the real one.
#[inline(always)]
fn opaque(mut ptr: *mut u8) -> *mut u8 {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    // SAFETY: the assembly is empty: it leaves the register as it is.
    unsafe {
        std::arch::asm!("/* {0} */", inout(reg) ptr, options(pure, readonly, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        ptr = std::hint::black_box(ptr);
    }
    ptr
}

/// A dry thread's scratch buffer, from which [`Regions`] hands out blocks.
struct Scratch {
    buffer: Block,
    stride: usize,
}

impl Scratch {
    /// The stand-in, its next allocation at region 0.
    fn regions(&self) -> Regions {
        Regions { next: self.buffer.as_ptr(), stride: self.stride }
    }
}

/// A pool thread's working set, its operations and their work per
/// iteration; in the dry variant also the scratch buffer its blocks are in.
struct Thread {
    slots: Vec<Option<Block>>,
    sequence: Vec<Op>,
    /// One more than the highest slot of `sequence`.
    reach: usize,
    work: Work,
    scratch: Option<Scratch>,
}

impl Thread {
    /// Thread `t`'s working set, filled through `heap`.
    fn new(cfg: &Config, t: usize, heap: &mut impl Heap, scratch: Option<Scratch>) -> Thread {
        let verifying = heap.verifying();
        let slots = fill_sizes(cfg, t)
            .map(|size| {
                let mut block = heap.alloc(size, 1, Fill::Uninit);
                block.poke_in(verifying, 0, 1);
                Some(block)
            })
            .collect();
        let sequence = sequence(cfg, t);
        let reach = sequence.iter().map(|op| op.slot as usize + 1).max().unwrap_or(0);
        let work = work_of(&sequence, cfg.ops);
        Thread { slots, sequence, reach, work, scratch }
    }

    /// One iteration of `ops` operations: on the meter's plain path, or on
    /// the meter itself when it is checked (verify mode, latency probes).
    fn run(&mut self, ops: u64, meter: &mut Meter) -> Work {
        let Thread { slots, sequence, reach, scratch, .. } = self;
        assert!(*reach <= slots.len(), "a working set that was given back");
        // SAFETY: every slot of `sequence` is below `reach`, checked above;
        // a dry working set's blocks come from and go back to `Regions` of
        // its scratch buffer only (`build`, `run`, `free`).
        unsafe {
            match scratch {
                Some(scratch) => replace(slots, sequence, ops, &mut meter.plain_from(scratch.regions())),
                None if meter.checked() => replace(slots, sequence, ops, meter),
                None => replace(slots, sequence, ops, &mut meter.plain()),
            }
        }
        self.work
    }

    /// Gives the working set back (each thread its own, as it allocated it)
    /// and returns the scratch buffer, if any.
    fn free(&mut self, meter: &mut Meter) -> Option<Block> {
        let blocks = self.slots.drain(..).flatten();
        match &self.scratch {
            Some(scratch) => {
                // SAFETY: as in `run`.
                let mut heap = unsafe { meter.plain_from(scratch.regions()) };
                blocks.for_each(|block| heap.free(block));
            }
            None => blocks.for_each(|block| meter.free(block)),
        }
        self.scratch.take().map(|s| s.buffer)
    }
}

/// The sizes of thread `t`'s initial working set.
fn fill_sizes(cfg: &Config, t: usize) -> impl Iterator<Item = usize> + '_ {
    let mut rng = SmallRng::seed_from_u64(FILL_BASE ^ t as u64);
    (0..cfg.working_set).map(move |_| if cfg.fixed() { cfg.min_size } else { cfg.size(rng.next_u64()) })
}

/// A pool thread's state, on its own cache lines.
#[repr(align(128))]
struct PerThread(Mutex<Thread>);

struct Fastpath {
    ops: u64,
    pool: Pool,
    sets: Vec<PerThread>,
    tools: Arc<Instruments>,
}

impl Workload for Fastpath {
    fn iterate(&mut self) -> Work {
        let Fastpath { ops, pool, sets, tools } = self;
        let (ops, sets) = (*ops, &*sets);
        let per_thread = on_workers(pool, tools, |w, meter| lock(&sets[w].0).run(ops, meter));
        per_thread.into_iter().sum::<Work>()
    }
}

impl Drop for Fastpath {
    fn drop(&mut self) {
        // Each thread frees its own set, as it allocated it; scratch buffers
        // (not counted in the live bytes) afterwards.
        let tools = &*self.tools;
        let sets = &self.sets;
        let scratch = self.pool.broadcast(|c| lock(&sets[c.index()].0).free(&mut Meter::new(&tools.live)));
        let scratch_live = Live::new();
        let mut scratch_meter = Meter::new(&scratch_live);
        scratch.into_iter().flatten().for_each(|buffer| scratch_meter.free(buffer));
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params);
    let pool = ctx.pool()?;
    let tools = &*ctx.tools;
    let sets: Vec<PerThread> = if ctx.dry {
        let bytes = cfg.working_set.checked_mul(cfg.max_size).filter(|&b| b <= MAX_SCRATCH).ok_or_else(|| {
            format!("working_set * max_size must be at most {MAX_SCRATCH} bytes for the dry variant's scratch buffer")
        })?;
        // Scratch buffers are not the workload's blocks: their own books.
        let scratch_live = Live::new();
        let mut scratch_meter = Meter::new(&scratch_live);
        let mut meter = Meter::new(&tools.live);
        (0..ctx.threads as usize)
            .map(|t| {
                let scratch = Scratch { buffer: scratch_meter.alloc(bytes, 1, Fill::Uninit), stride: cfg.max_size };
                // SAFETY: the blocks go back to `Regions` of this buffer only
                // (see `Thread::run`).
                let thread = Thread::new(&cfg, t, &mut unsafe { meter.plain_from(scratch.regions()) }, Some(scratch));
                PerThread(Mutex::new(thread))
            })
            .collect()
    } else {
        // Every pool thread fills its own set, so later frees are local, and
        // works out its own operations.
        pool.broadcast(|c| {
            let mut meter = Meter::new(&tools.live);
            PerThread(Mutex::new(Thread::new(&cfg, c.index(), &mut meter, None)))
        })
    };
    Ok(Box::new(Fastpath { ops: cfg.ops, pool, sets, tools: ctx.tools.clone() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(working_set: usize, ops: u64, pattern: Pattern) -> Config {
        Config { working_set, ops, min_size: 16, max_size: 128, pattern }
    }

    #[test]
    fn the_sequence_holds_every_operation_up_to_its_bound() {
        assert_eq!(sequence_len(&config(64, 50_000, Pattern::Random)), 50_000);
        assert_eq!(sequence_len(&config(64, 1 << 32, Pattern::Random)), MAX_SEQUENCE);
        assert_eq!(sequence_len(&config(64, 1 << 32, Pattern::Seq)), MAX_SEQUENCE);
        // With seq, a whole number of laps of the round robin.
        let cfg = config(3, 1 << 32, Pattern::Seq);
        let n = sequence_len(&cfg);
        assert_eq!((n % 3, MAX_SEQUENCE - n), (0, 1));
        let ops = sequence(&cfg, 0);
        assert_eq!((ops[0].slot, ops[1].slot, ops[n - 1].slot), (0, 1, 2));
    }

    #[test]
    fn the_work_counts_the_laps_round_the_sequence() {
        let op = |slot, size| Op { slot, size: NonZeroU32::new(size).unwrap() };
        let ops = [op(0, 1), op(1, 10), op(0, 100)];
        assert_eq!(work_of(&ops, 3), Work { allocations: 3, bytes: 111 });
        assert_eq!(work_of(&ops, 8), Work { allocations: 8, bytes: 2 * 111 + 11 });
    }

    #[test]
    fn an_iteration_goes_round_the_sequence_as_often_as_ops_says() {
        let cfg = config(5, 3, Pattern::Random);
        let sequence = sequence(&cfg, 1);
        let once: Vec<(usize, usize)> = sequence.iter().map(|op| (op.slot as usize, op.size.get() as usize)).collect();
        let mut done = Vec::new();
        walk(&sequence, 7, |i, size| done.push((i, size)));
        let expected: Vec<(usize, usize)> = once.iter().cycle().take(7).copied().collect();
        assert_eq!(done, expected);
    }
}
