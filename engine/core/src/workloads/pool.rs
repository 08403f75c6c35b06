//! The rayon pool workloads run on, joined when it is dropped.
//!
//! A dropped `rayon::ThreadPool` lets its threads wind down on their own. An
//! engine that exits meanwhile races those threads' exit (their thread-local
//! destructors, the allocator's per-thread teardown) against the allocator's
//! process teardown, and a test that builds the next pool overlaps with the
//! last one's threads. A [`Pool`] waits until every worker has run its exit
//! handler, so the engine's threads are gone before it reports and exits.

use std::ops::Deref;
use std::sync::{Arc, Condvar, Mutex};

/// Workers still running, and the signal their exit handlers give.
type Running = Arc<(Mutex<usize>, Condvar)>;

/// A rayon pool of `threads` workers named `hab-worker-N`.
pub struct Pool {
    pool: Option<rayon::ThreadPool>,
    running: Running,
}

impl Pool {
    pub fn new(threads: u64) -> Result<Pool, String> {
        let running: Running = Arc::new((Mutex::new(threads as usize), Condvar::new()));
        let on_exit = running.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .thread_name(|i| format!("hab-worker-{i}"))
            .exit_handler(move |_| {
                let (count, cond) = &*on_exit;
                *count.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                cond.notify_all();
            })
            .build()
            .map_err(|e| format!("cannot start a pool of {threads} threads: {e}"))?;
        Ok(Pool { pool: Some(pool), running })
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
        let (count, cond) = &*self.running;
        let mut left = count.lock().unwrap_or_else(|p| p.into_inner());
        while *left > 0 {
            left = cond.wait(left).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_pool_waits_for_every_worker() {
        let pool = Pool::new(3).unwrap();
        assert_eq!(pool.broadcast(|c| c.index()).len(), 3);
        let running = pool.running.clone();
        drop(pool);
        assert_eq!(*running.0.lock().unwrap(), 0);
    }
}
