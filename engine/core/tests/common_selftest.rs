//! The counting allocator's own check: it sees allocations, remote frees and leaks.

mod common;

#[test]
fn the_log_sees_sizes_remote_frees_and_leaks() {
    let ((), log) = common::record(|| {
        let local = vec![1u8; 100];
        drop(local);
        let remote = vec![2u8; 200];
        std::thread::spawn(move || drop(remote)).join().unwrap();
        std::mem::forget(vec![3u8; 300]);
    });
    let s = log.complete().blocks(|size, align| align == 1 && (100..=300).contains(&size));
    assert_eq!((s.allocs, s.frees, s.remote_frees, s.still_alive), (3, 2, 1, 1));
    assert_eq!((s.min_size, s.max_size, s.bytes, s.peak_live_bytes), (100, 300, 600, 300));
}
