//! Load speed of a TL;DR-sized summarize-from-feedback file (93,000 comparisons in the real
//! schema), as JSON lines and as parquet. Target: under 10 s on 2 cores. Peak memory is reported by
//! `activepref bench-data` (each load in a fresh process); criterion measures time only.

use std::path::PathBuf;

use activepref_data::formats::summarize;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const RECORDS: usize = 93_000;

fn files() -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join("activepref-bench-load");
    std::fs::create_dir_all(&dir).unwrap();
    let jsonl = dir.join(format!("summarize-{RECORDS}.jsonl"));
    let parquet = dir.join(format!("summarize-{RECORDS}.parquet"));
    if !jsonl.exists() || !parquet.exists() {
        summarize::write_generated_jsonl(&jsonl, RECORDS, 0).unwrap();
        activepref_data::io::convert_to_parquet(&jsonl, &parquet, Some(&summarize::json_schema()))
            .unwrap();
    }
    (jsonl, parquet)
}

fn load(c: &mut Criterion) {
    let (jsonl, parquet) = files();
    let mut g = c.benchmark_group("summarize_load_93k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("jsonl", |b| {
        b.iter(|| summarize::load(&jsonl).unwrap().len())
    });
    g.bench_function("parquet", |b| {
        b.iter(|| summarize::load(&parquet).unwrap().len())
    });
    g.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
