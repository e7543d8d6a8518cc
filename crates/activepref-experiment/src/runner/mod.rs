//! Runs every (policy, seed) of an experiment in parallel and stores the results so that an
//! interrupted experiment resumes where it stopped.
//!
//! Layout of `results/<experiment>/`:
//! - `config.resolved.yaml`: the experiment with every default filled in;
//! - `runs/<policy>__seed<seed>.csv`: one row per round (written atomically when the run ends; its
//!   presence is what marks the run finished);
//! - `runs/<policy>__seed<seed>.timings.csv`: wall-clock seconds per round, its training work
//!   (optimiser steps and validation passes summed over the members) and the kernels it computed
//!   with ([`activepref_model::compute_kernels`]; kept apart so that the result files are
//!   bit-identical across machines and thread counts; read back by [`read_recorded_rounds`]);
//! - `runs/<policy>__seed<seed>.state.json`: the in-progress state (finished rounds and the
//!   labelled set), rewritten atomically after every round and removed when the run ends.
//!
//! By job: this file schedules (which runs, in parallel, with what summary); `run_files` holds
//! the run files' schema; `checkpoint` the per-round state and resume; `settings` how each
//! setting builds its runs; `index_cache` the kNN index; `acquired` the pair loop's acquired
//! dataset; `error` the one error type.

mod acquired;
mod checkpoint;
mod error;
mod index_cache;
mod recorded;
mod run_files;
mod settings;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rayon::prelude::*;

pub use acquired::AcquiredPairRow;
pub use error::RunError;
pub(crate) use error::write_file;
pub use recorded::{RecordedRound, read_recorded_rounds};
pub(crate) use run_files::RUN_FILE_EXTENSIONS;
pub use run_files::{PARTIAL_RUN_FILE, PairRunRow, PrefixRow, RunRow};

use crate::progress::{Progress, SlowNotice, bracketed};
use crate::results_dir::{self, RunFileState, run_file_state};
use crate::setting::{Experiment, Setting};
use checkpoint::{RunDone, RunSlot, drive};
use run_files::remove_run_files;
use settings::RunnableSetting;

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
    /// The results directory.
    pub output_dir: PathBuf,
    /// Runs this invocation is about (every (policy, seed), or those of `only`).
    pub runs_total: usize,
    /// Of those, runs already finished before this invocation (their run file exists).
    pub runs_skipped: usize,
    /// Runs left unfinished because of `max_rounds`.
    pub runs_paused: usize,
    /// Rounds restored from checkpoints instead of recomputed, summed over the runs.
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

/// Runs (or resumes) the experiment.
///
/// # Errors
/// The data is missing, the output directory is not activepref's or holds results of another
/// configuration (see [`RunError`]), or the benchmark cannot be built. A run that fails does not
/// stop the others: it is listed in [`RunSummary::failed`].
pub fn run_experiment(exp: &Experiment, opts: &RunOptions) -> Result<RunSummary, RunError> {
    let out = exp.output_dir();
    // The data first: a missing dataset must not cost the results that --fresh would clear.
    exp.check_data().map_err(|e| e.within("benchmark"))?;
    // Every refusal that needs only the results directory, before a build that may take
    // minutes; nothing is written until the benchmark is built.
    results_dir::check(&out, exp, opts)?;
    if !opts.fresh {
        planned_runs(exp, &out, opts)?;
    }
    match &exp.setting {
        Setting::Pool(s) => build_then_run(exp, s, &out, opts),
        Setting::Pair(s) => build_then_run(exp, s, &out, opts),
    }
}

/// Builds the benchmark, so that data that does not fit the loop sizes is refused before any
/// results directory is made or touched (`--fresh` included), then prepares the directory and
/// runs.
fn build_then_run<S: RunnableSetting>(
    exp: &Experiment,
    setting: &S,
    out: &Path,
    opts: &RunOptions,
) -> Result<RunSummary, RunError> {
    let notice = opts.progress.then(|| {
        SlowNotice::start(format!(
            "{}building the benchmark ({})",
            bracketed(&opts.progress_prefix),
            exp.benchmark_kind()
        ))
    });
    let built = setting.build(&exp.common.name);
    drop(notice);
    let bench = built?;
    results_dir::prepare(out, exp, opts)?;
    let plan = plan_jobs(exp, out, opts)?;
    run_jobs(exp, setting, &bench, plan, opts)
}

/// The runs this invocation is about, after the configuration check.
struct JobPlan {
    out: PathBuf,
    runs_dir: PathBuf,
    /// (policy label, seed), in plan order.
    jobs: Vec<(String, u64)>,
    /// Stems of runs redone because their configuration changed or their id file is missing
    /// (`--rerun`).
    changed: Vec<String>,
    /// The directory's marker says every run there wrote its id file
    /// ([`results_dir::ResultsMarker::sealed_runs`]).
    sealed: bool,
}

/// Which runs to do; refuses (or, with `--rerun`, clears) runs made with another configuration,
/// then records the resolved configuration.
fn plan_jobs(exp: &Experiment, out: &Path, opts: &RunOptions) -> Result<JobPlan, RunError> {
    let (plan, resolved) = planned_runs(exp, out, opts)?;
    for stem in &plan.changed {
        remove_run_files(&plan.runs_dir, stem)?;
    }
    write_file(&out.join("config.resolved.yaml"), resolved.as_bytes())?;
    Ok(plan)
}

/// [`plan_jobs`] without writing: the runs, and the resolved configuration to record; refuses
/// runs made with another configuration unless `--rerun`.
fn planned_runs(
    exp: &Experiment,
    out: &Path,
    opts: &RunOptions,
) -> Result<(JobPlan, String), RunError> {
    let runs_dir = out.join("runs");
    let resolved_path = out.join("config.resolved.yaml");
    let resolved = yaml_serde::to_string(&exp.to_config()).map_err(|e| RunError::Serialise {
        path: resolved_path.clone(),
        error: e.to_string(),
    })?;
    let same_config =
        fs::read_to_string(&resolved_path).map_or(true, |previous| previous == resolved);
    let mut jobs: Vec<(String, u64)> = exp
        .setting
        .labels()
        .into_iter()
        .flat_map(|p| exp.common.seeds.iter().map(move |&s| (p.clone(), s)))
        .collect();
    if let Some(only) = &opts.only {
        jobs.retain(|j| only.contains(j));
    }
    let sealed = results_dir::ResultsMarker::is_sealed(out)?;
    let (mut changed, unvouched) = changed_runs(exp, &runs_dir, &jobs, (same_config, sealed));
    if !unvouched.is_empty() && !opts.rerun {
        return Err(RunError::UnvouchedRuns {
            out: out.to_path_buf(),
            runs: unvouched,
        });
    }
    changed.extend(unvouched);
    if !changed.is_empty() && !opts.rerun {
        if changed
            .iter()
            .all(|stem| !runs_dir.join(format!("{stem}.run-id")).exists())
        {
            return Err(RunError::DifferentConfig {
                out: out.to_path_buf(),
                resolved: resolved_path,
            });
        }
        return Err(RunError::ChangedRuns {
            out: out.to_path_buf(),
            runs: changed,
        });
    }
    let plan = JobPlan {
        out: out.to_path_buf(),
        runs_dir,
        jobs,
        changed,
        sealed,
    };
    Ok((plan, resolved))
}

/// Every run records its id (`runs/<stem>.run-id`) when it starts; a started or finished run
/// whose id no longer matches was made with another configuration. Returns those (`changed`),
/// and the started runs without an id file in a directory whose runs all wrote one
/// (`sealed`: [`results_dir::ResultsMarker::sealed_runs`]), which nothing vouches for.
fn changed_runs(
    exp: &Experiment,
    runs_dir: &Path,
    jobs: &[(String, u64)],
    (same_config, sealed): (bool, bool),
) -> (Vec<String>, Vec<String>) {
    let (mut changed, mut unvouched) = (vec![], vec![]);
    for (policy, seed) in jobs {
        let stem = format!("{policy}__seed{seed}");
        let started = runs_dir.join(format!("{stem}.csv")).exists()
            || runs_dir.join(format!("{stem}.state.json")).exists();
        match results_dir::recorded_id_and_seal(runs_dir, &stem).0 {
            Some(id) if id != exp.run_id(policy, *seed) => changed.push(stem),
            Some(_) => {}
            None if started && sealed => unvouched.push(stem),
            // Results from before run ids: only an unchanged configuration vouches for them.
            None if started && !same_config => changed.push(stem),
            None => {}
        }
    }
    (changed, unvouched)
}

/// A run file that does not match its seal is not a finished run: everything of it goes, its
/// seal included, and it is redone from scratch. Returns (stem, why) of each.
fn clear_damaged(plan: &JobPlan, rounds_per_run: usize) -> Result<Vec<(String, String)>, RunError> {
    let mut damaged = vec![];
    for (p, s) in &plan.jobs {
        let stem = format!("{p}__seed{s}");
        if let RunFileState::Damaged(why) = run_file_state(
            &plan.runs_dir,
            &stem,
            (None, Some(rounds_per_run)),
            plan.sealed,
        ) {
            remove_run_files(&plan.runs_dir, &stem)?;
            damaged.push((stem, why));
        }
    }
    Ok(damaged)
}

/// Builds what the runs of `bench` share, then drives every unfinished run in parallel (rayon),
/// each checkpointed after every round.
fn run_jobs<S: RunnableSetting>(
    exp: &Experiment,
    setting: &S,
    bench: &S::Bench,
    plan: JobPlan,
    opts: &RunOptions,
) -> Result<RunSummary, RunError> {
    let shared = setting.shared(bench, &plan.out, opts.progress)?;
    let rounds_per_run = setting.rounds_per_run(bench);
    let damaged = clear_damaged(&plan, rounds_per_run)?;
    let pending: Vec<&(String, u64)> = plan
        .jobs
        .iter()
        .filter(|(p, s)| !plan.runs_dir.join(format!("{p}__seed{s}.csv")).exists())
        .collect();
    let bar = Progress::new(
        opts.progress,
        (pending.len() * rounds_per_run) as u64,
        &opts.progress_prefix,
    );
    bar.message(plan_line(&plan, &pending));
    let resumed = Mutex::new(0usize);
    let paused = Mutex::new(0usize);
    let kernels = activepref_model::compute_kernels(&exp.common.model);
    let compute: Vec<(String, Result<f64, RunError>)> = pending
        .par_iter()
        .enumerate()
        .map(|(i, (policy, seed))| {
            let stem = format!("{policy}__seed{seed}");
            let slot = RunSlot {
                stem: &stem,
                run_id: exp.run_id(policy, *seed),
                number: (i + 1, pending.len()),
                rounds: rounds_per_run,
                kernels: &kernels,
            };
            let result = run_one(
                setting,
                exp,
                (bench, &shared),
                (policy, *seed),
                &plan.runs_dir,
                &slot,
                (&bar, opts.max_rounds),
            )
            .map(|done| {
                *resumed.lock().expect("no poisoned lock") += done.from_round;
                *paused.lock().expect("no poisoned lock") += usize::from(!done.finished);
                done.secs
            });
            if let Err(e) = &result {
                bar.println(format!("error: run {stem}: {}", without_run(e)));
            }
            (stem, result)
        })
        .collect();
    bar.finish();
    let counts = (
        pending.len(),
        resumed.into_inner().expect("no poisoned lock"),
        paused.into_inner().expect("no poisoned lock"),
    );
    Ok(summarise(plan, counts, damaged, compute))
}

/// A failed run's error without the `run <stem>: ` that a round's error starts with, for lines
/// that name the run themselves.
fn without_run(e: &RunError) -> String {
    match e {
        RunError::Run { error, .. } => error.to_string(),
        e => e.to_string(),
    }
}

/// What the invocation did: `pending` runs attempted, `resumed` rounds replayed from
/// checkpoints, `paused` runs left for later, the damaged runs redone, and each run's compute
/// seconds or error.
fn summarise(
    plan: JobPlan,
    (pending, resumed, paused): (usize, usize, usize),
    damaged: Vec<(String, String)>,
    compute: Vec<(String, Result<f64, RunError>)>,
) -> RunSummary {
    let mut summary = RunSummary {
        output_dir: plan.out,
        runs_total: plan.jobs.len(),
        runs_skipped: plan.jobs.len() - pending,
        rounds_resumed: resumed,
        runs_paused: paused,
        compute_secs: 0.0,
        failed: vec![],
        rerun: plan.changed,
        damaged,
    };
    for (stem, c) in compute {
        match c {
            Ok(secs) => summary.compute_secs += secs,
            Err(e) => summary.failed.push((stem, without_run(&e))),
        }
    }
    summary
}

/// One (policy, seed) run: records its id when it starts, then drives it (resuming from its
/// checkpoint if there is one) for at most `opts.max_rounds` rounds.
fn run_one<S: RunnableSetting>(
    setting: &S,
    exp: &Experiment,
    (bench, shared): (&S::Bench, &S::Shared),
    (policy, seed): (&str, u64),
    runs_dir: &Path,
    slot: &RunSlot<'_>,
    (bar, max_rounds): (&Progress, Option<usize>),
) -> Result<RunDone, RunError> {
    let id_path = runs_dir.join(format!("{}.run-id", slot.stem));
    if !id_path.exists() {
        write_file(&id_path, format!("{}\n", slot.run_id).as_bytes())?;
    }
    let run = setting.start(&exp.common, bench, shared, policy, seed);
    drive(run, runs_dir, slot, bar, max_rounds)
}

/// The first line of a run: the runs to do, those of them that resume from a checkpoint (a
/// `.state.json` of an interrupted run), and those already finished, zero counts left out:
/// `15 runs to do`, `3 runs to do (2 resuming from a checkpoint), 12 already finished`.
fn plan_line(plan: &JobPlan, pending: &[&(String, u64)]) -> String {
    let resuming = pending
        .iter()
        .filter(|(p, s)| {
            plan.runs_dir
                .join(format!("{p}__seed{s}.state.json"))
                .exists()
        })
        .count();
    let finished = plan.jobs.len() - pending.len();
    let mut line = format!(
        "{} to do",
        activepref_core::error::counted(pending.len(), "run", "runs")
    );
    if resuming > 0 {
        line += &format!(" ({resuming} resuming from a checkpoint)");
    }
    if finished > 0 {
        line += &format!(", {finished} already finished");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resume's first line counts the runs that continue from a checkpoint; zero counts are
    /// left out (a resume said `3 runs to do, 0 already finished`).
    #[test]
    fn the_first_line_counts_checkpoints_and_finished_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let runs_dir = tmp.path().to_path_buf();
        let job = |p: &str, s: u64| (p.to_string(), s);
        let plan = JobPlan {
            out: runs_dir.clone(),
            runs_dir: runs_dir.clone(),
            jobs: vec![job("random", 1), job("balpm", 1), job("balpm", 2)],
            changed: Vec::new(),
            sealed: true,
        };
        let all: Vec<&(String, u64)> = plan.jobs.iter().collect();
        assert_eq!(plan_line(&plan, &all), "3 runs to do");
        fs::write(runs_dir.join("balpm__seed1.state.json"), "{}").unwrap();
        assert_eq!(
            plan_line(&plan, &all[1..]),
            "2 runs to do (1 resuming from a checkpoint), 1 already finished"
        );
        assert_eq!(
            plan_line(&plan, &all[2..]),
            "1 run to do, 2 already finished"
        );
    }
}
