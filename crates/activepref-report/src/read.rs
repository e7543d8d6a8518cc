//! Reading run files: one [`RunCurves`] per `runs/<policy>__seed<seed>.csv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::ReportError;

/// One run's curves, read from `runs/<policy>__seed<seed>.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunCurves {
    /// The policy label (the file's `policy` column).
    pub policy: String,
    /// The run's seed (the file's `seed` column).
    pub seed: u64,
    /// Labelled-set size per round (the `labels` column; prefix files: the prefix length k).
    pub labels: Vec<usize>,
    /// Metric name → one value per round.
    pub metrics: BTreeMap<String, Vec<f64>>,
    /// Batch diagnostics (`batch_unique_prompts`, `labelled_unique_prompts`) → one value per
    /// round, NaN where the round has none (the last round acquires nothing).
    pub diagnostics: BTreeMap<String, Vec<f64>>,
    /// What stopping rules and the cost report read ([`SIGNALS`]) → one value per round, NaN
    /// where the round has none; a column the run file predates is absent.
    pub signals: BTreeMap<String, Vec<f64>>,
}

/// The run-file columns stopping rules and the cost report (`label_cost`) read: the largest BALD
/// is `pool_max_bald` in a pool run file, `batch_max_bald` in a pair run file.
pub const SIGNALS: [&str; 5] = [
    "validation_loss",
    "pool_max_bald",
    "batch_max_bald",
    "stopping_agreement",
    "label_cost",
];

/// The batch-diagnostic columns of a run file and their titles: distinct prompts for the pool
/// setting (specs/balpm.md §5.4), the acquired pairs' gaps for the pair setting.
pub const DIAGNOSTICS: [(&str, &str); 4] = [
    (
        "batch_unique_prompts",
        "Distinct prompts per acquired batch",
    ),
    (
        "labelled_unique_prompts",
        "Distinct prompts acquired (cumulative)",
    ),
    ("batch_mean_score_gap", "Judge-score gap of acquired pairs"),
    (
        "batch_mean_latent_gap",
        "Latent-reward gap of acquired pairs",
    ),
];

/// Reads every finished run file (`runs/*.csv`, not the timings) of an experiment directory.
///
/// # Errors
/// As [`load_runs_of`].
pub fn load_runs(dir: &Path) -> Result<Vec<RunCurves>, ReportError> {
    load_runs_of(dir, None)
}

/// True when `file` (`<policy>__seed<seed>.csv` or `.prefix.csv`) is one of `only` (or `only` is
/// None). Labels may contain dots, so the whole name is compared.
pub(crate) fn selected(file: &Path, only: Option<&[(String, u64)]>) -> bool {
    let Some(only) = only else { return true };
    let name = file
        .file_name()
        .map_or(String::new(), |n| n.to_string_lossy().into_owned());
    only.iter().any(|(p, s)| {
        let stem = format!("{p}__seed{s}");
        name == format!("{stem}.csv") || name == format!("{stem}.prefix.csv")
    })
}

/// [`load_runs`] restricted to the (policy label, seed) runs in `only` (None: every run file).
///
/// # Errors
/// [`ReportError::NoRunDir`] when `runs/` cannot be listed, [`ReportError::NoRuns`] when no run
/// file is left, or a run file that cannot be read or parsed ([`ReportError::Csv`],
/// [`ReportError::MissingColumn`], [`ReportError::Cell`], [`ReportError::NoRounds`]).
pub fn load_runs_of(
    dir: &Path,
    only: Option<&[(String, u64)]>,
) -> Result<Vec<RunCurves>, ReportError> {
    let runs_dir = dir.join("runs");
    let entries = std::fs::read_dir(&runs_dir).map_err(|error| ReportError::NoRunDir {
        dir: runs_dir.clone(),
        error,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "csv")
                && !p.to_string_lossy().ends_with(".timings.csv")
                && !p.to_string_lossy().ends_with(".prefix.csv")
                && !p
                    .to_string_lossy()
                    .ends_with(&format!(".{}", activepref_experiment::PARTIAL_RUN_FILE))
                && selected(p, only)
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ReportError::NoRuns { dir: runs_dir });
    }
    files.iter().map(|f| read_run(f)).collect()
}

pub(crate) fn read_run(path: &Path) -> Result<RunCurves, ReportError> {
    let err = |row: usize, column: &str, message: String| ReportError::Cell {
        path: path.to_path_buf(),
        row,
        column: column.to_string(),
        message,
    };
    let csv_err = |e: csv::Error| ReportError::Csv {
        path: path.to_path_buf(),
        why: e.to_string(),
    };
    let mut rd = csv::Reader::from_path(path).map_err(csv_err)?;
    let headers = rd.headers().map_err(csv_err)?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| ReportError::MissingColumn {
                path: path.to_path_buf(),
                column: name.to_string(),
            })
    };
    let (pc, sc, lc) = (col("policy")?, col("seed")?, col("labels")?);
    let (metric_cols, diag_cols) = metric_and_diagnostic_columns(&headers);
    let mut run = RunCurves {
        policy: String::new(),
        seed: 0,
        labels: vec![],
        metrics: BTreeMap::new(),
        diagnostics: BTreeMap::new(),
        signals: BTreeMap::new(),
    };
    let signal_cols: Vec<(Option<usize>, &str)> = SIGNALS
        .iter()
        .map(|name| (headers.iter().position(|h| h == *name), *name))
        .collect();
    for (row, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| ReportError::Csv {
            path: path.to_path_buf(),
            why: format!("data row {} (1-based, after the header): {e}", row + 1),
        })?;
        run.policy = rec[pc].to_string();
        run.seed = rec[sc]
            .parse()
            .map_err(|e| err(row + 1, "seed", format!("{e}")))?;
        run.labels.push(
            rec[lc]
                .parse()
                .map_err(|e| err(row + 1, "labels", format!("{e}")))?,
        );
        for (i, name) in &metric_cols {
            let v: f64 = rec[*i]
                .parse()
                .map_err(|e| err(row + 1, name, format!("`{}`: {e}", &rec[*i])))?;
            if v.is_infinite() {
                return Err(err(row + 1, name, format!("{v} is not finite")));
            }
            run.metrics.entry(name.clone()).or_default().push(v);
        }
        for &(i, name) in &diag_cols {
            let v = optional_value(&rec[i]).map_err(|m| err(row + 1, name, m))?;
            run.diagnostics.entry(name.to_string()).or_default().push(v);
        }
        for &(i, name) in &signal_cols {
            // A column the file lacks (written before it existed) stays absent, not NaN.
            let Some(i) = i else { continue };
            let v = optional_value(&rec[i]).map_err(|m| err(row + 1, name, m))?;
            run.signals.entry(name.to_string()).or_default().push(v);
        }
    }
    if run.labels.is_empty() {
        return Err(ReportError::NoRounds {
            path: path.to_path_buf(),
        });
    }
    check_nan_columns(path, &run)?;
    Ok(run)
}

/// A cell that may be empty: NaN (not measured), or the number it holds.
fn optional_value(text: &str) -> Result<f64, String> {
    match text {
        "" => Ok(f64::NAN),
        text => text.parse::<f64>().map_err(|e| format!("`{text}`: {e}")),
    }
}

/// NaN means "not measured" (a benchmark without that split) and must fill the whole column.
fn check_nan_columns(path: &Path, run: &RunCurves) -> Result<(), ReportError> {
    for (name, v) in &run.metrics {
        let nan = v.iter().filter(|x| x.is_nan()).count();
        if nan > 0 && nan < v.len() {
            let row = v.iter().position(|x| x.is_nan()).expect("one NaN") + 1;
            return Err(ReportError::Cell {
                path: path.to_path_buf(),
                row,
                column: name.clone(),
                message: "NaN in a column that has numbers elsewhere".into(),
            });
        }
    }
    Ok(())
}

/// Columns of a CSV file: (index, name).
type Columns<N> = Vec<(usize, N)>;

/// The run file's metric columns (`*log_likelihood`, `*accuracy`, `*brier`) and batch-diagnostic
/// columns, as (column index, name).
fn metric_and_diagnostic_columns(
    headers: &csv::StringRecord,
) -> (Columns<String>, Columns<&'static str>) {
    let metric_cols = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            h.ends_with("log_likelihood") || h.ends_with("accuracy") || h.ends_with("brier")
        })
        .map(|(i, h)| (i, h.to_string()))
        .collect();
    let diag_cols = DIAGNOSTICS
        .iter()
        .filter_map(|(name, _)| headers.iter().position(|h| h == *name).map(|i| (i, *name)))
        .collect();
    (metric_cols, diag_cols)
}
