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

use std::sync::Arc;

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::{on_workers, WRITES};
use super::pool::Pool;
use crate::params::{DefaultValue, Kind, ParamDef};

/// The workload's parameters, typed.
pub use super::common::Scribbles as Config;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "obj_size",
        about: "bytes per object",
        kind: Kind::Size { min: 1, max: 1 << 16 },
        default: DefaultValue::Int(8),
    },
    ParamDef {
        name: "objects",
        about: "objects each pool thread allocates, writes and frees per iteration",
        kind: Kind::Int { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(100),
    },
    WRITES,
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

struct CacheThrash {
    cfg: Config,
    pool: Pool,
    threads: u64,
    tools: Arc<Instruments>,
}

impl Workload for CacheThrash {
    fn iterate(&mut self) -> Work {
        let cfg = self.cfg;
        let tools = &*self.tools;
        on_workers(&self.pool, tools, |_, meter| cfg.run(meter));
        let count = self.threads * cfg.objects;
        Work { allocations: count, bytes: count * cfg.obj_size as u64 }
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params);
    let pool = ctx.pool()?;
    Ok(Box::new(CacheThrash { cfg, pool, threads: ctx.threads, tools: ctx.tools.clone() }))
}
