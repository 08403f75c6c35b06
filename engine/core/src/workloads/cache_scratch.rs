//! `cache_scratch`: passive false sharing, after Hoard's cache-scratch.
//!
//! One iteration: the thread calling `iterate` (not a pool thread) allocates
//! `threads` objects of `obj_size` bytes one after the other, so that
//! neighbouring objects probably share a cache line, and hands object `i` to
//! pool thread `i`. Every pool thread then frees the object it was given (a
//! remote free: it was allocated on the calling thread) and `objects` times
//! allocates an object of `obj_size` bytes, makes `writes` passes over it
//! (each pass writes every byte and reads it back, as Hoard does), and frees
//! it.
//!
//! An allocator that serves a thread's next allocation from the object that
//! thread just freed hands it memory on a cache line that other threads
//! write too, and every pass then bounces that line between cores.
//! Allocators that return remote frees to the owning heap, or that keep
//! per-thread memory apart, do not.
//!
//! Blocks have alignment 1 (as `Box<[u8]>`). Per iteration there are
//! `threads * (1 + objects)` allocations, all of `obj_size` bytes. There is
//! no dry variant.

use std::sync::{Arc, Mutex};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::{lock, on_workers, WRITES};
use super::pool::Pool;
use crate::heap::{Block, Fill, Meter};
use crate::params::{DefaultValue, Kind, ParamDef};

/// The workload's parameters, typed.
pub use super::common::Scribbles as Config;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "obj_size",
        about: "bytes per object (the handed-over objects and the ones each thread allocates)",
        kind: Kind::Size { min: 1, max: 1 << 16 },
        default: DefaultValue::Int(8),
    },
    ParamDef {
        name: "objects",
        about: "objects each pool thread allocates, writes and frees per iteration after freeing the one it was given",
        kind: Kind::Int { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(100),
    },
    WRITES,
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "cache_scratch",
    about: "passive false sharing (Hoard cache-scratch): the caller allocates one small object per thread, \
            each thread frees its object remotely, then allocates, writes and frees objects of the same size",
    params: PARAMS,
    has_dry: false,
    has_spin: false,
    ordered: &[],
    build,
};

/// A hand-over slot on its own cache lines, so the slots do not share one.
#[repr(align(128))]
struct Slot(Mutex<Option<Block>>);

struct CacheScratch {
    cfg: Config,
    pool: Pool,
    threads: usize,
    /// Slot `i` carries the object for pool thread `i`; empty between iterations.
    slots: Vec<Slot>,
    tools: Arc<Instruments>,
}

impl Workload for CacheScratch {
    fn iterate(&mut self) -> Work {
        let CacheScratch { cfg, pool, threads, slots, tools } = self;
        let (cfg, tools, slots) = (*cfg, &**tools, &*slots);
        {
            // The caller's latency slot is `threads`: pool threads use 0..threads.
            let mut meter = tools.meter(*threads);
            for slot in slots {
                let block = meter.alloc(cfg.obj_size, 1, Fill::Uninit);
                *lock(&slot.0) = Some(block);
            }
        }
        on_workers(pool, tools, |w, meter| {
            let given = lock(&slots[w].0).take();
            meter.free(given.expect("the caller filled every slot"));
            cfg.run(meter);
        });
        let count = *threads as u64 * (1 + cfg.objects);
        Work { allocations: count, bytes: count * cfg.obj_size as u64 }
    }
}

impl Drop for CacheScratch {
    fn drop(&mut self) {
        // Only a panic mid-iteration can leave an object behind.
        let mut meter = Meter::new(&self.tools.live);
        for slot in &self.slots {
            if let Some(block) = lock(&slot.0).take() {
                meter.free(block);
            }
        }
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params);
    let pool = ctx.pool()?;
    let threads = ctx.threads as usize;
    let slots = (0..threads).map(|_| Slot(Mutex::new(None))).collect();
    Ok(Box::new(CacheScratch { cfg, pool, threads, slots, tools: ctx.tools.clone() }))
}
