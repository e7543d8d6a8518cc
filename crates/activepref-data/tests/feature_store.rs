//! The feature store: safetensors round trips, importers, and the join into benchmarks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use activepref_core::FeatureMatrix;
use activepref_data::assemble::{self, MissingFeatures, PromptSplit, Resplit};
use activepref_data::feature_store::{FeatureTable, HubLayout, import_balpm_hub, table_path};
use activepref_data::formats::summarize;
use activepref_data::hub;
use activepref_data::text::{Candidate, CandidatePool, SplitRole};

const M: [f32; 12] = [
    0.5, -1.0, 2.0, 0.25, 0.0, -0.125, 3.0, 1.5, -2.5, 1.0, 0.75, 4.0,
];

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn tempdir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("activepref-fs-{name}-"))
        .tempdir()
        .unwrap()
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[test]
fn safetensors_round_trip_keeps_ids_and_values() {
    let tmp = tempdir("roundtrip");
    let dir = tmp.path();
    let t = FeatureTable::new(
        vec!["x".into(), "y".into(), "z".into(), "w".into()],
        FeatureMatrix::new(4, 3, M.to_vec()).unwrap(),
        dir,
    )
    .unwrap();
    let p = dir.join("a/b.safetensors");
    t.save(&p).unwrap();
    let back = FeatureTable::load(&p).unwrap();
    assert_eq!(back, t);
    // Equal tables are equal files (metadata order cannot vary between processes).
    let first = std::fs::read(&p).unwrap();
    back.save(&p).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), first);
    assert_eq!(back.row_of("z"), Some(2));
    assert_eq!(
        back.aligned(&["w".into(), "x".into()], &p)
            .unwrap()
            .as_slice(),
        &[1.0, 0.75, 4.0, 0.5, -1.0, 2.0]
    );
}

#[test]
fn half_precision_safetensors_load_as_f32() {
    let tmp = tempdir("half");
    let dir = tmp.path();
    for (dtype, bytes) in [
        (
            safetensors::Dtype::F16,
            M.iter()
                .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
        (
            safetensors::Dtype::BF16,
            M.iter()
                .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    ] {
        let view = safetensors::tensor::TensorView::new(dtype, vec![4, 3], &bytes).unwrap();
        let header = serde_json::json!({"format": "activepref.features.v1", "rows": 4, "dim": 3, "ids": ids(4)});
        let meta = HashMap::from([("activepref".to_string(), header.to_string())]);
        let p = dir.join(format!("{dtype:?}.safetensors"));
        std::fs::write(
            &p,
            safetensors::serialize([("features", view)], Some(meta)).unwrap(),
        )
        .unwrap();
        let t = FeatureTable::load(&p).unwrap();
        assert_eq!(t.matrix().as_slice(), &M, "{dtype:?}");
    }
}

#[test]
fn npy_imports_f32_f64_f16_identically_and_refuse_fortran_order() {
    for name in ["matrix_f32.npy", "matrix_f64.npy", "matrix_f16.npy"] {
        let t = FeatureTable::import_npy(&fixture(&format!("features/{name}")), None).unwrap();
        assert_eq!((t.rows(), t.dim()), (4, 3), "{name}");
        assert_eq!(t.matrix().as_slice(), &M, "{name}");
        assert_eq!(t.ids(), &ids(4)[..]);
    }
    let e = FeatureTable::import_npy(&fixture("features/matrix_fortran.npy"), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Fortran"), "{e}");
    let e = FeatureTable::import_npy(&fixture("features/matrix_f32.npy"), Some(ids(3)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 ids for 4 feature rows"), "{e}");
    // A file cut short inside its data: said as truncated, with the shape its header promises.
    let bytes = std::fs::read(fixture("features/matrix_f32.npy")).unwrap();
    let tmp = tempdir("npy-cut");
    let cut = tmp.path().join("cut.npy");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    let e = FeatureTable::import_npy(&cut, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the file is truncated: its header promises 4 x 3 values of '<f4'"),
        "{e}"
    );
}

#[test]
fn balpm_hub_layouts_split_pair_columns() {
    let imported = import_balpm_hub(&fixture("features/hub_pair.csv"), HubLayout::Pair).unwrap();
    let (a_name, a) = &imported.tables[0];
    let (b_name, b) = &imported.tables[1];
    assert_eq!((*a_name, *b_name), ("pair_a", "pair_b"));
    assert_eq!(a.matrix().as_slice(), &M);
    assert_eq!(b.matrix().as_slice(), &M.map(|v| -v + 0.0));
    assert_eq!(a.ids(), &ids(4)[..]);
    let prompt =
        import_balpm_hub(&fixture("features/hub_prompt.parquet"), HubLayout::Prompt).unwrap();
    assert_eq!(prompt.tables[0].0, "prompt");
    assert_eq!(prompt.tables[0].1.matrix().as_slice(), &M);
    // An odd number of columns cannot be the pair layout.
    let e = import_balpm_hub(&fixture("features/hub_prompt.parquet"), HubLayout::Pair)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("even number of feature columns (2d), found 3"),
        "{e}"
    );
}

/// Deterministic fake features for every comparison of the summarize fixture.
fn fixture_store(dir: &Path, skip_last_pool_row: bool) -> activepref_data::text::ComparisonDataset {
    let ds = summarize::load(&fixture("summarize/comparisons.jsonl")).unwrap();
    for &role in SplitRole::ALL {
        let mut rows = ds.split(role).to_vec();
        if skip_last_pool_row && role == SplitRole::Pool {
            rows.pop();
        }
        let n = rows.len();
        let ids: Vec<String> = rows.iter().map(|c| c.id.clone()).collect();
        let make = |off: f32, d: usize| {
            FeatureMatrix::new(n, d, (0..n * d).map(|i| off + i as f32 / 8.0).collect()).unwrap()
        };
        FeatureTable::new(ids.clone(), make(0.0, 4), dir)
            .unwrap()
            .save(&table_path(dir, role.name(), "pair_a"))
            .unwrap();
        FeatureTable::new(ids.clone(), make(1.0, 4), dir)
            .unwrap()
            .save(&table_path(dir, role.name(), "pair_b"))
            .unwrap();
        if role == SplitRole::Pool {
            FeatureTable::new(ids, make(2.0, 2), dir)
                .unwrap()
                .save(&table_path(dir, role.name(), "prompt"))
                .unwrap();
        }
    }
    ds
}

#[test]
fn dataset_and_store_join_into_a_pool_benchmark() {
    let tmp = tempdir("join");
    let dir = tmp.path();
    let ds = fixture_store(dir, false);
    let bench = assemble::pool_benchmark("tldr-fixture", &ds, dir, MissingFeatures::Error, None)
        .unwrap()
        .benchmark;
    bench.validate().unwrap();
    assert_eq!(
        (
            bench.pool.len(),
            bench.validation.len(),
            bench.test.len(),
            bench.ood.len()
        ),
        (14, 6, 4, 6)
    );
    assert_eq!(
        (
            bench.pair_dim(),
            bench.pool.prompt.dim(),
            bench.test.prompt.dim()
        ),
        (4, 2, 0)
    );
    assert_eq!(bench.pool.pair_a.row(1), &[0.5, 0.625, 0.75, 0.875]);
    assert_eq!(&bench.pool.prompt_id[..5], &[0, 0, 0, 1, 1]);
    // Every comparison's length, counted from its text (a per-label cost reads it).
    for role in SplitRole::ALL {
        let split = match role {
            SplitRole::Pool => &bench.pool,
            SplitRole::Validation => &bench.validation,
            SplitRole::Test => &bench.test,
            SplitRole::Ood => &bench.ood,
        };
        let lengths = split.lengths.as_ref().expect("text gives lengths");
        for (l, c) in lengths.iter().zip(ds.split(*role)) {
            let words = |t: &str| t.split_whitespace().count() as u32;
            assert_eq!(
                (l.prompt_words, l.response_a_words, l.response_b_words),
                (words(&c.prompt), words(&c.response_a), words(&c.response_b))
            );
        }
        assert!(
            lengths
                .iter()
                .any(|l| l.prompt_words > 1 && l.response_a_words > 1)
        );
    }
}

#[test]
fn missing_features_error_or_drop_as_asked() {
    let tmp = tempdir("missing");
    let dir = tmp.path();
    let ds = fixture_store(dir, true);
    let e = assemble::pool_benchmark("x", &ds, dir, MissingFeatures::Error, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("pool/pair_a.safetensors") && e.contains("no features for id \"13\""),
        "{e}"
    );
    let a = assemble::pool_benchmark("x", &ds, dir, MissingFeatures::Drop, None).unwrap();
    assert_eq!(a.benchmark.pool.len(), 13);
    assert_eq!(a.dropped, vec![(SplitRole::Pool, 1)]);
    let e = assemble::pool_benchmark("x", &ds, &dir.join("nowhere"), MissingFeatures::Error, None)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("feature table not found") && e.contains("activepref featurize"),
        "{e}"
    );
}

#[test]
fn resplit_moves_whole_prompts() {
    let tmp = tempdir("resplit");
    let dir = tmp.path();
    let ds = fixture_store(dir, false);
    let mut only_pool = ds.clone();
    for role in [SplitRole::Validation, SplitRole::Test, SplitRole::Ood] {
        only_pool.splits.remove(&role);
    }
    let r = Resplit {
        validation: 0.34,
        test: 0.34,
        ood: 0.0,
        seed: 3,
    };
    let b = assemble::pool_benchmark("x", &only_pool, dir, MissingFeatures::Error, Some(&r))
        .unwrap()
        .benchmark;
    assert_eq!(b.pool.len() + b.validation.len() + b.test.len(), 14);
    assert!(b.ood.is_empty());
    let prompts = |s: &activepref_core::PoolSplit| {
        s.prompt_id
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<u32>>()
    };
    let (p, v, t) = (prompts(&b.pool), prompts(&b.validation), prompts(&b.test));
    assert_eq!((p.len(), v.len(), t.len()), (2, 2, 2));
    assert!(p.is_disjoint(&v) && p.is_disjoint(&t) && v.is_disjoint(&t));
    // Carving from a split the dataset already has is refused.
    let e = assemble::pool_benchmark("x", &ds, dir, MissingFeatures::Error, Some(&r))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("resplit"), "{e}");
}

#[test]
fn candidate_pool_joins_response_features() {
    let tmp = tempdir("cands");
    let dir = tmp.path();
    let models = vec!["m0".to_string(), "m1".to_string(), "m2".to_string()];
    let n = 10;
    let pool = CandidatePool {
        sources: vec![dir.to_path_buf()],
        models: models.clone(),
        prompts: (0..n).map(|i| format!("prompt {i}")).collect(),
        prompt_ids: (0..n).collect(),
        candidates: (0..n)
            .map(|p| {
                (0..3)
                    .map(|m| Candidate {
                        model: m,
                        response: format!("r{p}{m}"),
                        score: (p * 3 + m) as f32 / 30.0,
                    })
                    .collect()
            })
            .collect(),
        gaps: Vec::new(),
        score_sources: Default::default(),
    };
    let ids: Vec<String> = (0..n)
        .flat_map(|p| models.iter().map(move |m| assemble::candidate_id(p, m)))
        .collect();
    let feats = FeatureMatrix::new(n * 3, 2, (0..n * 6).map(|i| i as f32).collect()).unwrap();
    FeatureTable::new(ids, feats, dir)
        .unwrap()
        .save(&table_path(dir, "candidates", "responses"))
        .unwrap();
    let b = assemble::pair_benchmark(
        "c",
        &pool,
        dir,
        &PromptSplit {
            validation_prompts: 2,
            heldout_prompts: 3,
            seed: 1,
        },
    )
    .unwrap();
    assert_eq!(
        (b.stream.len(), b.validation.len(), b.heldout.len()),
        (5, 2, 3)
    );
    for pc in b.stream.iter().chain(&b.validation).chain(&b.heldout) {
        let p = pc.prompt_id as usize;
        assert_eq!(
            pc.features.row(1),
            &[(p * 6 + 2) as f32, (p * 6 + 3) as f32]
        );
        assert_eq!(pc.judge[2], (p * 3 + 2) as f32 / 30.0);
    }
    let e = assemble::pair_benchmark(
        "c",
        &pool,
        dir,
        &PromptSplit {
            validation_prompts: 5,
            heldout_prompts: 5,
            seed: 1,
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.contains("leaves no stream prompts out of the pool's 10"),
        "{e}"
    );
    // A store that covers part of the pool (an interrupted featurize: the first 12 of its 30
    // responses) is counted over the whole pool, not over one prompt's candidates.
    let part_dir = tempfile::tempdir().unwrap();
    let part_ids: Vec<String> = (0..4)
        .flat_map(|p| models.iter().map(move |m| assemble::candidate_id(p, m)))
        .collect();
    let part = FeatureMatrix::new(12, 2, vec![0.5; 24]).unwrap();
    FeatureTable::new(part_ids, part, part_dir.path())
        .unwrap()
        .save(&table_path(part_dir.path(), "candidates", "responses"))
        .unwrap();
    let split = PromptSplit {
        validation_prompts: 2,
        heldout_prompts: 3,
        seed: 1,
    };
    let e = assemble::pair_benchmark("c", &pool, part_dir.path(), &split)
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("no features for candidate \"4/m0\": the table covers 12 of the pool's 30 candidate responses"),
        "{e}"
    );
    // `missing: intersect` (shared/cases/16): drop prompt 3, which m2 lacks. The remaining
    // prompts keep their ids, so the store written for the whole pool still lines up.
    let mut gappy = pool.clone();
    gappy.candidates[3].pop();
    let mut inter = CandidatePool::new(
        gappy.sources.clone(),
        gappy.models.clone(),
        gappy.prompts.clone(),
        gappy.candidates.clone(),
    );
    inter.keep_prompts_with(3);
    assert_eq!(inter.prompt_ids, [0, 1, 2, 4, 5, 6, 7, 8, 9]);
    let b = assemble::pair_benchmark(
        "c",
        &inter,
        dir,
        &PromptSplit {
            validation_prompts: 2,
            heldout_prompts: 3,
            seed: 1,
        },
    )
    .unwrap();
    let all: Vec<_> = b
        .stream
        .iter()
        .chain(&b.validation)
        .chain(&b.heldout)
        .collect();
    assert_eq!(all.len(), 9);
    for pc in all {
        let p = pc.prompt_id as usize;
        assert_ne!(p, 3);
        assert_eq!(
            pc.features.row(1),
            &[(p * 6 + 2) as f32, (p * 6 + 3) as f32]
        );
        assert_eq!(pc.text.as_ref().unwrap().prompt, format!("prompt {p}"));
    }
}

#[test]
fn offline_fetch_uses_the_cache_or_says_what_to_do() {
    let tmp = tempdir("hf");
    let home = tmp.path();
    let cache = hf_hub::Cache::new(home.join("hub"));
    let ds = hub::dataset("summarize-from-feedback").unwrap();
    let e = hub::fetch(cache.clone(), ds, true).unwrap_err().to_string();
    assert!(
        e.contains("HF_HUB_OFFLINE is set") && e.contains("benchmark.path"),
        "{e}"
    );
    // A cache laid out as huggingface_hub writes it: refs/<revision> names the snapshot.
    let root = home.join("hub/datasets--openai--summarize_from_feedback");
    std::fs::create_dir_all(root.join("refs/refs/convert")).unwrap();
    std::fs::write(root.join("refs/refs/convert/parquet"), "abc123").unwrap();
    let snap = root.join("snapshots/abc123/comparisons/train");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::copy(
        fixture("summarize/comparisons.parquet"),
        snap.join("0000.parquet"),
    )
    .unwrap();
    std::fs::write(root.join("snapshots/abc123/README.md"), "not data").unwrap();
    let files = hub::fetch(cache, ds, true).unwrap();
    assert_eq!(files, vec![snap.join("0000.parquet")]);
    assert_eq!(summarize::load(&files[0]).unwrap().len(), 30);
}
