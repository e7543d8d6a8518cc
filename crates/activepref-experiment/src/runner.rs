//! Runs every (policy, seed) of an experiment in parallel and stores the results so that an
//! interrupted experiment resumes where it stopped.
//!
//! Layout of `results/<experiment>/`:
//! - `config.resolved.yaml`: the experiment with every default filled in;
//! - `runs/<policy>__seed<seed>.csv`: one row per round (written atomically when the run ends; its
//!   presence is what marks the run finished);
//! - `runs/<policy>__seed<seed>.timings.csv`: wall-clock seconds per round (kept apart so that the
//!   result files are bit-identical across machines and thread counts);
//! - `runs/<policy>__seed<seed>.state.json`: the in-progress state (finished rounds and the
//!   labelled set), rewritten atomically after every round and removed when the run ends.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use activepref_acquire::{
    EntropyEstimator, FeatureShift, IndexError, PairMode, PolicySpec, PoolPolicy, PromptKnnIndex,
    index_k_for,
};
use activepref_core::io::write_atomic_bytes;
use activepref_core::{FieldError, PairBenchmark, PoolBenchmark};
use activepref_loop::{
    AcquiredPair, LoopError, PairLoop, PairRoundRecord, PoolLoop, PrefixEvalConfig, PrefixRecord,
    PrefixTarget, RoundRecord, RoundTiming, evaluate_prefixes,
};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ExperimentConfig;
use crate::config::{Benchmark, BenchmarkSpec};
use crate::progress::{Progress, SlowNotice, bracketed};
use crate::results_dir::{self, RunFileState, run_file_seal, run_file_state};
use activepref_model::EnsembleConfig;

/// Why an experiment could not run. Each prints on one line with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The benchmark could not be built or does not fit the loop sizes.
    #[error(transparent)]
    Benchmark(#[from] FieldError),
    #[error("cannot {action} {}: {}", .path.display(), activepref_core::io::describe(.error))]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write {}: {error}", .path.display())]
    Serialise { path: PathBuf, error: String },
    #[error(
        "{} holds results of a different configuration ({}); pass --fresh to replace them, or set another output_dir",
        .out.display(),
        .resolved.display()
    )]
    DifferentConfig { out: PathBuf, resolved: PathBuf },
    #[error(
        "{}: {} run(s) were made with a different configuration ({}); pass --rerun to redo just them, or --fresh to start over",
        .out.display(),
        .runs.len(),
        .runs.join(", ")
    )]
    ChangedRuns { out: PathBuf, runs: Vec<String> },
    #[error(
        "{}: {why}; activepref neither writes into nor deletes anything in a directory it did not make (not even with --fresh): choose another output_dir or --out, or empty it yourself",
        .out.display()
    )]
    Foreign { out: PathBuf, why: String },
    #[error(
        "{} holds results of experiment `{experiment}` on another benchmark ({differences}); pass --fresh to replace them, or choose another output_dir",
        .out.display()
    )]
    OtherBenchmark {
        out: PathBuf,
        experiment: String,
        /// The keys of the `benchmark:` sections that differ, old → new.
        differences: String,
    },
    #[error(
        "{}: not an activepref marker ({why}); if this directory holds activepref's results, delete this one file and run again",
        .path.display()
    )]
    UnreadableMarker { path: PathBuf, why: String },
    #[error(
        "--fresh refuses to clear {}: {why}; choose a dedicated output_dir (default results/<name>)",
        .out.display()
    )]
    UnsafeFresh { out: PathBuf, why: String },
    #[error("kNN index: {0} (make the output directory writable)")]
    Index(#[from] IndexError),
    #[error("{}: unreadable run state ({why}); delete it to restart this run", .path.display())]
    UnreadableState { path: PathBuf, why: String },
    #[error("{}: {error}; delete it to restart this run", .path.display())]
    Resume { path: PathBuf, error: LoopError },
    #[error("run {stem}: {error}")]
    Run { stem: String, error: LoopError },
}

/// [`write_atomic_bytes`] with the path in the error (and "the disk is full" when it is).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    write_atomic_bytes(path, bytes).map_err(|error| RunError::Io {
        action: "write",
        path: path.to_path_buf(),
        error,
    })
}

/// A run file as CSV text, one serialised row per round (the header is the row's field names).
/// Floats use the shortest representation that reads back to the same value, so equal numbers
/// give equal bytes.
fn csv_bytes<T: Serialize>(
    rows: impl IntoIterator<Item = T>,
    path: &Path,
) -> Result<Vec<u8>, RunError> {
    let err = |e: &dyn std::fmt::Display| RunError::Serialise {
        path: path.to_path_buf(),
        error: e.to_string(),
    };
    let mut w = csv::Writer::from_writer(vec![]);
    for row in rows {
        w.serialize(row).map_err(|e| err(&e))?;
    }
    w.into_inner().map_err(|e| err(&e))
}

/// One row of a pool run file (`runs/<policy>__seed<seed>.csv`).
#[derive(Serialize)]
pub struct RunRow<'a> {
    pub policy: &'a str,
    pub seed: u64,
    pub round: usize,
    pub labels: usize,
    pub test_log_likelihood: f64,
    pub test_accuracy: f64,
    pub test_brier: f64,
    pub ood_log_likelihood: f64,
    pub ood_accuracy: f64,
    pub ood_brier: f64,
    pub validation_loss: f64,
    pub pool_mean_bald: Option<f64>,
    pub batch_mean_bald: Option<f64>,
    pub batch_unique_prompts: Option<usize>,
    pub batch_size: Option<usize>,
    pub labelled_unique_prompts: Option<usize>,
}

impl<'a> RunRow<'a> {
    pub fn new(policy: &'a str, seed: u64, r: &RoundRecord) -> Self {
        Self {
            policy,
            seed,
            round: r.round,
            labels: r.labels,
            test_log_likelihood: r.test_log_likelihood,
            test_accuracy: r.test_accuracy,
            test_brier: r.test_brier,
            ood_log_likelihood: r.ood_log_likelihood,
            ood_accuracy: r.ood_accuracy,
            ood_brier: r.ood_brier,
            validation_loss: r.validation_loss,
            pool_mean_bald: r.pool_mean_bald,
            batch_mean_bald: r.batch_mean_bald,
            batch_unique_prompts: r.batch_unique_prompts,
            batch_size: r.batch_size,
            labelled_unique_prompts: r.labelled_unique_prompts,
        }
    }
}

/// One acquired pair in the layout TRL-style DPO and reward-model trainers read (`prompt`,
/// `chosen`, `rejected`), with where it came from: `runs/<stem>.pairs.jsonl` and `.pairs.parquet`,
/// in loop order. The synthetic benchmark has no texts: its prompts read `synthetic prompt <id>`
/// and its responses `response <index>`, model `synthetic`.
#[derive(Serialize)]
pub struct AcquiredPairRow<'a> {
    pub round: usize,
    pub prompt_id: u32,
    pub prompt: &'a str,
    pub chosen: &'a str,
    pub rejected: &'a str,
    pub chosen_index: usize,
    pub rejected_index: usize,
    pub chosen_model: &'a str,
    pub rejected_model: &'a str,
    /// The judge's scores.
    pub chosen_score: f32,
    pub rejected_score: f32,
    /// The model's predicted mean and spread when the pair was picked.
    pub chosen_mu: f32,
    pub chosen_sd: f32,
    pub rejected_mu: f32,
    pub rejected_sd: f32,
}

/// Writes a pair run's acquired dataset as JSON lines and Parquet (both atomically).
fn write_acquired_dataset(
    bench: &PairBenchmark,
    acquired: &[AcquiredPair],
    runs_dir: &Path,
    stem: &str,
) -> Result<(), RunError> {
    let synthetic: Vec<(String, Vec<String>)> = acquired
        .iter()
        .map(|p| {
            let c = &bench.stream[p.prompt];
            (
                format!("synthetic prompt {}", c.prompt_id),
                (0..c.judge.len())
                    .map(|i| format!("response {i}"))
                    .collect(),
            )
        })
        .collect();
    let mut jsonl = String::new();
    for (p, (sp, sr)) in acquired.iter().zip(&synthetic) {
        let c = &bench.stream[p.prompt];
        let (prompt, responses, models): (&str, &[String], Option<&[String]>) = match &c.text {
            Some(t) => (&t.prompt, &t.responses, Some(&t.models)),
            None => (sp, sr, None),
        };
        let model = |i: usize| models.map_or("synthetic", |m| m[i].as_str());
        let row = AcquiredPairRow {
            round: p.round,
            prompt_id: c.prompt_id,
            prompt,
            chosen: &responses[p.chosen],
            rejected: &responses[p.rejected],
            chosen_index: p.chosen,
            rejected_index: p.rejected,
            chosen_model: model(p.chosen),
            rejected_model: model(p.rejected),
            chosen_score: c.judge[p.chosen],
            rejected_score: c.judge[p.rejected],
            chosen_mu: p.chosen_mu,
            chosen_sd: p.chosen_sd,
            rejected_mu: p.rejected_mu,
            rejected_sd: p.rejected_sd,
        };
        let line = serde_json::to_string(&row).map_err(|e| RunError::Serialise {
            path: runs_dir.join(format!("{stem}.pairs.jsonl")),
            error: e.to_string(),
        })?;
        jsonl.push_str(&line);
        jsonl.push('\n');
    }
    let jsonl_path = runs_dir.join(format!("{stem}.pairs.jsonl"));
    write_file(&jsonl_path, jsonl.as_bytes())?;
    // Parquet through polars (written atomically), from the JSON lines just written; a run that
    // acquired nothing has no rows to type, so no Parquet copy.
    if acquired.is_empty() {
        return Ok(());
    }
    let parquet = runs_dir.join(format!("{stem}.pairs.parquet"));
    activepref_data::io::convert_to_parquet(&jsonl_path, &parquet, None).map_err(|e| {
        RunError::Serialise {
            path: parquet,
            error: e.to_string(),
        }
    })
}

/// One row of a pair-selection run file; the mode is in every row.
#[derive(Serialize)]
pub struct PairRunRow<'a> {
    pub policy: &'a str,
    pub seed: u64,
    pub pair_mode: PairMode,
    pub round: usize,
    pub labels: usize,
    pub heldout_log_likelihood: f64,
    pub heldout_accuracy: f64,
    pub heldout_brier: f64,
    pub batch_mean_score_gap: Option<f64>,
    pub batch_judge_ties: Option<usize>,
    pub batch_mean_predicted_gap: Option<f64>,
    pub batch_mean_predicted_sd: Option<f64>,
    pub batch_mean_latent_gap: Option<f64>,
    pub validation_labels: usize,
    pub anchor_strength: Option<f64>,
}

impl<'a> PairRunRow<'a> {
    pub fn new(policy: &'a str, seed: u64, pair_mode: PairMode, r: &PairRoundRecord) -> Self {
        Self {
            policy,
            seed,
            pair_mode,
            round: r.round,
            labels: r.labels,
            heldout_log_likelihood: r.heldout_log_likelihood,
            heldout_accuracy: r.heldout_accuracy,
            heldout_brier: r.heldout_brier,
            batch_mean_score_gap: r.batch_mean_score_gap,
            batch_judge_ties: r.batch_judge_ties,
            batch_mean_predicted_gap: r.batch_mean_predicted_gap,
            batch_mean_predicted_sd: r.batch_mean_predicted_sd,
            batch_mean_latent_gap: r.batch_mean_latent_gap,
            validation_labels: r.validation_labels,
            anchor_strength: r.anchor_strength,
        }
    }
}

/// Options of one invocation.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Delete earlier results of this experiment first (only what activepref wrote; see
    /// [`crate::results_dir`]).
    pub fresh: bool,
    /// The experiment file, so that `fresh` never clears the directory that holds it.
    pub experiment_file: Option<PathBuf>,
    /// Show progress on stderr: a bar on a terminal, else one line per finished round.
    pub progress: bool,
    /// Put before every progress line: the sweep grid point (`grid point 2/6 beta/beta=1`).
    pub progress_prefix: String,
    /// Stop every run after this many rounds in this invocation, leaving it resumable (for time-limited
    /// jobs; the next invocation continues).
    pub max_rounds: Option<usize>,
    /// Run only these (policy label, seed) runs (`activepref run --only <run id>`).
    pub only: Option<Vec<(String, u64)>>,
    /// Redo runs whose configuration changed since they were made (their files are replaced;
    /// every other run is kept).
    pub rerun: bool,
}

/// What a call to [`run_experiment`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    pub output_dir: PathBuf,
    pub runs_total: usize,
    pub runs_skipped: usize,
    /// Runs left unfinished because of `max_rounds`.
    pub runs_paused: usize,
    pub rounds_resumed: usize,
    /// Sum of the per-round train/score/select seconds of the runs done now.
    pub compute_secs: f64,
    /// Runs that failed, as (file stem, one-line error); every other run was finished or saved.
    pub failed: Vec<(String, String)>,
    /// Runs redone because their configuration changed (`rerun`).
    pub rerun: Vec<String>,
    /// Runs redone because their run file did not match its seal: (file stem, why).
    pub damaged: Vec<(String, String)>,
}

/// What `*.state.json` holds: the finished rounds, what the run has acquired (the labelled set or
/// the acquired pairs), and the rows and timings so far.
#[derive(Serialize, Deserialize)]
struct RunState<C, R> {
    round: usize,
    acquired: C,
    records: Vec<R>,
    timings: Vec<RoundTiming>,
}

/// A loop that advances round by round and can be rebuilt from what it acquired.
trait ResumableRun {
    type Acquired: Serialize + for<'de> Deserialize<'de>;
    type Record: Serialize + for<'de> Deserialize<'de> + Clone;
    fn round(&self) -> usize;
    fn finished(&self) -> bool;
    fn step(&mut self) -> Result<(Self::Record, RoundTiming), LoopError>;
    fn acquired(&self) -> Self::Acquired;
    fn csv(&self, records: &[Self::Record], path: &Path) -> Result<Vec<u8>, RunError>;
    /// Files a finished run writes besides its run file (the pair loop's acquired dataset).
    fn write_artefacts(&self, _runs_dir: &Path, _stem: &str) -> Result<(), RunError> {
        Ok(())
    }
    /// A line worth telling the user about a finished round (printed above the progress bar).
    fn warning(&self, _record: &Self::Record) -> Option<String> {
        None
    }
}

struct PoolRun<'a> {
    lp: PoolLoop<'a>,
    policy: Box<dyn PoolPolicy>,
    label: String,
    seed: u64,
}

impl ResumableRun for PoolRun<'_> {
    type Acquired = Vec<usize>;
    type Record = RoundRecord;
    fn round(&self) -> usize {
        self.lp.round
    }
    fn finished(&self) -> bool {
        self.lp.finished()
    }
    fn step(&mut self) -> Result<(RoundRecord, RoundTiming), LoopError> {
        self.lp.step(self.policy.as_ref())
    }
    fn acquired(&self) -> Vec<usize> {
        self.lp.labelled.clone()
    }
    fn csv(&self, records: &[RoundRecord], path: &Path) -> Result<Vec<u8>, RunError> {
        csv_bytes(
            records
                .iter()
                .map(|r| RunRow::new(&self.label, self.seed, r)),
            path,
        )
    }
    fn warning(&self, record: &RoundRecord) -> Option<String> {
        self.lp.short_batch_warning(record)
    }
}

struct PairRun<'a> {
    lp: PairLoop<'a>,
    label: String,
    seed: u64,
    mode: PairMode,
    model: &'a EnsembleConfig,
    prefix_eval: Option<&'a PrefixEvalConfig>,
}

/// One row of `runs/<stem>.prefix.csv`: a fresh model trained on the run's first `labels` pairs.
#[derive(Serialize)]
pub struct PrefixRow<'a> {
    pub policy: &'a str,
    pub seed: u64,
    pub pair_mode: PairMode,
    pub labels: usize,
    pub target: PrefixTarget,
    pub prefix_log_likelihood: f64,
    pub prefix_accuracy: f64,
    pub prefix_brier: f64,
}

impl<'a> PrefixRow<'a> {
    pub fn new(policy: &'a str, seed: u64, pair_mode: PairMode, r: &PrefixRecord) -> Self {
        Self {
            policy,
            seed,
            pair_mode,
            labels: r.labels,
            target: r.target,
            prefix_log_likelihood: r.prefix_log_likelihood,
            prefix_accuracy: r.prefix_accuracy,
            prefix_brier: r.prefix_brier,
        }
    }
}

impl ResumableRun for PairRun<'_> {
    type Acquired = Vec<AcquiredPair>;
    type Record = PairRoundRecord;
    fn round(&self) -> usize {
        self.lp.round
    }
    fn finished(&self) -> bool {
        self.lp.finished()
    }
    fn step(&mut self) -> Result<(PairRoundRecord, RoundTiming), LoopError> {
        self.lp.step()
    }
    fn acquired(&self) -> Vec<AcquiredPair> {
        self.lp.acquired.clone()
    }
    fn write_artefacts(&self, runs_dir: &Path, stem: &str) -> Result<(), RunError> {
        write_acquired_dataset(self.lp.bench(), &self.lp.acquired, runs_dir, stem)?;
        if let Some(cfg) = &self.prefix_eval {
            let records = evaluate_prefixes(
                self.lp.bench(),
                self.model,
                &self.lp.acquired,
                cfg,
                self.seed,
            )
            .map_err(|error| RunError::Run {
                stem: stem.to_string(),
                error,
            })?;
            let path = runs_dir.join(format!("{stem}.prefix.csv"));
            let rows = records
                .iter()
                .map(|r| PrefixRow::new(&self.label, self.seed, self.mode, r));
            write_file(&path, &csv_bytes(rows, &path)?)?;
        }
        Ok(())
    }
    fn csv(&self, records: &[PairRoundRecord], path: &Path) -> Result<Vec<u8>, RunError> {
        csv_bytes(
            records
                .iter()
                .map(|r| PairRunRow::new(&self.label, self.seed, self.mode, r)),
            path,
        )
    }
}

/// Runs (or resumes) the experiment.
pub fn run_experiment(cfg: &ExperimentConfig, opts: &RunOptions) -> Result<RunSummary, RunError> {
    let out = cfg.output_dir();
    let runs_dir = out.join("runs");
    // The data first: a missing dataset must not cost the results that --fresh would clear.
    cfg.check_data().map_err(|e| e.within("benchmark"))?;
    results_dir::prepare(&out, cfg, opts)?;

    let resolved_path = out.join("config.resolved.yaml");
    let resolved = yaml_serde::to_string(cfg).map_err(|e| RunError::Serialise {
        path: resolved_path.clone(),
        error: e.to_string(),
    })?;
    let same_config =
        fs::read_to_string(&resolved_path).map_or(true, |previous| previous == resolved);
    let mut jobs: Vec<(String, u64)> = cfg
        .policy_labels()
        .into_iter()
        .flat_map(|p| cfg.seeds.iter().map(move |&s| (p.clone(), s)))
        .collect();
    if let Some(only) = &opts.only {
        jobs.retain(|j| only.contains(j));
    }
    // Every run records its id (`runs/<stem>.run-id`) when it starts; a started or finished run
    // whose id no longer matches was made with another configuration.
    let mut changed = vec![];
    for (policy, seed) in &jobs {
        let stem = format!("{policy}__seed{seed}");
        let started = runs_dir.join(format!("{stem}.csv")).exists()
            || runs_dir.join(format!("{stem}.state.json")).exists();
        let stale = match results_dir::recorded_id_and_seal(&runs_dir, &stem).0 {
            Some(id) => id != cfg.run_id(policy, *seed),
            // Results from before run ids: only an unchanged configuration vouches for them.
            None => started && !same_config,
        };
        if stale {
            changed.push(stem);
        }
    }
    if !changed.is_empty() && !opts.rerun {
        if changed
            .iter()
            .all(|stem| !runs_dir.join(format!("{stem}.run-id")).exists())
        {
            return Err(RunError::DifferentConfig {
                out,
                resolved: resolved_path,
            });
        }
        return Err(RunError::ChangedRuns { out, runs: changed });
    }
    for stem in &changed {
        remove_run_files(&runs_dir, stem)?;
    }
    write_file(&resolved_path, resolved.as_bytes())?;

    let notice = opts.progress.then(|| {
        SlowNotice::start(format!(
            "{}building the benchmark ({})",
            bracketed(&opts.progress_prefix),
            cfg.benchmark_kind()
        ))
    });
    let built = cfg.build_benchmark();
    drop(notice);
    let (pool_bench, pair_bench) = match built? {
        Benchmark::Pool(b) => (Some(b), None),
        Benchmark::Pair(b) => (None, Some(b)),
    };
    let prompt_index = match &pool_bench {
        Some(bench) => prompt_index_for(cfg, bench, &out, opts.progress)?,
        None => None,
    };
    let stream = pair_bench.as_ref().map_or(0, |b| b.stream.len());
    let rounds_per_run = cfg.rounds_per_run(stream);
    // A run file that does not match its seal is not a finished run: it is redone.
    let mut damaged = vec![];
    for (p, s) in &jobs {
        let stem = format!("{p}__seed{s}");
        if let RunFileState::Damaged(why) =
            run_file_state(&runs_dir, &stem, None, Some(rounds_per_run))
        {
            // Everything of the run goes, its seal included: the run is redone from scratch.
            remove_run_files(&runs_dir, &stem)?;
            damaged.push((stem, why));
        }
    }
    let pending: Vec<&(String, u64)> = jobs
        .iter()
        .filter(|(p, s)| !runs_dir.join(format!("{p}__seed{s}.csv")).exists())
        .collect();

    let total_rounds = (pending.len() * rounds_per_run) as u64;
    let bar = Progress::new(opts.progress, total_rounds, &opts.progress_prefix);
    bar.message(format!(
        "{} runs to do, {} already finished",
        pending.len(),
        jobs.len() - pending.len()
    ));
    let resumed = Mutex::new(0usize);
    let paused = Mutex::new(0usize);
    let compute: Vec<(String, Result<f64, RunError>)> = pending
        .par_iter()
        .enumerate()
        .map(|(i, (policy, seed))| {
            let stem = format!("{policy}__seed{seed}");
            let slot = RunSlot {
                stem: &stem,
                run_id: cfg.run_id(policy, *seed),
                number: (i + 1, pending.len()),
                rounds: rounds_per_run,
            };
            let id_path = runs_dir.join(format!("{stem}.run-id"));
            let result = (|| -> Result<f64, RunError> {
                if !id_path.exists() {
                    write_file(&id_path, format!("{}\n", slot.run_id).as_bytes())?;
                }
                let done = match (&pool_bench, &pair_bench) {
                    (Some(bench), _) => {
                        let lp = PoolLoop::new(
                            bench,
                            &cfg.model,
                            cfg.loop_.as_ref().expect("checked config"),
                            *seed,
                        )
                        .with_prompt_index(prompt_index.clone());
                        let run = PoolRun {
                            lp,
                            policy: cfg.policies[policy].build(),
                            label: policy.clone(),
                            seed: *seed,
                        };
                        drive(
                            run,
                            &runs_dir,
                            &slot,
                            &bar,
                            opts.max_rounds,
                            |run, labelled, round| {
                                run.lp = PoolLoop::resume_from(
                                    run.lp.bench(),
                                    &cfg.model,
                                    cfg.loop_.as_ref().expect("checked config"),
                                    *seed,
                                    labelled,
                                    round,
                                )?
                                .with_prompt_index(run.lp.prompt_index());
                                Ok(())
                            },
                        )?
                    }
                    (None, Some(bench)) => {
                        let spec = &cfg.pair_policies[policy];
                        let new_loop = || {
                            PairLoop::new(
                                bench,
                                &cfg.model,
                                cfg.pair_loop.as_ref().expect("checked config"),
                                spec,
                                cfg.pair_mode,
                                *seed,
                            )
                        };
                        let run = PairRun {
                            lp: new_loop(),
                            label: policy.clone(),
                            seed: *seed,
                            mode: cfg.pair_mode,
                            model: &cfg.model,
                            prefix_eval: cfg
                                .pair_loop
                                .as_ref()
                                .and_then(|l| l.prefix_eval.as_ref()),
                        };
                        drive(
                            run,
                            &runs_dir,
                            &slot,
                            &bar,
                            opts.max_rounds,
                            |run, acquired, round| {
                                run.lp = new_loop().resume_from(acquired, round)?;
                                Ok(())
                            },
                        )?
                    }
                    (None, None) => unreachable!("every benchmark kind builds one of the two"),
                };
                *resumed.lock().expect("no poisoned lock") += done.from_round;
                *paused.lock().expect("no poisoned lock") += usize::from(!done.finished);
                Ok(done.secs)
            })();
            if let Err(e) = &result {
                bar.println(format!("error: run {stem}: {e}"));
            }
            (stem, result)
        })
        .collect();
    bar.finish();
    let mut compute_secs = 0.0;
    let mut failed = vec![];
    for (stem, c) in compute {
        match c {
            Ok(secs) => compute_secs += secs,
            Err(e) => failed.push((stem, e.to_string())),
        }
    }
    Ok(RunSummary {
        output_dir: out,
        runs_total: jobs.len(),
        runs_skipped: jobs.len() - pending.len(),
        rounds_resumed: resumed.into_inner().expect("no poisoned lock"),
        runs_paused: paused.into_inner().expect("no poisoned lock"),
        compute_secs,
        failed,
        rerun: changed,
        damaged,
    })
}

/// Every file a run writes: `runs/<stem>.<extension>`.
pub(crate) const RUN_FILE_EXTENSIONS: [&str; 7] = [
    "csv",
    "timings.csv",
    "state.json",
    "run-id",
    "prefix.csv",
    "pairs.jsonl",
    "pairs.parquet",
];

/// Removes every file of run `stem` (`runs/<stem>.<ext>`, each of [`RUN_FILE_EXTENSIONS`]).
fn remove_run_files(runs_dir: &Path, stem: &str) -> Result<(), RunError> {
    for ext in RUN_FILE_EXTENSIONS {
        let path = runs_dir.join(format!("{stem}.{ext}"));
        if path.exists() {
            fs::remove_file(&path).map_err(|error| RunError::Io {
                action: "remove",
                path,
                error,
            })?;
        }
    }
    Ok(())
}

/// The exact kNN index of the pool's prompt table when a BAL-PM policy can use it (KSG term, no
/// reference shift), with `K` for the largest such `k`. Built once for all runs, cached on disk
/// next to the prompt features (`<features>/pool/`) when that directory is writable, else (and
/// for a generated benchmark) under the output directory (`cache/`); a cached file is used only
/// when its table hash and `K` match.
fn prompt_index_for(
    cfg: &ExperimentConfig,
    bench: &PoolBenchmark,
    out: &Path,
    progress: bool,
) -> Result<Option<Arc<PromptKnnIndex>>, RunError> {
    let k = cfg
        .policies
        .values()
        .filter_map(|p| match p {
            PolicySpec::Balpm(c)
                if c.estimator == EntropyEstimator::Ksg
                    && c.feature_shift == FeatureShift::None =>
            {
                Some(index_k_for(c.k))
            }
            _ => None,
        })
        .max();
    let Some(k) = k else { return Ok(None) };
    // Next to the prompt features when that directory is writable, else in the output directory.
    let mut dirs = Vec::new();
    if let BenchmarkSpec::Comparisons(src) = &cfg.benchmark {
        dirs.push(src.features.join("pool"));
    }
    dirs.push(out.join("cache"));
    let table = bench.pool.prompt.table();
    if progress && table.rows() >= 2_048 && !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!(
            "kNN index of {} prompts: loading or building (minutes at paper scale)",
            table.rows()
        );
    }
    let bar = if progress && table.rows() >= 2_048 {
        ProgressBar::new(table.rows() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} prompts (eta {eta}) kNN index",
        )
        .expect("valid template"),
    );
    let (index, _built, _path) =
        PromptKnnIndex::load_or_build_in(&dirs, table, k, &|rows| bar.inc(rows as u64))?;
    bar.finish_and_clear();
    Ok(Some(Arc::new(index)))
}

struct RunDone {
    secs: f64,
    from_round: usize,
    finished: bool,
}

/// Which run [`drive`] advances: its file stem and id, its number among the runs to do, and how
/// many rounds it records.
struct RunSlot<'a> {
    stem: &'a str,
    run_id: String,
    number: (usize, usize),
    rounds: usize,
}

/// Runs (or resumes, through `resume`) one (policy, seed) run for at most `max_rounds` rounds,
/// checkpointing after every round and writing the run file (then its seal) when it finishes.
fn drive<R: ResumableRun>(
    mut run: R,
    runs_dir: &Path,
    slot: &RunSlot<'_>,
    bar: &Progress,
    max_rounds: Option<usize>,
    resume: impl Fn(&mut R, R::Acquired, usize) -> Result<(), LoopError>,
) -> Result<RunDone, RunError> {
    let (stem, run_id) = (slot.stem, slot.run_id.as_str());
    let state_path = runs_dir.join(format!("{stem}.state.json"));
    let (mut records, mut timings) = match fs::read_to_string(&state_path) {
        Ok(text) => {
            let state: RunState<R::Acquired, R::Record> =
                serde_json::from_str(&text).map_err(|e| RunError::UnreadableState {
                    path: state_path.clone(),
                    why: e.to_string(),
                })?;
            resume(&mut run, state.acquired, state.round).map_err(|error| RunError::Resume {
                path: state_path.clone(),
                error,
            })?;
            (state.records, state.timings)
        }
        Err(_) => (vec![], vec![]),
    };
    let from_round = run.round();
    bar.resumed(from_round as u64);
    let stop_at = max_rounds.map_or(usize::MAX, |m| from_round + m);
    while !run.finished() && run.round() < stop_at {
        let (record, timing) = run.step().map_err(|error| RunError::Run {
            stem: stem.to_string(),
            error,
        })?;
        if let Some(warning) = run.warning(&record) {
            bar.println(format!("warning: run {stem}: {warning}"));
        }
        records.push(record);
        timings.push(timing);
        let state = RunState {
            round: run.round(),
            acquired: run.acquired(),
            records: records.clone(),
            timings: timings.clone(),
        };
        let json = serde_json::to_string(&state).map_err(|e| RunError::Serialise {
            path: state_path.clone(),
            error: e.to_string(),
        })?;
        write_file(&state_path, json.as_bytes())?;
        bar.round_done(slot.number, stem, (run.round(), slot.rounds), timing.secs());
    }
    let secs = timings[from_round.min(timings.len())..]
        .iter()
        .map(RoundTiming::secs)
        .sum();
    if !run.finished() {
        return Ok(RunDone {
            secs,
            from_round,
            finished: false,
        });
    }
    let timings_path = runs_dir.join(format!("{stem}.timings.csv"));
    write_file(&timings_path, &csv_bytes(&timings, &timings_path)?)?;
    // The pair loop's acquired dataset and prefix evaluation (fresh models: it can take a while).
    bar.status(format!("{stem}: writing what it acquired"));
    run.write_artefacts(runs_dir, stem)?;
    let run_path = runs_dir.join(format!("{stem}.csv"));
    let bytes = run.csv(&records, &run_path)?;
    write_file(&run_path, &bytes)?;
    // The seal: what `report` and the next `run` check the run file against.
    let id_path = runs_dir.join(format!("{stem}.run-id"));
    write_file(
        &id_path,
        format!("{run_id}\n{}\n", run_file_seal(&bytes)).as_bytes(),
    )?;
    if state_path.exists() {
        fs::remove_file(&state_path).map_err(|error| RunError::Io {
            action: "remove",
            path: state_path.clone(),
            error,
        })?;
    }
    Ok(RunDone {
        secs,
        from_round,
        finished: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_csv_golden() {
        let rec = |round, batch: Option<usize>| RoundRecord {
            round,
            labels: 10 + 5 * round,
            test_log_likelihood: -0.5,
            test_accuracy: 0.75,
            test_brier: 0.1,
            ood_log_likelihood: -0.625,
            ood_accuracy: 2.0 / 3.0,
            ood_brier: 0.2,
            validation_loss: 0.5,
            pool_mean_bald: batch.map(|_| 0.01),
            batch_mean_bald: batch.map(|_| 0.03),
            batch_unique_prompts: batch.map(|b| b - 1),
            labelled_unique_prompts: Some(7 + round),
            batch_size: batch,
        };
        let rows = [rec(0, Some(5)), rec(1, None)];
        let bytes = csv_bytes(
            rows.iter().map(|r| RunRow::new("balpm", 9, r)),
            Path::new("run.csv"),
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let golden = "policy,seed,round,labels,test_log_likelihood,test_accuracy,test_brier,ood_log_likelihood,ood_accuracy,ood_brier,validation_loss,pool_mean_bald,batch_mean_bald,batch_unique_prompts,batch_size,labelled_unique_prompts\n\
balpm,9,0,10,-0.5,0.75,0.1,-0.625,0.6666666666666666,0.2,0.5,0.01,0.03,4,5,7\n\
balpm,9,1,15,-0.5,0.75,0.1,-0.625,0.6666666666666666,0.2,0.5,,,,,8\n";
        assert_eq!(text, golden);
    }
}
