//! Throughput of `analyze` on the 10,000-statement PostgreSQL script (`benches/script.rs`).
//!
//! `cargo bench -p countersign-analyzer` (add `-- --quick` for a short run).

use std::hint::black_box;

use countersign_analyzer::{Dialect, analyze};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod script;

fn bench_analyze(c: &mut Criterion) {
    let sql = script::postgres_script();
    let mut group = c.benchmark_group("analyze");
    group.throughput(Throughput::Bytes(sql.len() as u64));
    group.sample_size(20);
    group.bench_function("postgres_10k_statements", |b| {
        b.iter(|| analyze(black_box(&sql), Dialect::Postgres));
    });
    group.finish();
}

criterion_group!(benches, bench_analyze);
criterion_main!(benches);
