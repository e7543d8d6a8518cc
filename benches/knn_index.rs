//! BAL-PM's kNN entropy term at paper scale: building the exact neighbour index, one selection of
//! 320 with the index built, and today's brute force for the side-by-side figure.
//!
//! `cargo bench --workspace --bench knn_index` measures a scaled-down pool (8,192 distinct prompts ×
//! 4,096) and brute force at N = 1,024. With `ACTIVEPREF_BENCH_PAPER=1` it measures the paper's
//! pool (92,858 × 4,096: several minutes per index build, so about an hour in all) and brute force
//! at N = 2,048 and 4,096. `activepref bench-knn` prints the same figures from single timed runs,
//! with the CPU model, the GEMM rate and the reference-style torch pass.

use activepref_acquire::{BalPm, BalPmConfig, PoolState, PromptKnnIndex, index_k_for};
use activepref_benches::{PAPER_BATCH, PAPER_DIM, PAPER_POOL, SelectionFixture};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let paper = std::env::var_os("ACTIVEPREF_BENCH_PAPER").is_some_and(|v| v == "1");
    let policy = BalPm::new(BalPmConfig::default());
    let k = index_k_for(policy.config.k);
    let mut g = c.benchmark_group("balpm_knn");
    g.sample_size(10);

    let pool = if paper { PAPER_POOL } else { 8_192 };
    let fx = SelectionFixture::random(pool - PAPER_BATCH, PAPER_BATCH, PAPER_DIM, 1, 9);
    g.bench_function(format!("index build {pool}x{PAPER_DIM}"), |b| {
        b.iter(|| PromptKnnIndex::build(fx.prompts.table(), k, &|_| {}))
    });
    let index = PromptKnnIndex::build(fx.prompts.table(), k, &|_| {});
    let state = PoolState {
        prompt_index: Some(&index),
        ..fx.state()
    };
    g.bench_function(
        format!("select {PAPER_BATCH} of {} with index", fx.unlabelled.len()),
        |b| b.iter(|| policy.select_traced(&state, PAPER_BATCH).unwrap()),
    );

    let brute_sizes: &[usize] = if paper { &[2_048, 4_096] } else { &[1_024] };
    for &n in brute_sizes {
        let fx = SelectionFixture::random(n, PAPER_BATCH, PAPER_DIM, 1, 11);
        g.bench_function(
            format!("brute force select {PAPER_BATCH} of {n}x{PAPER_DIM}"),
            |b| b.iter(|| policy.select_traced(&fx.state(), PAPER_BATCH).unwrap()),
        );
        g.bench_function(
            format!("index build + select {PAPER_BATCH} of {n}x{PAPER_DIM}"),
            |b| {
                b.iter(|| {
                    let index = PromptKnnIndex::build(fx.prompts.table(), k, &|_| {});
                    policy
                        .select_traced(
                            &PoolState {
                                prompt_index: Some(&index),
                                ..fx.state()
                            },
                            PAPER_BATCH,
                        )
                        .unwrap()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
