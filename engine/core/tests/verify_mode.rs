//! Verify mode through the engine's command line. Verification is switched
//! on for the whole process, so this test has a test binary of its own.

use hab_engine::entry::command_records;
use hab_engine::protocol::{ErrorKind, Record};

#[test]
fn verify_mode_checks_instead_of_sampling() {
    let spec = r#"{"protocol":1,"workload":"realloc_growth","threads":1,"verify":true,
        "params":{"buffers":4,"final_size":4096,"step":512},"sampling":{"warm_up_time":0}}"#;
    let (result, recs) = command_records("test", &[spec]);
    result.unwrap();
    assert!(matches!(recs[0], Record::Hello { verify: true, .. }));
    let Record::Verified { iters, allocations, checked_bytes } = recs[1] else { panic!("{recs:?}") };
    assert_eq!(iters, 1, "at least one iteration, and no more with no time to fill");
    assert_eq!(allocations, 4);
    assert!(checked_bytes >= 4 * 4096, "every grown buffer was checked");
    assert!(matches!(recs[2], Record::Done { .. }) && recs.len() == 3);
    // With time to fill, a run goes on past its time until enough allocations
    // were checked, or until the extra time is spent (a test build on a busy
    // machine may need it all).
    let spec = spec.replace(r#""warm_up_time":0"#, r#""warm_up_time":0.001"#);
    let started = std::time::Instant::now();
    let (result, recs) = command_records("test", &[&spec]);
    let took = started.elapsed();
    result.unwrap();
    let Record::Verified { allocations, .. } = recs[1] else { panic!("{recs:?}") };
    let extra = std::time::Duration::from_nanos(hab_engine::verify::MAX_EXTRA_NS);
    assert!(allocations >= hab_engine::verify::MIN_ALLOCATIONS || took >= extra, "{allocations} in {took:?}");
    let (result, _) =
        command_records("test", &["--check", r#"{"protocol":1,"workload":"fastpath","verify":true,"dry":true}"#]);
    assert_eq!(result.unwrap_err().0, ErrorKind::Spec);
}
