//! Experiment files that name real-format datasets with a feature store run end to end.

use std::path::{Path, PathBuf};

use activepref_core::FeatureMatrix;
use activepref_data::feature_store::{FeatureTable, table_path};
use activepref_data::sources::ComparisonFormat;
use activepref_data::text::SplitRole;
use activepref_experiment::{ExperimentConfig, RunError, RunOptions, run_experiment};

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("activepref-real-{name}-"))
        .tempdir()
        .unwrap()
}

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../activepref-data/tests/fixtures")
        .join(rel)
}

/// Writes a feature store for `data` where the preferred response sits a little higher on the
/// first axis: deterministic, learnable, and keyed exactly like featurize would key it.
fn store_for(
    format: ComparisonFormat,
    data: &Path,
    store: &Path,
    columns: Option<&activepref_data::formats::pairs::PairColumns>,
) {
    let ds = format.load(data, columns).unwrap();
    for &role in SplitRole::ALL {
        let rows = ds.split(role);
        if rows.is_empty() {
            continue;
        }
        let ids: Vec<String> = rows.iter().map(|c| c.id.clone()).collect();
        let noise =
            |i: usize, j: usize, k: usize| (((i * 31 + j * 17 + k * 7) % 13) as f32 - 6.0) / 6.0;
        let side = |k: usize| {
            let data: Vec<f32> = rows
                .iter()
                .enumerate()
                .flat_map(|(i, c)| {
                    (0..4).map(move |j| {
                        noise(i, j, k)
                            + if j == 0 && (k == 0) == c.a_preferred {
                                1.0
                            } else {
                                0.0
                            }
                    })
                })
                .collect();
            FeatureMatrix::new(rows.len(), 4, data).unwrap()
        };
        FeatureTable::new(ids.clone(), side(0), store)
            .unwrap()
            .save(&table_path(store, role.name(), "pair_a"))
            .unwrap();
        FeatureTable::new(ids.clone(), side(1), store)
            .unwrap()
            .save(&table_path(store, role.name(), "pair_b"))
            .unwrap();
        FeatureTable::new(ids, side(2), store)
            .unwrap()
            .save(&table_path(store, role.name(), "prompt"))
            .unwrap();
    }
}

/// Writes `<dir>/features/candidates/responses.safetensors` for every candidate of `pool`, keyed as
/// `featurize` keys them, with `feature(prompt index, candidate)` as its 3-d vector.
fn save_candidate_features(
    pool: &activepref_data::text::CandidatePool,
    dir: &Path,
    feature: impl Fn(usize, &activepref_data::text::Candidate) -> [f32; 3],
) {
    let (mut ids, mut values) = (Vec::new(), Vec::new());
    for (p, cands) in pool.candidates.iter().enumerate() {
        for c in cands {
            ids.push(activepref_data::assemble::candidate_id(
                p,
                &pool.models[c.model],
            ));
            values.extend_from_slice(&feature(p, c));
        }
    }
    let feats = FeatureMatrix::new(ids.len(), 3, values).unwrap();
    FeatureTable::new(ids, feats, dir)
        .unwrap()
        .save(&table_path(
            &dir.join("features"),
            "candidates",
            "responses",
        ))
        .unwrap();
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// A scratch directory `name` with a feature store (`features/`) for the summarize fixture;
/// returns the directory (removed when dropped) and the fixture's path.
fn summarize_with_store(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = scratch(name);
    let data = fixture("summarize/comparisons.jsonl");
    store_for(
        ComparisonFormat::SummarizeFromFeedback,
        &data,
        &dir.path().join("features"),
        None,
    );
    (dir, data)
}

#[test]
fn summarize_fixture_with_features_runs_all_four_splits() {
    let (tmp, data) = summarize_with_store("tldr");
    let dir = tmp.path();
    let yaml = format!(
        "name: tldr-fixture
output_dir: {out}
benchmark: {{ kind: comparisons, format: summarize-from-feedback, path: {data}, features: {feat} }}
model: {{ members: 2, mlp: {{ hidden: [8], weight_init_std: 0.1 }}, train: {{ lr: 0.01, max_epochs: 5 }} }}
loop: {{ initial_labels: 4, batch_size: 3, rounds: 3 }}
policies:
  random: {{ policy: random }}
  balpm: {{ policy: balpm, k: 2 }}
seeds: [1]
",
        out = dir.join("out").display(),
        data = data.display(),
        feat = dir.join("features").display()
    );
    let cfg = ExperimentConfig::parse(&yaml, Path::new("tldr.yaml")).unwrap();
    run_experiment(&cfg, &RunOptions::default()).unwrap();
    let rows = csv_rows(&dir.join("out/runs/balpm__seed1.csv"));
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows.iter().map(|r| r[3].as_str()).collect::<Vec<_>>(),
        ["4", "7", "10"]
    );
    // Test and OOD metrics are measured (finite) on the real test / CNN-DM splits.
    for r in &rows {
        for col in [4, 7] {
            assert!(r[col].parse::<f64>().unwrap().is_finite(), "{r:?}");
        }
    }
}

/// Real data is checked against the loop sizes when it is loaded; that happens before the
/// results directory is made, so a refused file leaves no folder behind.
#[test]
fn sizes_the_data_refuses_leave_no_results_directory() {
    let (tmp, data) = summarize_with_store("tldr-sizes");
    let dir = tmp.path();
    for (bad, field) in [
        ("batch_size: 1000, rounds: 2", "loop.batch_size"),
        (
            "batch_size: 3, rounds: 2, validation_size: 1000",
            "loop.validation_size",
        ),
    ] {
        let yaml = summarize_yaml(dir, &data, bad);
        let cfg = ExperimentConfig::parse(&yaml, Path::new("tldr.yaml")).unwrap();
        match run_experiment(&cfg, &RunOptions::default()) {
            Err(RunError::Benchmark(e)) => assert_eq!(e.field, field, "{e}"),
            other => panic!("{bad}: expected a {field} error, got {other:?}"),
        }
        assert!(
            !dir.join("out").exists(),
            "{bad}: a results directory was made"
        );
    }
    // A store without one of the tables a run reads: the error names `benchmark.features`.
    let pair_b = dir.join("features/test/pair_b.safetensors");
    let kept = dir.join("pair_b.kept");
    std::fs::rename(&pair_b, &kept).unwrap();
    let yaml = summarize_yaml(dir, &data, "batch_size: 3, rounds: 2");
    let cfg = ExperimentConfig::parse(&yaml, Path::new("tldr.yaml")).unwrap();
    match run_experiment(&cfg, &RunOptions::default()) {
        Err(RunError::Benchmark(e)) => {
            assert_eq!(e.field, "benchmark.features", "{e}");
            assert!(
                e.message
                    .contains("test/pair_b.safetensors: feature table not found"),
                "{e}"
            );
            // The hint is the whole command that writes the store.
            let command = format!(
                "run `activepref featurize summarize-from-feedback {} --out {}`",
                data.display(),
                dir.join("features").display()
            );
            assert!(e.message.contains(&command), "{e}");
        }
        other => panic!("expected a benchmark.features error, got {other:?}"),
    }
    std::fs::rename(&kept, &pair_b).unwrap();
    // Nor does `--fresh` clear earlier results before the data is refused.
    let good = summarize_yaml(dir, &data, "batch_size: 3, rounds: 2");
    let cfg = ExperimentConfig::parse(&good, Path::new("tldr.yaml")).unwrap();
    run_experiment(&cfg, &RunOptions::default()).unwrap();
    let finished = dir.join("out/runs/random__seed1.csv");
    assert!(finished.is_file());
    let bad = summarize_yaml(dir, &data, "batch_size: 1000, rounds: 2");
    let cfg = ExperimentConfig::parse(&bad, Path::new("tldr.yaml")).unwrap();
    let fresh = RunOptions {
        fresh: true,
        ..RunOptions::default()
    };
    assert!(matches!(
        run_experiment(&cfg, &fresh),
        Err(RunError::Benchmark(_))
    ));
    assert!(
        finished.is_file(),
        "--fresh cleared results before the refusal"
    );
}

/// A one-policy experiment on the summarize fixture's store in `dir` with loop keys `sizes`.
fn summarize_yaml(dir: &Path, data: &Path, sizes: &str) -> String {
    format!(
        "name: tldr-sizes
output_dir: {out}
benchmark: {{ kind: comparisons, format: summarize-from-feedback, path: {data}, features: {feat} }}
model: {{ members: 2, mlp: {{ hidden: [8], weight_init_std: 0.1 }}, train: {{ lr: 0.01, max_epochs: 5 }} }}
loop: {{ initial_labels: 4, {sizes} }}
policies:
  random: {{ policy: random }}
seeds: [1]
",
        out = dir.join("out").display(),
        data = data.display(),
        feat = dir.join("features").display()
    )
}

#[test]
fn single_file_pairs_are_resplit_and_ood_is_left_out_of_the_report() {
    let tmp = scratch("pairs");
    let dir = tmp.path();
    let data = dir.join("pairs.csv");
    let mut csv = String::from("question,good,bad\n");
    for i in 0..60 {
        csv.push_str(&format!("q{},yes {i},no {i}\n", i / 2));
    }
    std::fs::write(&data, csv).unwrap();
    let columns = activepref_data::formats::pairs::PairColumns {
        prompt: "question".into(),
        a: "good".into(),
        b: "bad".into(),
        ..Default::default()
    };
    store_for(
        ComparisonFormat::Pairs,
        &data,
        &dir.join("features"),
        Some(&columns),
    );
    let yaml = format!(
        "name: pairs-fixture
output_dir: {out}
benchmark:
  kind: comparisons
  format: pairs
  path: {data}
  features: {feat}
  columns: {{ prompt: question, a: good, b: bad }}
  resplit: {{ validation: 0.2, test: 0.3, seed: 5 }}
model: {{ members: 2, mlp: {{ hidden: [8], weight_init_std: 0.1 }}, train: {{ lr: 0.01, max_epochs: 5 }} }}
loop: {{ initial_labels: 6, batch_size: 4, rounds: 2 }}
policies:
  random: {{ policy: random }}
  bald: {{ policy: bald }}
seeds: [1, 2]
",
        out = dir.join("out").display(),
        data = data.display(),
        feat = dir.join("features").display()
    );
    let cfg = ExperimentConfig::parse(&yaml, Path::new("pairs.yaml")).unwrap();
    let activepref_experiment::Benchmark::Pool(b) = cfg.build_benchmark().unwrap() else {
        panic!("pool setting")
    };
    // Without `resplit`, every comparison is in the pool: the empty split's error says how to fix it.
    let whole = yaml.replace("  resplit: { validation: 0.2, test: 0.3, seed: 5 }\n", "");
    let cfg_whole = ExperimentConfig::parse(&whole, Path::new("pairs.yaml")).unwrap();
    match cfg_whole.build_benchmark() {
        Err(e) => assert!(
            e.to_string().contains("is empty (a file without a split column puts every comparison in the pool: add `resplit: { validation: 0.15, test: 0.25, ood: 0.0, seed: 0 }` under `benchmark:`, or a split column)"),
            "{e}"
        ),
        Ok(_) => panic!("a single file without resplit was accepted"),
    }
    // 30 prompts: 6 validation, 9 test, 15 pool, whole prompts only.
    assert_eq!(
        (b.pool.len(), b.validation.len(), b.test.len(), b.ood.len()),
        (30, 12, 18, 0)
    );
    run_experiment(&cfg, &RunOptions::default()).unwrap();
    let rows = csv_rows(&dir.join("out/runs/bald__seed2.csv"));
    assert!(
        rows.iter()
            .all(|r| r[7] == "NaN" && r[4].parse::<f64>().unwrap().is_finite()),
        "{rows:?}"
    );
    let mut opts =
        activepref_report::ReportOptions::new(1, "random", vec!["random".into(), "bald".into()]);
    opts.metrics
        .push(("test_accuracy".into(), "Test accuracy".into()));
    activepref_report::write_report(&dir.join("out"), &opts).unwrap();
    let md = std::fs::read_to_string(dir.join("out/report/summary.md")).unwrap();
    assert!(
        md.contains("Test log-likelihood") && !md.contains("OOD"),
        "{md}"
    );
}

#[test]
fn alpaca_eval_candidates_run_the_pair_loop() {
    let root = std::env::var_os("ACTIVEPREF_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let data = root.join("data/alpaca_eval");
    if !data.exists() {
        eprintln!(
            "SKIPPED: {} not found (set ACTIVEPREF_SHARED)",
            data.display()
        );
        return;
    }
    let tmp = scratch("alpaca");
    let dir = tmp.path();
    let pool = activepref_data::formats::alpaca_eval::load(
        &data,
        activepref_data::formats::alpaca_eval::MissingPrompts::Keep,
    )
    .unwrap();
    // Features that carry the judge score on one axis.
    save_candidate_features(&pool, dir, |p, c| {
        [
            c.score * 2.0 - 1.0,
            ((p * 7 + c.model) % 5) as f32 / 5.0,
            0.25,
        ]
    });
    let yaml = format!(
        "name: alpaca-fixture
output_dir: {out}
benchmark: {{ kind: candidates, format: alpaca-eval, path: {data}, features: {feat}, split: {{ validation_prompts: 40, heldout_prompts: 100, seed: 2 }} }}
model: {{ members: 2, mlp: {{ hidden: [8], weight_init_std: 0.1 }}, train: {{ lr: 0.01, max_epochs: 4 }} }}
pair_loop: {{ batch_prompts: 16, rounds: 2 }}
pair_policies:
  drts: {{ policy: drts }}
  random: {{ policy: random }}
seeds: [4]
report: {{ baseline: random }}
",
        out = dir.join("out").display(),
        data = data.display(),
        feat = dir.join("features").display()
    );
    let cfg = ExperimentConfig::parse(&yaml, Path::new("alpaca.yaml")).unwrap();
    let activepref_experiment::Benchmark::Pair(b) = cfg.build_benchmark().unwrap() else {
        panic!("pair setting")
    };
    assert_eq!(
        (b.stream.len(), b.validation.len(), b.heldout.len()),
        (665, 40, 100)
    );
    assert!(
        b.stream
            .iter()
            .chain(&b.heldout)
            .all(|p| p.judge.len() >= 15)
    );
    run_experiment(&cfg, &RunOptions::default()).unwrap();
    let rows = csv_rows(&dir.join("out/runs/drts__seed4.csv"));
    assert_eq!(rows.len(), 3);
    // The acquired dataset carries the real texts: each row's prompt is an AlpacaEval instruction
    // and its chosen / rejected texts are that instruction's responses, with their models.
    let text = std::fs::read_to_string(dir.join("out/runs/drts__seed4.pairs.jsonl")).unwrap();
    let pool = activepref_data::formats::alpaca_eval::load(
        &data,
        activepref_data::formats::alpaca_eval::MissingPrompts::Keep,
    )
    .unwrap();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        let p = r["prompt_id"].as_u64().unwrap() as usize;
        assert_eq!(r["prompt"], pool.prompts[p].as_str());
        for side in ["chosen", "rejected"] {
            let c = &pool.candidates[p][r[format!("{side}_index")].as_u64().unwrap() as usize];
            assert_eq!(r[side], c.response.as_str());
            assert_eq!(r[format!("{side}_model")], pool.models[c.model].as_str());
            assert_eq!(r[format!("{side}_score")].as_f64().unwrap() as f32, c.score);
        }
    }
    assert!(text.lines().count() > 0);
}

#[test]
fn an_imported_score_column_drives_the_perplexity_baselines() {
    let tmp = scratch("score");
    let dir = tmp.path();
    let data = fixture("summarize/comparisons.jsonl");
    let feat = dir.join("features");
    store_for(ComparisonFormat::SummarizeFromFeedback, &data, &feat, None);
    // A score per pool comparison (e.g. the summed token entropy of both responses), keyed by id.
    let ds = ComparisonFormat::SummarizeFromFeedback
        .load(&data, None)
        .unwrap();
    let pool = ds.split(SplitRole::Pool);
    let ids: Vec<String> = pool.iter().map(|c| c.id.clone()).collect();
    let value = |i: usize| ((i * 7) % 11) as f32 + i as f32 / 100.0;
    let col = FeatureMatrix::new(ids.len(), 1, (0..ids.len()).map(value).collect()).unwrap();
    FeatureTable::new(ids.clone(), col, &feat)
        .unwrap()
        .save(&table_path(&feat, "pool", "score"))
        .unwrap();
    for (label, score) in [("high", "imported"), ("low", "imported_low")] {
        let yaml = format!(
            "name: score-fixture
output_dir: {out}
benchmark: {{ kind: comparisons, format: summarize-from-feedback, path: {data}, features: {feat} }}
model: {{ members: 1, mlp: {{ hidden: [8], weight_init_std: 0.1 }}, train: {{ lr: 0.01, max_epochs: 3 }} }}
loop: {{ initial_labels: 4, batch_size: 3, rounds: 2 }}
policies:
  {label}: {{ policy: rank, score: {score} }}
seeds: [1]
report: {{ baseline: {label} }}
",
            out = dir.join(label).display(),
            data = data.display(),
            feat = feat.display()
        );
        let cfg = ExperimentConfig::parse(&yaml, Path::new("score.yaml")).unwrap();
        let opts = RunOptions {
            max_rounds: Some(1),
            ..Default::default()
        };
        run_experiment(&cfg, &opts).unwrap();
        let state: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                dir.join(label)
                    .join(format!("runs/{label}__seed1.state.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let labelled: Vec<usize> = state["acquired"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let (initial, batch) = labelled.split_at(4);
        let mut rest: Vec<usize> = (0..ids.len()).filter(|i| !initial.contains(i)).collect();
        rest.sort_by(|&a, &b| value(b).total_cmp(&value(a)));
        if label == "low" {
            rest.reverse();
        }
        let mut want = rest[..3].to_vec();
        let mut got = batch.to_vec();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(got, want, "{label}");
    }
    // Without the table the baseline says what is missing.
    std::fs::remove_file(table_path(&feat, "pool", "score")).unwrap();
    let yaml = format!(
        "name: score-missing
output_dir: {out}
benchmark: {{ kind: comparisons, format: summarize-from-feedback, path: {data}, features: {feat} }}
model: {{ members: 1, mlp: {{ hidden: [8], weight_init_std: 0.1 }}, train: {{ lr: 0.01, max_epochs: 3 }} }}
loop: {{ initial_labels: 4, batch_size: 3, rounds: 2 }}
policies:
  high: {{ policy: rank, score: imported }}
seeds: [1]
report: {{ baseline: high }}
",
        out = dir.join("missing").display(),
        data = data.display(),
        feat = feat.display()
    );
    let cfg = ExperimentConfig::parse(&yaml, Path::new("score.yaml")).unwrap();
    let summary = run_experiment(&cfg, &RunOptions::default()).unwrap();
    assert_eq!(summary.failed.len(), 1);
    assert!(
        summary.failed[0].1.contains("score.safetensors"),
        "{:?}",
        summary.failed
    );
}

#[test]
fn a_datasets_directory_in_the_completions_layout_runs_end_to_end() {
    // The pyarrow-written `datasets` directory (3 prompts, 8 completions): features keyed as
    // featurize keys them, then a whole-stream pair run with prefix evaluation.
    let tmp = scratch("completions");
    let dir = tmp.path();
    let data = fixture("completions/saved");
    let pool = activepref_data::formats::completions::load(
        &data,
        activepref_data::formats::alpaca_eval::MissingPrompts::Keep,
    )
    .unwrap();
    let features = |p: usize, c: &activepref_data::text::Candidate| {
        [c.score / 5.0, c.model as f32 / 3.0, p as f32 / 3.0]
    };
    let yaml = format!(
        "name: completions-fixture
output_dir: {out}
benchmark: {{ kind: candidates, format: completions, path: {data}, features: {feat}, split: {{ validation_prompts: 1, heldout_prompts: 1, seed: 0 }} }}
model: {{ members: 2, mlp: {{ hidden: [4], weight_init_std: 0.1 }}, train: {{ lr: 0.01, max_epochs: 2 }} }}
pair_loop: {{ batch_prompts: 1, prefix_eval: {{ sizes: [1] }} }}
pair_mode: reference
pair_policies:
  drts: {{ policy: drts }}
  static-maxmin: {{ policy: static_maxmin }}
seeds: [1]
report: {{ baseline: static-maxmin }}
",
        out = dir.join("out").display(),
        data = data.display(),
        feat = dir.join("features").display()
    );
    let cfg = ExperimentConfig::parse(&yaml, Path::new("completions.yaml")).unwrap();
    // No store yet, then a store that lacks the last candidate: each error's hint is this
    // dataset's own featurize command (a candidate pool has no `import-features`).
    let command = format!(
        "run `activepref featurize completions {} --out {}`",
        data.display(),
        dir.join("features").display()
    );
    let refused = |cfg: &activepref_experiment::Experiment| match cfg.build_benchmark() {
        Ok(_) => panic!("expected a feature store error"),
        Err(e) => e.to_string(),
    };
    let e = refused(&cfg);
    assert!(
        e.contains("feature table not found") && e.contains(&format!("({command})")),
        "{e}"
    );
    let mut short = pool.clone();
    short.candidates.last_mut().unwrap().pop();
    save_candidate_features(&short, dir, features);
    let e = refused(&cfg);
    assert!(
        e.contains("no features for candidate")
            && e.contains(&format!(
                "{command} again (it resumes, encoding only what is missing)"
            )),
        "{e}"
    );
    save_candidate_features(&pool, dir, features);
    run_experiment(&cfg, &RunOptions::default()).unwrap();
    // One stream prompt, one acquired pair, written with its texts, models and judge scores.
    let text =
        std::fs::read_to_string(dir.join("out/runs/static-maxmin__seed1.pairs.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let p = r["prompt_id"].as_u64().unwrap() as usize;
    assert_eq!(r["prompt"], pool.prompts[p].as_str());
    // Static MaxMin: the judge's best and worst completion of that prompt.
    let scores: Vec<f32> = pool.candidates[p].iter().map(|c| c.score).collect();
    let best = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let worst = scores.iter().copied().fold(f32::INFINITY, f32::min);
    assert_eq!(
        (
            r["chosen_score"].as_f64().unwrap() as f32,
            r["rejected_score"].as_f64().unwrap() as f32
        ),
        (best, worst)
    );
    // The prefix file: k = 1 (the whole set), scored against the judge (real data).
    let prefix = csv_rows(&dir.join("out/runs/drts__seed1.prefix.csv"));
    assert_eq!(prefix.len(), 1);
    // Columns: policy, seed, pair_mode, labels, target, ...
    assert_eq!(
        (prefix[0][3].as_str(), prefix[0][4].as_str()),
        ("1", "judge")
    );
}
