//! Resource usage of the engine process (getrusage), where the OS has it.

use crate::protocol::Usage;

/// The process's usage so far: peak RSS, page faults, CPU time.
#[cfg(unix)]
pub fn current() -> Usage {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) } != 0 {
        return Usage::default();
    }
    // SAFETY: initialised by the successful call above.
    let ru = unsafe { ru.assume_init() };
    let micros = |tv: libc::timeval| tv.tv_sec as u64 * 1_000_000 + tv.tv_usec as u64;
    // Linux reports ru_maxrss in KiB, macOS in bytes.
    let ru_maxrss_kib = if cfg!(target_os = "macos") { ru.ru_maxrss as u64 / 1024 } else { ru.ru_maxrss as u64 };
    Usage {
        max_rss_kib: peak_rss_kib().or(Some(ru_maxrss_kib)),
        minor_faults: Some(ru.ru_minflt as u64),
        major_faults: Some(ru.ru_majflt as u64),
        user_us: Some(micros(ru.ru_utime)),
        system_us: Some(micros(ru.ru_stime)),
    }
}

/// Peak RSS of this process image from `/proc/self/status` (VmHWM).
///
/// Linux carries ru_maxrss across execve, so a process started by a large
/// parent (the Python harness) would report the parent's peak; VmHWM belongs
/// to the new address space only.
#[cfg(unix)]
fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// Resident set size now, in KiB (VmRSS), where the OS reports it.
pub fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Hermit has no getrusage: its heap is mapped at boot, so RSS means nothing there.
#[cfg(not(unix))]
pub fn current() -> Usage {
    Usage::default()
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn reports_a_plausible_peak_rss_and_cpu_time() {
        let block = vec![1u8; 32 << 20];
        std::hint::black_box(&block);
        let usage = super::current();
        assert!(usage.max_rss_kib.unwrap() >= 32 << 10);
        assert!(usage.minor_faults.unwrap() > 0);
        assert!(usage.user_us.is_some() && usage.system_us.is_some());
    }
}
