//! `fastpath`: the allocator's fast path over a small working set, in the
//! style of linux-scalability and glibc's bench-malloc-thread.
//!
//! Every pool thread owns a working set of `working_set` slots, each holding
//! one live block; the pool threads fill their own sets when the workload is
//! built (so all frees are local) and the sets stay alive across iterations
//! until the workload is dropped, when each thread frees its own.
//!
//! One iteration: every pool thread `t` seeds `SmallRng::seed_from_u64(
//! SEED_BASE ^ t)` and does `ops` operations. An operation picks a slot,
//! picks a size, frees the slot's block, allocates a new block of that size
//! and writes its first byte. Slot and size come from one 64-bit draw `x`
//! (`next_u64`), scaled by multiply-shift, so the draws cost little in the
//! timed loop: with `pattern=random` (the default) the slot is
//! `(x >> 32) * working_set >> 32`, uniform in `0..working_set`; with
//! `pattern=seq` the slots go 0, 1, 2, ... round and round, from 0 each
//! iteration. The size is `min_size + (x mod 2^32) * span >> 32` with
//! `span = max_size - min_size + 1`, uniform in `min_size..=max_size`
//! (the bias of scaling 32 bits is below 2^-12 for every allowed range);
//! equal bounds mean a fixed size, and with `pattern=seq` no draw at all.
//! The initial working set's sizes come the same way from a generator
//! seeded with `FILL_BASE ^ t`.
//!
//! Per iteration there are `threads * ops` frees and as many allocations,
//! with the same sizes in every iteration, and the live set stays at
//! `threads * working_set` blocks. This is the workload for latency
//! percentiles: the timed loop is one draw, the free, the allocation and
//! one write.
//!
//! Blocks have alignment 1 (as `Box<[u8]>`).
//!
//! The dry variant draws the same numbers and writes the same bytes without
//! any allocator call: slot `i` is the region at offset `i * max_size` of a
//! per-thread scratch buffer allocated at build time, and the live-byte books
//! (including the working set filled at build time) are kept as in a real run.

use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::{lock, on_workers};
use super::pool::Pool;
use crate::heap::{Block, Fill, Live, Meter};
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

/// A thread's working set: real blocks or dry scratch regions.
trait Slots {
    /// Frees slot `i`'s block and puts a fresh block of `size` bytes there.
    fn replace(&mut self, i: usize, size: usize, meter: &mut Meter);
}

/// A real working set (every slot is `Some` between operations).
struct Real(Vec<Option<Block>>);

impl Slots for Real {
    #[inline(always)]
    fn replace(&mut self, i: usize, size: usize, meter: &mut Meter) {
        let slot = &mut self.0[i];
        meter.free(slot.take().expect("every slot holds a block"));
        let mut block = meter.alloc(size, 1, Fill::Uninit);
        block.poke(0, 1);
        *slot = Some(block);
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
    #[inline(always)]
    fn replace(&mut self, i: usize, size: usize, meter: &mut Meter) {
        let old = &mut self.sizes[i];
        meter.tally_free(*old);
        self.scratch.poke(i * self.stride, 1);
        meter.tally_alloc(size);
        *old = size;
    }
}

/// One iteration of thread `t` over its working set.
fn ops<S: Slots, const SEQ: bool>(cfg: &Config, t: usize, slots: &mut S, meter: &mut Meter) -> Work {
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ t as u64);
    let fixed = cfg.fixed();
    let mut work = Work::default();
    let mut next = 0;
    for _ in 0..cfg.ops {
        let x = if SEQ && fixed { 0 } else { rng.next_u64() };
        let i = if SEQ {
            let i = next;
            next = if next + 1 == cfg.working_set { 0 } else { next + 1 };
            i
        } else {
            scale((x >> 32) as u32, cfg.working_set)
        };
        let size = if fixed { cfg.min_size } else { cfg.size(x) };
        slots.replace(i, size, meter);
        work.count(size);
    }
    work
}

fn run<S: Slots>(cfg: &Config, t: usize, slots: &mut S, meter: &mut Meter) -> Work {
    match cfg.pattern {
        Pattern::Random => ops::<S, false>(cfg, t, slots, meter),
        Pattern::Seq => ops::<S, true>(cfg, t, slots, meter),
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
    Real(Vec<PerThread<Real>>),
    Dry(Vec<PerThread<Dry>>),
}

struct Fastpath {
    cfg: Config,
    pool: Pool,
    state: State,
    tools: Arc<Instruments>,
}

impl Workload for Fastpath {
    fn iterate(&mut self) -> Work {
        let Fastpath { cfg, pool, state, tools } = self;
        let (cfg, tools) = (&*cfg, &**tools);
        let per_thread = match state {
            State::Real(sets) => {
                let sets = &*sets;
                on_workers(pool, tools, |w, meter| run(cfg, w, &mut *lock(&sets[w].0), meter))
            }
            State::Dry(sets) => {
                let sets = &*sets;
                pool.broadcast(|c| {
                    let mut meter = Meter::new(&tools.live);
                    run(cfg, c.index(), &mut *lock(&sets[c.index()].0), &mut meter)
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
                    for block in lock(&sets[c.index()].0).0.drain(..).flatten() {
                        meter.free(block);
                    }
                });
            }
            State::Dry(sets) => {
                let mut meter = Meter::new(&tools.live);
                let scratch_live = Live::new();
                let mut scratch_meter = Meter::new(&scratch_live);
                for set in sets.drain(..) {
                    let dry = set.0.into_inner().unwrap_or_else(|p| p.into_inner());
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
                PerThread(Mutex::new(Dry { scratch, stride: cfg.max_size, sizes }))
            })
            .collect();
        State::Dry(sets)
    } else {
        // Every pool thread fills its own set, so later frees are local.
        let sets: Vec<PerThread<Real>> =
            (0..threads).map(|_| PerThread(Mutex::new(Real(Vec::with_capacity(cfg.working_set))))).collect();
        pool.broadcast(|c| {
            let mut meter = Meter::new(&tools.live);
            let mut set = lock(&sets[c.index()].0);
            for size in fill_sizes(&cfg, c.index()) {
                let mut block = meter.alloc(size, 1, Fill::Uninit);
                block.poke(0, 1);
                set.0.push(Some(block));
            }
        });
        State::Real(sets)
    };
    Ok(Box::new(Fastpath { cfg, pool, state, tools: ctx.tools.clone() }))
}
