//! `xmalloc`: producer threads allocate, consumer threads free.
//!
//! The `threads` are split into `producers = max(1, threads / 2)` and
//! `consumers = max(1, threads - producers)`; `threads = 1` therefore still
//! runs one producer and one consumer thread (two OS threads).
//!
//! One iteration spawns all producer and consumer threads in a
//! `std::thread::scope` and joins them. Producer `p` seeds
//! `SmallRng::seed_from_u64(SEED_BASE ^ p)` (afresh every iteration, so every
//! iteration allocates the same sizes) and allocates `blocks` blocks of sizes
//! uniform in `min_size..=max_size` (alignment 1, first and last byte
//! written). It packs them into batches of `batch` blocks (the last batch of
//! an iteration may be shorter) and sends its `j`-th batch of the iteration
//! to consumer `(p + j) % consumers` through that consumer's bounded channel.
//! A consumer frees every block of a batch it receives and sends the emptied
//! batch back to its producer; it stops once it has freed the number of
//! blocks the routing assigns to it. So every block is allocated on a
//! producer thread and freed on a consumer thread: all frees are remote.
//!
//! Each producer owns `depth` batch vectors, allocated at build time: it
//! fills an idle one and waits for one to come back when none is idle, so at
//! most `depth * batch` of its blocks are in flight. The channels
//! (`std::sync::mpsc::sync_channel`) are also made at build time and sized
//! so that sends never block; std may still allocate a little inside them
//! (waiter registration, alignment 8), as it does when spawning the threads.
//! Nothing is alive between iterations. No dry variant.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::api::{Context, Instruments, Work, Workload, WorkloadDef};
use super::common::{join_work, max_size, min_size};
use crate::heap::{Block, Fill};
use crate::params::{DefaultValue, Get, Kind, ParamDef, Values};

/// Producer `p` seeds its generator with `SEED_BASE ^ p` every iteration.
pub const SEED_BASE: u64 = 0x8A11_0C00;

const PARAMS: &[ParamDef] = &[
    ParamDef {
        name: "blocks",
        about: "blocks each producer allocates per iteration",
        kind: Kind::Int { min: 1, max: 1 << 32 },
        default: DefaultValue::Int(5000),
    },
    min_size(16),
    max_size(256),
    ParamDef {
        name: "batch",
        about: "blocks handed from a producer to a consumer at once",
        kind: Kind::Int { min: 1, max: 1 << 16 },
        default: DefaultValue::Int(64),
    },
    ParamDef {
        name: "depth",
        about: "batches a producer may have in flight (its batch vectors)",
        kind: Kind::Int { min: 1, max: 1 << 10 },
        default: DefaultValue::Int(4),
    },
];

pub const DEF: WorkloadDef = WorkloadDef {
    name: "xmalloc",
    about: "xmalloc: producer threads allocate blocks and pass them in batches to consumer threads that free them (all frees remote)",
    params: PARAMS,
    has_dry: false,
    has_spin: false,
    ordered: &[("min_size", "max_size")],
    build,
};

/// The workload's parameters, typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub producers: usize,
    pub consumers: usize,
    pub blocks: u64,
    pub min_size: usize,
    pub max_size: usize,
    pub batch: usize,
    pub depth: usize,
}

impl Config {
    /// Reads parameters that the spec has validated: each one by
    /// `params::resolve`, and `min_size <= max_size` by `params::check_order`
    /// (see `DEF.ordered`), so a spec that breaks it is refused.
    pub fn from_params(p: &Values, threads: u64) -> Config {
        let threads = threads as usize;
        let producers = (threads / 2).max(1);
        Config {
            producers,
            consumers: threads.saturating_sub(producers).max(1),
            blocks: p.uint("blocks"),
            min_size: p.uint("min_size") as usize,
            max_size: p.uint("max_size") as usize,
            batch: p.uint("batch") as usize,
            depth: p.uint("depth") as usize,
        }
    }

    /// Blocks consumer `c` receives per iteration under the routing
    /// (batch `j` of producer `p` goes to consumer `(p + j) % consumers`).
    pub fn blocks_for_consumer(&self, c: usize) -> u64 {
        let batch = self.batch as u64;
        let batches = self.blocks.div_ceil(batch);
        let mut total = 0;
        for p in 0..self.producers {
            // Batches j with (p + j) % consumers == c: j = j0, j0 + consumers, ...
            let j0 = ((c + self.consumers - p % self.consumers) % self.consumers) as u64;
            if j0 >= batches {
                continue;
            }
            let count = (batches - 1 - j0) / self.consumers as u64 + 1;
            total += count * batch;
            let last = batches - 1;
            if (last - j0).is_multiple_of(self.consumers as u64) {
                // This consumer gets the last, possibly short, batch.
                total -= batch * batches - self.blocks;
            }
        }
        total
    }
}

/// A batch on its way to a consumer, with the index of its producer.
type Parcel = (usize, Vec<Block>);

struct Producer {
    /// Batch vectors ready to fill.
    idle: Vec<Vec<Block>>,
    /// Batch vectors coming back from consumers.
    returns: Receiver<Vec<Block>>,
}

struct Consumer {
    inbox: Receiver<Parcel>,
    expect: u64,
}

struct Xmalloc {
    cfg: Config,
    producers: Vec<Producer>,
    consumers: Vec<Consumer>,
    /// Senders into each consumer's inbox.
    to_consumer: Vec<SyncSender<Parcel>>,
    /// Senders into each producer's return channel.
    to_producer: Vec<SyncSender<Vec<Block>>>,
    tools: Arc<Instruments>,
}

fn produce(cfg: &Config, p: usize, me: &mut Producer, to_consumer: &[SyncSender<Parcel>], tools: &Instruments) -> Work {
    let mut rng = SmallRng::seed_from_u64(SEED_BASE ^ p as u64);
    let mut meter = tools.meter(p);
    let mut work = Work::default();
    let mut left = cfg.blocks;
    let mut j = 0;
    while left > 0 {
        let n = left.min(cfg.batch as u64);
        let mut batch = match me.idle.pop() {
            Some(batch) => batch,
            None => me.returns.recv().expect("a batch comes back while consumers run"),
        };
        for _ in 0..n {
            let size = rng.random_range(cfg.min_size..=cfg.max_size);
            let mut block = meter.alloc(size, 1, Fill::Uninit);
            block.touch_ends();
            batch.push(block);
            work.count(size);
        }
        to_consumer[(p + j) % cfg.consumers].send((p, batch)).expect("the consumer is alive");
        left -= n;
        j += 1;
    }
    work
}

fn consume(cfg: &Config, c: usize, me: &mut Consumer, to_producer: &[SyncSender<Vec<Block>>], tools: &Instruments) {
    let mut meter = tools.meter(cfg.producers + c);
    let mut left = me.expect;
    while left > 0 {
        let (p, mut batch) = me.inbox.recv().expect("producers send what the routing promises");
        left -= batch.len() as u64;
        for block in batch.drain(..) {
            meter.free(block);
        }
        to_producer[p].send(batch).expect("the return channel holds all of a producer's batches");
    }
}

impl Workload for Xmalloc {
    fn iterate(&mut self) -> Work {
        let Xmalloc { cfg, producers, consumers, to_consumer, to_producer, tools } = self;
        let (cfg, tools, to_consumer, to_producer) = (&*cfg, &**tools, &to_consumer[..], &to_producer[..]);
        std::thread::scope(|s| {
            let consuming: Vec<_> = consumers
                .iter_mut()
                .enumerate()
                .map(|(c, me)| s.spawn(move || consume(cfg, c, me, to_producer, tools)))
                .collect();
            let handles: Vec<_> = producers
                .iter_mut()
                .enumerate()
                .map(|(p, me)| s.spawn(move || produce(cfg, p, me, to_consumer, tools)))
                .collect();
            let work = join_work(handles, "producer thread");
            // Joined explicitly: a scope's implicit wait ends before a
            // thread's destructors (the allocator's per-thread teardown) run.
            for consumer in consuming {
                consumer.join().expect("consumer thread");
            }
            work
        })
    }
}

fn build(ctx: &Context) -> Result<Box<dyn Workload>, String> {
    let cfg = Config::from_params(&ctx.params, ctx.threads);
    let capacity = (cfg.batch as u64).min(cfg.blocks) as usize;
    let (mut to_producer, mut producers) = (Vec::new(), Vec::new());
    for _ in 0..cfg.producers {
        let (tx, rx) = sync_channel(cfg.depth);
        to_producer.push(tx);
        let idle = (0..cfg.depth).map(|_| Vec::with_capacity(capacity)).collect();
        producers.push(Producer { idle, returns: rx });
    }
    let (mut to_consumer, mut consumers) = (Vec::new(), Vec::new());
    for c in 0..cfg.consumers {
        // Room for every batch vector there is: a send never blocks.
        let (tx, rx) = sync_channel(cfg.producers * cfg.depth);
        to_consumer.push(tx);
        consumers.push(Consumer { inbox: rx, expect: cfg.blocks_for_consumer(c) });
    }
    Ok(Box::new(Xmalloc { cfg, producers, consumers, to_consumer, to_producer, tools: ctx.tools.clone() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routing_gives_every_block_to_exactly_one_consumer() {
        for producers in 1..5 {
            for consumers in 1..6 {
                for blocks in [1, 7, 63, 64, 65, 640, 1000] {
                    for batch in [1, 3, 64] {
                        let cfg = Config { producers, consumers, blocks, min_size: 1, max_size: 1, batch, depth: 1 };
                        let mut want = vec![0u64; consumers];
                        for p in 0..producers {
                            let mut left = blocks;
                            let mut j = 0;
                            while left > 0 {
                                let n = left.min(batch as u64);
                                want[(p + j) % consumers] += n;
                                left -= n;
                                j += 1;
                            }
                        }
                        let got: Vec<u64> = (0..consumers).map(|c| cfg.blocks_for_consumer(c)).collect();
                        assert_eq!(got, want, "{cfg:?}");
                    }
                }
            }
        }
    }
}
