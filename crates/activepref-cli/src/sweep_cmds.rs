//! `activepref run` over a sweep, `sweep plan` and `sweep slurm`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use activepref_experiment::{PlannedRun, RunOptions, Sweep, run_experiment};
use anyhow::{anyhow, bail};
use serde::Deserialize;

use crate::say;

// The arguments of `activepref run` (its help text is the `Command::Run` variant's).
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The experiment file.
    pub experiment: PathBuf,
    /// Delete this experiment's earlier results and start over.
    #[arg(long)]
    pub fresh: bool,
    /// Write results here instead of the experiment's output_dir (default results/<name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Stop every run after this many rounds (resumable later): for time-limited jobs.
    #[arg(long, value_name = "N")]
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
    /// Redo the runs whose configuration changed since they ran (all others are kept).
    #[arg(long)]
    pub rerun: bool,
}

/// Loads the file's sweep, with `--out` (when given) as the results root.
fn load(experiment: &Path, out: Option<&Path>) -> anyhow::Result<Sweep> {
    let mut sweep = Sweep::load(experiment)?;
    if let Some(out) = out {
        for v in &mut sweep.variants {
            v.config.output_dir = Some(if v.name.is_empty() {
                out.to_path_buf()
            } else {
                out.join(&v.name)
            });
        }
        if let Some(v) = sweep.variants.first().filter(|v| v.name.is_empty()) {
            v.config
                .check_output_dir()
                .map_err(|e| anyhow!("--out: {}", e.message))?;
        } else if let Some(parent) = out
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
    resume_hint_on_interrupt(&a.experiment);
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
    let points = sweep.variants.len();
    for (k, v) in sweep.variants.iter().enumerate() {
        let cfg = &v.config;
        let only: Option<Vec<(String, u64)>> = wanted.as_ref().map(|ids| {
            plan.iter()
                .filter(|r| r.variant == v.name && ids.contains(r.id.as_str()))
                .map(|r| (r.policy.clone(), r.seed))
                .collect()
        });
        if only.as_ref().is_some_and(Vec::is_empty) {
            continue;
        }
        let label = if v.name.is_empty() {
            cfg.name.clone()
        } else {
            format!("{} [{}]", cfg.name, v.name)
        };
        let started = Instant::now();
        let summary = run_experiment(
            cfg,
            &RunOptions {
                fresh: a.fresh,
                experiment_file: Some(a.experiment.clone()),
                progress: !a.quiet,
                progress_prefix: if v.name.is_empty() {
                    String::new()
                } else {
                    format!("grid point {}/{points} {}", k + 1, v.name)
                },
                max_rounds: a.max_rounds,
                only,
                rerun: a.rerun,
            },
        )?;
        say!(
            "{label}: {} runs ({} already finished, {} rounds resumed) in {:.1} s wall time",
            summary.runs_total,
            summary.runs_skipped,
            summary.rounds_resumed,
            started.elapsed().as_secs_f64()
        );
        if !summary.rerun.is_empty() {
            say!(
                "{label}: redid {} run(s) whose configuration changed: {}",
                summary.rerun.len(),
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
                "{} runs paused by --max-rounds; run the same command again to continue",
                summary.runs_paused
            );
        } else if !a.no_report && wanted.is_none() && summary.failed.is_empty() {
            if v.name.is_empty() {
                crate::report(&summary.output_dir, cfg, crate::ReportOverrides::default())?;
            } else {
                complete += 1;
            }
        }
    }
    // Every grid point finished: its report, and one ablation report per grid across them.
    if complete > 0 && complete == sweep.variants.len() {
        crate::report_results(&sweep_root(&sweep), crate::ReportOverrides::default())?;
    }
    if !failed.is_empty() {
        for f in &failed {
            eprintln!("failed: {f}");
        }
        bail!(
            "{} run(s) failed (listed above); every other run is finished or saved, and the same command retries only the failed ones",
            failed.len()
        );
    }
    Ok(())
}

/// On Ctrl-C or SIGTERM (a batch system's time limit), says that nothing finished is lost and
/// how to go on, then exits with the signal's usual status (130, 143). Every round's state is
/// written atomically, so an exit at any point leaves the last finished round to resume from.
fn resume_hint_on_interrupt(experiment: &Path) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let command = format!("activepref run {}", experiment.display());
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            eprintln!(
                "\ninterrupted: every finished round is saved; run the same command (`{command}` with the same flags) to resume"
            );
            std::process::exit(128 + sig);
        }
    });
}

/// Records the sweep's grid points, in the file's order, at its results root (`report` reads it
/// to order the ablation tables and to name grid points that have not run).
fn write_sweep_manifest(experiment: &Path, sweep: &Sweep) -> anyhow::Result<()> {
    let root = sweep_root(sweep);
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

/// The results root of a sweep: the directory that holds `<grid>/<point>/` (or the single
/// results directory of a file without a sweep).
fn sweep_root(sweep: &Sweep) -> PathBuf {
    match sweep.variants.first() {
        Some(v) if !v.name.is_empty() => v
            .config
            .output_dir()
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default(),
        Some(v) => v.config.output_dir(),
        None => PathBuf::new(),
    }
}

/// `activepref sweep plan`: every run and its id.
pub fn plan(experiment: &Path, json: bool) -> anyhow::Result<()> {
    let sweep = Sweep::load(experiment)?;
    note_absent_data(experiment, &sweep);
    let plan = sweep.plan();
    if json {
        let runs: Vec<serde_json::Value> = plan
            .iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "variant": r.variant, "policy": r.policy, "seed": r.seed,
                    "output_dir": r.output_dir.display().to_string(),
                })
            })
            .collect();
        say!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "file": experiment.display().to_string(), "runs": runs })
            )?
        );
        return Ok(());
    }
    say!("{}", plan_text(experiment, &sweep, &plan));
    Ok(())
}

/// Says on stderr when the data a sweep needs is not here yet: run ids do not depend on it, so
/// the plan and the SLURM scripts are right, but `validate` and `run` will need it.
fn note_absent_data(experiment: &Path, sweep: &Sweep) {
    if let Some(e) = sweep
        .variants
        .first()
        .and_then(|v| v.config.check_data().err())
    {
        eprintln!(
            "note: {}: benchmark.{}: {}; the plan does not depend on it, but `validate` and `run` need it",
            experiment.display(),
            e.field,
            e.message
        );
    }
}

/// The plan as a table (what `sweep plan` prints; golden-tested).
pub fn plan_text(experiment: &Path, sweep: &Sweep, plan: &[PlannedRun]) -> String {
    let w = |f: &dyn Fn(&PlannedRun) -> usize, head: usize| {
        plan.iter().map(f).max().unwrap_or(0).max(head)
    };
    let (wv, wp) = (w(&|r| r.variant.len().max(1), 7), w(&|r| r.policy.len(), 6));
    let mut lines = vec![format!(
        "{}: {} variant(s), {} run(s)",
        experiment.display(),
        sweep.variants.len(),
        plan.len()
    )];
    lines.push(format!(
        "{:<12}  {:<wv$}  {:<wp$}  {:>6}  results",
        "id", "variant", "policy", "seed"
    ));
    for r in plan {
        let variant = if r.variant.is_empty() {
            "-"
        } else {
            &r.variant
        };
        lines.push(format!(
            "{:<12}  {variant:<wv$}  {:<wp$}  {:>6}  {}",
            r.id,
            r.policy,
            r.seed,
            r.output_dir.display()
        ));
    }
    lines.join("\n")
}

/// SLURM resources: the experiment file's `slurm:` section, then flags.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmResources {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Wall-clock limit per run (`HH:MM:SS` or `D-HH:MM:SS`).
    pub time: String,
    pub cpus_per_task: usize,
    /// Memory per run (`32G`).
    pub mem: String,
    /// GPUs per run (`--gres=gpu:N`); none by default.
    pub gpus: Option<usize>,
    /// At most this many array tasks at once (`--array=...%N`).
    pub max_parallel: Option<usize>,
    /// More `#SBATCH` lines, verbatim (`--qos=long`).
    pub extra: Vec<String>,
}

impl Default for SlurmResources {
    fn default() -> Self {
        Self {
            partition: None,
            account: None,
            time: "24:00:00".into(),
            cpus_per_task: 8,
            mem: "32G".into(),
            gpus: None,
            max_parallel: None,
            extra: vec![],
        }
    }
}

/// The flags of `sweep slurm` that override the file's `slurm:` section.
#[derive(clap::Args, Debug, Default)]
pub struct SlurmFlags {
    #[arg(long)]
    pub partition: Option<String>,
    #[arg(long)]
    pub account: Option<String>,
    /// Wall-clock limit per run (HH:MM:SS).
    #[arg(long)]
    pub time: Option<String>,
    #[arg(long, value_name = "N")]
    pub cpus_per_task: Option<usize>,
    /// Memory per run (e.g. 32G).
    #[arg(long)]
    pub mem: Option<String>,
    /// GPUs per run.
    #[arg(long, value_name = "N")]
    pub gpus: Option<usize>,
    /// At most N array tasks at once.
    #[arg(long, value_name = "N")]
    pub max_parallel: Option<usize>,
}

/// The file's `slurm:` section (defaults where it has none).
fn resources_of(experiment: &Path) -> anyhow::Result<SlurmResources> {
    let text = std::fs::read_to_string(experiment)
        .map_err(|e| anyhow!("{}: cannot read ({e})", experiment.display()))?;
    let root = activepref_experiment::yaml_value(&text, experiment)?;
    match root.get("slurm") {
        None => Ok(SlurmResources::default()),
        Some(v) => yaml_serde::from_value(v.clone())
            .map_err(|e| anyhow!("{}: slurm: {e}", experiment.display())),
    }
}

/// Where the scripts of `sweep slurm` point (absolute paths).
pub struct SlurmPaths<'a> {
    pub experiment: &'a Path,
    pub binary: &'a Path,
    pub workdir: &'a Path,
    pub out: &'a Path,
    pub results_root: &'a Path,
}

/// The files `sweep slurm` writes: (file name, contents, executable).
pub fn slurm_files(
    p: &SlurmPaths<'_>,
    name: &str,
    ids: &[String],
    r: &SlurmResources,
) -> Vec<(String, String, bool)> {
    let SlurmPaths {
        experiment,
        binary,
        workdir,
        out,
        results_root,
    } = *p;
    let mut head = vec![
        format!("#SBATCH --cpus-per-task={}", r.cpus_per_task),
        format!("#SBATCH --mem={}", r.mem),
        format!("#SBATCH --time={}", r.time),
    ];
    if let Some(p) = &r.partition {
        head.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(a) = &r.account {
        head.push(format!("#SBATCH --account={a}"));
    }
    if let Some(g) = r.gpus {
        head.push(format!("#SBATCH --gres=gpu:{g}"));
    }
    head.extend(r.extra.iter().map(|x| format!("#SBATCH {x}")));
    let throttle = r.max_parallel.map_or(String::new(), |m| format!("%{m}"));
    let array = format!(
        "#!/usr/bin/env bash
# One array task per run id of {exp} (`activepref sweep plan` lists them).
#SBATCH --job-name={name}
#SBATCH --array=0-{last}{throttle}
#SBATCH --output={logs}/%A_%a.out
{head}
set -euo pipefail
cd {workdir}
id=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" {runs})
# Resumable: a task that is killed or times out continues from its last round when resubmitted.
exec {bin} --threads \"${{SLURM_CPUS_PER_TASK:-1}}\" run {exp} --only \"$id\" --quiet
",
        exp = experiment.display(),
        last = ids.len().saturating_sub(1),
        logs = out.join("logs").display(),
        head = head.join("\n"),
        workdir = workdir.display(),
        runs = out.join("runs.txt").display(),
        bin = binary.display(),
    );
    let merge = format!(
        "#!/usr/bin/env bash
# The merge step: every variant's report, once the array is done.
#SBATCH --job-name={name}-report
#SBATCH --output={logs}/%j-report.out
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
#SBATCH --time=01:00:00
set -euo pipefail
cd {workdir}
exec {bin} report {root}
",
        logs = out.join("logs").display(),
        workdir = workdir.display(),
        bin = binary.display(),
        root = results_root.display(),
    );
    let submit = format!(
        "#!/usr/bin/env bash
# Submits the run array, then the report once every task has ended.
set -euo pipefail
cd \"$(dirname \"$0\")\"
mkdir -p logs
array=$(sbatch --parsable array.sbatch)
merge=$(sbatch --parsable --dependency=afterany:${{array}} merge.sbatch)
echo \"submitted {n} run(s) as array job ${{array}}; report job ${{merge}}\"
",
        n = ids.len()
    );
    vec![
        (
            "runs.txt".into(),
            ids.iter().map(|id| format!("{id}\n")).collect(),
            false,
        ),
        ("array.sbatch".into(), array, false),
        ("merge.sbatch".into(), merge, false),
        ("submit.sh".into(), submit, true),
    ]
}

/// `activepref sweep slurm`: the job-array script, the merge step and a submit script in `out`.
pub fn slurm(experiment: &Path, out: &Path, flags: SlurmFlags) -> anyhow::Result<()> {
    let sweep = Sweep::load(experiment)?;
    note_absent_data(experiment, &sweep);
    let plan = sweep.plan();
    let mut r = resources_of(experiment)?;
    r.partition = flags.partition.or(r.partition);
    r.account = flags.account.or(r.account);
    r.time = flags.time.unwrap_or(r.time);
    r.cpus_per_task = flags.cpus_per_task.unwrap_or(r.cpus_per_task);
    r.mem = flags.mem.unwrap_or(r.mem);
    r.gpus = flags.gpus.or(r.gpus);
    r.max_parallel = flags.max_parallel.or(r.max_parallel);
    crate::bounded(
        "--cpus-per-task (slurm.cpus_per_task)",
        r.cpus_per_task,
        1,
        1_024,
    )?;
    if let Some(m) = r.max_parallel {
        crate::bounded("--max-parallel (slurm.max_parallel)", m, 1, 1_000_000)?;
    }
    if let Some(g) = r.gpus {
        crate::bounded("--gpus (slurm.gpus)", g, 1, 64)?;
    }
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let base = sweep
        .variants
        .first()
        .map(|v| &v.config)
        .ok_or_else(|| anyhow!("no variants"))?;
    let root = sweep_root(&sweep);
    let ids: Vec<String> = plan.iter().map(|r| r.id.clone()).collect();
    let binary =
        std::env::current_exe().map_err(|e| anyhow!("cannot find the activepref binary: {e}"))?;
    let workdir =
        std::env::current_dir().map_err(|e| anyhow!("cannot read the working directory: {e}"))?;
    std::fs::create_dir_all(out.join("logs"))
        .map_err(|e| anyhow!("{}: cannot create ({e})", out.display()))?;
    let out = abs(out);
    let experiment = abs(experiment);
    let paths = SlurmPaths {
        experiment: &experiment,
        binary: &binary,
        workdir: &workdir,
        out: &out,
        results_root: &root,
    };
    for (name, text, exec) in slurm_files(&paths, &base.name, &ids, &r) {
        let path = out.join(&name);
        crate::write_file(&path, text.as_bytes())?;
        if exec {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| anyhow!("{}: cannot make executable ({e})", path.display()))?;
        }
        say!("wrote {}", path.display());
    }
    say!(
        "{} run(s); submit with {}",
        ids.len(),
        out.join("submit.sh").display()
    );
    Ok(())
}
