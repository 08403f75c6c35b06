//! The engine's command line: what every allocator binary's `main` runs.

use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::latency::{self, Latency};
use crate::library::{self, Describe};
use crate::protocol::{ErrorKind, Record, Usage};
use crate::spec::{Resolved, Spec};
use crate::wire::PROTOCOL_VERSION;
use crate::workloads::{Context, Instruments};
use crate::{route, rusage, sampling, verify, workloads};

/// Empty timings measured for the latency record's timer cost.
const TIMER_ROUNDS: u32 = 100_000;

/// Version of this engine (the crate version).
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// An argument `b64:DATA` stands for DATA decoded (base64url, padding
/// optional): how a spec crosses a kernel command line unmangled.
pub const B64_PREFIX: &str = "b64:";

const USAGE: &str = "\
usage: ENGINE SPEC_JSON          run the benchmark the spec describes
       ENGINE b64:SPEC           the same, spec in base64url (any argument may be so encoded)
       ENGINE --spec-file PATH   the same, spec read from a file
       ENGINE --check SPEC_JSON  validate a spec and print it with defaults filled
       ENGINE --describe         list workloads and their parameters
       ENGINE --library          the allocator library's version and build options
Output is one JSON record per line, each behind the marker '@@hab ' (docs/protocol.md).";

/// Runs the engine for the binary whose global allocator is `allocator`;
/// `setup` runs first (for allocators that must be switched on), and
/// `library` answers `--library`.
pub fn main(allocator: &'static str, setup: fn(), library: Describe) -> ! {
    #[cfg(target_os = "linux")]
    let guest = crate::guest::enter();
    #[cfg(not(target_os = "linux"))]
    let guest = None;
    setup();
    install_panic_hook();
    let mut out = std::io::stdout();
    let args = guest.unwrap_or_else(|| std::env::args().skip(1).collect());
    let code = match decode_args(args).and_then(|args| command(allocator, library, &args, &mut out)) {
        Ok(()) => 0,
        Err((kind, message)) => {
            Record::Error { kind, message }.emit(&mut out);
            kind.exit_code()
        }
    };
    std::process::exit(code)
}

/// The arguments with every `b64:` one decoded.
pub fn decode_args(args: Vec<String>) -> Result<Vec<String>, Failure> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    let b64 = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    args.into_iter()
        .map(|arg| match arg.strip_prefix(B64_PREFIX) {
            None => Ok(arg),
            Some(data) => b64
                .decode(data)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| spec_error(format!("argument {arg:.40}... is not base64url of UTF-8 text"))),
        })
        .collect()
}

/// Why a command failed: the error record's kind and message.
pub type Failure = (ErrorKind, String);

fn spec_error(message: String) -> Failure {
    (ErrorKind::Spec, message)
}

/// Runs the engine's command line `args` (without the program name) for
/// `allocator`, writing records to `out`.
pub fn command(allocator: &str, library: Describe, args: &[String], out: &mut impl Write) -> Result<(), Failure> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["--library"] => {
            Record::Library { allocator: allocator.into(), library: library() }.emit(out);
            Ok(())
        }
        ["--describe"] => {
            let workloads = workloads::ALL.iter().map(|w| w.info()).collect();
            Record::Describe {
                protocol: PROTOCOL_VERSION,
                engine_version: ENGINE_VERSION.into(),
                allocator: allocator.into(),
                workloads,
            }
            .emit(out);
            Ok(())
        }
        ["--check", json] => {
            let r = Spec::parse(json).and_then(|s| s.resolve()).map_err(spec_error)?;
            Record::Valid {
                workload: r.workload.name.into(),
                threads: r.threads,
                dry: r.dry,
                spin_ns: r.spin_ns,
                latency_every: r.latency_every,
                params: r.params,
                sampling: r.sampling,
            }
            .emit(out);
            Ok(())
        }
        ["--spec-file", path] => {
            let text =
                std::fs::read_to_string(path).map_err(|e| spec_error(format!("cannot read spec file {path}: {e}")))?;
            run(allocator, &text, out)
        }
        ["-h" | "--help"] => {
            let _ = writeln!(out, "{USAGE}");
            Ok(())
        }
        [json] if json.trim_start().starts_with('{') => run(allocator, json, out),
        _ => Err(spec_error(format!("expected one spec argument; {}", USAGE.lines().next().unwrap_or("")))),
    }
}

/// [`command`] with its output parsed back into records (for tests and
/// for embedding the engine in another program).
pub fn command_records(allocator: &str, args: &[&str]) -> (Result<(), Failure>, Vec<Record>) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut out = Vec::new();
    let result = command(allocator, library::none, &args, &mut out);
    let text = String::from_utf8_lossy(&out);
    let records = text.lines().filter_map(Record::from_line).filter_map(Result::ok).collect();
    (result, records)
}

fn run(allocator: &str, text: &str, out: &mut impl Write) -> Result<(), Failure> {
    let started = Instant::now();
    let spec: Resolved = Spec::parse(text).and_then(|s| s.resolve()).map_err(spec_error)?;
    if spec.verify {
        verify::enable();
    } else if route::separated() {
        return Err(spec_error(format!(
            "{}=1 keeps the engine's allocations from the allocator under test, which only a verify spec may do",
            route::VERIFY_ENV
        )));
    }
    Record::Hello {
        protocol: PROTOCOL_VERSION,
        engine_version: ENGINE_VERSION.into(),
        allocator: allocator.into(),
        workload: spec.workload.name.into(),
        dry: spec.dry,
        spin_ns: spec.spin_ns,
        spin_turns: spec.spin_turns,
        latency_every: spec.latency_every,
        threads: spec.threads,
        params: spec.params.clone(),
        sampling: spec.sampling,
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        verify: spec.verify,
        malloc_from: library::malloc_from(),
        fixed: spec.fixed,
        cpus: std::thread::available_parallelism().ok().map(|n| n.get() as u64),
    }
    .emit(out);

    let start_rss_kib = rusage::rss_kib();
    let tools = Arc::new(Instruments { latency: spec.latency_every.map(Latency::new), ..Instruments::default() });
    let ctx = Context {
        params: spec.params.clone(),
        threads: spec.threads,
        dry: spec.dry,
        spin_ns: spec.spin_ns,
        spin_turns: spec.spin_turns,
        tools: tools.clone(),
    };
    let mut workload = (spec.workload.build)(&ctx).map_err(|m| (ErrorKind::Runtime, m))?;
    let mut work = workloads::Work::default();
    let mut time = |iters: u64| {
        let start = Instant::now();
        for _ in 0..iters {
            work = black_box(workload.iterate());
        }
        start.elapsed().as_nanos() as u64
    };

    if spec.verify {
        let deadline = spec.sampling.warm_up_ns();
        let (mut iters, mut ns) = (0u64, 0u64);
        while iters == 0 || verify::more(ns, deadline) {
            ns += time(1);
            iters += 1;
            if iters == 1 {
                verify::settle();
            }
        }
        drop(workload);
        verify::finish();
        let (allocations, checked_bytes) = verify::counts();
        Record::Verified { iters, allocations, checked_bytes }.emit(out);
        Record::Done { wall_ns: started.elapsed().as_nanos() as u64 }.emit(out);
        return Ok(());
    }
    let (warm, plan) = match spec.fixed {
        Some(fixed) => {
            let warm = sampling::WarmUp { iters: fixed.warm_up, ns: time(fixed.warm_up) };
            (warm, sampling::fixed(spec.sampling.sample_size, fixed.per_sample))
        }
        None => {
            let warm = sampling::warm_up(spec.sampling.warm_up_ns(), &mut time);
            let (mode, n) = (spec.sampling.mode, spec.sampling.sample_size);
            (warm, sampling::plan(mode, n, spec.sampling.measurement_ns(), warm.met_ns()))
        }
    };
    Record::Warmup { iters: warm.iters, ns: warm.ns }.emit(out);
    if let Some(lat) = &tools.latency {
        lat.start();
    }
    Record::Plan {
        mode: plan.mode,
        iters: plan.iters.clone(),
        met_ns: warm.met_ns(),
        expected_ns: plan.expected_ns(warm.met_ns()),
    }
    .emit(out);
    for (i, &iters) in plan.iters.iter().enumerate() {
        let mut ns = 0;
        hab_measured_sample(&mut || ns = time(iters));
        Record::Sample { i: i as u64, iters, ns }.emit(out);
    }
    Record::Work { allocations: work.allocations, bytes: work.bytes }.emit(out);
    drop(workload);
    Record::Live { peak_bytes: tools.live.peak(), start_rss_kib }.emit(out);
    if let Some(lat) = &tools.latency {
        Record::Latency { every: lat.every(), timer: latency::timer_cost(TIMER_ROUNDS), ops: lat.report() }.emit(out);
    }
    let usage: Usage = rusage::current();
    Record::Rusage(usage).emit(out);
    Record::Done { wall_ns: started.elapsed().as_nanos() as u64 }.emit(out);
    Ok(())
}

/// Runs one sample's iterations, and nothing else, under a fixed symbol
/// name: tools outside the process mark the measured region by it
/// (callgrind's `--zero-before` and `--dump-after` give each sample's counts).
#[no_mangle]
#[inline(never)]
pub fn hab_measured_sample(sample: &mut dyn FnMut()) {
    sample();
}

/// A panic becomes one error record (the first one only) before the
/// process dies with status 101.
fn install_panic_hook() {
    static REPORTED: AtomicBool = AtomicBool::new(false);
    std::panic::set_hook(Box::new(|info| {
        if !REPORTED.swap(true, Ordering::SeqCst) {
            Record::Error { kind: ErrorKind::Panic, message: info.to_string() }.emit(&mut std::io::stdout());
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(args: &[&str]) -> (Result<(), Failure>, Vec<Record>) {
        command_records("test", args)
    }

    #[test]
    fn b64_arguments_are_decoded_and_bad_ones_are_spec_errors() {
        let args = vec!["b64:eyJhIjoxfQ".to_string(), "--describe".to_string()];
        assert_eq!(decode_args(args).unwrap(), [r#"{"a":1}"#, "--describe"]);
        let (kind, message) = decode_args(vec!["b64:!!".into()]).unwrap_err();
        assert_eq!(kind, ErrorKind::Spec);
        assert!(message.contains("not base64url"), "{message}");
    }

    #[test]
    fn a_tiny_run_emits_the_whole_record_sequence() {
        let spec = r#"{"protocol":1,"workload":"rayon_boxes","threads":2,
            "params":{"max_size":256,"iters_per_task":50,"keep_max":4},
            "sampling":{"sample_size":5,"warm_up_time":0.001,"measurement_time":0.005}}"#;
        let (result, recs) = records(&[spec]);
        result.unwrap();
        let kinds: Vec<&str> = recs
            .iter()
            .map(|r| match r {
                Record::Hello { .. } => "hello",
                Record::Warmup { .. } => "warmup",
                Record::Plan { .. } => "plan",
                Record::Sample { .. } => "sample",
                Record::Work { .. } => "work",
                Record::Live { .. } => "live",
                Record::Rusage(_) => "rusage",
                Record::Done { .. } => "done",
                _ => "other",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "hello", "warmup", "plan", "sample", "sample", "sample", "sample", "sample", "work", "live", "rusage",
                "done"
            ]
        );
        let Record::Work { allocations, bytes } = recs[8] else { unreachable!() };
        assert_eq!(allocations, 4 * 50);
        assert!(bytes >= allocations && bytes <= allocations * 256);
        let Record::Plan { iters, .. } = &recs[2] else { unreachable!() };
        let sampled: Vec<u64> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Sample { iters, .. } => Some(*iters),
                _ => None,
            })
            .collect();
        assert_eq!(&sampled, iters);
    }

    #[test]
    fn describe_lists_rayon_boxes_with_its_parameters() {
        let (result, recs) = records(&["--describe"]);
        result.unwrap();
        let Record::Describe { workloads, allocator, .. } = &recs[0] else { panic!("{recs:?}") };
        assert_eq!(allocator, "test");
        let names: Vec<&str> = workloads[0].params.iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["max_size", "iters_per_task", "keep_max", "keep_prob", "tasks", "init"]);
        assert_eq!(workloads[0].params[4]["default"], "2*threads");
    }

    #[test]
    fn check_fills_defaults_and_bad_specs_are_spec_errors() {
        let (result, recs) = records(&["--check", r#"{"protocol":1,"workload":"rayon_boxes","threads":1}"#]);
        result.unwrap();
        let Record::Valid { params, .. } = &recs[0] else { panic!() };
        assert_eq!(params["init"], "zero");
        let (result, _) = records(&["--check", r#"{"protocol":1,"workload":"rayon_boxes","threads":0}"#]);
        assert_eq!(result.unwrap_err().0, ErrorKind::Spec);
        let (result, _) = records(&[]);
        assert_eq!(result.unwrap_err().0, ErrorKind::Spec);
    }

    #[test]
    fn spec_can_come_from_a_file() {
        let path = std::env::temp_dir().join(format!("hab-spec-{}.json", std::process::id()));
        std::fs::write(
            &path,
            r#"{"protocol":1,"workload":"rayon_boxes","threads":1,"dry":true,
            "params":{"max_size":64,"iters_per_task":10},
            "sampling":{"sample_size":2,"warm_up_time":0,"measurement_time":0.001}}"#,
        )
        .unwrap();
        let (result, recs) = records(&["--spec-file", path.to_str().unwrap()]);
        std::fs::remove_file(&path).unwrap();
        result.unwrap();
        assert!(matches!(recs[0], Record::Hello { dry: true, .. }));
        assert!(matches!(recs.last(), Some(Record::Done { .. })));
    }
}
