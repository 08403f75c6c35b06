//! Allocates boxes of a few sizes: one linear-sampled group with element
//! throughput, one flat-sampled group with byte throughput.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};

fn boxes(c: &mut Criterion) {
    let mut linear = c.benchmark_group("boxes");
    linear.sample_size(50).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    linear.throughput(Throughput::Elements(64));
    for size in [16usize, 4096] {
        linear.bench_with_input(BenchmarkId::new("alloc", size), &size, |b, &size| {
            b.iter(|| {
                for _ in 0..64 {
                    black_box(vec![0u8; size]);
                }
            })
        });
    }
    linear.finish();

    let mut flat = c.benchmark_group("flat");
    flat.sample_size(30).sampling_mode(SamplingMode::Flat).measurement_time(Duration::from_secs(1));
    flat.throughput(Throughput::Bytes(1 << 16));
    flat.bench_function("zeroed_64k", |b| b.iter(|| black_box(vec![0u8; 1 << 16])));
    flat.finish();
}

criterion_group!(benches, boxes);
criterion_main!(benches);
