//! `realloc_growth`: buffers grown step by step, the vector-push pattern.
//!
//! Every iteration, each of the pool's `threads` workers (via
//! `pool.broadcast`, the worker index being its latency-probe slot) does:
//!
//! 1. allocates `buffers` blocks of `start_size` bytes (alignment 1,
//!    uninitialised), writes byte `start_size-1` of each, then writes the
//!    buffer's marker ([`marker`]) at offset 0;
//! 2. grows them in rounds: round `k` (`1..=G`, `G = ceil((final_size -
//!    start_size) / step)`, see [`Config::growths`]) reallocates buffer 0, 1, ...,
//!    `buffers-1` in turn to `min(start_size + k*step, final_size)` bytes
//!    and writes [`tag`]`(k)` at the new last byte. Interleaving the buffers
//!    round-robin puts a neighbour after each buffer, so in-place growth
//!    is not trivially possible;
//! 3. frees the buffers.
//!
//! One iteration therefore makes `threads*buffers` allocations,
//! `threads*buffers*G` reallocations and `threads*buffers` frees, all on the
//! allocating thread; nothing lives between iterations. The sizes are fixed
//! by the parameters (no randomness). The workload never reads the bytes
//! back; the semantics test checks, through [`grow`], that every marker
//! survived the moves.
//!
//! There is no dry variant: a reallocation's cost is the allocator's choice
//! between growing in place and moving (copying), which has no allocator-free
//! equivalent.

use std::sync::{Arc, Mutex};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
pub use super::common::free_all as release;
use super::common::on_worker_slots;
use super::pool::Pool;
use crate::heap::{Block, Fill, Meter};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "buffers",
        about: "buffers each thread grows at once, round-robin",
        kind: Kind::Int { min: 1, max: 1 << 16 },
        default: DefaultValue::Int(4),
    },
    ParamDef {
        name: "start_size",
        about: "size in bytes of a buffer when it is allocated",
        kind: Kind::Size { min: 1, max: 1 << 30 },
        default: DefaultValue::Int(16),
    },
    ParamDef {
        name: "final_size",
        about: "size in bytes a buffer is grown to (at least start_size)",
        kind: Kind::Size { min: 1, max: 1 << 30 },
        default: DefaultValue::Int(64 << 10),
    },
    ParamDef {
        name: "step",
        about: "bytes added by each reallocation (the last one stops at final_size)",
        kind: Kind::Size { min: 1, max: 1 << 30 },
        default: DefaultValue::Int(64),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "realloc_growth",
    about: "each thread grows a few interleaved buffers by many small reallocations (vector push), then frees them",
    params: PARAMS,
    has_dry: false,
    has_spin: false,
    ordered: &[("start_size", "final_size")],
    build,
};

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub buffers: usize,
    pub start_size: usize,
    pub final_size: usize,
    pub step: usize,
}

impl Config {
    /// Reads parameters that the spec has validated: each one by
    /// `params::resolve`, and `start_size <= final_size` by
    /// `params::check_order` (see `DEF.ordered`), so a spec that breaks it is
    /// refused.
    pub fn from_params(p: &Values) -> Config {
        Config {
            buffers: p.uint("buffers") as usize,
            start_size: p.uint("start_size") as usize,
            final_size: p.uint("final_size") as usize,
            step: p.uint("step") as usize,
        }
    }

    /// Reallocations per buffer: `ceil((final_size - start_size) / step)`.
    pub fn growths(&self) -> usize {
        (self.final_size - self.start_size).div_ceil(self.step)
    }

    /// A buffer's size after growth round `k` (`0`: as allocated).
    pub fn size_after(&self, k: usize) -> usize {
        self.start_size.saturating_add(k.saturating_mul(self.step)).min(self.final_size)
    }
}

/// The byte written at offset 0 of buffer `b` when it is allocated.
pub fn marker(b: usize) -> u8 {
    0x80 | (b % 0x7f) as u8
}

/// The byte written at the new last offset by growth round `k` (`k >= 1`).
pub fn tag(k: usize) -> u8 {
    (k % 0x7f) as u8 + 1
}

/// Allocates `cfg.buffers` buffers into `buffers` (which must be empty) and
/// grows them round-robin to `final_size`; the buffers stay alive for the
/// caller to inspect or give to [`release`].
pub fn grow(cfg: &Config, meter: &mut Meter<'_>, buffers: &mut Vec<Block>) -> Work {
    debug_assert!(buffers.is_empty());
    let mut work = Work::default();
    for b in 0..cfg.buffers {
        let mut block = meter.alloc(cfg.start_size, 1, Fill::Uninit);
        work.count(cfg.start_size);
        block.poke(cfg.start_size - 1, 1);
        block.poke(0, marker(b));
        buffers.push(block);
    }
    for k in 1..=cfg.growths() {
        let size = cfg.size_after(k);
        for block in buffers.iter_mut() {
            meter.realloc(block, size);
            work.count(size);
            block.poke(size - 1, tag(k));
        }
    }
    work
}

/// One thread's share of an iteration; `buffers` is its bookkeeping,
/// allocated before timing starts.
pub fn thread_iteration(cfg: &Config, meter: &mut Meter<'_>, buffers: &mut Vec<Block>) -> Work {
    let work = grow(cfg, meter, buffers);
    release(meter, buffers);
    work
}

struct ReallocGrowth {
    cfg: Config,
    pool: Pool,
    /// Per pool thread: the vector holding its buffers during an iteration.
    slots: Vec<Mutex<Vec<Block>>>,
    tools: Arc<Instruments>,
}

impl Workload for ReallocGrowth {
    fn iterate(&mut self) -> Work {
        let ReallocGrowth { cfg, pool, slots, tools } = self;
        let (cfg, slots, tools) = (&*cfg, &*slots, &**tools);
        on_worker_slots(pool, tools, slots, |_, meter, buffers| thread_iteration(cfg, meter, buffers))
            .into_iter()
            .sum::<Work>()
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params);
    let pool = ctx.pool()?;
    let slots = (0..ctx.threads).map(|_| Mutex::new(Vec::with_capacity(cfg.buffers))).collect();
    Ok(Box::new(ReallocGrowth { cfg, pool, slots, tools: ctx.tools.clone() }))
}
