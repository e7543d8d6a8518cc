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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use activepref_acquire::{EntropyEstimator, FeatureShift, PairMode, PolicySpec, PoolPolicy, PromptKnnIndex, index_k_for};
use activepref_core::PoolBenchmark;
use activepref_loop::{AcquiredPair, PairLoop, PairRoundRecord, PoolLoop, RoundRecord, RoundTiming};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ExperimentConfig;
use crate::config::{Benchmark, BenchmarkSpec};

/// Columns of a run file, in order.
pub const RUN_COLUMNS: [&str; 15] = [
    "policy",
    "seed",
    "round",
    "labels",
    "test_log_likelihood",
    "test_accuracy",
    "test_brier",
    "ood_log_likelihood",
    "ood_accuracy",
    "ood_brier",
    "validation_loss",
    "pool_mean_bald",
    "batch_mean_bald",
    "batch_unique_prompts",
    "batch_size",
];

/// Options of one invocation.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Delete earlier results of this experiment first.
    pub fresh: bool,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Stop every run after this many rounds in this invocation, leaving it resumable (for time-limited
    /// jobs; the next invocation continues).
    pub max_rounds: Option<usize>,
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
    fn step(&mut self) -> Result<(Self::Record, RoundTiming), String>;
    fn acquired(&self) -> Self::Acquired;
    fn csv(&self, records: &[Self::Record]) -> Result<Vec<u8>, String>;
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
    fn step(&mut self) -> Result<(RoundRecord, RoundTiming), String> {
        self.lp.step(self.policy.as_ref())
    }
    fn acquired(&self) -> Vec<usize> {
        self.lp.labelled.clone()
    }
    fn csv(&self, records: &[RoundRecord]) -> Result<Vec<u8>, String> {
        run_csv(&self.label, self.seed, records)
    }
}

struct PairRun<'a> {
    lp: PairLoop<'a>,
    label: String,
    seed: u64,
    mode: PairMode,
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
    fn step(&mut self) -> Result<(PairRoundRecord, RoundTiming), String> {
        self.lp.step()
    }
    fn acquired(&self) -> Vec<AcquiredPair> {
        self.lp.acquired.clone()
    }
    fn csv(&self, records: &[PairRoundRecord]) -> Result<Vec<u8>, String> {
        pair_run_csv(&self.label, self.seed, self.mode, records)
    }
}

/// Columns of a pair-selection run file, in order.
pub const PAIR_RUN_COLUMNS: [&str; 10] = [
    "policy",
    "seed",
    "pair_mode",
    "round",
    "labels",
    "heldout_log_likelihood",
    "heldout_accuracy",
    "heldout_brier",
    "batch_mean_score_gap",
    "batch_judge_ties",
];

/// The CSV text of one pair-selection run; the mode is in every row.
pub fn pair_run_csv(policy: &str, seed: u64, mode: PairMode, records: &[PairRoundRecord]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(PAIR_RUN_COLUMNS).map_err(|e| e.to_string())?;
    for r in records {
        w.write_record([
            policy.to_string(),
            seed.to_string(),
            mode.to_string(),
            r.round.to_string(),
            r.labels.to_string(),
            r.heldout_log_likelihood.to_string(),
            r.heldout_accuracy.to_string(),
            r.heldout_brier.to_string(),
            opt(r.batch_mean_score_gap),
            opt(r.batch_judge_ties),
        ])
        .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    let mut f = fs::File::create(&tmp).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("cannot move {} to {}: {e}", tmp.display(), path.display()))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |x| x.to_string())
}

/// The CSV text of one run. Floats use Rust's shortest round-trip formatting, so equal numbers
/// give equal bytes.
pub fn run_csv(policy: &str, seed: u64, records: &[RoundRecord]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(RUN_COLUMNS).map_err(|e| e.to_string())?;
    for r in records {
        w.write_record([
            policy.to_string(),
            seed.to_string(),
            r.round.to_string(),
            r.labels.to_string(),
            r.test_log_likelihood.to_string(),
            r.test_accuracy.to_string(),
            r.test_brier.to_string(),
            r.ood_log_likelihood.to_string(),
            r.ood_accuracy.to_string(),
            r.ood_brier.to_string(),
            r.validation_loss.to_string(),
            opt(r.pool_mean_bald),
            opt(r.batch_mean_bald),
            opt(r.batch_unique_prompts),
            opt(r.batch_size),
        ])
        .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

fn timings_csv(timings: &[RoundTiming]) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(vec![]);
    for t in timings {
        w.serialize(t).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// Runs (or resumes) the experiment.
pub fn run_experiment(cfg: &ExperimentConfig, opts: &RunOptions) -> Result<RunSummary, String> {
    let out = cfg.output_dir();
    let runs_dir = out.join("runs");
    if opts.fresh && out.exists() {
        fs::remove_dir_all(&out).map_err(|e| format!("cannot remove {}: {e}", out.display()))?;
    }
    fs::create_dir_all(&runs_dir).map_err(|e| format!("cannot create {}: {e}", runs_dir.display()))?;

    let resolved = yaml_serde::to_string(cfg).map_err(|e| e.to_string())?;
    let resolved_path = out.join("config.resolved.yaml");
    if let Ok(previous) = fs::read_to_string(&resolved_path) {
        if previous != resolved {
            return Err(format!(
                "{} holds results of a different configuration ({}); pass --fresh to replace them, or set another output_dir",
                out.display(),
                resolved_path.display()
            ));
        }
    }
    write_atomic(&resolved_path, resolved.as_bytes())?;

    let (pool_bench, pair_bench) = match cfg.build_benchmark()? {
        Benchmark::Pool(b) => (Some(b), None),
        Benchmark::Pair(b) => (None, Some(b)),
    };
    let prompt_index = match &pool_bench {
        Some(bench) => prompt_index_for(cfg, bench, &out, opts.progress)?,
        None => None,
    };
    let jobs: Vec<(String, u64)> =
        cfg.policy_labels().into_iter().flat_map(|p| cfg.seeds.iter().map(move |&s| (p.clone(), s))).collect();
    let pending: Vec<&(String, u64)> =
        jobs.iter().filter(|(p, s)| !runs_dir.join(format!("{p}__seed{s}.csv")).exists()).collect();

    let total_rounds = (pending.len() * cfg.rounds_per_run()) as u64;
    let bar = if opts.progress { ProgressBar::new(total_rounds) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rounds (eta {eta}) {msg}")
            .expect("valid template"),
    );
    bar.set_message(format!("{} runs to do, {} already finished", pending.len(), jobs.len() - pending.len()));
    let resumed = Mutex::new(0usize);
    let paused = Mutex::new(0usize);
    let compute: Vec<Result<f64, String>> = pending
        .par_iter()
        .map(|(policy, seed)| {
            let stem = format!("{policy}__seed{seed}");
            let done = match (&pool_bench, &pair_bench) {
                (Some(bench), _) => {
                    let lp = PoolLoop::new(bench, &cfg.model, cfg.loop_.as_ref().expect("checked config"), *seed)
                        .with_prompt_index(prompt_index.clone());
                    let run = PoolRun { lp, policy: cfg.policies[policy].build(), label: policy.clone(), seed: *seed };
                    drive(run, &runs_dir, &stem, &bar, opts.max_rounds, |run, labelled, round| {
                        run.lp = PoolLoop::resume_from(run.lp.bench(), &cfg.model, cfg.loop_.as_ref().expect("checked config"), *seed, labelled, round)?
                            .with_prompt_index(run.lp.prompt_index());
                        Ok(())
                    })?
                }
                (None, Some(bench)) => {
                    let spec = &cfg.pair_policies[policy];
                    let new_loop = || PairLoop::new(bench, &cfg.model, cfg.pair_loop.as_ref().expect("checked config"), spec, cfg.pair_mode, *seed);
                    let run = PairRun { lp: new_loop(), label: policy.clone(), seed: *seed, mode: cfg.pair_mode };
                    drive(run, &runs_dir, &stem, &bar, opts.max_rounds, |run, acquired, round| {
                        run.lp = new_loop().resume_from(acquired, round)?;
                        Ok(())
                    })?
                }
                (None, None) => unreachable!("every benchmark kind builds one of the two"),
            };
            *resumed.lock().expect("no poisoned lock") += done.from_round;
            *paused.lock().expect("no poisoned lock") += usize::from(!done.finished);
            Ok(done.secs)
        })
        .collect();
    bar.finish_and_clear();
    let mut compute_secs = 0.0;
    for c in compute {
        compute_secs += c?;
    }
    Ok(RunSummary {
        output_dir: out,
        runs_total: jobs.len(),
        runs_skipped: jobs.len() - pending.len(),
        rounds_resumed: resumed.into_inner().expect("no poisoned lock"),
        runs_paused: paused.into_inner().expect("no poisoned lock"),
        compute_secs,
    })
}

/// The exact kNN index of the pool's prompt table when a BAL-PM policy can use it (KSG term, no
/// reference shift), with `K` for the largest such `k`. Built once for all runs, cached on disk
/// next to the prompt features (`<features>/pool/`) when that directory is writable, else (and
/// for a generated benchmark) under the output directory (`cache/`); a cached file is used only
/// when its table hash and `K` match.
fn prompt_index_for(cfg: &ExperimentConfig, bench: &PoolBenchmark, out: &Path, progress: bool) -> Result<Option<Arc<PromptKnnIndex>>, String> {
    let k = cfg
        .policies
        .values()
        .filter_map(|p| match p {
            PolicySpec::Balpm(c) if c.estimator == EntropyEstimator::Ksg && c.feature_shift == FeatureShift::None => Some(index_k_for(c.k)),
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
    let bar = if progress && table.rows() >= 2_048 { ProgressBar::new(table.rows() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} prompts (eta {eta}) kNN index")
            .expect("valid template"),
    );
    let (index, _built, _path) = PromptKnnIndex::load_or_build_in(&dirs, table, k, &|rows| bar.inc(rows as u64))
        .map_err(|e| format!("kNN index: {e} (make the output directory writable)"))?;
    bar.finish_and_clear();
    Ok(Some(Arc::new(index)))
}

struct RunDone {
    secs: f64,
    from_round: usize,
    finished: bool,
}

/// Runs (or resumes, through `resume`) one (policy, seed) run for at most `max_rounds` rounds,
/// checkpointing after every round and writing the run file when it finishes.
fn drive<R: ResumableRun>(
    mut run: R,
    runs_dir: &Path,
    stem: &str,
    bar: &ProgressBar,
    max_rounds: Option<usize>,
    resume: impl Fn(&mut R, R::Acquired, usize) -> Result<(), String>,
) -> Result<RunDone, String> {
    let state_path = runs_dir.join(format!("{stem}.state.json"));
    let (mut records, mut timings) = match fs::read_to_string(&state_path) {
        Ok(text) => {
            let state: RunState<R::Acquired, R::Record> = serde_json::from_str(&text)
                .map_err(|e| format!("{}: unreadable run state ({e}); delete it to restart this run", state_path.display()))?;
            resume(&mut run, state.acquired, state.round).map_err(|e| format!("{}: {e}; delete it to restart this run", state_path.display()))?;
            (state.records, state.timings)
        }
        Err(_) => (vec![], vec![]),
    };
    let from_round = run.round();
    bar.inc(from_round as u64);
    let stop_at = max_rounds.map_or(usize::MAX, |m| from_round + m);
    while !run.finished() && run.round() < stop_at {
        let (record, timing) = run.step().map_err(|e| format!("run {stem}: {e}"))?;
        records.push(record);
        timings.push(timing);
        let state = RunState { round: run.round(), acquired: run.acquired(), records: records.clone(), timings: timings.clone() };
        write_atomic(&state_path, serde_json::to_string(&state).map_err(|e| e.to_string())?.as_bytes())?;
        bar.inc(1);
    }
    let secs = timings[from_round.min(timings.len())..].iter().map(|t| t.train_secs + t.score_secs + t.select_secs).sum();
    if !run.finished() {
        return Ok(RunDone { secs, from_round, finished: false });
    }
    write_atomic(&runs_dir.join(format!("{stem}.timings.csv")), &timings_csv(&timings)?)?;
    write_atomic(&runs_dir.join(format!("{stem}.csv")), &run.csv(&records)?)?;
    if state_path.exists() {
        fs::remove_file(&state_path).map_err(|e| format!("cannot remove {}: {e}", state_path.display()))?;
    }
    Ok(RunDone { secs, from_round, finished: true })
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
            batch_size: batch,
        };
        let text = String::from_utf8(run_csv("balpm", 9, &[rec(0, Some(5)), rec(1, None)]).unwrap()).unwrap();
        let golden = "policy,seed,round,labels,test_log_likelihood,test_accuracy,test_brier,ood_log_likelihood,ood_accuracy,ood_brier,validation_loss,pool_mean_bald,batch_mean_bald,batch_unique_prompts,batch_size\n\
balpm,9,0,10,-0.5,0.75,0.1,-0.625,0.6666666666666666,0.2,0.5,0.01,0.03,4,5\n\
balpm,9,1,15,-0.5,0.75,0.1,-0.625,0.6666666666666666,0.2,0.5,,,,\n";
        assert_eq!(text, golden);
    }

    #[test]
    fn atomic_write_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("activepref-atomic-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        write_atomic(&dir.join("a.csv"), b"x").unwrap();
        write_atomic(&dir.join("a.csv"), b"y").unwrap();
        assert_eq!(fs::read(dir.join("a.csv")).unwrap(), b"y");
        assert!(!dir.join("a.csv.tmp").exists());
    }
}
