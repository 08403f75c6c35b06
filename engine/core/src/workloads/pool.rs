//! The rayon pool workloads run on, joined when it is dropped.
//!
//! A dropped `rayon::ThreadPool` lets its threads wind down on their own. An
//! engine that exits meanwhile races those threads' exit (their thread-local
//! destructors, the allocator's per-thread teardown) against the allocator's
//! process teardown: rpmalloc crashed at exit in about 1 run in 300 that way,
//! its `rpmalloc_finalize` unmapping a heap a worker's pthread-key destructor
//! was still releasing. rayon's exit handler runs before those destructors,
//! so a [`Pool`] starts its workers itself and joins their OS threads: when
//! it is dropped, every worker has finished, destructors included.

use std::ops::Deref;
use std::sync::Mutex;
use std::thread::JoinHandle;

/// A rayon pool of `threads` workers named `hab-worker-N`.
pub struct Pool {
    pool: Option<rayon::ThreadPool>,
    workers: Vec<JoinHandle<()>>,
}

impl Pool {
    pub fn new(threads: u64) -> Result<Pool, String> {
        let workers = Mutex::new(Vec::with_capacity(threads as usize));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .thread_name(|i| format!("hab-worker-{i}"))
            .spawn_handler(|thread| {
                let mut builder = std::thread::Builder::new();
                if let Some(name) = thread.name() {
                    builder = builder.name(name.to_owned());
                }
                if let Some(size) = thread.stack_size() {
                    builder = builder.stack_size(size);
                }
                let handle = builder.spawn(|| thread.run())?;
                workers.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
                Ok(())
            })
            .build()
            .map_err(|e| format!("cannot start a pool of {threads} threads: {e}"))?;
        let workers = workers.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok(Pool { pool: Some(pool), workers })
    }
}

impl Deref for Pool {
    type Target = rayon::ThreadPool;

    fn deref(&self) -> &rayon::ThreadPool {
        self.pool.as_ref().expect("the pool lives until dropped")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        drop(self.pool.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn dropping_the_pool_joins_every_worker_after_its_thread_locals() {
        static DESTROYED: AtomicUsize = AtomicUsize::new(0);
        struct Counted;
        impl Drop for Counted {
            fn drop(&mut self) {
                DESTROYED.fetch_add(1, Ordering::SeqCst);
            }
        }
        thread_local!(static LOCAL: Counted = const { Counted });
        let pool = Pool::new(3).unwrap();
        assert_eq!(pool.broadcast(|c| LOCAL.with(|_| c.index())).len(), 3);
        drop(pool);
        assert_eq!(DESTROYED.load(Ordering::SeqCst), 3, "every worker's thread-local destructor has run");
    }
}
