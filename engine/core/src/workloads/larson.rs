//! `larson`: slot arrays of random-size blocks, replaced at random by
//! short-lived threads that hand the arrays on ("bleeding").
//!
//! At build time (not timed) `threads` slot arrays are made. Array `k` holds
//! `slots` blocks (alignment 1, bytes 0 and `size-1` written) whose sizes are
//! drawn, slot by slot, uniform in `min_size..=max_size` from
//! `SmallRng::seed_from_u64(FILL_SEED ^ k)`. The arrays stay alive across
//! iterations and are freed when the workload is dropped.
//!
//! One iteration is `rounds` rounds. Each round spawns `threads` fresh OS
//! threads in a `std::thread::scope`; thread `k` of the round takes array `k`
//! and does `replacements` replacements: draw a slot uniform in `0..slots`
//! from the array's pick generator, draw a size uniform in
//! `min_size..=max_size` from its size generator, free the slot's block,
//! then allocate a block of the new size, write its first and last byte and
//! store it in the slot. The round ends when all its threads have been
//! joined; the next round's (new) threads take the arrays over, and the
//! live set is never touched by two threads at once. So a block is freed by a
//! different OS thread than the one that allocated it unless the same thread
//! allocated it earlier in the same round. With `n = replacements` and
//! `s = slots`, the expected share of remote frees is `s/n * (1 - e^(-n/s))`:
//! about 91% at the defaults (n/s = 0.2), as in larson's usual setting of
//! few replacements per thread on a large array; with n >= s most frees
//! become local.
//!
//! Both generators belong to the array and travel with it from thread to
//! thread. The pick generator, seeded `PICK_SEED ^ k` at build time, runs on
//! across iterations, so the live set keeps changing; the size generator is
//! reseeded `SIZE_SEED ^ k` at the start of every iteration, so every
//! iteration allocates the same sizes (the same `Work`).
//!
//! Work per iteration: `threads * rounds * replacements` allocations, as
//! many frees; the live set stays at `threads * slots` blocks. Spawning the
//! threads allocates a little in std (thread handles, alignment 8), which
//! is part of the pattern's cost. No dry variant.

use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::{free_all, join_work, max_size, min_size};
use crate::heap::{Block, Fill, Meter};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

/// Array `k`'s initial sizes come from `SmallRng::seed_from_u64(FILL_SEED ^ k)`.
pub const FILL_SEED: u64 = 0x1A25_0F11;
/// Array `k`'s slot choices come from `SmallRng::seed_from_u64(PICK_SEED ^ k)`.
pub const PICK_SEED: u64 = 0x1A25_0B1C;
/// Array `k`'s replacement sizes come from `SmallRng::seed_from_u64(SIZE_SEED ^ k)`,
/// reseeded every iteration.
pub const SIZE_SEED: u64 = 0x1A25_051E;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "slots",
        about: "blocks in each thread's slot array (alive across iterations)",
        kind: Kind::Int { min: 1, max: 1 << 22 },
        default: DefaultValue::Int(5000),
    },
    min_size(8),
    max_size(1000),
    ParamDef {
        name: "rounds",
        about: "rounds per iteration; each round runs on fresh threads that take the arrays over",
        kind: Kind::Int { min: 1, max: 1 << 16 },
        default: DefaultValue::Int(4),
    },
    ParamDef {
        name: "replacements",
        about: "slot replacements (one free, one allocation) per thread and round",
        kind: Kind::Int { min: 1, max: 1 << 32 },
        default: DefaultValue::Int(1000),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "larson",
    about: "larson: threads replace random blocks of slot arrays that pass to new threads each round, so most frees are remote",
    params: PARAMS,
    has_dry: false,
    has_spin: false,
    ordered: &[("min_size", "max_size")],
    build,
};

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub threads: usize,
    pub slots: usize,
    pub min_size: usize,
    pub max_size: usize,
    pub rounds: u64,
    pub replacements: u64,
}

impl Config {
    /// Reads parameters that the spec has validated: each one by
    /// `params::resolve`, and `min_size <= max_size` by `params::check_order`
    /// (see `DEF.ordered`), so a spec that breaks it is refused.
    pub fn from_params(p: &Values, threads: u64) -> Config {
        Config {
            threads: threads as usize,
            slots: p.uint("slots") as usize,
            min_size: p.uint("min_size") as usize,
            max_size: p.uint("max_size") as usize,
            rounds: p.uint("rounds"),
            replacements: p.uint("replacements"),
        }
    }
}

/// One thread's slot array with the generators that travel with it.
struct Array {
    blocks: Vec<Block>,
    picks: SmallRng,
    sizes: SmallRng,
    seed: u64,
}

impl Array {
    fn new(cfg: &Config, k: usize, meter: &mut Meter) -> Array {
        let mut fill = SmallRng::seed_from_u64(FILL_SEED ^ k as u64);
        let blocks = (0..cfg.slots).map(|_| new_block(meter, fill.random_range(cfg.min_size..=cfg.max_size))).collect();
        let seed = SIZE_SEED ^ k as u64;
        Array {
            blocks,
            picks: SmallRng::seed_from_u64(PICK_SEED ^ k as u64),
            sizes: SmallRng::seed_from_u64(seed),
            seed,
        }
    }

    /// One round's replacements, on the calling thread.
    fn replace(&mut self, cfg: &Config, meter: &mut Meter) -> Work {
        let mut work = Work::default();
        for _ in 0..cfg.replacements {
            let slot = self.picks.random_range(0..self.blocks.len());
            let size = self.sizes.random_range(cfg.min_size..=cfg.max_size);
            // Free first, then allocate, as larson does; swap_remove and
            // push keep the Vec's capacity, so no bookkeeping allocation.
            let last = self.blocks.len() - 1;
            meter.free(self.blocks.swap_remove(slot));
            self.blocks.push(new_block(meter, size));
            self.blocks.swap(slot, last);
            work.count(size);
        }
        work
    }
}

/// A block of `size` bytes with both ends written.
#[inline]
fn new_block(meter: &mut Meter, size: usize) -> Block {
    let mut block = meter.alloc(size, 1, Fill::Uninit);
    block.touch_ends();
    block
}

struct Larson {
    cfg: Config,
    arrays: Vec<Array>,
    tools: Arc<Instruments>,
}

impl Workload for Larson {
    fn iterate(&mut self) -> Work {
        let Larson { cfg, arrays, tools } = self;
        let (cfg, tools) = (&*cfg, &**tools);
        for array in arrays.iter_mut() {
            array.sizes = SmallRng::seed_from_u64(array.seed);
        }
        let mut work = Work::default();
        for _ in 0..cfg.rounds {
            let round = std::thread::scope(|s| {
                let handles: Vec<_> = arrays
                    .iter_mut()
                    .enumerate()
                    .map(|(k, array)| s.spawn(move || array.replace(cfg, &mut tools.meter(k))))
                    .collect();
                join_work(handles, "larson thread")
            });
            work = work + round;
        }
        work
    }
}

impl Drop for Larson {
    fn drop(&mut self) {
        let mut meter = Meter::new(&self.tools.live);
        for array in &mut self.arrays {
            free_all(&mut meter, &mut array.blocks);
        }
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params, ctx.threads);
    let mut meter = Meter::new(&ctx.tools.live);
    let arrays = (0..cfg.threads).map(|k| Array::new(&cfg, k, &mut meter)).collect();
    drop(meter);
    Ok(Box::new(Larson { cfg, arrays, tools: ctx.tools.clone() }))
}
