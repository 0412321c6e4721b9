//! Throughput of `analyze` on the 10,000-statement PostgreSQL script (`benches/script.rs`),
//! beside its floor: sqlparser's own tokenize-and-parse of the same text, with no rule run.
//!
//! `cargo bench -p countersign-analyzer` (add `-- --quick` for a short run). The ratio of the
//! two medians is the analyzer's overhead over the bare parse (goal: at most 1.25).
//!
//! `analyze_4mib` is the largest script a server accepts by default (`server.max_sql_bytes`):
//! the same statements repeated up to 4 MiB, cut at a line (goal: at most 0.5 s).

use std::hint::black_box;

use countersign_analyzer::{Dialect, analyze};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

mod script;

fn bench_analyze(c: &mut Criterion) {
    let sql = script::postgres_script();
    let mut group = c.benchmark_group("analyze");
    group.throughput(Throughput::Bytes(sql.len() as u64));
    group.sample_size(20);
    group.bench_function("postgres_10k_statements", |b| {
        b.iter(|| analyze(black_box(&sql), Dialect::Postgres));
    });
    group.bench_function("parse_floor_sqlparser", |b| {
        b.iter(|| Parser::parse_sql(&PostgreSqlDialect {}, black_box(&sql)).map(|s| s.len()));
    });
    group.finish();
}

fn bench_analyze_4mib(c: &mut Criterion) {
    let sql = script::postgres_script_4mib();
    let mut group = c.benchmark_group("analyze_4mib");
    group.throughput(Throughput::Bytes(sql.len() as u64));
    group.sample_size(10);
    group.bench_function("postgres_4mib", |b| {
        b.iter(|| analyze(black_box(&sql), Dialect::Postgres));
    });
    group.finish();
}

criterion_group!(benches, bench_analyze, bench_analyze_4mib);
criterion_main!(benches);
