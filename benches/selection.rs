//! Acquisition cost: BAL-PM's kNN pass and greedy batch, BatchBALD, and a pair rule.
//!
//! Run with `cargo bench --workspace --bench selection`. Sizes are a scaled-down TL;DR round, by
//! brute force (no index); the paper-scale kNN figures are in the `knn_index` bench.

use activepref_acquire::{
    BalPm, BalPmConfig, BatchBald, BatchBaldConfig, CandidateScores, PairMode, PairPolicySpec,
    PoolState,
};
use activepref_core::EnsemblePrediction;
use activepref_core::{FeatureMatrix, PromptFeatures};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn pool(n: usize, d: usize, dup: usize, rng: &mut ChaCha8Rng) -> PromptFeatures {
    // Every prompt appears `dup` times, as TL;DR posts do.
    let distinct: Vec<Vec<f32>> = (0..n / dup)
        .map(|_| (0..d).map(|_| rng.random::<f32>()).collect())
        .collect();
    let rows: Vec<Vec<f32>> = (0..n)
        .map(|i| distinct[i % distinct.len()].clone())
        .collect();
    FeatureMatrix::from_rows(&rows).unwrap().into()
}

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (n_pool, n_lab, d) = (4_000, 320, 64);
    let feats = pool(n_pool + n_lab, d, 3, &mut rng);
    let unlabelled: Vec<usize> = (n_lab..n_pool + n_lab).collect();
    let labelled: Vec<usize> = (0..n_lab).collect();
    let bald: Vec<f64> = (0..n_pool).map(|_| rng.random::<f64>() * 0.05).collect();
    let state = PoolState::new(&unlabelled, &bald, &labelled, &feats);
    let mut group = c.benchmark_group("acquisition");
    group.sample_size(10);
    group.bench_function("balpm 4000x64 pool, B=64", |b| {
        let policy = BalPm::new(BalPmConfig::default());
        b.iter(|| policy.select_traced(&state, 64).unwrap())
    });

    let logits: Vec<f64> = (0..5 * 2_000)
        .map(|_| rng.random::<f64>() * 6.0 - 3.0)
        .collect();
    let pred = EnsemblePrediction::from_logits(5, 2_000, logits);
    group.bench_function("batchbald 2000 candidates, E=5, B=32", |b| {
        let policy = BatchBald {
            config: BatchBaldConfig::default(),
        };
        b.iter(|| policy.greedy(&pred, 32, &mut ChaCha8Rng::seed_from_u64(2)))
    });

    let mu: Vec<f32> = (0..30).map(|_| rng.random::<f32>()).collect();
    let sd: Vec<f32> = (0..30).map(|_| rng.random::<f32>() * 0.3).collect();
    group.bench_function("maxminlcb n=30, one prompt", |b| {
        let spec = PairPolicySpec::Maxminlcb(Default::default());
        let c = CandidateScores {
            mu: &mu,
            sd: &sd,
            members: None,
            oracle: None,
            design: None,
        };
        let mut r = ChaCha8Rng::seed_from_u64(3);
        b.iter(|| spec.select(&c, PairMode::Corrected, &mut r).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
