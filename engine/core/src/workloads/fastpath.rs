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
//! free go through the thread's meter (live-byte books; in latency mode the
//! probe that times one call in `every`; in verify mode the checks). The
//! iteration's work (allocations and bytes) is summed when the sequence is
//! made, not counted in the loop.
//!
//! Per iteration there are `threads * ops` frees and as many allocations,
//! with the same sizes in every iteration, and the live set stays at
//! `threads * working_set` blocks. This is the workload for latency
//! percentiles: there is little besides the allocator calls in its loop.
//!
//! Blocks have alignment 1 (as `Box<[u8]>`).
//!
//! The dry variant walks the same sequence and writes the same bytes without
//! any allocator call: slot `i` is the region at offset `i * max_size` of a
//! per-thread scratch buffer allocated at build time, and the live-byte books
//! (including the working set filled at build time) are kept as in a real
//! run, from the sizes each slot would hold.

use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::{lock, on_workers};
use super::pool::Pool;
use crate::heap::{Block, Fill, Live, Meter};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};
use crate::verify;

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
/// of the new block (both at most 2^20, see `PARAMS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub slot: u32,
    pub size: u32,
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
            Op { slot: slot as u32, size: size as u32 }
        })
        .collect()
}

/// The work of one iteration of `ops` operations going round `sequence`.
fn work_of(sequence: &[Op], ops: u64) -> Work {
    let bytes = |ops: &[Op]| ops.iter().map(|op| op.size as u64).sum::<u64>();
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
            op(slot as usize, size as usize);
        }
        left -= n as u64;
    }
}

/// A thread's working set: real blocks or dry scratch regions.
trait Slots {
    /// One iteration: for each of `ops` operations (going round
    /// `sequence`), frees the slot's block and puts a fresh block of the
    /// operation's size there.
    fn run(&mut self, sequence: &[Op], ops: u64, meter: &mut Meter);
}

/// A real working set (every slot is `Some` between operations).
struct Real(Vec<Option<Block>>);

impl Slots for Real {
    fn run(&mut self, sequence: &[Op], ops: u64, meter: &mut Meter) {
        let blocks = &mut self.0;
        let verifying = verify::on();
        walk(sequence, ops, |i, size| {
            let slot = &mut blocks[i];
            meter.free(slot.take().expect("every slot holds a block"));
            let mut block = meter.alloc(size, 1, Fill::Uninit);
            block.poke_in(verifying, 0, 1);
            *slot = Some(block);
        });
    }
}

/// A dry working set: slot `i` is at `i * stride` in `scratch`, `sizes`
/// holds the size each slot would have.
struct Dry {
    scratch: Block,
    stride: usize,
    sizes: Vec<usize>,
}

impl Slots for Dry {
    fn run(&mut self, sequence: &[Op], ops: u64, meter: &mut Meter) {
        let Dry { scratch, stride, sizes } = self;
        let (stride, verifying) = (*stride, verify::on());
        // The books as locals, so they stay in registers (see `with_tally`).
        meter.with_tally(|tally| {
            walk(sequence, ops, |i, size| {
                let old = &mut sizes[i];
                tally.free(*old);
                scratch.poke_in(verifying, i * stride, 1);
                tally.alloc(size);
                *old = size;
            })
        });
    }
}

/// A pool thread's working set, its operations and their work per iteration.
struct Thread<S> {
    slots: S,
    sequence: Vec<Op>,
    work: Work,
}

impl<S: Slots> Thread<S> {
    fn new(cfg: &Config, t: usize, slots: S) -> Thread<S> {
        let sequence = sequence(cfg, t);
        let work = work_of(&sequence, cfg.ops);
        Thread { slots, sequence, work }
    }

    /// One iteration of `ops` operations.
    fn run(&mut self, ops: u64, meter: &mut Meter) -> Work {
        self.slots.run(&self.sequence, ops, meter);
        self.work
    }
}

/// The sizes of thread `t`'s initial working set.
fn fill_sizes(cfg: &Config, t: usize) -> impl Iterator<Item = usize> + '_ {
    let mut rng = SmallRng::seed_from_u64(FILL_BASE ^ t as u64);
    (0..cfg.working_set).map(move |_| if cfg.fixed() { cfg.min_size } else { cfg.size(rng.next_u64()) })
}

/// A pool thread's state, on its own cache lines.
#[repr(align(128))]
struct PerThread<T>(Mutex<T>);

enum State {
    Real(Vec<PerThread<Thread<Real>>>),
    Dry(Vec<PerThread<Thread<Dry>>>),
}

struct Fastpath {
    ops: u64,
    pool: Pool,
    state: State,
    tools: Arc<Instruments>,
}

impl Workload for Fastpath {
    fn iterate(&mut self) -> Work {
        let Fastpath { ops, pool, state, tools } = self;
        let (ops, tools) = (*ops, &**tools);
        let per_thread = match state {
            State::Real(sets) => {
                let sets = &*sets;
                on_workers(pool, tools, |w, meter| lock(&sets[w].0).run(ops, meter))
            }
            State::Dry(sets) => {
                let sets = &*sets;
                pool.broadcast(|c| {
                    let mut meter = Meter::new(&tools.live);
                    lock(&sets[c.index()].0).run(ops, &mut meter)
                })
            }
        };
        per_thread.into_iter().sum::<Work>()
    }
}

impl Drop for Fastpath {
    fn drop(&mut self) {
        let tools = &*self.tools;
        match &mut self.state {
            State::Real(sets) => {
                // Each thread frees its own set, as it allocated it.
                let sets = &*sets;
                self.pool.broadcast(|c| {
                    let mut meter = Meter::new(&tools.live);
                    for block in lock(&sets[c.index()].0).slots.0.drain(..).flatten() {
                        meter.free(block);
                    }
                });
            }
            State::Dry(sets) => {
                let mut meter = Meter::new(&tools.live);
                let scratch_live = Live::new();
                let mut scratch_meter = Meter::new(&scratch_live);
                for set in sets.drain(..) {
                    let dry = set.0.into_inner().unwrap_or_else(|p| p.into_inner()).slots;
                    for size in dry.sizes {
                        meter.tally_free(size);
                    }
                    scratch_meter.free(dry.scratch);
                }
            }
        }
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params);
    let pool = ctx.pool()?;
    let threads = ctx.threads as usize;
    let tools = &*ctx.tools;
    let state = if ctx.dry {
        let bytes = cfg.working_set.checked_mul(cfg.max_size).filter(|&b| b <= MAX_SCRATCH).ok_or_else(|| {
            format!("working_set * max_size must be at most {MAX_SCRATCH} bytes for the dry variant's scratch buffer")
        })?;
        let mut meter = Meter::new(&tools.live);
        let scratch_live = Live::new();
        let mut scratch_meter = Meter::new(&scratch_live);
        let sets = (0..threads)
            .map(|t| {
                let sizes: Vec<usize> = fill_sizes(&cfg, t).collect();
                for &size in &sizes {
                    meter.tally_alloc(size);
                }
                let scratch = scratch_meter.alloc(bytes, 1, Fill::Uninit);
                PerThread(Mutex::new(Thread::new(&cfg, t, Dry { scratch, stride: cfg.max_size, sizes })))
            })
            .collect();
        State::Dry(sets)
    } else {
        // Every pool thread fills its own set, so later frees are local, and
        // works out its own operations.
        let sets: Vec<PerThread<Thread<Real>>> = pool.broadcast(|c| {
            let mut meter = Meter::new(&tools.live);
            let mut set = Vec::with_capacity(cfg.working_set);
            for size in fill_sizes(&cfg, c.index()) {
                let mut block = meter.alloc(size, 1, Fill::Uninit);
                block.poke(0, 1);
                set.push(Some(block));
            }
            PerThread(Mutex::new(Thread::new(&cfg, c.index(), Real(set))))
        });
        State::Real(sets)
    };
    Ok(Box::new(Fastpath { ops: cfg.ops, pool, state, tools: ctx.tools.clone() }))
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
        let ops = [Op { slot: 0, size: 1 }, Op { slot: 1, size: 10 }, Op { slot: 0, size: 100 }];
        assert_eq!(work_of(&ops, 3), Work { allocations: 3, bytes: 111 });
        assert_eq!(work_of(&ops, 8), Work { allocations: 8, bytes: 2 * 111 + 11 });
    }

    #[test]
    fn an_iteration_goes_round_the_sequence_as_often_as_ops_says() {
        let cfg = config(5, 3, Pattern::Random);
        let sequence = sequence(&cfg, 1);
        let once: Vec<(usize, usize)> = sequence.iter().map(|op| (op.slot as usize, op.size as usize)).collect();
        let mut done = Vec::new();
        walk(&sequence, 7, |i, size| done.push((i, size)));
        let expected: Vec<(usize, usize)> = once.iter().cycle().take(7).copied().collect();
        assert_eq!(done, expected);
    }
}
