//! The exact kNN index against brute force: neighbour lists, radii, counts, in-batch updates and
//! whole greedy BAL-PM batches over rounds of removal, on inputs built to be hard for a GEMM-based
//! search (many exact duplicates, near-ties a few ulps apart, large norms, high dimension).

use activepref_acquire::{
    BalPm, BalPmConfig, IndexedKnnEntropyBonus, KnnEntropyBonus, PoolState, PromptKnnIndex,
    euclidean,
};
use activepref_core::{FeatureMatrix, PromptFeatures};
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `rows` prompt vectors of dimension `dim` drawn from `bases` distinct vectors (so duplicates are
/// common), each optionally nudged by a few ulps in one coordinate (near-ties), around an offset
/// that makes norms large compared with the distances (the hard case for `‖a‖² + ‖b‖² − 2ab`).
fn hard_rows(seed: u64, rows: usize, dim: usize, bases: usize, offset: f32) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let base: Vec<Vec<f32>> = (0..bases)
        .map(|_| {
            (0..dim)
                .map(|_| offset + rng.random_range(0..4) as f32 * 0.25)
                .collect()
        })
        .collect();
    (0..rows)
        .map(|_| {
            let mut v = base[rng.random_range(0..bases)].clone();
            if rng.random_bool(0.4) {
                let c = rng.random_range(0..dim);
                let ulps = rng.random_range(1..4u32);
                v[c] = f32::from_bits(v[c].to_bits() + ulps);
            }
            v
        })
        .collect()
}

/// Checks that every list is the exact sorted prefix of its row's distances to all table rows.
fn assert_lists_exact(table: &FeatureMatrix, index: &PromptKnnIndex) {
    for a in 0..table.rows() {
        let mut all: Vec<f64> = (0..table.rows())
            .map(|b| euclidean(table.row(a), table.row(b)))
            .collect();
        all.sort_by(f64::total_cmp);
        let got: Vec<f64> = index
            .neighbours(a)
            .map(|(b, d)| {
                assert_eq!(
                    d.to_bits(),
                    euclidean(table.row(a), table.row(b)).to_bits(),
                    "stored distance of ({a}, {b})"
                );
                d
            })
            .collect();
        assert_eq!(got, all[..got.len()], "row {a}");
    }
}

/// Radius and count of every candidate, indexed vs brute force.
fn assert_round_equal(
    prompts: &PromptFeatures,
    index: &PromptKnnIndex,
    unl: &[usize],
    lab: &[usize],
    k: usize,
) {
    let brute = KnnEntropyBonus::new(prompts.to_matrix(unl), &prompts.to_matrix(lab), k);
    let fast = IndexedKnnEntropyBonus::new(index, prompts, unl, lab, k, 1e-4, 1.0);
    for i in 0..unl.len() {
        assert_eq!(
            fast.radius(i).to_bits(),
            brute.radius(i).to_bits(),
            "radius of candidate {i}"
        );
        assert_eq!(fast.count(i), brute.count(i), "count of candidate {i}");
        assert_eq!(
            fast.term(i).to_bits(),
            brute.term(i, 1e-4, 1.0).to_bits(),
            "term of candidate {i}"
        );
    }
}

/// Runs `rounds` BAL-PM rounds with and without the index; every batch must be the same.
fn assert_batches_equal(
    prompts: &PromptFeatures,
    index: &PromptKnnIndex,
    seed: u64,
    k: usize,
    batch: usize,
    rounds: usize,
    initial: usize,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = prompts.rows();
    let mut labelled: Vec<usize> = (0..initial).collect();
    let mut unlabelled: Vec<usize> = (initial..n).collect();
    let policy = BalPm::new(BalPmConfig {
        k,
        beta: 0.5,
        ..BalPmConfig::default()
    });
    for round in 0..rounds {
        if unlabelled.len() < k.max(1) {
            break;
        }
        // Uncertainties with ties (a coarse grid), so tie-breaking is exercised too.
        let u: Vec<f64> = unlabelled
            .iter()
            .map(|_| rng.random_range(0..5) as f64 * 0.01)
            .collect();
        let plain = PoolState::new(&unlabelled, &u, &labelled, prompts);
        let indexed = PoolState {
            prompt_index: Some(index),
            ..plain
        };
        let want = policy.select_traced(&plain, batch).unwrap();
        let got = policy.select_traced(&indexed, batch).unwrap();
        assert_eq!(got, want, "round {round}");
        assert_round_equal(prompts, index, &unlabelled, &labelled, k);
        unlabelled.retain(|i| !want.picks.contains(i));
        labelled.extend(want.picks);
    }
}

#[test]
fn lists_are_exact_prefixes_in_high_dimension_with_near_ties() {
    // 300 rows in 257 dimensions (not a multiple of any SIMD width), norms ~ 16 × the distances.
    let rows = hard_rows(1, 300, 257, 40, 4.0);
    let prompts = PromptFeatures::from_matrix(&FeatureMatrix::from_rows(&rows).unwrap());
    let table = prompts.table();
    assert!(
        table.rows() > 60 && table.rows() < 300,
        "{} distinct rows",
        table.rows()
    );
    for k in [1, 5, 32] {
        let index = PromptKnnIndex::build(table, k, &|_| {});
        assert_lists_exact(table, &index);
    }
    let index = PromptKnnIndex::build(table, 8, &|_| {});
    assert_batches_equal(&prompts, &index, 2, 5, 12, 6, 20);
}

#[test]
fn index_spanning_several_gemm_blocks_is_exact() {
    // More rows than one row block (256) and one column block (2048) of the build.
    let rows = hard_rows(3, 2_600, 9, 2_000, 1.0);
    let table = FeatureMatrix::from_rows(&rows).unwrap();
    let prompts = PromptFeatures::from_matrix(&table);
    let index = PromptKnnIndex::build(prompts.table(), 6, &|_| {});
    let t = prompts.table();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for _ in 0..60 {
        let a = rng.random_range(0..t.rows());
        let mut all: Vec<f64> = (0..t.rows())
            .map(|b| euclidean(t.row(a), t.row(b)))
            .collect();
        all.sort_by(f64::total_cmp);
        let got: Vec<f64> = index.neighbours(a).map(|(_, d)| d).collect();
        assert_eq!(got, all[..6], "row {a}");
    }
}

#[test]
fn progress_counts_every_row_and_thread_count_does_not_matter() {
    let rows = hard_rows(5, 700, 33, 300, 2.0);
    let table = PromptFeatures::from_matrix(&FeatureMatrix::from_rows(&rows).unwrap())
        .table()
        .clone();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| {
            PromptKnnIndex::build(&table, 10, &|r| {
                done.fetch_add(r, std::sync::atomic::Ordering::Relaxed);
            })
        });
    assert_eq!(done.into_inner(), table.rows());
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| PromptKnnIndex::build(&table, 10, &|_| {}));
    assert_eq!(one, three);
}

#[test]
fn cache_file_round_trips_and_is_keyed_by_table_and_k() {
    // A cache directory that does not exist yet, inside a scratch directory removed on drop.
    let tmp = tempfile::Builder::new()
        .prefix("activepref-knn-cache-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("cache");
    let rows = hard_rows(6, 120, 7, 50, 0.5);
    let table = PromptFeatures::from_matrix(&FeatureMatrix::from_rows(&rows).unwrap())
        .table()
        .clone();
    let (built, was_built) = PromptKnnIndex::load_or_build(&dir, &table, 9, &|_| {}).unwrap();
    assert!(was_built);
    let (loaded, was_built) = PromptKnnIndex::load_or_build(&dir, &table, 9, &|_| {}).unwrap();
    assert!(!was_built, "the second call reads the cache");
    assert_eq!(loaded, built);
    // Another K, or a table differing in one bit, is another key: a new build, not the old file.
    assert!(
        PromptKnnIndex::load_or_build(&dir, &table, 10, &|_| {})
            .unwrap()
            .1
    );
    let mut other = rows.clone();
    other[7][3] = f32::from_bits(other[7][3].to_bits() ^ 1);
    let other = PromptFeatures::from_matrix(&FeatureMatrix::from_rows(&other).unwrap())
        .table()
        .clone();
    let (rebuilt, was_built) = PromptKnnIndex::load_or_build(&dir, &other, 9, &|_| {}).unwrap();
    assert!(was_built);
    assert_ne!(rebuilt.key(), built.key());
    // A truncated file is not trusted: it is rebuilt.
    let path = dir.join(built.key().file_name());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 8]).unwrap();
    let (again, was_built) = PromptKnnIndex::load_or_build(&dir, &table, 9, &|_| {}).unwrap();
    assert!(was_built);
    assert_eq!(again, built);
    // A cache directory that cannot be created (a file is in the way) falls through to the next.
    let blocked = dir.join("not-a-dir");
    std::fs::write(&blocked, b"x").unwrap();
    let (_, built_again, path) = PromptKnnIndex::load_or_build_in(
        &[blocked.join("sub"), dir.join("fallback")],
        &table,
        9,
        &|_| {},
    )
    .unwrap();
    assert!(built_again);
    assert_eq!(path, dir.join("fallback").join(built.key().file_name()));
    let (_, built_again, _) = PromptKnnIndex::load_or_build_in(
        &[blocked.join("sub"), dir.join("fallback")],
        &table,
        9,
        &|_| {},
    )
    .unwrap();
    assert!(!built_again, "found in the second directory");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Small pools with heavy duplication, tiny lists (so fallbacks happen) and rounds of removal:
    /// radii, counts and whole batches equal brute force.
    #[test]
    fn indexed_balpm_equals_brute_force(
        seed in 0u64..10_000,
        rows in 12usize..90,
        dim in 1usize..6,
        bases in 2usize..30,
        k in 1usize..6,
        index_k in 1usize..12,
        batch in 1usize..9,
    ) {
        let data = hard_rows(seed, rows, dim, bases, 0.0);
        let prompts = PromptFeatures::from_matrix(&FeatureMatrix::from_rows(&data).unwrap());
        let index = PromptKnnIndex::build(prompts.table(), index_k, &|_| {});
        assert_lists_exact(prompts.table(), &index);
        assert_batches_equal(&prompts, &index, seed, k, batch, 4, rows / 5 + 1);
    }
}

#[test]
fn huge_coordinates_that_overflow_f32_dot_products_stay_exact() {
    // a·b overflows f32 (~1e40 > 3.4e38) for these rows, while f64 distances are finite.
    let rows = vec![
        vec![1e20f32, 0.0],
        vec![1e20, 1.0],
        vec![-1e20, 0.0],
        vec![1e20, 3.0],
        vec![0.0, 0.0],
        vec![1e20, 0.0],
    ];
    let prompts = PromptFeatures::from_matrix(&FeatureMatrix::from_rows(&rows).unwrap());
    for k in [1, 2, 3] {
        let index = PromptKnnIndex::build(prompts.table(), k, &|_| {});
        assert_lists_exact(prompts.table(), &index);
    }
    let index = PromptKnnIndex::build(prompts.table(), 2, &|_| {});
    assert_batches_equal(&prompts, &index, 1, 2, 2, 2, 1);
}
