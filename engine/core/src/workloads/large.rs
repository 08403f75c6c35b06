//! `large`: a few multi-MiB blocks replaced over and over (mimalloc-bench's
//! malloc-large): the allocator's path to the OS and back.
//!
//! Each of the pool's `threads` workers owns `live` slots, each holding one
//! block of a size drawn uniformly from `min_size..=max_size` (alignment 1).
//! The slots are filled when the workload is built, on the worker that owns
//! them, and freed there when it is dropped, so `threads*live` blocks are
//! alive between iterations.
//!
//! Every iteration, each worker (via `pool.broadcast`, the worker index
//! being its latency-probe slot) seeds `SmallRng::seed_from_u64(SEED_BASE ^
//! worker)` and does `ops` replacements: draw a slot index uniformly from
//! `0..live` and a size uniformly from `min_size..=max_size`, free that
//! slot's block (taken out by `swap_remove`), then allocate a block of the
//! new size, initialise it as `init` says and append it to the slots. The
//! free comes first, so the allocator may hand the same memory back.
//! Reseeding makes every iteration draw the same sizes, so its
//! work (`threads*ops` allocations and frees) is the same each time. The
//! build-time fill draws its sizes from `SmallRng::seed_from_u64(FILL_BASE ^
//! worker)`.
//!
//! `init`: `none` allocates uninitialised memory and writes the first and
//! the last byte; `touch` writes one byte per 4 KiB page and the last byte
//! (every page is faulted in); `zero` allocates zeroed memory (`alloc_zeroed`)
//! and writes the first and last byte.
//!
//! No dry variant: what is measured is mostly mapping, unmapping and page
//! faults, which have no allocator-free equivalent.

use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::{free_all, on_worker_slots};
use super::pool::Pool;
use crate::heap::{Block, Fill, Meter};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

/// Worker `w` seeds each iteration's generator with `SEED_BASE ^ w`.
pub const SEED_BASE: u64 = 0x1A49_E000;
/// Worker `w` draws its build-time slot sizes from `FILL_BASE ^ w`.
pub const FILL_BASE: u64 = 0xF111_1A49;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "live",
        about: "large blocks each thread keeps alive",
        kind: Kind::Int { min: 1, max: 1 << 12 },
        default: DefaultValue::Int(2),
    },
    ParamDef {
        name: "min_size",
        about: "smallest block in bytes",
        kind: Kind::Size { min: 1, max: 1 << 32 },
        default: DefaultValue::Int(5 << 20),
    },
    ParamDef {
        name: "max_size",
        about: "largest block in bytes (at least min_size); sizes are uniform in min_size..=max_size",
        kind: Kind::Size { min: 1, max: 1 << 32 },
        default: DefaultValue::Int(25 << 20),
    },
    ParamDef {
        name: "ops",
        about: "replacements (free a random slot's block, allocate a new one) per thread and iteration",
        kind: Kind::Int { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(8),
    },
    ParamDef {
        name: "init",
        about: "none: write first and last byte; touch: one write per 4 KiB page; zero: zeroed allocation",
        kind: Kind::Choice { choices: &["none", "touch", "zero"] },
        default: DefaultValue::Word("none"),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "large",
    about: "each thread keeps a few 5-25 MiB blocks and keeps replacing them (malloc-large): the path to the OS",
    params: PARAMS,
    has_dry: false,
    has_spin: false,
    ordered: &[("min_size", "max_size")],
    build,
};

/// How a fresh block is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    None,
    Touch,
    Zero,
}

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub live: usize,
    pub min_size: usize,
    pub max_size: usize,
    pub ops: u64,
    pub init: Init,
}

impl Config {
    /// Reads parameters that the spec has validated: each one by
    /// `params::resolve`, and `min_size <= max_size` by `params::check_order`
    /// (see `DEF.ordered`), so a spec that breaks it is refused.
    pub fn from_params(p: &Values) -> Config {
        Config {
            live: p.uint("live") as usize,
            min_size: p.uint("min_size") as usize,
            max_size: p.uint("max_size") as usize,
            ops: p.uint("ops"),
            init: match p.word("init") {
                "touch" => Init::Touch,
                "zero" => Init::Zero,
                _ => Init::None,
            },
        }
    }
}

/// A fresh block of `size` bytes, initialised as `init` says.
fn make(cfg: &Config, meter: &mut Meter<'_>, size: usize) -> Block {
    let fill = if cfg.init == Init::Zero { Fill::Zeroed } else { Fill::Uninit };
    let mut block = meter.alloc(size, 1, fill);
    match cfg.init {
        Init::Touch => block.touch_pages(),
        Init::None | Init::Zero => block.touch_ends(),
    }
    block
}

/// Fills worker `w`'s slots (which must be empty) with `cfg.live` blocks.
pub fn fill(cfg: &Config, w: usize, meter: &mut Meter<'_>, slots: &mut Vec<Block>) {
    debug_assert!(slots.is_empty());
    let mut rng = SmallRng::seed_from_u64(FILL_BASE ^ w as u64);
    for _ in 0..cfg.live {
        let size = rng.random_range(cfg.min_size..=cfg.max_size);
        slots.push(make(cfg, meter, size));
    }
}

/// Worker `w`'s share of an iteration: `cfg.ops` replacements in `slots`.
pub fn replace(cfg: &Config, w: usize, meter: &mut Meter<'_>, slots: &mut Vec<Block>) -> Work {
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ w as u64);
    let mut work = Work::default();
    for _ in 0..cfg.ops {
        let victim = rng.random_range(0..slots.len());
        let size = rng.random_range(cfg.min_size..=cfg.max_size);
        let old = slots.swap_remove(victim);
        meter.free(old);
        slots.push(make(cfg, meter, size));
        work.count(size);
    }
    work
}

struct Large {
    cfg: Config,
    pool: Pool,
    /// Per pool worker: its slots.
    slots: Vec<Mutex<Vec<Block>>>,
    tools: Arc<Instruments>,
}

impl Large {
    /// Runs `f` on every pool worker with its meter and slots.
    fn on_workers<R: Send>(&self, f: impl Fn(usize, &mut Meter<'_>, &mut Vec<Block>) -> R + Sync) -> Vec<R> {
        on_worker_slots(&self.pool, &self.tools, &self.slots, f)
    }
}

impl Workload for Large {
    fn iterate(&mut self) -> Work {
        let cfg = self.cfg;
        self.on_workers(|w, meter, slots| replace(&cfg, w, meter, slots)).into_iter().sum::<Work>()
    }
}

impl Drop for Large {
    fn drop(&mut self) {
        self.on_workers(|_, meter, slots| free_all(meter, slots));
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params);
    let pool = ctx.pool()?;
    let slots = (0..ctx.threads).map(|_| Mutex::new(Vec::with_capacity(cfg.live))).collect();
    let large = Large { cfg, pool, slots, tools: ctx.tools.clone() };
    large.on_workers(|w, meter, slots| fill(&cfg, w, meter, slots));
    Ok(Box::new(large))
}
