//! `activepref run`: every grid point of a file (or the runs `--only` names), then the reports.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use activepref_experiment::{RunError, RunOptions, Sweep, Variant, run_experiment};
use activepref_report::results::ReportOverrides;
use anyhow::{anyhow, bail};

use crate::say;

// The arguments of `activepref run` (its help text is the `Command::Run` variant's).
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The experiment file.
    pub experiment: PathBuf,
    /// Delete this experiment's earlier results and start over: only the files activepref wrote
    /// there (your own files in the directory are kept); refused for a directory activepref did
    /// not make, the working directory or one of its parents, the directory holding the
    /// experiment file, and a git work tree.
    #[arg(long)]
    pub fresh: bool,
    /// Write results here instead of the experiment's output_dir (default `results/<name>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Stop every run after this many more rounds in this invocation (counted from where each
    /// run resumes, not in all); the same command goes on later: for time-limited jobs. The
    /// report waits for finished runs; `activepref report DIR --partial` shows the rounds so far.
    #[arg(long, value_name = "N", value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub max_rounds: Option<usize>,
    /// Skip the report at the end.
    #[arg(long)]
    pub no_report: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only these runs (ids from `activepref sweep plan`; comma-separated or repeated).
    /// No report is written: the merge step (`activepref report`) makes it.
    #[arg(long, value_name = "ID", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Redo the runs whose configuration changed since they ran, or whose .run-id is missing
    /// (all others are kept).
    #[arg(long)]
    pub rerun: bool,
}

/// Loads the file's sweep, with `--out` (when given) as the results root.
fn load(experiment: &Path, out: Option<&Path>) -> anyhow::Result<Sweep> {
    let mut sweep = Sweep::load(experiment)?;
    if let Some(out) = out {
        for v in &mut sweep.variants {
            v.config.common.output_dir = Some(if v.name.is_empty() {
                out.to_path_buf()
            } else {
                out.join(&v.name)
            });
        }
        // (clap refuses an empty --out; the parent must exist, for one experiment as for a
        // sweep's root, as `check_output_dir` requires of output_dir.)
        if let Some(parent) = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !p.is_dir())
        {
            bail!(
                "--out: the parent directory `{}` does not exist; create it or choose another --out",
                parent.display()
            );
        }
    }
    Ok(sweep)
}

/// `activepref run`: every variant of the file (or only the runs named by `--only`), then each
/// variant's report. A failed run is reported at the end; the others are kept.
pub fn run(a: &RunArgs) -> anyhow::Result<()> {
    if let Some(m) = a.max_rounds {
        crate::bounded("--max-rounds", m, 1, 1_000_000)?;
    }
    if a.fresh && !a.only.is_empty() {
        bail!(
            "--fresh cannot be combined with --only: a single run would delete every other run's results"
        );
    }
    let sweep = load(&a.experiment, a.out.as_deref())?;
    // Every round's state is written atomically, so an exit at any point leaves the last
    // finished round to resume from.
    super::on_interrupt(format!(
        "every finished round is saved; run the same command (`activepref run {}` with the same flags) to resume",
        a.experiment.display()
    ));
    let plan = sweep.plan();
    let wanted: Option<HashSet<&str>> =
        (!a.only.is_empty()).then(|| a.only.iter().map(String::as_str).collect());
    if let Some(ids) = &wanted
        && let Some(unknown) = ids.iter().find(|id| !plan.iter().any(|r| r.id == **id))
    {
        bail!(
            "--only: no run of {} has id `{unknown}`; `activepref sweep plan {}` lists them",
            a.experiment.display(),
            a.experiment.display()
        );
    }
    if sweep.variants.iter().any(|v| !v.name.is_empty()) {
        write_sweep_manifest(&a.experiment, &sweep)?;
    }
    let mut failed = vec![];
    let mut complete = 0;
    for (k, v) in sweep.variants.iter().enumerate() {
        let only: Option<Vec<(String, u64)>> = wanted.as_ref().map(|ids| {
            plan.iter()
                .filter(|r| r.variant == v.name && ids.contains(r.id.as_str()))
                .map(|r| (r.policy.clone(), r.seed))
                .collect()
        });
        if only.as_ref().is_some_and(Vec::is_empty) {
            continue;
        }
        let point = (k + 1, sweep.variants.len());
        let done = run_variant(a, v, point, only, &mut failed)?;
        if done && !a.no_report && wanted.is_none() {
            if v.name.is_empty() {
                crate::cmd::report::report_one(&v.config)?;
            } else {
                complete += 1;
            }
        }
    }
    // Every grid point finished: its report, and one ablation report per grid across them.
    if complete > 0 && complete == sweep.variants.len() {
        crate::cmd::report::report_dir(&sweep.results_root(), ReportOverrides::default())?;
    }
    if !failed.is_empty() {
        for f in &failed {
            eprintln!("failed: {f}");
        }
        bail!(
            "{} failed (listed above); every other run is finished or saved, and the same command retries only the failed ones",
            activepref_core::error::counted(failed.len(), "run", "runs")
        );
    }
    Ok(())
}

/// Runs one grid point (`point` = its number and the count), prints what it did and collects
/// its failed runs into `failed`. True when every run finished without failure (its report can
/// be written).
fn run_variant(
    a: &RunArgs,
    v: &Variant,
    point: (usize, usize),
    only: Option<Vec<(String, u64)>>,
    failed: &mut Vec<String>,
) -> anyhow::Result<bool> {
    let name = &v.config.common.name;
    let label = if v.name.is_empty() {
        name.clone()
    } else {
        format!("{name} [{}]", v.name)
    };
    let started = Instant::now();
    let summary = run_experiment(
        &v.config,
        &RunOptions {
            fresh: a.fresh,
            experiment_file: Some(a.experiment.clone()),
            progress: !a.quiet,
            progress_prefix: if v.name.is_empty() {
                String::new()
            } else {
                format!("grid point {}/{} {}", point.0, point.1, v.name)
            },
            max_rounds: a.max_rounds,
            only,
            rerun: a.rerun,
        },
    )
    .map_err(|e| match e {
        // A field of the file (the data against the loop sizes): name the file, as `validate`.
        RunError::Benchmark(field) => super::grid_point_error(&a.experiment, v, &field),
        e => e.into(),
    })?;
    say!(
        "{label}: {}{} in {:.1} s wall time",
        activepref_core::error::counted(summary.runs_total, "run", "runs"),
        found_before(&summary),
        started.elapsed().as_secs_f64()
    );
    if !summary.rerun.is_empty() {
        say!(
            "{label}: redid {} of another configuration or without a .run-id: {}",
            activepref_core::error::counted(summary.rerun.len(), "run", "runs"),
            summary.rerun.join(", ")
        );
    }
    for (stem, why) in &summary.damaged {
        say!("{label}: redid run {stem}: {why}");
    }
    failed.extend(
        summary
            .failed
            .iter()
            .map(|(stem, e)| format!("{label}: {stem}: {e}")),
    );
    if summary.runs_paused > 0 {
        say!(
            "{} paused by --max-rounds; run the same command again to continue, or `{}` for the curves so far",
            activepref_core::error::counted(summary.runs_paused, "run", "runs"),
            activepref_report::report_command(&v.config.output_dir().to_string_lossy(), true)
        );
        return Ok(false);
    }
    Ok(summary.failed.is_empty())
}

/// What a run found done before it, when anything: ` (12 already finished, 3 rounds resumed)`,
/// zero counts left out; empty for a fresh start.
fn found_before(summary: &activepref_experiment::RunSummary) -> String {
    let before: Vec<String> = [
        (summary.runs_skipped, "already finished", "already finished"),
        (summary.rounds_resumed, "round resumed", "rounds resumed"),
    ]
    .iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|&(n, one, many)| activepref_core::error::counted(n, one, many))
    .collect();
    if before.is_empty() {
        String::new()
    } else {
        format!(" ({})", before.join(", "))
    }
}

/// Records the sweep's grid points, in the file's order, at its results root (`report` reads it
/// to order the ablation tables and to name grid points that have not run).
fn write_sweep_manifest(experiment: &Path, sweep: &Sweep) -> anyhow::Result<()> {
    let root = sweep.results_root();
    let path = root.join(activepref_experiment::results_dir::SWEEP_MANIFEST);
    // The root holds the grids' folders, this manifest and the sweep's results.parquet; a
    // directory that holds anything else is not activepref's to write into.
    let grids: HashSet<&str> = sweep
        .variants
        .iter()
        .filter_map(|v| v.name.split('/').next())
        .collect();
    if !path.exists()
        && let Ok(entries) = std::fs::read_dir(&root)
    {
        let foreign: Vec<String> = entries
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| !grids.contains(n.as_str()) && n != "results.parquet")
            .collect();
        if !foreign.is_empty() {
            bail!(
                "{}: it holds files activepref did not write ({}) and no {}; activepref neither writes into nor deletes anything in a directory it did not make: choose another output_dir or --out",
                root.display(),
                foreign
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                activepref_experiment::results_dir::SWEEP_MANIFEST
            );
        }
    }
    std::fs::create_dir_all(&root)
        .map_err(|e| anyhow!("{}: cannot create ({e})", root.display()))?;
    let doc = serde_json::json!({
        "made_by": "activepref",
        "experiment": experiment.display().to_string(),
        "variants": sweep.variants.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
    });
    crate::write_file(&path, format!("{doc:#}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_run_found_before_leaves_zero_counts_out_and_agrees_in_number() {
        let mut s = activepref_experiment::RunSummary {
            output_dir: "out".into(),
            runs_total: 3,
            runs_skipped: 0,
            runs_paused: 0,
            rounds_resumed: 0,
            compute_secs: 0.0,
            failed: vec![],
            rerun: vec![],
            damaged: vec![],
        };
        assert_eq!(found_before(&s), "");
        s.rounds_resumed = 1;
        assert_eq!(found_before(&s), " (1 round resumed)");
        (s.runs_skipped, s.rounds_resumed) = (2, 3);
        assert_eq!(found_before(&s), " (2 already finished, 3 rounds resumed)");
    }
}
