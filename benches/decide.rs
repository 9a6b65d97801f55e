//! Placeholder: the decide benchmark lands with its issue.

use criterion::{Criterion, criterion_group, criterion_main};

fn placeholder(c: &mut Criterion) {
    c.bench_function("decide_placeholder", |b| b.iter(|| std::hint::black_box(1u64) + 1));
}

criterion_group!(benches, placeholder);
criterion_main!(benches);
