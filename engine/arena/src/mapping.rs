//! The arena's one region of memory, obtained without allocating.
//!
//! Both functions run inside the global allocator's first call, so neither
//! may allocate: the size is parsed from the raw C environment.

use crate::DEFAULT_ARENA_BYTES;

/// Arena size from `HAB_ARENA_BYTES` (decimal bytes), else the default.
#[cfg(unix)]
pub fn arena_bytes() -> usize {
    // SAFETY: getenv returns null or a NUL-terminated string that stays
    // valid while nothing modifies the environment; it is read at once.
    let raw = unsafe { libc::getenv(c"HAB_ARENA_BYTES".as_ptr()) };
    if raw.is_null() {
        return DEFAULT_ARENA_BYTES;
    }
    let bytes = unsafe { std::ffi::CStr::from_ptr(raw) }.to_bytes();
    parse_decimal(bytes).filter(|&n| n > 0).unwrap_or(DEFAULT_ARENA_BYTES)
}

#[cfg(not(unix))]
pub fn arena_bytes() -> usize {
    DEFAULT_ARENA_BYTES
}

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
pub fn reserve(size: usize) -> *mut u8 {
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

/// Without mmap (Hermit), the region comes from the system heap, eagerly.
#[cfg(not(unix))]
pub fn reserve(size: usize) -> *mut u8 {
    use std::alloc::{GlobalAlloc, Layout, System};
    match Layout::from_size_align(size, 4096) {
        // SAFETY: non-zero size, valid alignment.
        Ok(layout) => unsafe { System.alloc(layout) },
        Err(_) => std::ptr::null_mut(),
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
