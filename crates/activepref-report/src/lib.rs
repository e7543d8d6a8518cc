//! # activepref-report
//!
//! Owns the **report** arrow: from the per-run result files of an experiment to what goes into a
//! paper: smoothed learning curves with mean ± standard error across seeds ([`aggregate`]), the
//! label-efficiency table ([`label_efficiency`]), plots as PNG and SVG ([`plot_curves`]) and
//! `summary.md` ([`write_report`]); for the pair setting, the prefix evaluation against the static
//! baselines ([`write_prefix_report`]). It reads result files only, so a report can be remade at any
//! time without rerunning anything.
//!
//! Conventions (specs/balpm.md §5.2–5.3):
//! - each run's curve is smoothed with a trailing mean of `window` points (`min_periods = 1`)
//!   *before* seeds are averaged;
//! - the band is the standard error with ddof 0 (population std / √n), as `scipy.stats.sem(ddof=0)`;
//! - a policy "reaches" the baseline at the first round whose smoothed seed-mean is `≥` the
//!   baseline's final smoothed seed-mean (the reference uses `>`; they differ only on exact ties),
//!   and the x value is the labelled-set size *at that round* (the reference's off-by-one, which
//!   flatters the method by one batch, is not reproduced).

#![warn(missing_docs)]

mod ablation;
mod cost;
pub mod partial;
mod plot;
mod prefix;
mod read;
mod result_dirs;
pub mod results;
mod saving;
mod stats;
mod stopping;
mod tables;
#[cfg(test)]
mod tests;
mod write;

pub use ablation::{GridPoint, write_ablation_report};
pub use activepref_core::saving::DEFAULT_BOOTSTRAP;
pub use plot::{LineLook, PNG_DPI, XAxis, line_look, plot_curves, plot_curves_against};
pub use prefix::{
    PREFIX_METRICS, first_match, load_prefix_runs, prefix_markdown, write_prefix_report,
};
pub use saving::{Reached, SavingDefinition, SavingInterval, bootstrap_saving, label_saving};

pub use read::*;
pub use result_dirs::report_command;
pub use stats::*;
pub use tables::*;
pub use write::*;

use std::path::PathBuf;

pub(crate) use activepref_core::io::write_atomic_bytes;
pub(crate) use activepref_core::seeds::{Stream, rng_for};

/// Why a report could not be made; one line naming the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The `runs/` directory cannot be listed (usually: it does not exist yet).
    #[error("{}: cannot list run files ({error}); run the experiment first with `activepref run`", .dir.display())]
    NoRunDir {
        /// The `runs/` directory.
        dir: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// `runs/` holds no run file (of the selected runs).
    #[error("{}: no finished runs yet; run the experiment first with `activepref run`", .dir.display())]
    NoRuns {
        /// The `runs/` directory.
        dir: PathBuf,
    },
    /// A run file cannot be opened or is not valid CSV.
    #[error("{}: {why}", .path.display())]
    Csv {
        /// The run file.
        path: PathBuf,
        /// The CSV reader's message (with the data row, where it has one).
        why: String,
    },
    /// A run file lacks a required column (`policy`, `seed` or `labels`).
    #[error("{}: missing column {column}", .path.display())]
    MissingColumn {
        /// The run file.
        path: PathBuf,
        /// The missing column.
        column: String,
    },
    /// A cell of a run file does not parse, is infinite, or is NaN in a column that has numbers
    /// elsewhere.
    #[error("{}: data row {row} (1-based, after the header), column {column}: {message}", .path.display())]
    Cell {
        /// The run file.
        path: PathBuf,
        /// The data row, 1-based after the header.
        row: usize,
        /// The column.
        column: String,
        /// What is wrong with the cell.
        message: String,
    },
    /// A run file has no data row.
    #[error("{}: no rounds", .path.display())]
    NoRounds {
        /// The run file.
        path: PathBuf,
    },
    /// Two seeds of one policy have different labelled-set sizes per round, so their curves
    /// cannot be averaged.
    #[error("policy {policy}: seed {seed} has a different label schedule from seed {first}")]
    LabelSchedule {
        /// The policy label.
        policy: String,
        /// The seed whose schedule differs.
        seed: u64,
        /// The policy's first seed, whose schedule the others are compared with.
        first: u64,
    },
    /// A run file lacks a metric column the report asks for.
    #[error("run {policy} seed {seed} has no column {metric}")]
    MissingMetric {
        /// The policy label.
        policy: String,
        /// The seed.
        seed: u64,
        /// The missing metric column.
        metric: String,
    },
    /// The label-efficiency table's baseline policy has no run among those read.
    #[error(
        "no finished runs of the baseline policy `{baseline}`, so no saving can be computed; finish its runs (`activepref run` resumes them), or set report.baseline to a policy whose runs finished"
    )]
    NoBaseline {
        /// The baseline policy label.
        baseline: String,
    },
    /// Every requested metric is NaN throughout in every run (nothing to draw).
    #[error("{}: no finite values in any plotted metric", .dir.display())]
    NothingToPlot {
        /// The results directory.
        dir: PathBuf,
    },
    /// A figure path whose extension is neither `.png` nor `.svg`.
    #[error("{}: plots are written as .png or .svg", .path.display())]
    PlotFormat {
        /// The figure path.
        path: PathBuf,
    },
    /// plotters failed to draw a figure, or the PNG could not be encoded.
    #[error("cannot draw {}: {why}", .path.display())]
    Draw {
        /// The figure path.
        path: PathBuf,
        /// The drawing backend's or encoder's message.
        why: String,
    },
    /// A results directory or report option that cannot be reported (one line, with the fix).
    #[error("{0}")]
    Options(String),
    /// The results directory's marker or run files (see `activepref_experiment::results_dir`).
    #[error(transparent)]
    Results(#[from] activepref_experiment::RunError),
    /// A `config.resolved.yaml` that does not parse.
    #[error(transparent)]
    Config(#[from] activepref_experiment::ConfigError),
    /// A report directory cannot be created, or a report file cannot be written.
    #[error("cannot {action} {}: {}", .path.display(), activepref_core::io::describe(.error))]
    Io {
        /// What was attempted: `create` or `write`.
        action: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
}

/// Options of a report.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOptions {
    /// Trailing-mean window, in rounds, applied to each run's curve before seeds are averaged
    /// (`min_periods = 1`; 0 acts as 1).
    pub smoothing_window: usize,
    /// The policy label whose final smoothed seed-mean defines "reaching" in the label-efficiency
    /// table.
    pub baseline: String,
    /// Policy labels in display order (others follow alphabetically).
    pub policy_order: Vec<String>,
    /// Metrics to plot and tabulate: `(column, title)`.
    pub metrics: Vec<(String, String)>,
    /// How the label saving is defined.
    pub saving: SavingDefinition,
    /// Bootstrap resamples of the seeds for the saving's 95% interval (0: no interval).
    pub bootstrap: usize,
    /// The figure title (the experiment's name); empty: the results directory's name.
    pub title: String,
    /// Pair setting: the static baselines, drawn as whole-dataset lines in the prefix report
    /// (empty: the baseline above).
    pub static_baselines: Vec<String>,
    /// The (policy label, seed) runs to read; None: every run file in `runs/`. The experiment
    /// crate's `reportable_runs` gives the finished, trustworthy runs of the current config, so
    /// that runs of a removed policy, of another configuration or damaged on disk stay out.
    pub runs: Option<Vec<(String, u64)>>,
    /// Expected runs that are not shown, one line each (`balpm seed 23: not finished`); the
    /// summary lists them.
    pub missing: Vec<String>,
    /// The sweep grid point these runs belong to (`beta/beta=0.1`), if any.
    pub variant: Option<String>,
    /// Ablation figures: the grid point (`beta=0.01`) whose baseline-policy runs are drawn as the
    /// grey reference line; None: the first grid point in the experiment file's order.
    pub ablation_baseline: Option<String>,
    /// Stopping rules to evaluate on every run (`stopping.md`); empty: none, and no file.
    pub stopping: Vec<activepref_loop::stopping::StoppingRule>,
    /// Settings of the configuration that depart from the paper's in a way that makes its
    /// figures not comparable with uncapped ones (one sentence each, e.g. `loop.validation_size`);
    /// `summary.md`, `stopping.md` and `cost.md` state them under their titles, `summary.tex` in
    /// a comment, and a sweep's ablation report per grid point ([`GridPoint::departures`]).
    pub departures: Vec<String>,
    /// A partial report's cut (`report --partial`), stated as `**Partial report:** ...` above the
    /// departures in the same places; None for the report of the runs as they ended.
    pub partial: Option<String>,
}

impl ReportOptions {
    /// Options with the given window, baseline and order, and defaults for the rest: test and
    /// OOD test log-likelihood as metrics, the default saving definition, [`DEFAULT_BOOTSTRAP`]
    /// resamples, every run file, nothing missing, no title, variant, ablation baseline,
    /// stopping rule, departure or partial cut.
    pub fn new(smoothing_window: usize, baseline: &str, policy_order: Vec<String>) -> Self {
        Self {
            smoothing_window,
            baseline: baseline.to_string(),
            policy_order,
            metrics: vec![
                ("test_log_likelihood".into(), "Test log-likelihood".into()),
                (
                    "ood_log_likelihood".into(),
                    "OOD test log-likelihood".into(),
                ),
            ],
            saving: SavingDefinition::default(),
            bootstrap: DEFAULT_BOOTSTRAP,
            title: String::new(),
            static_baselines: Vec::new(),
            runs: None,
            missing: Vec::new(),
            variant: None,
            ablation_baseline: None,
            stopping: Vec::new(),
            departures: Vec::new(),
            partial: None,
        }
    }
}

/// The title of a run-file metric column: `ood_brier` → `OOD Brier score`.
pub fn metric_title(column: &str) -> String {
    let (split, kind) = column.split_once('_').unwrap_or((column, ""));
    let split = match split {
        "test" => "Test",
        "ood" => "OOD test",
        "heldout" => "Held-out",
        other => other,
    };
    let kind = match kind {
        "log_likelihood" => "log-likelihood",
        "accuracy" => "accuracy",
        "brier" => "Brier score",
        other => other,
    };
    format!("{split} {kind}")
}
