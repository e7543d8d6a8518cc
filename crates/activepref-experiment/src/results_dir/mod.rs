//! The results directory as a thing activepref owns: what made it, what `--fresh` may delete,
//! and which run files can be trusted.
//!
//! - `activepref-results.json` (the *marker*) records the experiment, sweep grid point and
//!   benchmark that made the directory. A directory without it is foreign (unless it is an empty
//!   directory, or a results directory from before markers, recognised by its
//!   `config.resolved.yaml`): activepref neither writes into it nor deletes anything in it.
//! - `--fresh` deletes only what activepref writes: the marker, `config.resolved.yaml`, and
//!   activepref's files in `runs/`, `report/`, `cache/` and `partial/{runs,report}/` (the partial
//!   report's; then those folders if they are left empty, and the directory itself if nothing
//!   else is left). Anything else survives. It never
//!   touches the working directory or one of its parents, a directory that holds the experiment
//!   file, or a git work tree.
//! - Every finished run records, beside its run id, the length and FNV-1a hash of its run file
//!   (`runs/<stem>.run-id`, second line). A run file that does not match (truncated or edited on
//!   disk) is not a finished run: `run` redoes it and `report` leaves it out and says so. Where
//!   the marker says every run wrote its id file ([`ResultsMarker::sealed_runs`]), a run file or
//!   checkpoint without one is not vouched for either: `run` refuses it unless `--rerun`, and
//!   `report` leaves it out.
//! - Temporary files (`*.partial`) that a killed process left behind are removed on the next run
//!   once nothing has written to them for [`STALE_PARTIAL`].

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use activepref_core::error::first_few;
use serde::{Deserialize, Serialize};

use crate::runner::{RunError, RunOptions};
use crate::{BenchmarkSpec, Experiment, ExperimentConfig};

mod seals;
pub use seals::{ReportableRuns, RunFileState, reportable_runs, run_file_state};
pub(crate) use seals::{recorded_id_and_seal, run_file_seal};

/// The marker file of a results directory.
pub const MARKER: &str = "activepref-results.json";
/// The file a sweep's results root keeps: its grids and grid points in the experiment file's order.
pub const SWEEP_MANIFEST: &str = "activepref-sweep.json";
/// A `*.partial` file untouched this long belongs to a process that died (a live writer touches
/// its temporary file at every buffered write, and renames it as soon as it is complete).
pub const STALE_PARTIAL: Duration = Duration::from_secs(600);
/// A `*.partial` file written on this machine by a process that no longer runs is stale once
/// untouched this long (another machine's temporaries wait for [`STALE_PARTIAL`]: its processes
/// cannot be seen from here, and a shared file system's clocks and caches may lag).
pub const DEAD_WRITER_GRACE: Duration = Duration::from_secs(5);

/// What made a results directory (`activepref-results.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultsMarker {
    /// Always `activepref`.
    pub made_by: String,
    /// The activepref version that last ran in it.
    pub version: String,
    /// The experiment's `name`.
    pub experiment: String,
    /// The sweep grid point (`<grid>/<point>`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `benchmark.kind`.
    pub benchmark: String,
    /// [`Experiment::benchmark_id`].
    pub benchmark_id: String,
    /// Every run in the directory recorded its run id when it started (`runs/<stem>.run-id`), so
    /// a run file or checkpoint without one is not vouched for: `run` refuses it unless
    /// `--rerun` (which redoes it) and `report` leaves it out. `run` sets it when it writes the
    /// marker if the previous marker had it or no run file there lacked its id file; so it is
    /// false (and absent from the file) only while a directory holds runs from before run ids
    /// (2026-11-23). An older binary rewrites the marker without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed_runs: bool,
}

impl ResultsMarker {
    /// The marker `exp` writes.
    pub fn of(exp: &Experiment) -> Self {
        Self {
            made_by: "activepref".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            experiment: exp.common.name.clone(),
            variant: exp.common.variant.clone(),
            benchmark: exp.benchmark_kind().into(),
            benchmark_id: exp.benchmark_id(),
            sealed_runs: false,
        }
    }

    /// Whether the marker of `dir` (if any) says that every run there recorded its run id.
    ///
    /// # Errors
    /// As [`ResultsMarker::read`].
    pub fn is_sealed(dir: &Path) -> Result<bool, RunError> {
        Ok(Self::read(dir)?.is_some_and(|m| m.sealed_runs))
    }

    /// The marker of `dir`, if it has one.
    ///
    /// # Errors
    /// The marker exists but cannot be read or parsed.
    pub fn read(dir: &Path) -> Result<Option<Self>, RunError> {
        let path = dir.join(MARKER);
        match fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| RunError::UnreadableMarker {
                        path: path.clone(),
                        why: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(RunError::Io {
                action: "read",
                path,
                error,
            }),
        }
    }
}

/// What a results directory is, as far as activepref can tell.
#[derive(Debug, PartialEq)]
pub(crate) enum DirKind {
    /// Does not exist yet, or exists and holds nothing.
    New,
    /// activepref's: with a marker, from before markers (a `config.resolved.yaml`), or being
    /// created by another process right now.
    Ours,
    /// Holds files activepref did not write; the entry names a few of them.
    Foreign(String),
}

/// The directory `out` names: `.` for the empty path, which every file operation reads as the
/// working directory but `Path::exists` and `fs::canonicalize` do not.
fn named_dir(out: &Path) -> &Path {
    if out.as_os_str().is_empty() {
        Path::new(".")
    } else {
        out
    }
}

fn classify(out: &Path) -> Result<DirKind, RunError> {
    let out = named_dir(out);
    if !out.exists() {
        return Ok(DirKind::New);
    }
    if !out.is_dir() {
        return Ok(DirKind::Foreign("it is a file, not a directory".into()));
    }
    if ResultsMarker::read(out)?.is_some() {
        return Ok(DirKind::Ours);
    }
    if out.join("config.resolved.yaml").is_file() {
        return Ok(DirKind::Ours);
    }
    let names = entries(out)?;
    if names.is_empty() {
        return Ok(DirKind::New);
    }
    // Another process (an array task of the same grid point) is creating it right now: all it
    // holds is the temporary file of the marker that process is writing (the marker comes first).
    if names
        .iter()
        .all(|n| n.starts_with(MARKER) && activepref_core::io::partial_writer(n).is_some())
    {
        return Ok(DirKind::Ours);
    }
    let shown: Vec<String> = names.iter().take(3).cloned().collect();
    let more = if names.len() > 3 { ", ..." } else { "" };
    Ok(DirKind::Foreign(format!(
        "it holds files activepref did not write ({}{more}) and no {MARKER}",
        shown.join(", ")
    )))
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Result<Vec<String>, RunError> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|error| RunError::Io {
            action: "list",
            path: dir.to_path_buf(),
            error,
        })?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

/// The files of `report/` (besides `curve-<column>.csv`).
const REPORT_FILES: [&str; 16] = [
    "curves.png",
    "curves.svg",
    "batches.png",
    "batches.svg",
    "summary.md",
    "summary.tex",
    "summary.csv",
    "prefix.png",
    "prefix.svg",
    "prefix.md",
    "prefix.tex",
    "results.parquet",
    "stopping.md",
    "cost.md",
    "cost.png",
    "cost.svg",
];

/// The `curve-<column>.csv` files the report writes: every metric and batch diagnostic column.
fn is_curve_file(name: &str) -> bool {
    const DIAGNOSTICS: [&str; 4] = [
        "batch_unique_prompts",
        "labelled_unique_prompts",
        "batch_mean_score_gap",
        "batch_mean_latent_gap",
    ];
    name.strip_prefix("curve-")
        .and_then(|n| n.strip_suffix(".csv"))
        .is_some_and(|column| {
            DIAGNOSTICS.contains(&column)
                || column.split_once('_').is_some_and(|(split, metric)| {
                    ["test", "ood", "heldout"].contains(&split)
                        && ["log_likelihood", "accuracy", "brier"].contains(&metric)
                })
        })
}

/// True for a file activepref writes in the folder `folder` (`""`: the top) of the results
/// directory `out`: exact names, or the temporary file of one (`<name>.<host>-<pid>.partial`). A
/// run's files count only when the run's id file (`runs/<stem>.run-id`, written before anything
/// else of the run) is there too, so a user's `foo__seed5.csv` is never taken for a run.
fn is_ours(out: &Path, folder: &str, name: &str) -> bool {
    let name = match activepref_core::io::partial_writer(name) {
        Some((host, pid)) => name
            .strip_suffix(format!(".{host}-{pid}.partial").as_str())
            .unwrap_or(name),
        None => name,
    };
    match folder {
        "" => name == MARKER || name == "config.resolved.yaml",
        // `<label>__seed<seed>.<extension>`, the extension one that a run writes.
        "runs" => run_file_name(name).is_some_and(|(stem, ext)| {
            crate::runner::RUN_FILE_EXTENSIONS.contains(&ext)
                && out.join("runs").join(format!("{stem}.run-id")).is_file()
        }),
        // The BAL-PM kNN index's cache files, by their exact name
        // (`knn-index-<16 hex digits>-<rows>x<dim>-k<k>.bin`).
        "cache" => activepref_acquire::IndexKey::from_file_name(name).is_some(),
        "report" | "partial/report" => REPORT_FILES.contains(&name) || is_curve_file(name),
        // `activepref report --partial`'s copies of the runs' rows so far, by run.
        // (A copy outlives its run's id file after `--rerun`; the folder is activepref's alone.)
        "partial/runs" => run_file_name(name).is_some_and(|(_, ext)| ext == "csv"),
        _ => false,
    }
}

/// `<label>__seed<seed>.<extension>` split into its stem (`<label>__seed<seed>`, the label not
/// empty, the seed digits) and its extension (`csv`, `timings.csv`, ...); None for another name.
fn run_file_name(name: &str) -> Option<(&str, &str)> {
    let (label, rest) = name.rsplit_once("__seed")?;
    let (seed, ext) = rest.split_once('.')?;
    if label.is_empty() || seed.is_empty() || !seed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&name[..label.len() + "__seed".len() + seed.len()], ext))
}

/// Removes what activepref wrote in `out` (see the module docs), and `out` itself when nothing
/// else is left.
fn clear_ours(out: &Path) -> Result<(), RunError> {
    let remove = |path: PathBuf, dir: bool| -> Result<(), RunError> {
        let r = if dir {
            fs::remove_dir(&path)
        } else {
            fs::remove_file(&path)
        };
        r.map_err(|error| RunError::Io {
            action: "remove",
            path,
            error,
        })
    };
    // The partial report's folders before `partial/` itself, so that it is removed once they
    // leave it empty.
    for folder in [
        "partial/runs",
        "partial/report",
        "partial",
        "runs",
        "report",
        "cache",
    ] {
        let dir = out.join(folder);
        // A folder only, never a link to one: what it points at is not the results directory.
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        // Decided before anything goes: a run's id file vouches for its other files.
        let ours: Vec<String> = entries(&dir)?
            .into_iter()
            .filter(|name| is_ours(out, folder, name) && dir.join(name).is_file())
            .collect();
        for name in ours {
            remove(dir.join(&name), false)?;
        }
        if entries(&dir)?.is_empty() {
            remove(dir, true)?;
        }
    }
    for name in entries(out)? {
        if is_ours(out, "", &name) && out.join(&name).is_file() {
            remove(out.join(name), false)?;
        }
    }
    if entries(out)?.is_empty() {
        remove(out.to_path_buf(), true)?;
    }
    Ok(())
}

/// Refuses `--fresh` on a directory whose deletion could cost the user more than results: the
/// working directory or a parent of it, a directory holding the experiment file, a git work tree.
fn guard_fresh(out: &Path, experiment: Option<&Path>) -> Result<(), RunError> {
    let refuse = |why: String| {
        Err(RunError::UnsafeFresh {
            out: out.to_path_buf(),
            why,
        })
    };
    let Ok(abs) = fs::canonicalize(named_dir(out)) else {
        return Ok(());
    };
    if let Ok(cwd) = std::env::current_dir().and_then(fs::canonicalize)
        && cwd.starts_with(&abs)
    {
        return refuse("it is the working directory or one of its parents".into());
    }
    if let Some(exp) = experiment
        && let Ok(exp) = fs::canonicalize(exp)
        && exp.starts_with(&abs)
    {
        return refuse(format!("it holds the experiment file {}", exp.display()));
    }
    if abs.join(".git").exists() {
        return refuse("it is a git work tree".into());
    }
    Ok(())
}

/// True when the temporary file `name` was written on this machine by a process that no longer
/// runs (Linux's `/proc`; elsewhere, and for another machine's files, nothing is known).
fn writer_gone(name: &str) -> bool {
    activepref_core::io::partial_writer(name).is_some_and(|(host, pid)| {
        host == activepref_core::io::host_tag()
            && pid != std::process::id()
            && Path::new("/proc/self").exists()
            && !Path::new("/proc").join(pid.to_string()).exists()
    })
}

/// Removes the `*.partial` files under `out` (and its `runs/`, `report/`, `cache/`) that a dead
/// process left: untouched for `older_than`, or for [`DEAD_WRITER_GRACE`] when they were written
/// on this machine by a process that no longer runs. Returns how many.
pub fn remove_stale_partials(out: &Path, older_than: Duration) -> usize {
    let now = SystemTime::now();
    let mut removed = 0;
    for dir in [
        out.to_path_buf(),
        out.join("runs"),
        out.join("report"),
        out.join("cache"),
        out.join("partial/runs"),
        out.join("partial/report"),
    ] {
        let Ok(it) = fs::read_dir(&dir) else { continue };
        for e in it.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".partial") {
                continue;
            }
            let Ok(age) = e
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default())
            else {
                continue;
            };
            let stale = age >= older_than || (age >= DEAD_WRITER_GRACE && writer_gone(&name));
            if stale && fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

/// Gets `out` ready for `cfg`'s runs: refuses what [`check`] refuses, applies `--fresh` (only
/// to what activepref wrote), removes stale temporaries and writes the marker.
///
/// # Errors
/// As [`check`], or an I/O error naming the path.
pub(crate) fn prepare(out: &Path, exp: &Experiment, opts: &RunOptions) -> Result<(), RunError> {
    // Read before `--fresh` removes the marker: a seal, once recorded, stays (a run file of a
    // sealed directory whose id file went is kept by `--fresh`, which deletes only runs with ids).
    let was_sealed = ResultsMarker::is_sealed(out)?;
    if check(out, exp, opts)? == DirKind::Ours && opts.fresh {
        clear_ours(out)?;
    }
    // The marker first, so that another task starting at the same moment sees activepref's
    // directory.
    fs::create_dir_all(out).map_err(|error| RunError::Io {
        action: "create",
        path: out.to_path_buf(),
        error,
    })?;
    let marker = ResultsMarker {
        sealed_runs: was_sealed || !has_runs_without_ids(&out.join("runs")),
        ..ResultsMarker::of(exp)
    };
    let marker = serde_json::to_string_pretty(&marker).expect("a marker serialises");
    crate::runner::write_file(&out.join(MARKER), format!("{marker}\n").as_bytes())?;
    let runs = out.join("runs");
    fs::create_dir_all(&runs).map_err(|error| RunError::Io {
        action: "create",
        path: runs,
        error,
    })?;
    remove_stale_partials(out, STALE_PARTIAL);
    Ok(())
}

/// Whether `runs_dir` holds a run (its run file or checkpoint) without its `<stem>.run-id`: runs
/// from before run ids (or a deleted id file). False when the folder does not exist; true when
/// it cannot be listed (so that a directory is never sealed on a listing that was not seen).
fn has_runs_without_ids(runs_dir: &Path) -> bool {
    let listing = match fs::read_dir(runs_dir) {
        Ok(listing) => listing,
        Err(e) => return e.kind() != std::io::ErrorKind::NotFound,
    };
    listing.into_iter().any(|e| {
        let Ok(e) = e else {
            return true;
        };
        let name = e.file_name().to_string_lossy().into_owned();
        run_file_name(&name).is_some_and(|(stem, ext)| {
            (ext == "csv" || ext == "state.json")
                && !runs_dir.join(format!("{stem}.run-id")).is_file()
        })
    })
}

/// Every refusal of `out` for `exp`'s runs, reading only: `run` checks it before building the
/// benchmark (which may take minutes), and [`prepare`] again before it writes.
///
/// # Errors
/// [`RunError::Foreign`], [`RunError::OtherBenchmark`], [`RunError::UnsafeFresh`], the output
/// directory's own check, or an I/O error naming the path.
pub(crate) fn check(out: &Path, exp: &Experiment, opts: &RunOptions) -> Result<DirKind, RunError> {
    exp.check_output_dir()?;
    let kind = classify(out)?;
    if let DirKind::Foreign(why) = &kind {
        return Err(RunError::Foreign {
            out: out.to_path_buf(),
            why: why.clone(),
        });
    }
    if opts.fresh {
        if matches!(kind, DirKind::Ours) {
            guard_fresh(out, opts.experiment_file.as_deref())?;
        }
    } else if matches!(kind, DirKind::Ours) {
        // The benchmark the directory's runs were made on, from its resolved configuration
        // (parsed, so a default added by a later version does not count as a change).
        let resolved = out.join("config.resolved.yaml");
        if let Some(was) = fs::read_to_string(&resolved)
            .ok()
            .and_then(|t| ExperimentConfig::parse_unchecked(&t, &resolved).ok())
            && was.benchmark != exp.setting.benchmark_spec()
        {
            return Err(RunError::OtherBenchmark {
                out: out.to_path_buf(),
                experiment: was.name.clone(),
                differences: benchmark_differences(&was.benchmark, &exp.setting.benchmark_spec()),
            });
        }
    }
    Ok(kind)
}

/// `pool_prompts 120 → 130, seed 0 → 1`: the keys of the `benchmark:` sections that differ.
fn benchmark_differences(was: &BenchmarkSpec, now: &BenchmarkSpec) -> String {
    value_differences(
        &serde_json::to_value(was).unwrap_or_default(),
        &serde_json::to_value(now).unwrap_or_default(),
    )
}

/// The keys of two sections that differ, `key was → now` (`unset` for a missing key): only the
/// `kind` where that differs (the other keys of two kinds say nothing), else at most
/// [`DIFFERENCES_SHOWN`] of them and how many more.
fn value_differences(a: &serde_json::Value, b: &serde_json::Value) -> String {
    let empty = serde_json::Map::new();
    let (ma, mb) = (
        a.as_object().unwrap_or(&empty),
        b.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = ma.keys().chain(mb.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&serde_json::Value>| v.map_or("unset".to_string(), |v| v.to_string());
    let differs: Vec<&String> = keys
        .into_iter()
        .filter(|k| ma.get(*k) != mb.get(*k))
        .collect();
    let say = |k: &str| format!("{k} {} → {}", show(ma.get(k)), show(mb.get(k)));
    if differs.iter().any(|k| *k == "kind") {
        return say("kind");
    }
    if differs.is_empty() {
        return "the benchmark section differs".into();
    }
    let said: Vec<String> = differs.iter().map(|k| say(k)).collect();
    first_few(&said, DIFFERENCES_SHOWN)
}

/// At most this many differing keys are named in one error line.
const DIFFERENCES_SHOWN: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("activepref-rd-{name}-"))
            .tempdir()
            .unwrap()
    }

    /// Another kind of benchmark is said alone; many differences are cut to four and a count.
    #[test]
    fn benchmark_differences_name_the_kind_or_a_few_keys() {
        use serde_json::json;
        let synthetic = json!({ "kind": "synthetic", "seed": 1, "pool_prompts": 120 });
        let comparisons = json!({ "kind": "comparisons", "path": "a.jsonl", "format": "hh-rlhf" });
        assert_eq!(
            value_differences(&comparisons, &synthetic),
            r#"kind "comparisons" → "synthetic""#
        );
        let more =
            json!({ "kind": "synthetic", "seed": 2, "pool_prompts": 130, "a": 1, "b": 2, "c": 3 });
        assert_eq!(
            value_differences(&synthetic, &more),
            "a unset → 1, b unset → 2, c unset → 3, pool_prompts 120 → 130, and 1 more"
        );
        assert_eq!(
            value_differences(&synthetic, &synthetic),
            "the benchmark section differs"
        );
    }

    #[test]
    fn fresh_never_clears_the_working_directory_or_a_parent() {
        let e = guard_fresh(Path::new("."), None).unwrap_err().to_string();
        assert!(
            e.contains("the working directory or one of its parents"),
            "{e}"
        );
        // The empty path is the working directory too (an `output_dir: ""`).
        let e = guard_fresh(Path::new(""), None).unwrap_err().to_string();
        assert!(
            e.contains("the working directory or one of its parents"),
            "{e}"
        );
        assert!(matches!(classify(Path::new("")), Ok(DirKind::Foreign(_))));
        let e = guard_fresh(Path::new(".."), None).unwrap_err().to_string();
        assert!(
            e.contains("the working directory or one of its parents"),
            "{e}"
        );
        // A directory that does not exist has nothing to lose.
        assert!(guard_fresh(Path::new("/nonexistent/activepref"), None).is_ok());
    }

    #[test]
    fn stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept() {
        let tmp = scratch("partials");
        let dir = tmp.path();
        fs::create_dir_all(dir.join("runs")).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3_600);
        let touch = |name: &str, at: SystemTime| {
            let path = dir.join(name);
            fs::write(&path, "half").unwrap();
            fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(at)
                .unwrap();
        };
        let host = activepref_core::io::host_tag();
        let me = std::process::id();
        // Untouched for an hour: stale whoever wrote it.
        touch("runs/a__seed1.csv.elsewhere-123.partial", old);
        // Ours, just written: a live writer's temporary.
        touch(
            &format!("config.resolved.yaml.{host}-{me}.partial"),
            SystemTime::now(),
        );
        // This machine, a process id that cannot exist, a minute old: its writer is gone.
        touch(
            &format!("curves.png.{host}-4294967295.partial"),
            SystemTime::now() - Duration::from_secs(60),
        );
        // The same from another machine: kept until STALE_PARTIAL (its processes are not visible).
        touch(
            "summary.md.othernode-4294967295.partial",
            SystemTime::now() - Duration::from_secs(60),
        );
        assert_eq!(remove_stale_partials(dir, STALE_PARTIAL), 2);
        let mut left = entries(dir).unwrap();
        left.retain(|n| n.ends_with(".partial"));
        assert_eq!(
            left,
            [
                format!("config.resolved.yaml.{host}-{me}.partial"),
                "summary.md.othernode-4294967295.partial".to_string()
            ]
        );
        // Only activepref's own names are its files; a run's files only beside its id file.
        for stem in ["balpm-b0.01__seed1", "balpm__seed1"] {
            fs::write(dir.join(format!("runs/{stem}.run-id")), "id\n").unwrap();
        }
        for (folder, name, ours) in [
            ("runs", "balpm-b0.01__seed1.csv", true),
            ("runs", "balpm__seed1.state.json", true),
            ("runs", &format!("balpm__seed1.csv.{host}-7.partial"), true),
            ("runs", "balpm__seed1.csv.bak", false),
            ("runs", "balpm__seed99.csv", false),
            ("runs", "foo__seed5.csv", false),
            ("runs", "notes__seedling.md", false),
            ("report", "summary.md", true),
            ("report", "summary.docx", false),
            ("report", "stopping.md", true),
            ("report", "cost.svg", true),
            ("report", "cost.pdf", false),
            ("report", "curve-test_accuracy.csv", true),
            ("report", "curve-batch_unique_prompts.csv", true),
            ("report", "curve-mystuff.csv", false),
            ("runs", "balpm__seed1.partial.csv", true),
            ("partial/runs", "balpm__seed1.csv", true),
            ("partial/runs", "balpm__seed99.csv", true),
            ("partial/runs", "notes.csv", false),
            ("partial/runs", "balpm__seed1.state.json", false),
            ("partial/report", "summary.md", true),
            ("partial/report", "notes.md", false),
            ("partial", "notes.md", false),
            (
                "cache",
                "knn-index-41bc94b65c9bd77d-18547x4096-k64.bin",
                true,
            ),
            (
                "cache",
                &format!("knn-index-41bc94b65c9bd77d-8x4-k64.bin.{host}-7.partial"),
                true,
            ),
            ("cache", "knn-index-mine.bin", false),
            (
                "cache",
                "knn-index-41BC94B65C9BD77D-18547x4096-k64.bin",
                false,
            ),
            (
                "cache",
                "knn-index-41bc94b65c9bd77d-18547x4096-k64.bin.old",
                false,
            ),
            ("", MARKER, true),
            ("", "notes.txt.partial", false),
        ] {
            assert_eq!(is_ours(dir, folder, name), ours, "{folder}/{name}");
        }
    }

    #[test]
    fn run_files_from_before_seals_are_checked_by_their_rows() {
        let tmp = scratch("legacy");
        let dir = tmp.path();
        let csv = "policy,seed,round\nr,1,0\nr,1,1\n";
        fs::write(dir.join("r__seed1.csv"), csv).unwrap();
        fs::write(dir.join("r__seed1.run-id"), "abc\n").unwrap();
        assert_eq!(
            run_file_state(dir, "r__seed1", (Some("abc"), Some(2)), false),
            RunFileState::Finished
        );
        assert_eq!(
            run_file_state(dir, "r__seed1", (None, None), false),
            RunFileState::Finished
        );
        assert_eq!(
            run_file_state(dir, "r__seed1", (Some("abd"), Some(2)), false),
            RunFileState::OtherConfig
        );
        assert!(matches!(
            run_file_state(dir, "r__seed1", (None, Some(3)), false),
            RunFileState::Damaged(w) if w.contains("2 complete rows, not 3")
        ));
        fs::write(dir.join("r__seed1.csv"), &csv[..csv.len() - 3]).unwrap();
        assert!(matches!(
            run_file_state(dir, "r__seed1", (None, None), false),
            RunFileState::Damaged(_)
        ));
        assert_eq!(
            run_file_state(dir, "r__seed2", (None, None), false),
            RunFileState::NotFinished
        );
        // With a seal, one changed byte is enough.
        fs::write(dir.join("r__seed1.csv"), csv).unwrap();
        fs::write(
            dir.join("r__seed1.run-id"),
            format!("abc\n{}\n", run_file_seal(csv.as_bytes())),
        )
        .unwrap();
        assert_eq!(
            run_file_state(dir, "r__seed1", (Some("abc"), None), false),
            RunFileState::Finished
        );
        fs::write(dir.join("r__seed1.csv"), csv.replace("r,1,1", "r,1,2")).unwrap();
        assert!(matches!(
            run_file_state(dir, "r__seed1", (Some("abc"), None), false),
            RunFileState::Damaged(_)
        ));
        // Without its id file: a run from before run ids, unless the marker says every run
        // here recorded one (then the id file was deleted and nothing vouches for the run).
        fs::write(dir.join("r__seed1.csv"), csv).unwrap();
        fs::remove_file(dir.join("r__seed1.run-id")).unwrap();
        assert_eq!(
            run_file_state(dir, "r__seed1", (None, Some(2)), false),
            RunFileState::Finished
        );
        assert!(matches!(
            run_file_state(dir, "r__seed1", (None, Some(2)), true),
            RunFileState::Damaged(w) if w == "its r__seed1.run-id is missing (deleted?), so nothing vouches for its run file"
        ));
        // An unfinished run's checkpoint alike.
        fs::remove_file(dir.join("r__seed1.csv")).unwrap();
        fs::write(dir.join("r__seed1.state.json"), "{}").unwrap();
        assert_eq!(
            run_file_state(dir, "r__seed1", (None, Some(2)), false),
            RunFileState::NotFinished
        );
        assert!(matches!(
            run_file_state(dir, "r__seed1", (None, Some(2)), true),
            RunFileState::Damaged(w) if w.starts_with("its checkpoint has no r__seed1.run-id")
        ));
    }

    #[test]
    fn runs_without_id_files_are_found_by_their_stems() {
        let tmp = scratch("ids");
        let dir = tmp.path();
        assert!(!has_runs_without_ids(&dir.join("nothing-here")));
        for name in [
            "balpm-b0.01__seed1.csv",
            "balpm-b0.01__seed1.run-id",
            "balpm-b0.01__seed1.timings.csv",
            "random__seed2.prefix.csv",
            "notes.csv",
            "x__seedling.state.json",
        ] {
            fs::write(dir.join(name), "").unwrap();
        }
        assert!(!has_runs_without_ids(dir));
        fs::write(dir.join("random__seed2.state.json"), "{}").unwrap();
        assert!(has_runs_without_ids(dir));
        fs::write(dir.join("random__seed2.run-id"), "id\n").unwrap();
        assert!(!has_runs_without_ids(dir));
        fs::remove_file(dir.join("balpm-b0.01__seed1.run-id")).unwrap();
        assert!(has_runs_without_ids(dir));
    }
}
