//! End-to-end properties of the runner: thread-count independence and lossless resume.

use std::path::Path;

use activepref_experiment::{Experiment, ExperimentConfig, RunOptions, run_experiment};

fn config(out: &Path) -> Experiment {
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
    // An output directory that does not exist yet, inside a scratch directory removed on drop.
    let tmp = tempfile::Builder::new()
        .prefix("activepref-index-cache-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("out");
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
}

fn pair_config(out: &Path, mode: &str) -> Experiment {
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
    let tmp = scratch("pairs");
    let dir = tmp.path();
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
    // The training work of each round, resumed or not: none before the first batch, then the
    // 3 heads' one anchored refit after the previous batch, one minibatch each (8 pairs a batch,
    // at most 24 acquired, in minibatches of up to 64), and no validation pass; a resumed round
    // does not count the refits it replays.
    let work = |dir: &Path| training_work(&dir.join("runs/drts__seed3.timings.csv"));
    assert_eq!(work(&parts), [(0, 0), (3, 0), (3, 0), (3, 0)]);
    assert_eq!(work(&one), work(&parts));
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
    let activepref_experiment::Setting::Pair(p) = &cfg.setting else {
        panic!("not a pair experiment")
    };
    let lp = &p.loop_config;
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
    // The seal covers the artefacts: a deleted prefix file or an edited acquired dataset makes
    // the run damaged (a report left it out of prefix.md without a word), and `run` redoes it.
    let prefix_path = one.join("runs/drts__seed3.prefix.csv");
    std::fs::remove_file(&prefix_path).unwrap();
    let jsonl = one.join("runs/deltaucb__seed3.pairs.jsonl");
    let text = std::fs::read_to_string(&jsonl).unwrap();
    std::fs::write(&jsonl, &text[..text.len() / 2]).unwrap();
    let shown = activepref_experiment::results_dir::reportable_runs(&cfg, &one).unwrap();
    assert!(
        shown
            .missing
            .contains(&"drts seed 3: its drts__seed3.prefix.csv is missing".to_string()),
        "{:?}",
        shown.missing
    );
    assert!(
        shown.missing.contains(&"deltaucb seed 3: its deltaucb__seed3.pairs.jsonl does not match the length and hash recorded when it finished (truncated or edited)".to_string()),
        "{:?}",
        shown.missing
    );
    run_experiment(&pair_config(&one, "reference"), &RunOptions::default()).unwrap();
    assert_eq!(as_text(run_files(&one)), files);
    assert_eq!(std::fs::read_to_string(&jsonl).unwrap(), text);
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

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("activepref-{name}-"))
        .tempdir()
        .unwrap()
}

/// Every run file (not the timings) as (name, bytes), sorted.
fn run_files(out: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(out.join("runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.to_string_lossy();
            name.ends_with(".csv")
                && !name.ends_with(".timings.csv")
                && !name.ends_with(".partial.csv")
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

/// Each round's `(train_steps, validation_passes)` from a finished run's timings, read back as
/// `bench-round --against` reads them.
fn training_work(timings: &Path) -> Vec<(usize, usize)> {
    activepref_experiment::read_recorded_rounds(timings)
        .unwrap()
        .iter()
        .map(|r| (r.train_steps.unwrap(), r.validation_passes.unwrap()))
        .collect()
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
    let tmp = scratch("threads");
    let dir = tmp.path();
    let (a, b) = (dir.join("one"), dir.join("two"));
    run_with_threads(1, &a, &RunOptions::default());
    run_with_threads(2, &b, &RunOptions::default());
    let (fa, fb) = (run_files(&a), run_files(&b));
    assert_eq!(fa.len(), 6);
    assert_eq!(as_text(fa), as_text(fb));
}

#[test]
fn interrupted_runs_resume_to_the_same_numbers() {
    let tmp = scratch("resume");
    let dir = tmp.path();
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
    // The rows so far, for `report --partial`: a header and the one round.
    let so_far = std::fs::read_to_string(parts.join("runs/balpm__seed3.partial.csv")).unwrap();
    assert_eq!(so_far.lines().count(), 2, "{so_far}");
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
    // Every round of the resumed run records the kernels it computed with.
    let timings = std::fs::read_to_string(parts.join("runs/balpm__seed3.timings.csv")).unwrap();
    let kernels = activepref_model::compute_kernels(&config(&parts).common.model);
    assert!(kernels.starts_with("cpu f32 gemm "), "{kernels}");
    let mut lines = timings.lines();
    assert_eq!(
        lines.next(),
        Some("round,train_secs,score_secs,select_secs,train_steps,validation_passes,kernels")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4, "the config's 4 rounds: {timings}");
    for row in &rows {
        assert!(row.ends_with(&format!(",{kernels}")), "{row}");
    }
    // Each round's training work, resumed or not, is the uninterrupted run's. Round r trains
    // on 20 + 15 r labels in minibatches of at most 32: 1, 2, 2 and 3 steps an epoch; at most 8
    // epochs are 24 steps, fewer than `eval_every_steps` (100), so each of the 3 members
    // evaluates at its epoch ends only and stops at one.
    let work = |dir: &Path| training_work(&dir.join("runs/balpm__seed3.timings.csv"));
    let resumed = work(&parts);
    assert_eq!(resumed, work(&whole));
    for (round, &(steps, passes)) in resumed.iter().enumerate() {
        let per_epoch = [1, 2, 2, 3][round];
        assert_eq!(steps, passes * per_epoch, "round {round}: {resumed:?}");
        assert!((3..=24).contains(&passes), "round {round}: {resumed:?}");
    }
    // A finished experiment is skipped entirely.
    let again = run_experiment(&config(&parts), &RunOptions::default()).unwrap();
    assert_eq!(again.runs_skipped, 6);
}

#[test]
fn changed_runs_are_refused_unless_rerun_and_new_seeds_are_added() {
    let tmp = scratch("changed");
    let dir = tmp.path();
    let out = dir.join("x");
    let first = RunOptions {
        max_rounds: Some(1),
        ..Default::default()
    };
    run_experiment(&config(&out), &first).unwrap();
    // A new seed changes no existing run: it is simply added.
    let mut more = config(&out);
    more.common.seeds.push(5);
    let s = run_experiment(&more, &first).unwrap();
    assert_eq!((s.runs_total, s.rerun.len()), (9, 0));
    // A model change changes every run: refused, naming them, unless --rerun.
    let mut other = more.clone();
    other.common.model.train.lr *= 2.0;
    let err = run_experiment(&other, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("9 runs were made with a different configuration") && err.contains("--rerun"),
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
    fresh.common.output_dir = Some(dir.join("fresh"));
    run_experiment(&fresh, &RunOptions::default()).unwrap();
    assert_eq!(
        as_text(run_files(&out)),
        as_text(run_files(&dir.join("fresh")))
    );
    // `only` runs just the named runs.
    let mut one = other.clone();
    one.common.output_dir = Some(dir.join("one"));
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

/// The pool setting of a pool experiment, to change it.
fn pool_mut(exp: &mut Experiment) -> &mut activepref_experiment::PoolSetting {
    match &mut exp.setting {
        activepref_experiment::Setting::Pool(p) => p,
        activepref_experiment::Setting::Pair(_) => panic!("not a pool experiment"),
    }
}

/// A one-policy, one-seed variant of [`config`] (fast: 4 rounds of random sampling).
fn random_only(out: &Path) -> Experiment {
    let mut cfg = config(out);
    pool_mut(&mut cfg).policies.retain(|k, _| k == "random");
    cfg.common.report.baseline = "random".into();
    cfg.common.seeds = vec![3];
    cfg
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn fresh_deletes_only_what_activepref_wrote_and_never_a_foreign_directory() {
    let tmp = scratch("fresh-foreign");
    let dir = tmp.path();
    // A directory activepref never wrote: refused with or without --fresh, nothing touched.
    let foreign = dir.join("mine");
    std::fs::create_dir_all(foreign.join("data")).unwrap();
    std::fs::write(foreign.join("notes.txt"), "keep me").unwrap();
    std::fs::write(foreign.join("data/x.csv"), "a,b\n").unwrap();
    for fresh in [false, true] {
        let err = run_experiment(
            &random_only(&foreign),
            &RunOptions {
                fresh,
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("activepref did not write (data, notes.txt)")
                && err.contains("not even with --fresh"),
            "{err}"
        );
    }
    assert_eq!(names(&foreign), ["data", "notes.txt"]);
    // A directory holding only a `runs/` folder of the user's is not activepref's either.
    let lookalike = dir.join("lookalike");
    std::fs::create_dir_all(lookalike.join("runs")).unwrap();
    std::fs::write(lookalike.join("runs/random__seed3.csv"), "mine").unwrap();
    let err = run_experiment(&random_only(&lookalike), &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("activepref did not write (runs)"), "{err}");
    assert_eq!(
        std::fs::read_to_string(lookalike.join("runs/random__seed3.csv")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "keep me"
    );

    // activepref's own directory with the user's files beside the results: --fresh removes the
    // results (and only them).
    let ours = dir.join("ours");
    let opts = RunOptions {
        max_rounds: Some(1),
        ..Default::default()
    };
    run_experiment(&random_only(&ours), &opts).unwrap();
    std::fs::create_dir_all(ours.join("data")).unwrap();
    std::fs::write(ours.join("notes.txt"), "keep me").unwrap();
    std::fs::write(ours.join("data/x.csv"), "a,b\n").unwrap();
    std::fs::write(ours.join("runs/my-notes.md"), "mine").unwrap();
    std::fs::write(ours.join("runs/old__seed9.csv"), "stale run").unwrap();
    std::fs::write(ours.join("runs/old__seed9.run-id"), "0123456789ab\n").unwrap();
    // Named like a run, but no run of activepref's wrote it (no id file beside it): kept.
    std::fs::write(ours.join("runs/foo__seed5.csv"), "mine").unwrap();
    let fresh = RunOptions {
        fresh: true,
        ..opts.clone()
    };
    run_experiment(&random_only(&ours), &fresh).unwrap();
    assert_eq!(
        names(&ours),
        [
            "activepref-results.json",
            "config.resolved.yaml",
            "data",
            "notes.txt",
            "runs"
        ]
    );
    assert!(ours.join("data/x.csv").exists() && ours.join("runs/my-notes.md").exists());
    assert!(ours.join("runs/foo__seed5.csv").exists());
    assert!(
        !ours.join("runs/old__seed9.csv").exists(),
        "activepref's stale run file is gone"
    );
    assert!(ours.join("runs/random__seed3.state.json").exists());

    // Never the directory that holds the experiment file, nor a git work tree.
    let exp = ours.join("exp.yaml");
    std::fs::write(&exp, "name: x").unwrap();
    let err = run_experiment(
        &random_only(&ours),
        &RunOptions {
            experiment_file: Some(exp.clone()),
            ..fresh.clone()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--fresh refuses to clear") && err.contains("holds the experiment file"),
        "{err}"
    );
    std::fs::remove_file(&exp).unwrap();
    std::fs::create_dir_all(ours.join(".git")).unwrap();
    let err = run_experiment(&random_only(&ours), &fresh)
        .unwrap_err()
        .to_string();
    assert!(err.contains("git work tree"), "{err}");
    assert!(ours.join("notes.txt").exists() && ours.join("runs/random__seed3.state.json").exists());
}

#[test]
fn results_of_another_benchmark_are_refused_without_fresh() {
    let tmp = scratch("other-bench");
    let dir = tmp.path();
    let out = dir.join("x");
    let opts = RunOptions {
        max_rounds: Some(1),
        ..Default::default()
    };
    run_experiment(&random_only(&out), &opts).unwrap();
    // Another experiment on another benchmark, with other policy labels (so no run id clashes).
    let mut other = random_only(&out);
    other.common.name = "other".into();
    pool_mut(&mut other).policies = std::mem::take(&mut pool_mut(&mut other).policies)
        .into_iter()
        .map(|(_, v)| ("uniform".to_string(), v))
        .collect();
    other.common.report.baseline = "uniform".into();
    if let activepref_experiment::PoolSource::Synthetic(c) = &mut pool_mut(&mut other).benchmark {
        c.pool_prompts = 130;
    }
    let err = run_experiment(&other, &opts).unwrap_err().to_string();
    assert!(
        err.contains(
            "holds results of experiment `tiny` on another benchmark (pool_prompts 120 → 130)"
        ) && err.contains("pass --fresh"),
        "{err}"
    );
    let fresh = RunOptions {
        fresh: true,
        ..opts
    };
    run_experiment(&other, &fresh).unwrap();
    assert!(!out.join("runs/random__seed3.state.json").exists());
    assert!(out.join("runs/uniform__seed3.state.json").exists());
}

#[test]
fn a_damaged_run_file_is_redone_and_reports_show_only_this_configs_runs() {
    use activepref_experiment::results_dir::reportable_runs;
    let tmp = scratch("damaged");
    let dir = tmp.path();
    let out = dir.join("x");
    let cfg = random_only(&out);
    run_experiment(&cfg, &RunOptions::default()).unwrap();
    let run = out.join("runs/random__seed3.csv");
    let good = std::fs::read_to_string(&run).unwrap();
    // The seal: the run id, then the run file's length and hash.
    let seal = std::fs::read_to_string(out.join("runs/random__seed3.run-id")).unwrap();
    assert_eq!(seal.lines().count(), 2, "{seal}");
    assert!(
        seal.lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("{} ", good.len()))
    );
    // Truncated on disk: the report leaves it out and says why; the next run redoes it.
    std::fs::write(&run, &good[..good.len() - 20]).unwrap();
    let r = reportable_runs(&cfg, &out).unwrap();
    assert!(r.finished.is_empty());
    assert_eq!(r.missing.len(), 1);
    assert!(
        r.missing[0].starts_with("random seed 3: its run file does not match"),
        "{r:?}"
    );
    let s = run_experiment(&cfg, &RunOptions::default()).unwrap();
    assert_eq!(s.damaged.len(), 1);
    assert_eq!(std::fs::read_to_string(&run).unwrap(), good);
    // Its id file deleted: the marker says every run here wrote one, so the run file is not
    // taken for a run from before run ids: left out of the report, refused by `run` (it may be
    // a file copied in; nothing is deleted), and redone with --rerun.
    let marker_path = out.join("activepref-results.json");
    let marker = std::fs::read_to_string(&marker_path).unwrap();
    assert!(marker.contains("\"sealed_runs\": true"), "{marker}");
    std::fs::remove_file(out.join("runs/random__seed3.run-id")).unwrap();
    let r = reportable_runs(&cfg, &out).unwrap();
    assert_eq!(
        r.missing,
        [
            "random seed 3: its random__seed3.run-id is missing (deleted?), so nothing vouches for its run file"
        ]
    );
    let err = run_experiment(&cfg, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("1 run has a run file or checkpoint but no .run-id (random__seed3), so nothing says which configuration made them; pass --rerun to redo them (their files are replaced), or move those files away"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&run).unwrap(), good);
    let rerun = RunOptions {
        rerun: true,
        ..RunOptions::default()
    };
    let s = run_experiment(&cfg, &rerun).unwrap();
    assert_eq!(s.rerun, ["random__seed3"], "{s:?}");
    assert_eq!(std::fs::read_to_string(&run).unwrap(), good);
    assert_eq!(reportable_runs(&cfg, &out).unwrap().finished.len(), 1);
    // A policy added to the file but not run yet, and one removed from it: the report shows
    // the runs of the current configuration and names the missing ones.
    let mut grown = config(&out);
    pool_mut(&mut grown)
        .policies
        .retain(|k, _| k == "random" || k == "bald");
    grown.common.seeds = vec![3];
    let r = reportable_runs(&grown, &out).unwrap();
    assert_eq!(r.finished, [("random".to_string(), 3)]);
    assert_eq!(r.missing, ["bald seed 3: not finished"]);
    let mut other = config(&out);
    pool_mut(&mut other).policies.retain(|k, _| k == "bald");
    other.common.seeds = vec![3];
    assert!(reportable_runs(&other, &out).unwrap().finished.is_empty());
    // A run of another configuration (here: another learning rate) is not this config's run.
    let mut changed = cfg.clone();
    changed.common.model.train.lr *= 2.0;
    let r = reportable_runs(&changed, &out).unwrap();
    assert_eq!(
        r.missing,
        ["random seed 3: made with another configuration"]
    );
    // A directory from before run ids (no marker, run files without id files) keeps its runs:
    // the marker written now records no seal, and the run is skipped as finished.
    std::fs::remove_file(&marker_path).unwrap();
    std::fs::remove_file(out.join("runs/random__seed3.run-id")).unwrap();
    let s = run_experiment(&cfg, &RunOptions::default()).unwrap();
    assert_eq!((s.runs_skipped, s.damaged.len()), (1, 0), "{s:?}");
    let marker = std::fs::read_to_string(&marker_path).unwrap();
    assert!(!marker.contains("sealed_runs"), "{marker}");
    assert_eq!(std::fs::read_to_string(&run).unwrap(), good);
}

/// A paused run's rows so far are offered to `report --partial` only when this configuration
/// made them: another configuration's, or ones whose id file is gone, are named, not shown.
#[test]
fn only_this_configurations_unfinished_runs_are_offered_to_a_partial_report() {
    use activepref_experiment::results_dir::reportable_runs;
    let tmp = scratch("partial-runs");
    let out = tmp.path().join("x");
    let cfg = random_only(&out);
    let paused = RunOptions {
        max_rounds: Some(1),
        ..RunOptions::default()
    };
    run_experiment(&cfg, &paused).unwrap();
    let r = reportable_runs(&cfg, &out).unwrap();
    assert!(r.finished.is_empty());
    assert_eq!(r.unfinished, [("random".to_string(), 3)]);
    assert_eq!(r.missing, ["random seed 3: not finished"]);
    let mut changed = cfg.clone();
    changed.common.model.train.lr *= 2.0;
    let r = reportable_runs(&changed, &out).unwrap();
    assert!(r.unfinished.is_empty());
    assert_eq!(
        r.missing,
        ["random seed 3: made with another configuration"]
    );
    std::fs::remove_file(out.join("runs/random__seed3.run-id")).unwrap();
    let r = reportable_runs(&cfg, &out).unwrap();
    assert!(r.unfinished.is_empty());
    assert!(
        r.missing[0].starts_with("random seed 3: its checkpoint has no random__seed3.run-id"),
        "{r:?}"
    );
}
