//! `rayon_boxes`: the seed's workload, step for step.
//!
//! A rayon pool of `threads` workers runs `tasks` tasks. Task `t` seeds
//! `SmallRng::seed_from_u64(0xA110C ^ t)` and keeps a stash `Vec` with
//! capacity `max(keep_max, 1)`. Each of `iters_per_task` steps draws a size
//! uniform in `1..=max_size`, allocates a block of that size (zeroed, as in
//! the seed, unless `init` says otherwise), marks it, then with probability
//! `keep_prob` pushes it on the stash, dropping a uniformly chosen stash entry
//! by `swap_remove` when the stash holds more than `keep_max`; otherwise the
//! block is dropped at once. The stash is dropped when the task ends.
//!
//! `init`: `zero` allocates zeroed (`vec![0u8; sz]`, i.e. `alloc_zeroed`)
//! and writes bytes 0 and `sz-1` when `sz >= 8`, as the seed does; `none`
//! allocates uninitialised memory and writes the same two bytes; `touch`
//! allocates uninitialised memory and writes one byte per 4 KiB page plus
//! the last byte.
//!
//! The spec's `spin_ns` (default 0) adds calibrated busy work before every
//! allocation, in the real and the dry variant alike: a slowdown of known
//! size, for checking that the statistics detect what they should;
//! `spin_turns` adds exactly that many loop turns instead (a fixed number of
//! instructions, for counting metrics).
//!
//! The dry variant draws the same random numbers and writes the same bytes
//! into a per-task scratch buffer allocated before timing starts, so its time
//! is the engine's own share of a real run.

use std::hint::black_box;
use std::mem::MaybeUninit;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::pool::Pool;
use crate::heap::{Block, Fill, Meter};
use crate::limits::PAGE;
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

/// Task `t` seeds its generator with `SEED_BASE ^ t`, as the seed does.
pub const SEED_BASE: u64 = 0xA110C;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "max_size",
        about: "largest block in bytes; sizes are uniform in 1..=max_size",
        kind: Kind::Size { min: 1, max: 1 << 30 },
        default: DefaultValue::Int(1 << 20),
    },
    ParamDef {
        name: "iters_per_task",
        about: "allocation steps per task",
        kind: Kind::Int { min: 1, max: 1 << 40 },
        default: DefaultValue::Int(10_000),
    },
    ParamDef {
        name: "keep_max",
        about: "bound on the blocks a task keeps alive in its stash",
        kind: Kind::Int { min: 0, max: 1 << 24 },
        default: DefaultValue::Int(128),
    },
    ParamDef {
        name: "keep_prob",
        about: "probability that a block goes to the stash instead of being freed at once",
        kind: Kind::Float { min: 0.0, max: 1.0 },
        default: DefaultValue::Float(0.01),
    },
    ParamDef {
        name: "tasks",
        about: "parallel tasks per iteration",
        kind: Kind::Int { min: 1, max: 1 << 20 },
        default: DefaultValue::PerThread(2),
    },
    ParamDef {
        name: "init",
        about: "zero: zeroed allocation (the seed); none: uninitialised; touch: one write per 4 KiB page",
        kind: Kind::Choice { choices: &["zero", "none", "touch"] },
        default: DefaultValue::Word("zero"),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "rayon_boxes",
    about: "the seed's workload: random-size blocks on a rayon pool, most freed at once, a few kept in a bounded stash",
    params: PARAMS,
    has_dry: true,
    has_spin: true,
    ordered: &[],
    build,
};

/// How a fresh block is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    Zero,
    None,
    Touch,
}

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub max_size: usize,
    pub iters_per_task: u64,
    pub keep_max: usize,
    pub keep_prob: f64,
    pub tasks: usize,
    pub init: Init,
    /// Loop turns of busy work before each allocation (0: none).
    pub spin: u64,
}

impl Config {
    /// Reads parameters that `params::resolve` has validated; calibrates
    /// the busy work when `spin_ns` asks for some (`spin_turns` gives the turns exactly).
    pub fn from_params(p: &Values, spin_ns: f64, spin_turns: u64) -> Config {
        Config {
            spin: if spin_ns > 0.0 { (spin_ns * spin_turns_per_ns()).round().max(1.0) as u64 } else { spin_turns },
            max_size: p.uint("max_size") as usize,
            iters_per_task: p.uint("iters_per_task"),
            keep_max: p.uint("keep_max") as usize,
            keep_prob: p.real("keep_prob"),
            tasks: p.uint("tasks") as usize,
            init: match p.word("init") {
                "none" => Init::None,
                "touch" => Init::Touch,
                _ => Init::Zero,
            },
        }
    }
}

/// Busy work the optimiser cannot remove: `turns` loop iterations.
#[inline]
fn spin(turns: u64) {
    for i in 0..turns {
        black_box(i);
    }
}

/// How many turns of `spin` take one nanosecond here (median of 5 timings).
fn spin_turns_per_ns() -> f64 {
    const TURNS: u64 = 1 << 22;
    let mut rates: Vec<f64> = (0..5)
        .map(|_| {
            let start = std::time::Instant::now();
            spin(TURNS);
            TURNS as f64 / start.elapsed().as_nanos().max(1) as f64
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[2]
}

/// Where a step's block comes from: the allocator, or the dry scratch.
trait Blocks {
    type Block;
    fn make(&mut self, size: usize) -> Self::Block;
    fn drop_block(&mut self, block: Self::Block);
}

/// Writes the bytes a step writes into a fresh block.
fn mark(init: Init, bytes: &mut [MaybeUninit<u8>]) {
    let last = bytes.len() - 1;
    match init {
        Init::Touch => {
            for offset in (0..bytes.len()).step_by(PAGE) {
                bytes[offset].write(1);
            }
            bytes[last].write(1);
        }
        Init::Zero | Init::None => {
            if bytes.len() >= 8 {
                bytes[0].write(1);
                bytes[last].write(1);
            }
        }
    }
}

/// The steps of one task; the stash is the caller's so the dry variant can
/// reuse one allocated in advance.
fn steps<B: Blocks>(cfg: &Config, t: usize, blocks: &mut B, stash: &mut Vec<B::Block>) -> Work {
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ t as u64);
    let mut work = Work::default();
    for _ in 0..cfg.iters_per_task {
        let size = rng.random_range(1..=cfg.max_size);
        if cfg.spin > 0 {
            spin(cfg.spin);
        }
        let block = blocks.make(size);
        work.count(size);
        if rng.random_bool(cfg.keep_prob) {
            stash.push(block);
            if stash.len() > cfg.keep_max {
                let victim = rng.random_range(0..stash.len());
                let dropped = stash.swap_remove(victim);
                blocks.drop_block(dropped);
            }
        } else {
            blocks.drop_block(block);
        }
    }
    for block in stash.drain(..) {
        blocks.drop_block(block);
    }
    work
}

/// Blocks from the allocator under test: the seed's `vec![0u8; sz]` is an
/// `alloc_zeroed` with alignment 1, its `Box::new_uninit_slice` an `alloc`.
struct Heap<'a> {
    init: Init,
    meter: Meter<'a>,
}

impl Blocks for Heap<'_> {
    type Block = Block;

    fn make(&mut self, size: usize) -> Block {
        let fill = if self.init == Init::Zero { Fill::Zeroed } else { Fill::Uninit };
        let mut block = self.meter.alloc(size, 1, fill);
        if !crate::verify::on() {
            mark(self.init, block.bytes()); // verify mode keeps the block's pattern
        }
        block
    }

    fn drop_block(&mut self, block: Block) {
        self.meter.free(block);
    }
}

/// One task of the real workload, on the calling thread; `slot` picks its
/// latency-probe slot.
pub fn task(cfg: &Config, t: usize, tools: &Instruments, slot: usize) -> Work {
    let mut stash = Vec::with_capacity(cfg.keep_max.max(1));
    let mut heap = Heap { init: cfg.init, meter: tools.meter(slot) };
    steps(cfg, t, &mut heap, &mut stash)
}

/// The dry variant's blocks: regions of a scratch buffer, booked as live.
struct Scratch<'a> {
    init: Init,
    buf: &'a mut [MaybeUninit<u8>],
    meter: Meter<'a>,
}

impl Blocks for Scratch<'_> {
    type Block = usize;

    fn make(&mut self, size: usize) -> usize {
        let bytes = &mut self.buf[..size];
        if self.init == Init::Zero {
            // SAFETY: `bytes` is `size` writable bytes; this is the memset
            // that a zeroing allocator does (or avoids with fresh pages).
            unsafe { std::ptr::write_bytes(bytes.as_mut_ptr(), 0, size) };
        }
        mark(self.init, bytes);
        black_box(bytes.as_mut_ptr());
        self.meter.tally_alloc(size);
        size
    }

    fn drop_block(&mut self, size: usize) {
        self.meter.tally_free(size);
    }
}

/// A dry task's memory, allocated before timing starts.
pub struct DryTask {
    scratch: Vec<MaybeUninit<u8>>,
    stash: Vec<usize>,
}

impl DryTask {
    pub fn new(cfg: &Config) -> Result<DryTask, String> {
        let mut scratch = Vec::new();
        scratch
            .try_reserve_exact(cfg.max_size)
            .map_err(|_| format!("cannot allocate a {}-byte dry scratch buffer", cfg.max_size))?;
        scratch.resize(cfg.max_size, MaybeUninit::new(0));
        Ok(DryTask { scratch, stash: Vec::with_capacity(cfg.keep_max + 1) })
    }

    /// Task `t` without allocator calls.
    pub fn run(&mut self, cfg: &Config, t: usize, tools: &Instruments) -> Work {
        let mut scratch = Scratch { init: cfg.init, buf: &mut self.scratch, meter: Meter::new(&tools.live) };
        steps(cfg, t, &mut scratch, &mut self.stash)
    }
}

struct RayonBoxes {
    cfg: Config,
    pool: Pool,
    dry: Option<Vec<DryTask>>,
    tools: Arc<Instruments>,
}

/// The pool thread running the caller (0 outside a pool).
fn worker() -> usize {
    rayon::current_thread_index().unwrap_or(0)
}

impl Workload for RayonBoxes {
    fn iterate(&mut self) -> Work {
        let RayonBoxes { cfg, pool, dry, tools } = self;
        let (cfg, tools) = (&*cfg, &**tools);
        match dry {
            None => {
                pool.install(|| (0..cfg.tasks).into_par_iter().map(|t| task(cfg, t, tools, worker())).sum::<Work>())
            }
            Some(tasks) => {
                pool.install(|| tasks.par_iter_mut().enumerate().map(|(t, d)| d.run(cfg, t, tools)).sum::<Work>())
            }
        }
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params, ctx.spin_ns, ctx.spin_turns);
    let pool = ctx.pool()?;
    let dry = if ctx.dry { Some((0..cfg.tasks).map(|_| DryTask::new(&cfg)).collect::<Result<_, _>>()?) } else { None };
    Ok(Box::new(RayonBoxes { cfg, pool, dry, tools: ctx.tools.clone() }))
}
