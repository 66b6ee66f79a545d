//! Dict micro-benchmarks: 100k `key:000000012345`-style keys.

use std::hint::black_box;

use corekv::store::dict::Dict;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const N: usize = 100_000;

fn keys() -> Vec<Vec<u8>> {
    (0..N)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect()
}

fn filled(keys: &[Vec<u8>]) -> Dict<u64> {
    let mut d = Dict::new();
    for (i, k) in keys.iter().enumerate() {
        d.insert(k, i as u64);
    }
    d
}

fn bench(c: &mut Criterion) {
    let keys = keys();

    c.bench_function("dict/insert_100k", |b| {
        b.iter(|| black_box(filled(&keys)).len())
    });

    let d = filled(&keys);
    c.bench_function("dict/get_hit_100k", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for k in &keys {
                sum = sum.wrapping_add(*d.get(black_box(k)).unwrap_or(&0));
            }
            sum
        })
    });

    c.bench_function("dict/remove_100k", |b| {
        b.iter_batched(
            || filled(&keys),
            |mut d| {
                for k in &keys {
                    black_box(d.remove(k));
                }
                d
            },
            BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
