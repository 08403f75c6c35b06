//! Pieces several workloads share: parameter declarations, the objects the
//! false-sharing workloads write, running a closure on every pool worker,
//! joining threads into their work, freeing a set of blocks.

use std::hint::black_box;
use std::sync::{Mutex, MutexGuard};
use std::thread::ScopedJoinHandle;

use super::api::{Instruments, Work};
use crate::heap::{Block, Fill, Meter};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

/// `min_size` of a workload that draws block sizes uniformly in
/// `min_size..=max_size` (larson, xmalloc), defaulting to `default`.
pub const fn min_size(default: u64) -> ParamDef {
    ParamDef {
        name: "min_size",
        about: "smallest block in bytes; sizes are uniform in min_size..=max_size",
        kind: Kind::Size { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(default),
    }
}

/// `max_size` to go with [`min_size`], defaulting to `default`.
pub const fn max_size(default: u64) -> ParamDef {
    ParamDef {
        name: "max_size",
        about: "largest block in bytes (at least min_size)",
        kind: Kind::Size { min: 1, max: 1 << 24 },
        default: DefaultValue::Int(default),
    }
}

/// `writes` of the false-sharing workloads (cache_scratch, cache_thrash).
pub const WRITES: ParamDef = ParamDef {
    name: "writes",
    about: "passes over each object, each writing every byte and reading it back",
    kind: Kind::Int { min: 1, max: 1 << 24 },
    default: DefaultValue::Int(1000),
};

/// The false-sharing workloads' parameters, typed: objects of `obj_size`
/// bytes, `objects` of them per pool thread and iteration, `writes` passes
/// over each.
#[derive(Debug, Clone, Copy)]
pub struct Scribbles {
    pub obj_size: usize,
    pub objects: u64,
    pub writes: u64,
}

impl Scribbles {
    pub fn from_params(p: &Values) -> Scribbles {
        Scribbles { obj_size: p.uint("obj_size") as usize, objects: p.uint("objects"), writes: p.uint("writes") }
    }

    /// `objects` times, one at a time: allocates an object of `obj_size`
    /// bytes (alignment 1), makes `writes` passes over it and frees it.
    #[inline]
    pub fn run(&self, meter: &mut Meter<'_>) {
        for _ in 0..self.objects {
            let mut block = meter.alloc(self.obj_size, 1, Fill::Uninit);
            scribble(&mut block, self.writes);
            meter.free(block);
        }
    }
}

/// Most passes a verify run makes over a block of the cache workloads.
const VERIFY_PASSES: u64 = 64;

/// `writes` passes over `block`, each writing every byte and reading it
/// back (Hoard's pattern; in verify mode, writing the pattern's bytes). The read matters: on CPUs whose store buffers
/// absorb write-only sharing (measured on AMD Zen), it is the reads that
/// make a cache line shared with another writer costly. `black_box` keeps
/// every write and read in place, as volatile accesses would.
#[inline]
fn scribble(block: &mut Block, writes: u64) {
    if crate::verify::on() {
        // Up to VERIFY_PASSES of the same passes, writing back the block's
        // own verification pattern: the block stays in use, and anything
        // else that writes to it meanwhile (an overlapping block's owner, a
        // scribbling allocator) leaves a mismatch. A byte found changed
        // ends the passes, so that no write-back repairs the damage before
        // the check at free sees it.
        let bytes = block.bytes();
        // SAFETY: verify mode filled every byte of the block when it was admitted.
        let pattern: Vec<u8> = bytes.iter().map(|b| unsafe { b.assume_init() }).collect();
        for _ in 0..writes.min(VERIFY_PASSES) {
            for (cell, &value) in bytes.iter_mut().zip(&pattern) {
                // SAFETY: initialised, as above.
                if black_box(unsafe { cell.assume_init_read() }) != value {
                    return;
                }
                black_box(cell.write(value));
            }
        }
        return;
    }
    let bytes = block.bytes();
    for pass in 0..writes {
        for (k, cell) in bytes.iter_mut().enumerate() {
            let byte = black_box(cell.write(pass.wrapping_add(k as u64) as u8));
            black_box(*byte);
        }
    }
}

/// Locks `m`, also after a panic elsewhere poisoned it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` on every worker of `pool` with the worker's index and a meter
/// whose latency slot is that index; the results come in worker order.
pub fn on_workers<R: Send>(
    pool: &rayon::ThreadPool,
    tools: &Instruments,
    f: impl Fn(usize, &mut Meter<'_>) -> R + Sync,
) -> Vec<R> {
    pool.broadcast(|c| {
        let w = c.index();
        let mut meter = tools.meter(w);
        f(w, &mut meter)
    })
}

/// As [`on_workers`], each worker also given its own entry of `slots`
/// (locked before its meter is made).
pub fn on_worker_slots<T: Send, R: Send>(
    pool: &rayon::ThreadPool,
    tools: &Instruments,
    slots: &[Mutex<T>],
    f: impl Fn(usize, &mut Meter<'_>, &mut T) -> R + Sync,
) -> Vec<R> {
    pool.broadcast(|c| {
        let w = c.index();
        let mut mine = lock(&slots[w]);
        let mut meter = tools.meter(w);
        f(w, &mut meter, &mut mine)
    })
}

/// Joins scoped threads that each return their work and sums it; a thread
/// that panicked panics the caller with `what`.
pub fn join_work(handles: Vec<ScopedJoinHandle<'_, Work>>, what: &str) -> Work {
    handles.into_iter().map(|h| h.join().expect(what)).sum::<Work>()
}

/// Frees every block in `blocks`, leaving it empty (capacity kept).
#[inline]
pub fn free_all(meter: &mut Meter<'_>, blocks: &mut Vec<Block>) {
    for block in blocks.drain(..) {
        meter.free(block);
    }
}
