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
//! Every live block is also checked whenever the allocations since the
//! last sweep outnumber the live blocks (at least [`SWEEP_EVERY`]), so a
//! block damaged while it lives long is found then, not only at its free.
//! A sweep also compares the resident set with the live bytes: memory that
//! grows far past what is alive means the allocator does not give freed
//! blocks back ([`leaking`]); the end of the run checks the same.
//!
//! The engine's own allocations (the thread pool's, this table's) come from
//! a heap of its own meanwhile ([`crate::route`]), so damage the allocator
//! under test does lands in checked blocks rather than hanging the process.
//!
//! The first failure ends the process with an `error` record of kind
//! `corrupt` (or `leak`) naming it: after a corruption nothing else the
//! process does can be trusted. Verification is never timed.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Mutex;

use crate::protocol::{ErrorKind, Record};
use crate::rusage;

static ON: AtomicBool = AtomicBool::new(false);
/// A live block: its address range, and whether its pattern is in place yet.
#[derive(Clone, Copy)]
struct Entry {
    start: usize,
    end: usize,
    filled: bool,
}

/// Live blocks, sorted by address, and the bytes they hold. A vector
/// reserved once, not a tree: a tree's small nodes would come from the
/// allocator under test, which may hand them out twice.
struct Table {
    blocks: Vec<Entry>,
    bytes: u64,
    peak_bytes: u64,
    admitted_bytes: u64, // all blocks admitted since `settle`
    /// Freed blocks, direct-mapped by address: the address and the [`stamp`]
    /// taken just before its free began ([`PENDING`] until then). An
    /// allocation that finds its address here got a freed block again, and
    /// if that free began only after the allocation returned, the allocator
    /// handed out a block that was still live.
    freed: [(usize, u64); FREED_SLOTS],
    frees: u64,  // since `settle`
    reuses: u64, // since `settle`
}

const FREED_SLOTS: usize = 4096;
/// Frees after which a run in which no freed address came back is a leak.
pub const REUSE_EVIDENCE: u64 = 4096;

static LIVE: Mutex<Table> = Mutex::new(Table {
    blocks: Vec::new(),
    bytes: 0,
    peak_bytes: 0,
    admitted_bytes: 0,
    freed: [(0, 0); FREED_SLOTS],
    frees: 0,
    reuses: 0,
});

fn freed_slot(addr: usize) -> usize {
    (mix(addr as u64) % FREED_SLOTS as u64) as usize
}
/// Live blocks the table holds before it has to grow.
const RESERVED_BLOCKS: usize = 1 << 20;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// One total order of allocations returning and frees beginning, across threads.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// The stamp of a freed block whose free has not begun yet.
const PENDING: u64 = u64::MAX;
static CHECKED_BYTES: AtomicU64 = AtomicU64::new(0);
static SINCE_SWEEP: AtomicU64 = AtomicU64::new(0);
/// Least allocations between two sweeps of every live block.
pub const SWEEP_EVERY: u64 = 1024;
/// Resident set at `settle`, KiB (0: unknown or not yet taken).
static START_RSS_KIB: AtomicU64 = AtomicU64::new(0);
/// Growth of the resident set that is a leak when it also exceeds
/// [`LEAK_FACTOR`] times the most bytes ever live at once and half of all
/// the bytes ever allocated (a leaking allocator keeps every block, and
/// verify mode writes every byte of it; a fragmenting one stays bounded).
pub const LEAK_FLOOR_BYTES: u64 = 16 << 20;
pub const LEAK_FACTOR: u64 = 8;
/// Allocations between two looks at the resident set (a read of /proc).
const GROWTH_EVERY: u64 = 64;
/// Verify runs check at least this many allocations (within [`MAX_EXTRA_NS`]
/// past their time), so that a fault one allocation in thousands shows.
pub const MIN_ALLOCATIONS: u64 = 20_000;
pub const MAX_EXTRA_NS: u64 = 10_000_000_000;

/// Alignments verify mode rotates through (a workload's own is kept if larger).
const ALIGN_LADDER: [usize; 8] = [8, 16, 32, 64, 128, 256, 1024, 4096];

/// Switches verification on for the rest of the process, with the engine's
/// own allocations kept away from the allocator under test.
pub fn enable() {
    crate::route::separate();
    lock().blocks.reserve(RESERVED_BLOCKS);
    ON.store(true, Relaxed);
}

/// Takes the resident set after the first iteration as the base that leaks
/// are measured from (the allocator's and the workload's start-up, thread
/// arenas and first caches, are not a leak), and counts allocated bytes from
/// there.
pub fn settle() {
    let mut table = lock();
    table.admitted_bytes = 0;
    table.frees = 0;
    table.reuses = 0;
    START_RSS_KIB.store(rusage::rss_kib().unwrap_or(0), Relaxed);
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

/// A point in the order of allocator calls: taken right after an allocation
/// returns and right before a free begins.
pub fn stamp() -> u64 {
    EPOCH.fetch_add(1, SeqCst)
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
fn fail_as(kind: ErrorKind, message: String) -> ! {
    let mut out = std::io::stdout().lock();
    Record::Error { kind, message }.emit(&mut out);
    let _ = out.flush();
    std::process::exit(kind.exit_code())
}

fn fail(message: String) -> ! {
    fail_as(ErrorKind::Corrupt, message)
}

fn lock() -> std::sync::MutexGuard<'static, Table> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Checks every live block's pattern; `when` names the moment for the message.
fn sweep(table: &Table, when: &str) {
    for e in table.blocks.iter().filter(|e| e.filled) {
        let size = e.end - e.start;
        if let Some((k, got, want)) = mismatch(e.start, size, e.start, size) {
            fail(format!(
                "block of {size} bytes at {:#x} changed while live: byte {k} is {got:#04x}, expected {want:#04x} (found at {when})",
                e.start
            ));
        }
    }
}

/// Ends the run as a leak if memory grew far past what was ever live, or if
/// thousands of blocks were freed and no allocation got one of them back.
fn check_growth(table: &Table, when: &str) {
    if table.frees >= REUSE_EVIDENCE && table.reuses == 0 {
        fail_as(
            ErrorKind::Leak,
            format!(
                "{} blocks were freed and no allocation got one of their addresses back (found at {when}): \
                 freed memory is not reused",
                table.frees
            ),
        );
    }
    let peak_live = table.peak_bytes;
    if let Some(grown) = leaking(peak_live).filter(|&g| g.saturating_mul(2) > table.admitted_bytes) {
        fail_as(
            ErrorKind::Leak,
            format!(
                "resident memory grew by {} MiB while at most {} of blocks were live at once (found at {when}): \
                 freed memory is not reused",
                grown >> 20,
                human_bytes(peak_live)
            ),
        );
    }
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 10 << 20 => format!("{} MiB", n >> 20),
        n if n >= 10 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Bytes the resident set grew since `enable`, when that is a leak given
/// `peak_live` bytes alive at most; None where RSS is unknown (Hermit).
fn leaking(peak_live: u64) -> Option<u64> {
    let start = START_RSS_KIB.load(Relaxed);
    let now = rusage::rss_kib()?;
    let grown = now.saturating_sub(start) << 10;
    (start > 0 && grown > LEAK_FLOOR_BYTES.max(LEAK_FACTOR * peak_live)).then_some(grown)
}

/// Sweeps the live blocks when enough allocations passed since the last
/// sweep; looks at the resident set every [`GROWTH_EVERY`] allocations.
fn maybe_sweep() {
    let n = SINCE_SWEEP.fetch_add(1, Relaxed) + 1;
    if n.is_multiple_of(GROWTH_EVERY) {
        check_growth(&lock(), "an allocation");
    }
    if n < SWEEP_EVERY {
        return;
    }
    let table = lock();
    if n < table.blocks.len() as u64 {
        return;
    }
    SINCE_SWEEP.store(0, Relaxed);
    sweep(&table, "a sweep of live blocks");
}

/// The last checks of a run, once the workload gave back its blocks.
pub fn finish() {
    let table = lock();
    sweep(&table, "the end of the run");
    check_growth(&table, "the end of the run");
}

/// Whether a verify run that has checked for `ns` nanoseconds, with `deadline`
/// its planned time, should go on: to its time, and past it (for at most
/// [`MAX_EXTRA_NS`]) until [`MIN_ALLOCATIONS`] allocations were checked. A
/// run with no time (`deadline` 0) checks one iteration.
pub fn more(ns: u64, deadline: u64) -> bool {
    let short = ALLOCATIONS.load(Relaxed) < MIN_ALLOCATIONS;
    ns < deadline || (deadline > 0 && short && ns < deadline.saturating_add(MAX_EXTRA_NS))
}

/// Checks a block the allocator just returned (`zeroed`: from
/// `alloc_zeroed`; `returned`: the [`stamp`] taken when the call returned)
/// and fills it with its pattern.
pub fn admit(addr: usize, size: usize, align: usize, zeroed: bool, returned: u64) {
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
        let mut table = lock();
        let live = &mut table.blocks;
        let at = live.partition_point(|e| e.start < addr);
        let before = at.checked_sub(1).map(|i| live[i]).filter(|e| e.end > addr);
        let after = live.get(at).copied().filter(|e| e.start < end);
        if let Some(e) = before.or(after) {
            fail(format!(
                "allocation of {size} bytes at {addr:#x}..{end:#x} overlaps the live block {:#x}..{:#x}",
                e.start, e.end
            ));
        }
        live.insert(at, Entry { start: addr, end, filled: false });
        let slot = freed_slot(addr);
        if table.freed[slot].0 == addr {
            let began = table.freed[slot].1;
            if began == PENDING || began > returned {
                fail(format!(
                    "allocation of {size} bytes returned {addr:#x}, a block that was still live: \
                     its free had not begun when the allocation returned"
                ));
            }
            table.freed[slot] = (0, 0);
            table.reuses += 1;
        }
        table.bytes += size as u64;
        table.admitted_bytes += size as u64;
        table.peak_bytes = table.peak_bytes.max(table.bytes);
    }
    fill(addr, size);
    {
        let mut table = lock();
        if let Ok(at) = table.blocks.binary_search_by_key(&addr, |e| e.start) {
            table.blocks[at].filled = true;
        }
    }
    maybe_sweep();
}

/// Checks a block about to be freed (or resized: `what`) and forgets it.
pub fn release(addr: usize, size: usize, what: &str) {
    {
        let mut table = lock();
        match table.blocks.binary_search_by_key(&addr, |e| e.start) {
            Ok(at) => {
                let e = table.blocks.remove(at);
                table.bytes -= (e.end - e.start) as u64;
                table.frees += 1;
                table.freed[freed_slot(addr)] = (addr, PENDING);
            }
            Err(_) => fail(format!("{what} of {addr:#x}, which is not a live block")),
        }
    }
    if let Some((k, got, want)) = mismatch(addr, size, addr, size) {
        fail(format!(
            "block of {size} bytes at {addr:#x} changed while live: byte {k} is {got:#04x}, expected {want:#04x} (found at {what})"
        ));
    }
    // The free begins now (the caller calls the allocator next).
    let mut table = lock();
    let slot = freed_slot(addr);
    if table.freed[slot].0 == addr {
        table.freed[slot].1 = stamp();
    }
}

/// Checks a block `realloc` moved or resized: the kept bytes must carry the
/// old block's pattern; then it is admitted with a fresh pattern.
pub fn readmit(old_addr: usize, old_size: usize, addr: usize, size: usize, align: usize, returned: u64) {
    if let Some((k, got, want)) = mismatch(addr, old_size.min(size), old_addr, old_size) {
        fail(format!(
            "realloc of {old_size} bytes at {old_addr:#x} to {size} bytes at {addr:#x} lost contents: byte {k} is {got:#04x}, expected {want:#04x}"
        ));
    }
    admit(addr, size, align, false, returned);
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
