//! Featurize a small real-format dataset, re-run it, and join it into a benchmark.

use crate::common;

use std::path::Path;

use activepref_data::assemble::{self, MissingFeatures};
use activepref_data::feature_store::{FeatureTable, table_path};
use activepref_data::formats::summarize;
use activepref_encode::featurize::{FeaturizeOptions, Progress, PromptKeep, featurize_comparisons};
use activepref_encode::{Encoder, TextEncoder};
use burn::tensor::Device;
use std::sync::atomic::AtomicUsize;

#[test]
fn featurize_writes_every_table_skips_on_rerun_and_joins() {
    let enc = TextEncoder::load(&common::model_dir(), &Device::flex()).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../activepref-data/tests/fixtures/summarize/comparisons.jsonl");
    let ds = summarize::load(&data).unwrap();
    // A store that does not exist yet, inside a scratch directory removed on drop.
    let tmp = tempfile::Builder::new()
        .prefix("activepref-featurize-")
        .tempdir()
        .unwrap();
    let store = tmp.path().join("store");
    let counted = AtomicUsize::new(0);
    let progress = |p: Progress| {
        assert!(!p.saved, "nothing is saved yet");
        counted.fetch_add(p.inputs, std::sync::atomic::Ordering::Relaxed);
    };
    let first = featurize_comparisons(
        &enc,
        &ds,
        &store,
        &FeaturizeOptions::new(PromptKeep::Head),
        &progress,
    )
    .unwrap();
    assert_eq!(first.len(), 12);
    assert!(first.iter().all(|t| !t.skipped));
    assert_eq!(counted.load(std::sync::atomic::Ordering::Relaxed), 90);
    // The prompt table holds the encoder's vector of the post, keyed by comparison id.
    let prompts = FeatureTable::load(&table_path(&store, "ood", "prompt")).unwrap();
    let c = &ds.split(activepref_data::text::SplitRole::Ood)[2];
    let direct = enc.encode(&[c.prompt.as_str()]).unwrap();
    let stored = prompts
        .aligned(std::slice::from_ref(&c.id), &store)
        .unwrap();
    let err = direct
        .row(0)
        .iter()
        .zip(stored.row(0))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(err < 1e-5, "{err}");
    // Re-running skips everything; another layout is refused.
    let again = featurize_comparisons(
        &enc,
        &ds,
        &store,
        &FeaturizeOptions::new(PromptKeep::Head),
        &|_| {},
    )
    .unwrap();
    assert!(again.iter().all(|t| t.skipped));
    let e = featurize_comparisons(
        &enc,
        &ds,
        &store,
        &FeaturizeOptions::new(PromptKeep::Tail),
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("featurize.json: this store was made with"),
        "{e}"
    );
    let b = assemble::pool_benchmark("x", &ds, &store, MissingFeatures::Error, None)
        .unwrap()
        .benchmark;
    assert_eq!(
        (b.pool.len(), b.pair_dim(), b.pool.prompt.dim()),
        (14, 384, 384)
    );
    // A and B of one comparison differ (their responses differ), and so do their features.
    assert_ne!(b.pool.pair_a.row(0), b.pool.pair_b.row(0));
    // Another file with the same ids and other texts: its features are neither written over
    // this store's (they were reported "already there, skipped") nor joined from it (a run
    // trained on the other file's features without a word).
    let mut other = ds.clone();
    for rows in other.splits.values_mut() {
        for c in rows.iter_mut() {
            c.response_b.push_str(" (edited)");
        }
    }
    let e = featurize_comparisons(
        &enc,
        &other,
        &store,
        &FeaturizeOptions::new(PromptKeep::Head),
        &|_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("pair_b.safetensors: holds features of other texts under the same ids"),
        "{e}"
    );
    let e = assemble::pool_benchmark("x", &other, &store, MissingFeatures::Error, None)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("pair_b.safetensors: row `")
            && e.contains("encodes other texts than the dataset's row"),
        "{e}"
    );
}

#[test]
fn featurize_writes_the_same_bytes_with_one_or_two_threads() {
    let enc = TextEncoder::load(&common::model_dir(), &Device::flex()).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../activepref-data/tests/fixtures/summarize/comparisons.jsonl");
    let ds = summarize::load(&data).unwrap();
    let mut files = Vec::new();
    for threads in [1, 2] {
        let tmp = tempfile::Builder::new()
            .prefix(&format!("activepref-featurize-t{threads}-"))
            .tempdir()
            .unwrap();
        let store = tmp.path().join("store");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            featurize_comparisons(
                &enc,
                &ds,
                &store,
                &FeaturizeOptions::new(PromptKeep::Head),
                &|_| {},
            )
        })
        .unwrap();
        let bytes: Vec<Vec<u8>> = ["pool/pair_a", "pool/prompt", "ood/pair_b"]
            .iter()
            .map(|t| std::fs::read(store.join(format!("{t}.safetensors"))).unwrap())
            .collect();
        files.push(bytes);
    }
    assert_eq!(files[0], files[1]);
}

#[test]
fn an_interrupted_featurize_resumes_from_its_saved_chunks() {
    let enc = TextEncoder::load(&common::model_dir(), &Device::flex()).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../activepref-data/tests/fixtures/summarize/comparisons.jsonl");
    let ds = summarize::load(&data).unwrap();
    let opts = FeaturizeOptions {
        keep: PromptKeep::Head,
        chunk: 4,
    };
    let base = tempfile::Builder::new()
        .prefix("activepref-featurize-resume-")
        .tempdir()
        .unwrap();
    let (whole, cut) = (base.path().join("whole"), base.path().join("cut"));
    featurize_comparisons(&enc, &ds, &whole, &opts, &|_| {}).unwrap();
    // The pool split comes first: pair_a (14 rows, chunks of 4: progress 4, 8, 12, 14), pair_b
    // (18 … 28), then prompt. Stopping once 30 inputs are done lands after prompt's first chunk.
    let seen = AtomicUsize::new(0);
    let stop = |p: Progress| {
        let n = p.inputs;
        if seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n >= 30 {
            panic!("interrupted");
        }
    };
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        featurize_comparisons(&enc, &ds, &cut, &opts, &stop)
    }));
    assert!(interrupted.is_err());
    assert!(table_path(&cut, "pool", "pair_b").exists());
    assert!(!table_path(&cut, "pool", "prompt").exists());
    let parts: Vec<_> = std::fs::read_dir(cut.join("pool/prompt.parts"))
        .unwrap()
        .collect();
    assert_eq!(
        parts.len(),
        1,
        "one 4-row chunk of the prompt table was saved before the stop"
    );
    // The resumed run says which inputs it found saved: both finished tables (14 + 14) and the
    // prompt table's chunk (4), so that a rate or an ETA counts only the encoded ones.
    let (saved, encoded) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let count = |p: Progress| {
        let to = if p.saved { &saved } else { &encoded };
        to.fetch_add(p.inputs, std::sync::atomic::Ordering::Relaxed);
    };
    let done = featurize_comparisons(&enc, &ds, &cut, &opts, &count).unwrap();
    assert_eq!(done.iter().filter(|t| t.skipped).count(), 2);
    assert_eq!(done.iter().map(|t| t.resumed).sum::<usize>(), 4);
    assert_eq!(saved.into_inner(), 32);
    assert_eq!(
        encoded.into_inner(),
        done.iter().map(|t| t.rows).sum::<usize>() - 32
    );
    assert!(!cut.join("pool/prompt.parts").exists());
    for role in ["pool", "validation", "test", "ood"] {
        for t in ["pair_a", "pair_b", "prompt"] {
            let (a, b) = (table_path(&whole, role, t), table_path(&cut, role, t));
            assert_eq!(
                std::fs::read(&a).unwrap(),
                std::fs::read(&b).unwrap(),
                "{}",
                b.display()
            );
        }
    }
}
