//! End-to-end properties of the runner: thread-count independence and lossless resume.

use std::path::{Path, PathBuf};

use activepref_experiment::{ExperimentConfig, RunOptions, run_experiment};

fn config(out: &Path) -> ExperimentConfig {
    let text = format!(
        r#"
name: tiny
output_dir: {}
benchmark: {{ kind: synthetic, pool_prompts: 120, validation_prompts: 40, test_prompts: 40, ood_prompts: 40 }}
model:
  members: 3
  mlp: {{ hidden: [16], weight_init_std: 0.1 }}
  train: {{ lr: 0.003, max_epochs: 8 }}
loop: {{ initial_labels: 20, batch_size: 15, rounds: 4 }}
policies:
  random: {{ policy: random }}
  bald: {{ policy: bald }}
  balpm: {{ policy: balpm, k: 5 }}
seeds: [3, 4]
"#,
        out.display()
    );
    ExperimentConfig::parse(&text, Path::new("tiny.yaml")).unwrap()
}

#[test]
fn paper_scale_experiment_file_is_the_paper_scale_benchmark() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments/balpm-paperscale-synthetic.yaml");
    let cfg =
        ExperimentConfig::parse_unchecked(&std::fs::read_to_string(&path).unwrap(), &path).unwrap();
    let want = activepref_experiment::BenchmarkSpec::Synthetic(
        activepref_data::synthetic::SyntheticPoolConfig::paper_scale(),
    );
    assert_eq!(cfg.benchmark, want);
}

#[test]
fn balpm_runs_cache_the_knn_index_in_the_output_directory() {
    let dir = std::env::temp_dir().join(format!("activepref-index-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = config(&dir);
    run_experiment(
        &cfg,
        &RunOptions {
            fresh: true,
            progress: false,
            max_rounds: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    let cached: Vec<_> = std::fs::read_dir(dir.join("cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    // k = 5 → K = max(4k, 64) = 64 neighbours per prompt.
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        cached[0].starts_with("knn-index-") && cached[0].ends_with("-k64.bin"),
        "{cached:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn pair_config(out: &Path, mode: &str) -> ExperimentConfig {
    let text = format!(
        r#"
name: tinypairs
output_dir: {}
benchmark: {{ kind: synthetic_pairs, prompts: 40, validation_prompts: 10, heldout_prompts: 10, responses_per_prompt: 5 }}
model:
  members: 3
  mlp: {{ hidden: [16], weight_init_std: 0.1 }}
  train: {{ lr: 0.003, max_epochs: 8 }}
pair_loop: {{ batch_prompts: 8, rounds: 3, prefix_eval: {{ sizes: [8, 16] }} }}
pair_mode: {mode}
pair_policies:
  drts: {{ policy: drts }}
  deltaucb: {{ policy: deltaucb, beta: 2.0 }}
  maxminlcb: {{ policy: maxminlcb }}
seeds: [3, 4]
report: {{ baseline: drts }}
"#,
        out.display()
    );
    ExperimentConfig::parse(&text, Path::new("tinypairs.yaml")).unwrap()
}

#[test]
fn pair_runs_record_their_mode_resume_exactly_and_ignore_threads() {
    let dir = scratch("pairs");
    let (one, two, parts) = (dir.join("one"), dir.join("two"), dir.join("parts"));
    for (threads, out) in [(1, &one), (2, &two)] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| run_experiment(&pair_config(out, "reference"), &RunOptions::default()))
            .unwrap();
    }
    assert_eq!(as_text(run_files(&one)), as_text(run_files(&two)));
    let files = as_text(run_files(&one));
    // A run file and a prefix file per run.
    assert_eq!(files.len(), 12);
    let prefix = &files
        .iter()
        .find(|(n, _)| n == "drts__seed3.prefix.csv")
        .unwrap()
        .1;
    let ks: Vec<&str> = prefix
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap())
        .collect();
    assert_eq!(ks, ["8", "16", "24"], "the sizes, then the whole set");
    assert!(
        prefix
            .lines()
            .skip(1)
            .all(|l| l.split(',').nth(4) == Some("latent")),
        "synthetic prefixes are scored against the latent reward"
    );
    for (name, text) in &files {
        let mut lines = text.lines();
        assert!(
            lines.next().unwrap().starts_with("policy,seed,pair_mode,"),
            "{name}"
        );
        assert!(
            lines.all(|l| l.split(',').nth(2) == Some("reference")),
            "{name}"
        );
    }
    run_experiment(
        &pair_config(&parts, "reference"),
        &RunOptions {
            max_rounds: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(run_files(&parts).is_empty());
    let last = run_experiment(&pair_config(&parts, "reference"), &RunOptions::default()).unwrap();
    assert_eq!(last.rounds_resumed, 12);
    assert_eq!(as_text(run_files(&parts)), files);
    // The acquired dataset: one JSON line per acquired pair in loop order, identical after resume
    // and whatever the thread count, and the same rows as Parquet.
    let dataset =
        |out: &Path| std::fs::read_to_string(out.join("runs/drts__seed3.pairs.jsonl")).unwrap();
    assert_eq!(dataset(&parts), dataset(&one));
    assert_eq!(dataset(&two), dataset(&one));
    let rows: Vec<serde_json::Value> = dataset(&one)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let cfg = pair_config(&one, "reference");
    let lp = cfg.pair_loop.as_ref().unwrap();
    assert_eq!(rows.len(), lp.rounds.unwrap() * lp.batch_prompts);
    for (k, r) in rows.iter().enumerate() {
        assert_eq!(
            r["round"].as_u64().unwrap() as usize,
            k / lp.batch_prompts,
            "loop order"
        );
        assert!(
            r["chosen_score"].as_f64().unwrap() >= r["rejected_score"].as_f64().unwrap(),
            "the judge orders the pair"
        );
        assert_ne!(r["chosen_index"], r["rejected_index"]);
        assert_eq!(r["chosen"], format!("response {}", r["chosen_index"]));
        assert!(
            r["prompt"]
                .as_str()
                .unwrap()
                .starts_with("synthetic prompt ")
        );
        assert!(r["chosen_sd"].as_f64().unwrap() >= 0.0);
    }
    // Every prompt is used once.
    let prompts: std::collections::HashSet<u64> = rows
        .iter()
        .map(|r| r["prompt_id"].as_u64().unwrap())
        .collect();
    assert_eq!(prompts.len(), rows.len());
    let parquet =
        activepref_data::io::read_table(&one.join("runs/drts__seed3.pairs.parquet"), None).unwrap();
    assert_eq!(parquet.height(), rows.len());
    // Corrected mode changes what β = 2 DeltaUCB acquires, so its file differs.
    let corrected = dir.join("corrected");
    run_experiment(
        &pair_config(&corrected, "corrected"),
        &RunOptions::default(),
    )
    .unwrap();
    let c = as_text(run_files(&corrected));
    let pick = |v: &[(String, String)], n: &str| {
        v.iter()
            .find(|(f, _)| f == n)
            .unwrap()
            .1
            .replace("corrected", "reference")
    };
    assert_ne!(
        pick(&c, "deltaucb__seed3.csv"),
        pick(&files, "deltaucb__seed3.csv")
    );
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("activepref-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every run file (not the timings) as (name, bytes), sorted.
fn run_files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy().ends_with(".csv") && !p.to_string_lossy().ends_with(".timings.csv")
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

fn run_with_threads(threads: usize, out: &Path, opts: &RunOptions) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| run_experiment(&config(out), opts)).unwrap();
}

#[test]
fn one_and_two_threads_give_bit_identical_result_files() {
    let dir = scratch("threads");
    let (a, b) = (dir.join("one"), dir.join("two"));
    run_with_threads(1, &a, &RunOptions::default());
    run_with_threads(2, &b, &RunOptions::default());
    let (fa, fb) = (run_files(&a), run_files(&b));
    assert_eq!(fa.len(), 6);
    assert_eq!(as_text(fa), as_text(fb));
}

#[test]
fn interrupted_runs_resume_to_the_same_numbers() {
    let dir = scratch("resume");
    let (whole, parts) = (dir.join("whole"), dir.join("parts"));
    run_with_threads(2, &whole, &RunOptions::default());
    // Stop every run after 1 round, then after 2 more, then finish.
    let paused = run_experiment(
        &config(&parts),
        &RunOptions {
            max_rounds: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(paused.runs_paused, 6);
    assert!(run_files(&parts).is_empty(), "no run is finished yet");
    assert!(parts.join("runs/balpm__seed3.state.json").exists());
    let more = run_experiment(
        &config(&parts),
        &RunOptions {
            max_rounds: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((more.runs_paused, more.rounds_resumed), (6, 6));
    let last = run_experiment(&config(&parts), &RunOptions::default()).unwrap();
    assert_eq!((last.runs_paused, last.rounds_resumed), (0, 18));
    assert_eq!(as_text(run_files(&parts)), as_text(run_files(&whole)));
    // A finished experiment is skipped entirely.
    let again = run_experiment(&config(&parts), &RunOptions::default()).unwrap();
    assert_eq!(again.runs_skipped, 6);
}

#[test]
fn changed_runs_are_refused_unless_rerun_and_new_seeds_are_added() {
    let dir = scratch("changed");
    let out = dir.join("x");
    let first = RunOptions {
        max_rounds: Some(1),
        ..Default::default()
    };
    run_experiment(&config(&out), &first).unwrap();
    // A new seed changes no existing run: it is simply added.
    let mut more = config(&out);
    more.seeds.push(5);
    let s = run_experiment(&more, &first).unwrap();
    assert_eq!((s.runs_total, s.rerun.len()), (9, 0));
    // A model change changes every run: refused, naming them, unless --rerun.
    let mut other = more.clone();
    other.model.train.lr *= 2.0;
    let err = run_experiment(&other, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("9 run(s) were made with a different configuration")
            && err.contains("--rerun"),
        "{err}"
    );
    let redone = run_experiment(
        &other,
        &RunOptions {
            rerun: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        (redone.rerun.len(), redone.runs_skipped, redone.failed.len()),
        (9, 0, 0)
    );
    // The redone runs are exactly what a fresh directory gives.
    let mut fresh = other.clone();
    fresh.output_dir = Some(dir.join("fresh"));
    run_experiment(&fresh, &RunOptions::default()).unwrap();
    assert_eq!(
        as_text(run_files(&out)),
        as_text(run_files(&dir.join("fresh")))
    );
    // `only` runs just the named runs.
    let mut one = other.clone();
    one.output_dir = Some(dir.join("one"));
    let s = run_experiment(
        &one,
        &RunOptions {
            only: Some(vec![("balpm".into(), 5)]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.runs_total, 1);
    let files = run_files(&dir.join("one"));
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0],
        run_files(&out)
            .into_iter()
            .find(|(n, _)| n == "balpm__seed5.csv")
            .unwrap()
    );
}

fn as_text(files: Vec<(String, Vec<u8>)>) -> Vec<(String, String)> {
    files
        .into_iter()
        .map(|(n, b)| (n, String::from_utf8(b).unwrap()))
        .collect()
}
