//! `cache_thrash`: active false sharing, after Hoard's cache-thrash.
//!
//! One iteration: every pool thread, `objects` times, allocates one object
//! of `obj_size` bytes, makes `writes` passes over it (each pass writes
//! every byte and reads it back, as Hoard does) and frees it. Nothing is
//! shared by the program, but threads allocating at the same time may be
//! given adjacent objects on one cache line by an allocator that serves all
//! threads from one heap; their accesses then bounce the line between cores.
//!
//! Blocks have alignment 1 (as `Box<[u8]>`). Per iteration there are
//! `threads * objects` allocations of `obj_size` bytes, each freed by the
//! thread that allocated it. There is no dry variant.

use std::hint::black_box;
use std::sync::Arc;

use super::{Context, Instruments, Work, Workload, WorkloadDef};
use crate::heap::{Block, Fill};
use crate::params::{Default, Get, Kind, ParamDef, Values};

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "obj_size",
        about: "bytes per object",
        kind: Kind::Size { min: 1, max: 1 << 16 },
        default: Default::Int(8),
    },
    ParamDef {
        name: "objects",
        about: "objects each pool thread allocates, writes and frees per iteration",
        kind: Kind::Int { min: 1, max: 1 << 24 },
        default: Default::Int(100),
    },
    ParamDef {
        name: "writes",
        about: "passes over each object, each writing every byte and reading it back",
        kind: Kind::Int { min: 1, max: 1 << 24 },
        default: Default::Int(1000),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "cache_thrash",
    about: "active false sharing (Hoard cache-thrash): every thread allocates a small object, writes it many times, frees it",
    params: PARAMS,
    has_dry: false,
    has_spin: false,
    ordered: &[],
    build,
};

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub obj_size: usize,
    pub objects: u64,
    pub writes: u64,
}

impl Config {
    pub fn from_params(p: &Values) -> Config {
        Config { obj_size: p.uint("obj_size") as usize, objects: p.uint("objects"), writes: p.uint("writes") }
    }
}

/// `writes` passes over `block`, each writing every byte and reading it
/// back (Hoard's pattern). The read matters: on CPUs whose store buffers
/// absorb write-only sharing (measured on AMD Zen), it is the reads that
/// make a cache line shared with another writer costly. `black_box` keeps
/// every write and read in place, as volatile accesses would.
#[inline]
fn scribble(block: &mut Block, writes: u64) {
    let bytes = block.bytes();
    for pass in 0..writes {
        for (k, cell) in bytes.iter_mut().enumerate() {
            let byte = black_box(cell.write(pass.wrapping_add(k as u64) as u8));
            black_box(*byte);
        }
    }
}

struct CacheThrash {
    cfg: Config,
    pool: rayon::ThreadPool,
    threads: u64,
    tools: Arc<Instruments>,
}

impl Workload for CacheThrash {
    fn iterate(&mut self) -> Work {
        let cfg = self.cfg;
        let tools = &*self.tools;
        self.pool.broadcast(|c| {
            let mut meter = tools.meter(c.index());
            for _ in 0..cfg.objects {
                let mut block = meter.alloc(cfg.obj_size, 1, Fill::Uninit);
                scribble(&mut block, cfg.writes);
                meter.free(block);
            }
        });
        let count = self.threads * cfg.objects;
        Work { allocations: count, bytes: count * cfg.obj_size as u64 }
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params);
    let pool = ctx.pool()?;
    Ok(Box::new(CacheThrash { cfg, pool, threads: ctx.threads, tools: ctx.tools.clone() }))
}
