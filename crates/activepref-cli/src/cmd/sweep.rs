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
    let (wv, wp) = (
        w(&|r| r.variant.len().max(1), 10),
        w(&|r| r.policy.len(), 6),
    );
    let mut lines = vec![format!(
        "{}: {}, {}",
        experiment.display(),
        activepref_core::error::counted(sweep.variants.len(), "grid point", "grid points"),
        activepref_core::error::counted(plan.len(), "run", "runs")
    )];
    lines.push(format!(
        "{:<12}  {:<wv$}  {:<wp$}  {:>6}  results",
        "id", "grid point", "policy", "seed"
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

/// The `#SBATCH` lines of where a job runs and who pays: the partition and the account, shared
/// by the array and the merge job (a cluster that requires an account, or refuses its default
/// partition, would otherwise reject the report step after the whole array ran).
fn sbatch_placement(r: &SlurmResources) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(p) = &r.partition {
        lines.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(a) = &r.account {
        lines.push(format!("#SBATCH --account={a}"));
    }
    lines
}

/// The merge job's time limit: an hour, or the array's limit where that is shorter (a partition
/// whose limit is under an hour would hold the job, or refuse it, on an hour).
fn merge_time_limit(array: &str) -> String {
    match super::slurm_resources::time_limit_secs(array) {
        Some(secs) if secs < 3_600 => array.to_string(),
        _ => "01:00:00".to_string(),
    }
}

/// The `#SBATCH` lines of an array task's resources.
fn sbatch_head(r: &SlurmResources) -> String {
    let mut head = vec![
        format!("#SBATCH --cpus-per-task={}", r.cpus_per_task),
        format!("#SBATCH --mem={}", r.mem),
        format!("#SBATCH --time={}", r.time),
    ];
    head.extend(sbatch_placement(r));
    if let Some(g) = r.gpus {
        head.push(format!("#SBATCH --gres=gpu:{g}"));
    }
    // An entry written with its own `#SBATCH ` keeps one.
    head.extend(r.extra.iter().map(|x| {
        let option = x
            .strip_prefix("#SBATCH")
            .map_or(x.as_str(), str::trim_start);
        format!("#SBATCH {option}")
    }));
    head.join("\n")
}

/// The second line of each script `sweep slurm` writes: how a file of `out` is known as its own,
/// to be rewritten, while a user's file of the same name is never touched.
const SCRIPT_MARKS: [(&str, &str); 3] = [
    ("array.sbatch", "# One array task per run id of "),
    ("merge.sbatch", "# The merge step: every variant's report"),
    ("submit.sh", "# Submits the run array, then the report"),
];

/// A path as one shell word (`'/a b/c'`; unchanged when it needs no quotes).
///
/// # Errors
/// A path that is not UTF-8 or holds a control character, which no script line can carry.
fn shell_word(path: &Path) -> anyhow::Result<String> {
    if path.to_string_lossy().chars().any(char::is_control) {
        return Err(anyhow!(
            "{:?}: the path holds a control character (a newline would end a script's line); rename it",
            path.display().to_string()
        ));
    }
    let text = path.to_str().ok_or_else(|| {
        anyhow!(
            "{}: the path is not UTF-8, which a SLURM script cannot name",
            path.display()
        )
    })?;
    shlex::try_quote(text)
        .map(|q| q.into_owned())
        .map_err(|_| anyhow!("{}: the path holds a NUL byte", path.display()))
}

/// The log directory as `#SBATCH --output` takes it: sbatch reads the line without a shell, so
/// whitespace and quotes cannot be quoted there, and `%` starts one of its filename patterns.
///
/// # Errors
/// A path with such a character, naming it.
fn sbatch_dir(logs: &Path) -> anyhow::Result<String> {
    let text = logs.to_string_lossy();
    match text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "%'\"\\".contains(*c))
    {
        Some(c) => Err(anyhow!(
            "{}: the log directory's path holds {c:?}, which an #SBATCH --output line cannot carry; choose an --out whose absolute path has no whitespace, quotes, backslash or %",
            logs.display()
        )),
        None => Ok(text.into_owned()),
    }
}

/// The files `sweep slurm` writes: (file name, contents, executable).
///
/// # Errors
/// A path no script can name ([`shell_word`], [`sbatch_dir`]).
pub fn slurm_files(
    p: &SlurmPaths<'_>,
    name: &str,
    ids: &[String],
    r: &SlurmResources,
) -> anyhow::Result<Vec<(String, String, bool)>> {
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
        exp = shell_word(experiment)?,
        last = ids.len().saturating_sub(1),
        logs = sbatch_dir(&out.join("logs"))?,
        head = sbatch_head(r),
        workdir = shell_word(workdir)?,
        runs = shell_word(&out.join("runs.txt"))?,
        bin = shell_word(binary)?,
    );
    let merge = format!(
        "#!/usr/bin/env bash
# The merge step: every variant's report, once the array is done.
#SBATCH --job-name={name}-report
#SBATCH --output={logs}/%j-report.out
#SBATCH --cpus-per-task=1
#SBATCH --mem=4G
#SBATCH --time={merge_time}
{placement}set -euo pipefail
cd {workdir}
exec {bin} report {root}
",
        merge_time = merge_time_limit(&r.time),
        placement = sbatch_placement(r)
            .iter()
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
        logs = sbatch_dir(&out.join("logs"))?,
        workdir = shell_word(workdir)?,
        bin = shell_word(binary)?,
        root = shell_word(results_root)?,
    );
    let submit = format!(
        "#!/usr/bin/env bash
# Submits the run array, then the report once every task has ended.
set -euo pipefail
cd \"$(dirname \"$0\")\"
mkdir -p logs
array=$(sbatch --parsable array.sbatch)
merge=$(sbatch --parsable --dependency=afterany:${{array}} merge.sbatch)
echo \"submitted {n} as array job ${{array}}; report job ${{merge}}\"
",
        n = activepref_core::error::counted(ids.len(), "run", "runs")
    );
    Ok(vec![
        (
            "runs.txt".into(),
            ids.iter().map(|id| format!("{id}\n")).collect(),
            false,
        ),
        ("array.sbatch".into(), array, false),
        ("merge.sbatch".into(), merge, false),
        ("submit.sh".into(), submit, true),
    ])
}

/// Refuses to write `path` unless it is absent or a file `sweep slurm` wrote (a script with its
/// mark, a `runs.txt` of run ids): a user's file of the same name, a symbolic link or a
/// directory there is never replaced.
///
/// # Errors
/// The path holds something else, naming it and how to go on.
fn check_ours(path: &Path, name: &str) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let refuse = |what: &str| {
        Err(anyhow!(
            "{}: is {what} that sweep slurm did not write, and it replaces only its own files; choose another --out, or move it away",
            path.display()
        ))
    };
    if meta.file_type().is_symlink() {
        return refuse("a symbolic link");
    }
    if !meta.is_file() {
        return refuse("a directory or a special file");
    }
    // A file that cannot be read as text, or an empty one, is not known to be ours.
    let text = std::fs::read_to_string(path).unwrap_or_default();
    if text.is_empty() {
        return refuse("a file");
    }
    let ours = match SCRIPT_MARKS.iter().find(|(n, _)| *n == name) {
        Some((_, mark)) => text.lines().nth(1).is_some_and(|l| l.starts_with(mark)),
        None => text
            .lines()
            .all(|l| l.len() == 12 && l.bytes().all(|b| b.is_ascii_hexdigit())),
    };
    if ours { Ok(()) } else { refuse("a file") }
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
    let out = abs(out);
    let experiment = abs(experiment);
    let paths = SlurmPaths {
        experiment: &experiment,
        binary: &binary,
        workdir: &workdir,
        out: &out,
        results_root: &root,
    };
    let files = slurm_files(&paths, &base.common.name, &ids, &r)?;
    for (name, _, _) in &files {
        check_ours(&out.join(name), name)?;
    }
    std::fs::create_dir_all(out.join("logs"))
        .map_err(|e| anyhow!("{}: cannot create ({e})", out.display()))?;
    for (name, text, exec) in files {
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
        "{}; submit with {}",
        activepref_core::error::counted(ids.len(), "run", "runs"),
        out.join("submit.sh").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_merge_job_takes_an_hour_or_the_arrays_shorter_limit() {
        for (array, merge) in [
            ("02:00:00", "01:00:00"),
            ("1-00:00:00", "01:00:00"),
            ("30:00", "30:00"),
            ("45", "45"),
            ("infinite", "01:00:00"),
        ] {
            assert_eq!(super::merge_time_limit(array), merge, "{array}");
        }
    }
}
