//! The verify-mode heap separation, in a process of its own (it switches
//! the separation on for good).
#![cfg(unix)]

use std::alloc::{GlobalAlloc, Layout, System};

use hab_engine::route::{self, Routed};

#[test]
fn separated_allocations_outside_the_workload_come_from_the_engine_heap() {
    let routed = Routed(System);
    let layout = Layout::from_size_align(64, 8).unwrap();
    unsafe {
        let before = routed.alloc(layout);
        route::separate();
        let own = routed.alloc(layout);
        let tested = route::workload(|| routed.alloc(layout));
        assert!(!route::owns(before) && route::owns(own) && !route::owns(tested));
        let grown = routed.realloc(own, layout, 4096);
        assert!(route::owns(grown));
        for (p, size) in [(before, 64), (grown, 4096), (tested, 64)] {
            routed.dealloc(p, Layout::from_size_align(size, 8).unwrap());
        }
    }
}
