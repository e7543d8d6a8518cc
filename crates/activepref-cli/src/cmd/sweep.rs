//! `activepref sweep plan` (every run of a file and its id) and `sweep slurm` (a job array).

use std::path::{Path, PathBuf};

use activepref_experiment::{PlannedRun, Sweep};
use anyhow::anyhow;

use super::slurm_resources::{SlurmFlags, SlurmResources};
use crate::say;

/// The arguments of `activepref sweep plan`.
#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// The experiment file.
    pub experiment: PathBuf,
    /// Print the plan as one JSON object (a failure as {"ok": false, "error": ...}).
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `activepref sweep slurm`.
#[derive(clap::Args, Debug)]
pub struct SlurmArgs {
    /// The experiment file.
    pub experiment: PathBuf,
    /// Where the scripts go.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub flags: SlurmFlags,
}

/// `activepref sweep plan`: every run and its id.
pub fn plan(a: &PlanArgs) -> anyhow::Result<()> {
    let (experiment, json) = (a.experiment.as_path(), a.json);
    let sweep = Sweep::load(experiment)?;
    SlurmResources::of_file(experiment)?;
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
                &serde_json::json!({ "file": experiment.display().to_string(), "ok": true, "runs": runs })
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

/// Where the scripts of `sweep slurm` point (absolute paths).
pub struct SlurmPaths<'a> {
    pub experiment: &'a Path,
    pub binary: &'a Path,
    pub workdir: &'a Path,
    pub out: &'a Path,
    pub results_root: &'a Path,
}

/// The `#SBATCH` lines of an array task's resources.
fn sbatch_head(r: &SlurmResources) -> String {
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
    head.join("\n")
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
        head = sbatch_head(r),
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
pub fn slurm(a: &SlurmArgs) -> anyhow::Result<()> {
    let (experiment, out, flags) = (a.experiment.as_path(), a.out.as_path(), a.flags.clone());
    let sweep = Sweep::load(experiment)?;
    note_absent_data(experiment, &sweep);
    let plan = sweep.plan();
    let r = SlurmResources::of_file(experiment)?.with_flags(&flags, experiment)?;
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let base = sweep
        .variants
        .first()
        .map(|v| &v.config)
        .ok_or_else(|| anyhow!("no variants"))?;
    let root = sweep.results_root();
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
    for (name, text, exec) in slurm_files(&paths, &base.common.name, &ids, &r) {
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
