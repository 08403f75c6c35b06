//! A deterministic monotonic clock for counted engine processes.
//!
//! Preloaded (`LD_PRELOAD`) into an engine under Valgrind, this library's
//! `clock_gettime` answers the monotonic clocks with a virtual time: the
//! first read's real time plus `HAB_VCLOCK_STEP_NS` for every read made
//! before it. Allocators that pace housekeeping by the clock (jemalloc's
//! thread-cache garbage collection runs at most every 10 ms) then do the
//! same work in every process, where the real clock, slowed 50-100x by
//! Valgrind and by the machine's load, made their instruction counts move
//! by up to 1% between identical processes. Other clocks, and every clock
//! when the variable is absent or not a positive integer, are the kernel's.

use std::sync::atomic::{AtomicU64, Ordering};

/// `HAB_VCLOCK_STEP_NS`, read on the first call; 0 means the real clock.
const UNREAD: u64 = u64::MAX;
static STEP_NS: AtomicU64 = AtomicU64::new(UNREAD);
/// Real monotonic time of the first virtual read, in ns.
static BASE_NS: AtomicU64 = AtomicU64::new(UNREAD);
/// Virtual reads so far.
static READS: AtomicU64 = AtomicU64::new(0);

const NS: u64 = 1_000_000_000;

fn real(clock: libc::clockid_t, ts: *mut libc::timespec) -> libc::c_int {
    // SAFETY: the caller's pointer goes to the kernel as clock_gettime(2) wants it.
    unsafe { libc::syscall(libc::SYS_clock_gettime, clock, ts) as libc::c_int }
}

fn step_ns() -> u64 {
    let step = STEP_NS.load(Ordering::Relaxed);
    if step != UNREAD {
        return step;
    }
    // SAFETY: getenv with a NUL-terminated name; the value is only read here.
    let value = unsafe { libc::getenv(c"HAB_VCLOCK_STEP_NS".as_ptr()) };
    let parsed = if value.is_null() {
        0
    } else {
        // SAFETY: getenv returned a NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(value) };
        text.to_str().ok().and_then(|t| t.parse::<u64>().ok()).filter(|&s| s < NS).unwrap_or(0)
    };
    STEP_NS.store(parsed, Ordering::Relaxed);
    parsed
}

fn base_ns() -> u64 {
    let base = BASE_NS.load(Ordering::Relaxed);
    if base != UNREAD {
        return base;
    }
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    real(libc::CLOCK_MONOTONIC, &mut now);
    let ns = now.tv_sec as u64 * NS + now.tv_nsec as u64;
    match BASE_NS.compare_exchange(UNREAD, ns, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => ns,
        Err(first) => first,
    }
}

/// # Safety
/// `ts` must point to a writable `timespec`, as for clock_gettime(3).
#[no_mangle]
pub unsafe extern "C" fn clock_gettime(clock: libc::clockid_t, ts: *mut libc::timespec) -> libc::c_int {
    let monotonic = matches!(
        clock,
        libc::CLOCK_MONOTONIC | libc::CLOCK_MONOTONIC_RAW | libc::CLOCK_MONOTONIC_COARSE | libc::CLOCK_BOOTTIME
    );
    let step = step_ns();
    if !monotonic || step == 0 || ts.is_null() {
        return real(clock, ts);
    }
    let t = base_ns() + READS.fetch_add(1, Ordering::Relaxed) * step;
    // SAFETY: checked non-null; the caller provides a writable timespec.
    unsafe {
        (*ts).tv_sec = (t / NS) as libc::time_t;
        (*ts).tv_nsec = (t % NS) as libc::c_long;
    }
    0
}
