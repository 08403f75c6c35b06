//! `mstress`: short- and long-lived objects on threads that are created and
//! destroyed over and over; long-lived objects outlive their thread.
//!
//! A shared array of `transfer` slots (each a `Mutex<Option<Block>>`, made
//! empty at build time) holds long-lived objects across rounds and
//! iterations; the blocks still in it are freed when the workload is dropped.
//!
//! One iteration is `rounds` rounds; each round spawns `threads` fresh OS
//! threads in a `std::thread::scope` and joins them all before the next
//! round. Thread `i` of round `r` seeds `SmallRng::seed_from_u64(SEED_BASE ^
//! (r * threads + i))` (afresh every iteration, so every iteration allocates
//! the same sizes) and does `steps` steps; each step:
//!
//! 1. draws whether the object is large (`large_prob`) and its size: uniform
//!    in `max_size..=large_max` if large, else in `min_size..=max_size`;
//! 2. allocates it (alignment 1) and writes its first and last byte;
//! 3. if the thread's local list already holds `local` objects, draws one of
//!    them uniformly and frees it (a short-lived object); then appends the
//!    new object to the list;
//! 4. draws whether to transfer (`transfer_prob`); if so, draws an object of
//!    the list and a transfer slot uniformly, moves the object into the slot
//!    and frees the object it displaces, if any. That object was often
//!    allocated by a thread that has exited since (migration).
//!
//! When its steps are done the thread frees its whole local list and exits
//! (memory returned at thread exit). Per iteration: `threads * rounds *
//! steps` allocations; frees are as many minus the growth in occupied
//! transfer slots. The local lists are allocated at build time; spawning
//! threads allocates a little in std (alignment 8). No dry variant.

use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::join_work;
use crate::heap::{Block, Fill, Meter};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

/// Thread `i` of round `r` seeds its generator with `SEED_BASE ^ (r * threads + i)`.
pub const SEED_BASE: u64 = 0x3575_E550;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "transfer",
        about: "shared slots holding long-lived objects across rounds and iterations",
        kind: Kind::Int { min: 1, max: 1 << 22 },
        default: DefaultValue::Int(1000),
    },
    ParamDef {
        name: "rounds",
        about: "rounds per iteration; each round creates and joins `threads` fresh threads",
        kind: Kind::Int { min: 1, max: 1 << 16 },
        default: DefaultValue::Int(4),
    },
    ParamDef {
        name: "steps",
        about: "allocations per thread and round",
        kind: Kind::Int { min: 1, max: 1 << 32 },
        default: DefaultValue::Int(2000),
    },
    ParamDef {
        name: "local",
        about: "bound on a thread's list of short-lived objects (a random one is freed when full)",
        kind: Kind::Int { min: 1, max: 1 << 22 },
        default: DefaultValue::Int(100),
    },
    ParamDef {
        name: "min_size",
        about: "smallest object in bytes; small objects are uniform in min_size..=max_size",
        kind: Kind::Size { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(8),
    },
    ParamDef {
        name: "max_size",
        about: "largest small object in bytes (at least min_size)",
        kind: Kind::Size { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(256),
    },
    ParamDef {
        name: "large_max",
        about: "largest object in bytes; large objects are uniform in max_size..=large_max",
        kind: Kind::Size { min: 1, max: 1 << 30 },
        default: DefaultValue::Int(64 << 10),
    },
    ParamDef {
        name: "large_prob",
        about: "probability that an object is large",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        default: DefaultValue::Float(0.01),
    },
    ParamDef {
        name: "transfer_prob",
        about:
            "probability per step of moving a local object into a random transfer slot (freeing the one it displaces)",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        default: DefaultValue::Float(0.1),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "mstress",
    about: "mstress: threads created and destroyed each round allocate short-lived objects and swap long-lived ones through shared slots (migration)",
    params: PARAMS,
    has_dry: false,
    has_spin: false,
    ordered: &[("min_size", "max_size"), ("max_size", "large_max")],
    build,
};

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub threads: usize,
    pub transfer: usize,
    pub rounds: usize,
    pub steps: u64,
    pub local: usize,
    pub min_size: usize,
    pub max_size: usize,
    pub large_max: usize,
    pub large_prob: f64,
    pub transfer_prob: f64,
}

impl Config {
    /// Reads parameters that the spec has validated: each one by
    /// `params::resolve`, and `min_size <= max_size <= large_max` by
    /// `params::check_order` (see `DEF.ordered`), so a spec that breaks it is
    /// refused.
    pub fn from_params(p: &Values, threads: u64) -> Config {
        Config {
            threads: threads as usize,
            transfer: p.uint("transfer") as usize,
            rounds: p.uint("rounds") as usize,
            steps: p.uint("steps"),
            local: p.uint("local") as usize,
            min_size: p.uint("min_size") as usize,
            max_size: p.uint("max_size") as usize,
            large_max: p.uint("large_max") as usize,
            large_prob: p.real("large_prob"),
            transfer_prob: p.real("transfer_prob"),
        }
    }
}

type Slots = [Mutex<Option<Block>>];

/// One thread's steps; `list` is empty on entry and on return.
fn run_thread(cfg: &Config, seed: u64, list: &mut Vec<Block>, slots: &Slots, meter: &mut Meter) -> Work {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut work = Work::default();
    for _ in 0..cfg.steps {
        let size = if rng.random_bool(cfg.large_prob) {
            rng.random_range(cfg.max_size..=cfg.large_max)
        } else {
            rng.random_range(cfg.min_size..=cfg.max_size)
        };
        let mut block = meter.alloc(size, 1, Fill::Uninit);
        block.touch_ends();
        work.count(size);
        if list.len() >= cfg.local {
            let victim = rng.random_range(0..list.len());
            meter.free(list.swap_remove(victim));
        }
        list.push(block);
        if rng.random_bool(cfg.transfer_prob) {
            let object = list.swap_remove(rng.random_range(0..list.len()));
            let slot = &slots[rng.random_range(0..slots.len())];
            let displaced = slot.lock().unwrap_or_else(|p| p.into_inner()).replace(object);
            if let Some(old) = displaced {
                meter.free(old);
            }
        }
    }
    for block in list.drain(..) {
        meter.free(block);
    }
    work
}

struct Mstress {
    cfg: Config,
    slots: Vec<Mutex<Option<Block>>>,
    /// One local list per thread index, reused by every round's thread.
    lists: Vec<Vec<Block>>,
    tools: Arc<Instruments>,
}

impl Workload for Mstress {
    fn iterate(&mut self) -> Work {
        let Mstress { cfg, slots, lists, tools } = self;
        let (cfg, tools, slots) = (&*cfg, &**tools, &slots[..]);
        let mut work = Work::default();
        for r in 0..cfg.rounds {
            let round = std::thread::scope(|s| {
                let handles: Vec<_> = lists
                    .iter_mut()
                    .enumerate()
                    .map(|(i, list)| {
                        let seed = SEED_BASE ^ (r * cfg.threads + i) as u64;
                        s.spawn(move || run_thread(cfg, seed, list, slots, &mut tools.meter(i)))
                    })
                    .collect();
                join_work(handles, "mstress thread")
            });
            work = work + round;
        }
        work
    }
}

impl Drop for Mstress {
    fn drop(&mut self) {
        let mut meter = Meter::new(&self.tools.live);
        for slot in &mut self.slots {
            if let Some(block) = slot.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
                meter.free(block);
            }
        }
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params, ctx.threads);
    let slots = (0..cfg.transfer).map(|_| Mutex::new(None)).collect();
    let lists = (0..cfg.threads).map(|_| Vec::with_capacity(cfg.local)).collect();
    Ok(Box::new(Mstress { cfg, slots, lists, tools: ctx.tools.clone() }))
}
