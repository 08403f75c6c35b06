//! Verify mode: checking the allocator under test instead of timing it.
//!
//! When [`enable`] has been called, every block a `heap::Meter`
//! gets is checked for the alignment it asked for and for overlap with the
//! blocks alive, zeroed blocks are checked for zeros, and each block is
//! filled with a pattern derived from its address and size. The pattern is
//! checked before the block is freed, and a resized block must carry its
//! old pattern in the bytes `realloc` keeps. Allocations also ask for a
//! rotating ladder of alignments (at least what the workload asked), so
//! every workload exercises the aligned paths.
//!
//! Workloads keep the pattern intact: `heap::Block::poke` writes
//! the pattern's own byte in verify mode and bulk writers skip their
//! writes, so any other change to a live block is the allocator's doing.
//!
//! The first failure ends the process with an `error` record of kind
//! `corrupt` naming it: after a corruption nothing else the process does can
//! be trusted. Verification is never timed.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::protocol::{ErrorKind, Record};

static ON: AtomicBool = AtomicBool::new(false);
/// Live blocks as (start, end) address ranges, sorted. A vector reserved
/// once, not a tree: a tree's small nodes would come from the allocator
/// under test, which may hand them out twice.
static LIVE: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
/// Live blocks the table holds before it has to grow.
const RESERVED_BLOCKS: usize = 1 << 20;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static CHECKED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Alignments verify mode rotates through (a workload's own is kept if larger).
const ALIGN_LADDER: [usize; 8] = [8, 16, 32, 64, 128, 256, 1024, 4096];

/// Switches verification on for the rest of the process.
pub fn enable() {
    lock().reserve(RESERVED_BLOCKS);
    ON.store(true, Relaxed);
}

/// Whether verification is on.
#[inline]
pub fn on() -> bool {
    ON.load(Relaxed)
}

/// What was checked so far: (allocations, bytes compared against the pattern).
pub fn counts() -> (u64, u64) {
    (ALLOCATIONS.load(Relaxed), CHECKED_BYTES.load(Relaxed))
}

/// The alignment to request for an allocation that asked for `asked`.
pub fn align_for(asked: usize) -> usize {
    let n = ALLOCATIONS.fetch_add(1, Relaxed);
    asked.max(ALIGN_LADDER[(n % ALIGN_LADDER.len() as u64) as usize])
}

fn mix(mut x: u64) -> u64 {
    // splitmix64's finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn seed(addr: usize, size: usize) -> u64 {
    mix(addr as u64 ^ (size as u64).rotate_left(29))
}

#[inline]
fn word(seed: u64, index: usize) -> u64 {
    // One multiply per word: the seed is already mixed, so words differ
    // between blocks and between positions.
    (seed ^ index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Byte `offset` of the pattern of a block at `addr` of `size` bytes.
#[inline]
pub fn expected(addr: usize, size: usize, offset: usize) -> u8 {
    (word(seed(addr, size), offset / 8) >> (8 * (offset % 8))) as u8
}

fn fill(addr: usize, size: usize) {
    let s = seed(addr, size);
    let ptr = addr as *mut u8;
    for (i, start) in (0..size).step_by(8).enumerate() {
        let bytes = word(s, i).to_le_bytes();
        let n = (size - start).min(8);
        // SAFETY: the block owns `size` bytes at `addr`; `start + n <= size`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr.add(start), n) };
    }
}

/// First byte of `len` bytes at `addr` that differs from the pattern of the
/// block (`pattern_addr`, `pattern_size`): (offset, found, expected).
fn mismatch(addr: usize, len: usize, pattern_addr: usize, pattern_size: usize) -> Option<(usize, u8, u8)> {
    CHECKED_BYTES.fetch_add(len as u64, Relaxed);
    let s = seed(pattern_addr, pattern_size);
    let ptr = addr as *const u8;
    for (i, start) in (0..len).step_by(8).enumerate() {
        let n = (len - start).min(8);
        if n == 8 {
            // SAFETY: 8 bytes in bounds of a block this process owns.
            let whole = unsafe { ptr.add(start).cast::<u64>().read_unaligned() };
            if whole == u64::from_le(word(s, i)) {
                continue;
            }
        }
        let want = word(s, i).to_le_bytes();
        let mut got = [0u8; 8];
        // SAFETY: in bounds of a block this process owns (`start + n <= len`).
        unsafe { std::ptr::copy_nonoverlapping(ptr.add(start), got.as_mut_ptr(), n) };
        if got[..n] != want[..n] {
            let k = (0..n).find(|&k| got[k] != want[k]).expect("a differing byte");
            return Some((start + k, got[k], want[k]));
        }
    }
    None
}

/// Reports the first failure and ends the process.
fn fail(message: String) -> ! {
    let mut out = std::io::stdout().lock();
    Record::Error { kind: ErrorKind::Corrupt, message }.emit(&mut out);
    let _ = out.flush();
    std::process::exit(ErrorKind::Corrupt.exit_code())
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(usize, usize)>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Checks a block the allocator just returned (`zeroed`: from
/// `alloc_zeroed`) and fills it with its pattern.
pub fn admit(addr: usize, size: usize, align: usize, zeroed: bool) {
    if !addr.is_multiple_of(align) {
        fail(format!(
            "allocation of {size} bytes aligned to {align} returned {addr:#x}, misaligned by {}",
            addr % align
        ));
    }
    if zeroed {
        // SAFETY: the block owns `size` bytes at `addr`.
        let bytes = unsafe { std::slice::from_raw_parts(addr as *const u8, size) };
        if let Some(k) = bytes.iter().position(|&b| b != 0) {
            fail(format!("zeroed allocation of {size} bytes at {addr:#x} has byte {k} = {:#04x}", bytes[k]));
        }
    }
    let end = addr + size;
    {
        let mut live = lock();
        let at = live.partition_point(|&(s, _)| s < addr);
        let before = at.checked_sub(1).map(|i| live[i]).filter(|&(_, e)| e > addr);
        let after = live.get(at).copied().filter(|&(s, _)| s < end);
        if let Some((s, e)) = before.or(after) {
            fail(format!("allocation of {size} bytes at {addr:#x}..{end:#x} overlaps the live block {s:#x}..{e:#x}"));
        }
        live.insert(at, (addr, end));
    }
    fill(addr, size);
}

/// Checks a block about to be freed (or resized: `what`) and forgets it.
pub fn release(addr: usize, size: usize, what: &str) {
    {
        let mut live = lock();
        match live.binary_search_by_key(&addr, |&(s, _)| s) {
            Ok(at) => {
                live.remove(at);
            }
            Err(_) => fail(format!("{what} of {addr:#x}, which is not a live block")),
        }
    }
    if let Some((k, got, want)) = mismatch(addr, size, addr, size) {
        fail(format!(
            "block of {size} bytes at {addr:#x} changed while live: byte {k} is {got:#04x}, expected {want:#04x} (found at {what})"
        ));
    }
}

/// Checks a block `realloc` moved or resized: the kept bytes must carry the
/// old block's pattern; then it is admitted with a fresh pattern.
pub fn readmit(old_addr: usize, old_size: usize, addr: usize, size: usize, align: usize) {
    if let Some((k, got, want)) = mismatch(addr, old_size.min(size), old_addr, old_size) {
        fail(format!(
            "realloc of {old_size} bytes at {old_addr:#x} to {size} bytes at {addr:#x} lost contents: byte {k} is {got:#04x}, expected {want:#04x}"
        ));
    }
    admit(addr, size, align, false);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_depends_on_address_and_size_and_fills_every_byte() {
        let mut buf = vec![0u8; 37];
        let addr = buf.as_mut_ptr() as usize;
        fill(addr, 37);
        assert!((0..37).all(|k| buf[k] == expected(addr, 37, k)));
        assert_eq!(mismatch(addr, 37, addr, 37), None);
        assert!(mismatch(addr, 37, addr, 36).is_some(), "another size gives another pattern");
        buf[20] ^= 1;
        assert_eq!(mismatch(addr, 37, addr, 37).map(|m| m.0), Some(20));
    }

    #[test]
    fn the_alignment_ladder_keeps_larger_requests() {
        let asked: Vec<usize> = (0..16).map(|_| align_for(1)).collect();
        assert!(asked.iter().all(|a| ALIGN_LADDER.contains(a)));
        assert!((0..16).all(|_| align_for(8192) == 8192));
    }
}
