//! The arena's one region of memory, obtained without allocating.
//!
//! [`region`] runs inside the global allocator's first call, so it may not
//! allocate: on unix the size is parsed from the raw C environment and the
//! region is a lazily committed mapping; without mmap (Hermit) it is taken
//! eagerly from the system heap, sized to what the guest can give.

use crate::DEFAULT_ARENA_BYTES;

/// The arena's region (`bytes` of it, or `HAB_ARENA_BYTES` when 0): its
/// base and size, or None when the system refuses. A default-sized region
/// the system refuses is halved down to [`MIN_DEFAULT_ARENA_BYTES`]: Valgrind
/// gives a process less address space than 64 GiB, and so may `ulimit -v`.
#[cfg(unix)]
pub fn region(bytes: usize) -> Option<(*mut u8, usize)> {
    let (mut size, floor) = match (bytes, arena_bytes()) {
        (0, None) => (DEFAULT_ARENA_BYTES, MIN_DEFAULT_ARENA_BYTES),
        (0, Some(asked)) => (asked, asked),
        (asked, _) => (asked, asked),
    };
    loop {
        let base = reserve(size);
        if !base.is_null() {
            return Some((base, size));
        }
        if size / 2 < floor {
            return None;
        }
        size /= 2;
    }
}

/// Smallest region a default-sized arena settles for when address space is short.
#[cfg(unix)]
const MIN_DEFAULT_ARENA_BYTES: usize = 1 << 30;

/// Without mmap the region is real memory taken from the system heap at
/// once, so its size must fit the guest: the largest power-of-two share the
/// heap grants (from the default size down to 16 MiB), halved again so that
/// the kernel and the engine's own start-up keep the other half (at `-m 1G`
/// a Hermit guest grants 512 MiB and the arena takes 256 MiB).
#[cfg(not(unix))]
pub fn region(bytes: usize) -> Option<(*mut u8, usize)> {
    use std::alloc::{GlobalAlloc, Layout, System};
    let _ = bytes; // a guest's region is sized by what its heap grants
    let mut size = DEFAULT_ARENA_BYTES;
    while size >= MIN_GUEST_ARENA_BYTES {
        let layout = Layout::from_size_align(size, 4096).ok()?;
        // SAFETY: non-zero size, valid alignment; the probe is freed at once.
        let probe = unsafe { System.alloc(layout) };
        if !probe.is_null() {
            unsafe { System.dealloc(probe, layout) };
            let half = Layout::from_size_align(size / 2, 4096).ok()?;
            // SAFETY: as above; this block is the arena's for good.
            let base = unsafe { System.alloc(half) };
            return (!base.is_null()).then_some((base, size / 2));
        }
        size /= 2;
    }
    None
}

/// Smallest system-heap share a guest arena settles for.
#[cfg(not(unix))]
const MIN_GUEST_ARENA_BYTES: usize = 32 << 20;

/// Arena size from `HAB_ARENA_BYTES` (decimal bytes), None when unset or not a size.
#[cfg(unix)]
fn arena_bytes() -> Option<usize> {
    // SAFETY: getenv returns null or a NUL-terminated string that stays
    // valid while nothing modifies the environment; it is read at once.
    let raw = unsafe { libc::getenv(c"HAB_ARENA_BYTES".as_ptr()) };
    if raw.is_null() {
        return None;
    }
    let bytes = unsafe { std::ffi::CStr::from_ptr(raw) }.to_bytes();
    parse_decimal(bytes).filter(|&n| n > 0)
}

#[cfg(any(unix, test))]
fn parse_decimal(bytes: &[u8]) -> Option<usize> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0usize, |acc, &b| {
        let digit = (b as char).to_digit(10)? as usize;
        acc.checked_mul(10)?.checked_add(digit)
    })
}

/// Reserves `size` bytes of address space; pages are committed on first touch.
/// Returns null when the system refuses.
#[cfg(unix)]
fn reserve(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address the kernel picks.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr.cast()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_decimal;

    #[test]
    fn parses_plain_decimal_only() {
        assert_eq!(parse_decimal(b"4096"), Some(4096));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"12k"), None);
        assert_eq!(parse_decimal(b"99999999999999999999999"), None);
    }
}
