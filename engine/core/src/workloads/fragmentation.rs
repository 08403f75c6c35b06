//! `fragmentation`: small blocks punched full of holes, then larger blocks
//! that do not fit the holes. What it shows is memory, not time: an
//! allocator that cannot reuse the holes ends with peak RSS well above peak
//! live bytes (compare the `live` record's `peak_bytes` with the `rusage`
//! record's `max_rss_kib` minus the `live` record's `start_rss_kib`).
//!
//! Every iteration, each of the pool's `threads` workers (via
//! `pool.broadcast`, the worker index being its latency-probe slot) seeds
//! `SmallRng::seed_from_u64(SEED_BASE ^ worker)` and runs four phases:
//!
//! 1. allocates `count` blocks (alignment 1, uninitialised) with sizes
//!    uniform in `small_min..=small_max`, writing the first and last byte
//!    of each;
//! 2. frees `round(count * free_fraction)` of them, chosen by a partial
//!    Fisher-Yates shuffle with the same generator (for `i` in `0..freed`,
//!    swap entry `i` with a uniform entry in `i..count`), in that shuffled
//!    order; the survivors stay where they are, leaving holes between them;
//! 3. allocates blocks with sizes uniform in `large_min..=large_max`,
//!    writing their first and last byte, as long as their requested bytes
//!    in total are below the bytes freed in phase 2 (so they end at least
//!    equal to, and less than `large_max` above, the freed bytes: live
//!    bytes return to about the phase-1 peak);
//! 4. frees everything: the phase-1 survivors, then the phase-3 blocks, in
//!    allocation order.
//!
//! All frees are local (by the allocating thread) and nothing lives between
//! iterations. With the defaults the large sizes (256..=1024) cannot fit a
//! hole left by one small block (16..=128), although an allocator may merge
//! neighbouring holes. No dry variant: the measure is the allocator's memory.

use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::on_worker_slots;
use super::pool::Pool;
use crate::heap::{Block, Fill, Meter};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

/// Worker `w` seeds each iteration's generator with `SEED_BASE ^ w`.
pub const SEED_BASE: u64 = 0xF8A6_0000;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "count",
        about: "small blocks each thread allocates in phase 1",
        kind: Kind::Int { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(20_000),
    },
    ParamDef {
        name: "small_min",
        about: "smallest phase-1 block in bytes",
        kind: Kind::Size { min: 1, max: 1 << 20 },
        default: DefaultValue::Int(16),
    },
    ParamDef {
        name: "small_max",
        about: "largest phase-1 block in bytes (at least small_min)",
        kind: Kind::Size { min: 1, max: 1 << 20 },
        default: DefaultValue::Int(128),
    },
    ParamDef {
        name: "free_fraction",
        about: "share of the phase-1 blocks freed in phase 2, chosen at random",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        default: DefaultValue::Float(0.75),
    },
    ParamDef {
        name: "large_min",
        about: "smallest phase-3 block in bytes",
        kind: Kind::Size { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(256),
    },
    ParamDef {
        name: "large_max",
        about: "largest phase-3 block in bytes (at least large_min)",
        kind: Kind::Size { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(1024),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "fragmentation",
    about: "many small blocks, most freed at random, then larger blocks that do not fit the holes: peak RSS against peak live bytes",
    params: PARAMS,
    has_dry: false,
    has_spin: false,
    ordered: &[("small_min", "small_max"), ("large_min", "large_max")],
    build,
};

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub count: usize,
    pub small_min: usize,
    pub small_max: usize,
    pub free_fraction: f64,
    pub large_min: usize,
    pub large_max: usize,
}

impl Config {
    /// Reads parameters that the spec has validated: each one by
    /// `params::resolve`, and `small_min <= small_max` and
    /// `large_min <= large_max` by `params::check_order` (see `DEF.ordered`),
    /// so a spec that breaks either is refused.
    pub fn from_params(p: &Values) -> Config {
        Config {
            count: p.uint("count") as usize,
            small_min: p.uint("small_min") as usize,
            small_max: p.uint("small_max") as usize,
            free_fraction: p.real("free_fraction"),
            large_min: p.uint("large_min") as usize,
            large_max: p.uint("large_max") as usize,
        }
    }

    /// Blocks freed in phase 2: `round(count * free_fraction)`.
    pub fn victims(&self) -> usize {
        ((self.count as f64 * self.free_fraction).round() as usize).min(self.count)
    }

    /// An upper bound on the blocks alive at once in one thread (phase-1
    /// survivors plus phase-3 blocks), for reserving bookkeeping up front.
    pub fn max_blocks(&self) -> usize {
        let victims = self.victims();
        let freed_max = victims.saturating_mul(self.small_max);
        (self.count - victims).saturating_add(freed_max.div_ceil(self.large_min)).max(self.count)
    }
}

/// What one thread's iteration did, phase by phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phases {
    /// Requested bytes of the phase-1 blocks.
    pub small_bytes: u64,
    /// Blocks and requested bytes freed in phase 2.
    pub freed_blocks: u64,
    pub freed_bytes: u64,
    /// Blocks and requested bytes allocated in phase 3.
    pub large_blocks: u64,
    pub large_bytes: u64,
    /// Allocations (phases 1 and 3) and their bytes.
    pub work: Work,
}

/// Worker `w`'s share of an iteration. `blocks` is its bookkeeping (empty,
/// with capacity reserved before timing starts) and is empty again after.
pub fn thread_iteration(cfg: &Config, w: usize, meter: &mut Meter<'_>, blocks: &mut Vec<Block>) -> Phases {
    debug_assert!(blocks.is_empty());
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ w as u64);
    let mut out = Phases::default();

    for _ in 0..cfg.count {
        let size = rng.random_range(cfg.small_min..=cfg.small_max);
        let mut block = meter.alloc(size, 1, Fill::Uninit);
        block.touch_ends();
        blocks.push(block);
        out.work.count(size);
        out.small_bytes += size as u64;
    }

    let victims = cfg.victims();
    for i in 0..victims {
        let j = rng.random_range(i..blocks.len());
        blocks.swap(i, j);
    }
    for block in blocks.drain(..victims) {
        out.freed_blocks += 1;
        out.freed_bytes += block.size() as u64;
        meter.free(block);
    }

    while out.large_bytes < out.freed_bytes {
        let size = rng.random_range(cfg.large_min..=cfg.large_max);
        let mut block = meter.alloc(size, 1, Fill::Uninit);
        block.touch_ends();
        blocks.push(block);
        out.work.count(size);
        out.large_blocks += 1;
        out.large_bytes += size as u64;
    }

    for block in blocks.drain(..) {
        meter.free(block);
    }
    out
}

/// Worker `w`'s bookkeeping, reserved so the timed path does not grow it.
pub fn bookkeeping(cfg: &Config) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let n = cfg.max_blocks();
    blocks.try_reserve_exact(n).map_err(|_| format!("cannot reserve bookkeeping for {n} blocks"))?;
    Ok(blocks)
}

struct Fragmentation {
    cfg: Config,
    pool: Pool,
    /// Per pool worker: the vector holding its blocks during an iteration.
    slots: Vec<Mutex<Vec<Block>>>,
    tools: Arc<Instruments>,
}

impl Workload for Fragmentation {
    fn iterate(&mut self) -> Work {
        let Fragmentation { cfg, pool, slots, tools } = self;
        let (cfg, slots, tools) = (&*cfg, &*slots, &**tools);
        on_worker_slots(pool, tools, slots, |w, meter, blocks| thread_iteration(cfg, w, meter, blocks).work)
            .into_iter()
            .sum::<Work>()
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params);
    let pool = ctx.pool()?;
    let slots = (0..ctx.threads).map(|_| bookkeeping(&cfg).map(Mutex::new)).collect::<Result<_, _>>()?;
    Ok(Box::new(Fragmentation { cfg, pool, slots, tools: ctx.tools.clone() }))
}
