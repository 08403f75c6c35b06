//! `threadtest`: batches of small objects per thread, after Hoard's threadtest.
//!
//! One iteration: every pool thread does `rounds` rounds; a round allocates
//! a batch of `batch` objects of `obj_size` bytes one after the other
//! (writing the first byte of each) and then frees all of them in allocation
//! order. Nothing is shared between threads: every free is local. The
//! thread-local fast path, the refill and flush of thread caches, and any
//! lock behind them are what is measured.
//!
//! Blocks have alignment 1 (as `Box<[u8]>`). Per iteration there are
//! `threads * rounds * batch` allocations of `obj_size` bytes; a thread has
//! at most `batch * obj_size` requested bytes alive. The batch is held in a
//! per-thread list allocated when the workload is built.
//!
//! The dry variant runs the same loops without allocator calls: object `i`
//! of a batch is the region at offset `i * obj_size` of a per-thread scratch
//! buffer allocated at build time, whose first byte gets the same write, and
//! the live-byte books are kept as in a real run.

use std::sync::{Arc, Mutex};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::{free_all, lock, on_workers};
use super::pool::Pool;
use crate::heap::{Block, Fill, Live, Meter};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

/// Largest dry scratch buffer per thread (`batch * obj_size`).
const MAX_SCRATCH: usize = 1 << 32;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "rounds",
        about: "rounds (allocate a batch, free it) per thread per iteration",
        kind: Kind::Int { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(50),
    },
    ParamDef {
        name: "batch",
        about: "objects a thread allocates before freeing them all",
        kind: Kind::Int { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(1000),
    },
    ParamDef {
        name: "obj_size",
        about: "bytes per object",
        kind: Kind::Size { min: 1, max: 1 << 20 },
        default: DefaultValue::Int(64),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "threadtest",
    about: "Hoard threadtest: every thread allocates a batch of small objects and frees them in order, no sharing",
    params: PARAMS,
    has_dry: true,
    has_spin: false,
    ordered: &[],
    build,
};

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub rounds: u64,
    pub batch: usize,
    pub obj_size: usize,
}

impl Config {
    pub fn from_params(p: &Values) -> Config {
        Config { rounds: p.uint("rounds"), batch: p.uint("batch") as usize, obj_size: p.uint("obj_size") as usize }
    }

    fn work(&self, threads: usize) -> Work {
        let allocations = (threads * self.batch) as u64 * self.rounds;
        Work { allocations, bytes: allocations * self.obj_size as u64 }
    }
}

/// A pool thread's state, on its own cache lines.
#[repr(align(128))]
struct PerThread<T>(Mutex<T>);

/// A real thread's batch in flight (empty between rounds).
type Held = Vec<Block>;

/// A dry thread's scratch buffer and the offsets of its batch in flight.
struct Dry {
    scratch: Block,
    held: Vec<usize>,
}

enum State {
    Real(Vec<PerThread<Held>>),
    Dry(Vec<PerThread<Dry>>),
}

fn real_rounds(cfg: &Config, held: &mut Held, meter: &mut Meter) {
    for _ in 0..cfg.rounds {
        for _ in 0..cfg.batch {
            let mut block = meter.alloc(cfg.obj_size, 1, Fill::Uninit);
            block.poke(0, 1);
            held.push(block);
        }
        for block in held.drain(..) {
            meter.free(block);
        }
    }
}

fn dry_rounds(cfg: &Config, dry: &mut Dry, meter: &mut Meter) {
    for _ in 0..cfg.rounds {
        for i in 0..cfg.batch {
            let offset = i * cfg.obj_size;
            dry.scratch.poke(offset, 1);
            meter.tally_alloc(cfg.obj_size);
            dry.held.push(offset);
        }
        for offset in dry.held.drain(..) {
            std::hint::black_box(offset);
            meter.tally_free(cfg.obj_size);
        }
    }
}

struct Threadtest {
    cfg: Config,
    pool: Pool,
    state: State,
    tools: Arc<Instruments>,
}

impl Workload for Threadtest {
    fn iterate(&mut self) -> Work {
        let Threadtest { cfg, pool, state, tools } = self;
        let (cfg, tools) = (&*cfg, &**tools);
        match state {
            State::Real(threads) => {
                let threads = &*threads;
                on_workers(pool, tools, |w, meter| real_rounds(cfg, &mut lock(&threads[w].0), meter));
                cfg.work(threads.len())
            }
            State::Dry(threads) => {
                let threads = &*threads;
                pool.broadcast(|c| {
                    let mut meter = Meter::new(&tools.live);
                    dry_rounds(cfg, &mut lock(&threads[c.index()].0), &mut meter);
                });
                cfg.work(threads.len())
            }
        }
    }
}

impl Drop for Threadtest {
    fn drop(&mut self) {
        let mut meter = Meter::new(&self.tools.live);
        match &mut self.state {
            // Only a panic mid-round can leave blocks in a batch.
            State::Real(threads) => {
                for t in threads {
                    free_all(&mut meter, &mut lock(&t.0));
                }
            }
            State::Dry(threads) => {
                // The scratch buffers were never counted as live.
                let scratch_live = Live::new();
                let mut scratch_meter = Meter::new(&scratch_live);
                for t in threads.drain(..) {
                    let dry = t.0.into_inner().unwrap_or_else(|p| p.into_inner());
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
    let state = if ctx.dry {
        let bytes = cfg.batch.checked_mul(cfg.obj_size).filter(|&b| b <= MAX_SCRATCH).ok_or_else(|| {
            format!("batch * obj_size must be at most {MAX_SCRATCH} bytes for the dry variant's scratch buffer")
        })?;
        let scratch_live = Live::new();
        let mut scratch_meter = Meter::new(&scratch_live);
        State::Dry(
            (0..threads)
                .map(|_| {
                    let scratch = scratch_meter.alloc(bytes, 1, Fill::Uninit);
                    PerThread(Mutex::new(Dry { scratch, held: Vec::with_capacity(cfg.batch) }))
                })
                .collect(),
        )
    } else {
        State::Real((0..threads).map(|_| PerThread(Mutex::new(Vec::with_capacity(cfg.batch)))).collect())
    };
    Ok(Box::new(Threadtest { cfg, pool, state, tools: ctx.tools.clone() }))
}
