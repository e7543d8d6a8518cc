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

mod ablation;
mod plot;
mod prefix;
mod saving;

pub use ablation::{GridPoint, write_ablation_report};
pub use activepref_core::saving::DEFAULT_BOOTSTRAP;
pub use plot::{LineLook, PNG_DPI, line_look, plot_curves};
pub use prefix::{
    PREFIX_METRICS, first_match, load_prefix_runs, prefix_markdown, write_prefix_report,
};
pub use saving::{Reached, SavingDefinition, SavingInterval, bootstrap_saving, label_saving};

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use activepref_core::io::write_atomic_bytes;
use activepref_core::seeds::{Stream, rng_for};

/// Why a report could not be made; one line naming the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}: cannot list run files ({error}); run the experiment first with `activepref run`", .dir.display())]
    NoRunDir { dir: PathBuf, error: std::io::Error },
    #[error("{}: no finished runs yet; run the experiment first with `activepref run`", .dir.display())]
    NoRuns { dir: PathBuf },
    #[error("{}: {why}", .path.display())]
    Csv { path: PathBuf, why: String },
    #[error("{}: missing column {column}", .path.display())]
    MissingColumn { path: PathBuf, column: String },
    #[error("{}: data row {row} (1-based, after the header), column {column}: {message}", .path.display())]
    Cell {
        path: PathBuf,
        row: usize,
        column: String,
        message: String,
    },
    #[error("{}: no rounds", .path.display())]
    NoRounds { path: PathBuf },
    #[error("policy {policy}: seed {seed} has a different label schedule from seed {first}")]
    LabelSchedule {
        policy: String,
        seed: u64,
        first: u64,
    },
    #[error("run {policy} seed {seed} has no column {metric}")]
    MissingMetric {
        policy: String,
        seed: u64,
        metric: String,
    },
    #[error("no finished runs of the baseline policy `{baseline}`")]
    NoBaseline { baseline: String },
    #[error("{}: no finite values in any plotted metric", .dir.display())]
    NothingToPlot { dir: PathBuf },
    #[error("{}: plots are written as .png or .svg", .path.display())]
    PlotFormat { path: PathBuf },
    #[error("cannot draw {}: {why}", .path.display())]
    Draw { path: PathBuf, why: String },
    #[error("cannot {action} {}: {}", .path.display(), activepref_core::io::describe(.error))]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
}

/// One run's curves, read from `runs/<policy>__seed<seed>.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunCurves {
    pub policy: String,
    pub seed: u64,
    pub labels: Vec<usize>,
    /// Metric name → one value per round.
    pub metrics: BTreeMap<String, Vec<f64>>,
    /// Batch diagnostics (`batch_unique_prompts`, `labelled_unique_prompts`) → one value per
    /// round, NaN where the round has none (the last round acquires nothing).
    pub diagnostics: BTreeMap<String, Vec<f64>>,
}

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

/// A metric's seed-aggregated curve for one policy.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateCurve {
    pub policy: String,
    pub labels: Vec<usize>,
    pub mean: Vec<f64>,
    pub stderr: Vec<f64>,
    pub seeds: usize,
}

/// Options of a report.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportOptions {
    pub smoothing_window: usize,
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
}

impl ReportOptions {
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

/// Trailing mean over `window` points with `min_periods = 1`.
pub fn smooth(values: &[f64], window: usize) -> Vec<f64> {
    let w = window.max(1);
    (0..values.len())
        .map(|i| {
            let lo = (i + 1).saturating_sub(w);
            values[lo..=i].iter().sum::<f64>() / (i + 1 - lo) as f64
        })
        .collect()
}

/// A policy's labelled-set sizes and its smoothed curve per seed.
pub type SeedCurves = (Vec<usize>, Vec<Vec<f64>>);

/// Each policy's smoothed per-seed curves of `metric`: policy → (labelled-set sizes, one curve
/// per seed in file order).
pub fn smoothed_curves(
    runs: &[RunCurves],
    metric: &str,
    window: usize,
) -> Result<BTreeMap<String, SeedCurves>, ReportError> {
    let mut by_policy: BTreeMap<&str, Vec<&RunCurves>> = BTreeMap::new();
    for r in runs {
        by_policy.entry(&r.policy).or_default().push(r);
    }
    let mut out = BTreeMap::new();
    for (policy, runs) in by_policy {
        let labels = runs[0].labels.clone();
        if let Some(r) = runs.iter().find(|r| r.labels != labels) {
            return Err(ReportError::LabelSchedule {
                policy: policy.to_string(),
                seed: r.seed,
                first: runs[0].seed,
            });
        }
        let curves: Vec<Vec<f64>> = runs
            .iter()
            .map(|r| {
                r.metrics
                    .get(metric)
                    .map(|v| smooth(v, window))
                    .ok_or_else(|| ReportError::MissingMetric {
                        policy: policy.to_string(),
                        seed: r.seed,
                        metric: metric.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        out.insert(policy.to_string(), (labels, curves));
    }
    Ok(out)
}

/// Mean and standard error (ddof 0) across seeds of each policy's smoothed curve.
pub fn aggregate(
    runs: &[RunCurves],
    metric: &str,
    window: usize,
) -> Result<Vec<AggregateCurve>, ReportError> {
    let mut out = vec![];
    for (policy, (labels, curves)) in smoothed_curves(runs, metric, window)? {
        let n = curves.len() as f64;
        let mean: Vec<f64> = (0..labels.len())
            .map(|i| curves.iter().map(|c| c[i]).sum::<f64>() / n)
            .collect();
        let stderr = (0..labels.len())
            .map(|i| {
                (curves.iter().map(|c| (c[i] - mean[i]).powi(2)).sum::<f64>() / n).sqrt() / n.sqrt()
            })
            .collect();
        out.push(AggregateCurve {
            policy,
            labels,
            mean,
            stderr,
            seeds: curves.len(),
        });
    }
    Ok(out)
}

/// Where `curve` first reaches `target` under `definition`, and the saving relative to
/// `baseline_final_labels` ([`label_saving`] on the seed-mean).
pub fn label_efficiency(
    curve: &AggregateCurve,
    target: f64,
    baseline_final_labels: usize,
    definition: SavingDefinition,
) -> Reached {
    label_saving(
        &curve.mean,
        &curve.labels,
        target,
        baseline_final_labels,
        definition,
    )
}

/// Reads every finished run file (`runs/*.csv`, not the timings) of an experiment directory.
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
/// No `runs/` folder, no run file left, or a run file that cannot be read (named).
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
                && selected(p, only)
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ReportError::NoRuns { dir: runs_dir });
    }
    files.iter().map(|f| read_run(f)).collect()
}

fn read_run(path: &Path) -> Result<RunCurves, ReportError> {
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
    let metric_cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| {
            h.ends_with("log_likelihood") || h.ends_with("accuracy") || h.ends_with("brier")
        })
        .map(|(i, h)| (i, h.to_string()))
        .collect();
    let diag_cols: Vec<(usize, &str)> = DIAGNOSTICS
        .iter()
        .filter_map(|(name, _)| headers.iter().position(|h| h == *name).map(|i| (i, *name)))
        .collect();
    let mut run = RunCurves {
        policy: String::new(),
        seed: 0,
        labels: vec![],
        metrics: BTreeMap::new(),
        diagnostics: BTreeMap::new(),
    };
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
            let v = match &rec[i] {
                "" => f64::NAN,
                text => text
                    .parse::<f64>()
                    .map_err(|e| err(row + 1, name, format!("`{text}`: {e}")))?,
            };
            run.diagnostics.entry(name.to_string()).or_default().push(v);
        }
    }
    if run.labels.is_empty() {
        return Err(ReportError::NoRounds {
            path: path.to_path_buf(),
        });
    }
    // NaN means "not measured" (a benchmark without that split) and must fill the whole column.
    for (name, v) in &run.metrics {
        let nan = v.iter().filter(|x| x.is_nan()).count();
        if nan > 0 && nan < v.len() {
            let row = v.iter().position(|x| x.is_nan()).expect("one NaN") + 1;
            return Err(err(
                row,
                name,
                "NaN in a column that has numbers elsewhere".into(),
            ));
        }
    }
    Ok(run)
}

fn ordered(mut curves: Vec<AggregateCurve>, order: &[String]) -> Vec<AggregateCurve> {
    curves.sort_by_key(|c| {
        (
            order
                .iter()
                .position(|p| *p == c.policy)
                .unwrap_or(usize::MAX),
            c.policy.clone(),
        )
    });
    curves
}

/// `12.5%`, or `not reached`.
fn percent(v: Option<f64>) -> String {
    v.map_or_else(
        || "not reached".to_string(),
        |v| format!("{:.1}%", 100.0 * v),
    )
}

/// One row of the label-efficiency table.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    /// The metric's title (`Test log-likelihood`).
    pub metric: String,
    pub policy: String,
    pub seeds: usize,
    /// Final smoothed seed-mean and its standard error.
    pub final_mean: f64,
    pub final_stderr: f64,
    pub reached: Reached,
    /// The bootstrap interval of the saving (none when the report asks for no bootstrap).
    pub interval: Option<SavingInterval>,
}

/// The rows of the label-efficiency table: every metric, every policy in display order.
pub fn summary_rows(
    runs: &[RunCurves],
    opts: &ReportOptions,
) -> Result<Vec<SummaryRow>, ReportError> {
    let mut rows = vec![];
    for (metric, title) in &opts.metrics {
        let per_seed = smoothed_curves(runs, metric, opts.smoothing_window)?;
        let curves = ordered(
            aggregate(runs, metric, opts.smoothing_window)?,
            &opts.policy_order,
        );
        let base = curves
            .iter()
            .find(|c| c.policy == opts.baseline)
            .ok_or_else(|| ReportError::NoBaseline {
                baseline: opts.baseline.clone(),
            })?;
        let target = *base.mean.last().expect("non-empty curve");
        let base_final = *base.labels.last().expect("non-empty curve");
        for c in &curves {
            let interval = (opts.bootstrap > 0).then(|| {
                // One generator per (metric, policy) row, so a row's interval does not depend on
                // which other policies or metrics the report holds.
                let mut rng = rng_for(
                    BOOTSTRAP_SEED,
                    Stream::Policy,
                    &[fnv(metric.as_bytes()), fnv(c.policy.as_bytes())],
                );
                let (labels, seeds) = &per_seed[&c.policy];
                let (base_labels, base_seeds) = &per_seed[&opts.baseline];
                bootstrap_saving(
                    seeds,
                    labels,
                    base_seeds,
                    base_labels,
                    c.policy == opts.baseline,
                    opts.saving,
                    opts.bootstrap,
                    &mut rng,
                )
            });
            rows.push(SummaryRow {
                metric: title.clone(),
                policy: c.policy.clone(),
                seeds: c.seeds,
                final_mean: *c.mean.last().expect("non-empty curve"),
                final_stderr: *c.stderr.last().expect("non-empty curve"),
                reached: label_efficiency(c, target, base_final, opts.saving),
                interval,
            });
        }
    }
    Ok(rows)
}

/// The label-efficiency table and the final values, as Markdown.
pub fn summary_markdown(runs: &[RunCurves], opts: &ReportOptions) -> Result<String, ReportError> {
    let rows = summary_rows(runs, opts)?;
    let mut md = String::new();
    writeln!(md, "# Summary\n").ok();
    writeln!(
        md,
        "Curves are smoothed per run with a trailing mean of {} round(s), then averaged over seeds (± standard error, ddof 0).\n",
        opts.smoothing_window
    )
    .ok();
    let b = &opts.baseline;
    writeln!(md, "## Label efficiency against `{b}`\n").ok();
    match opts.saving {
        SavingDefinition::FirstReach => writeln!(md, "First labelled-set size at which a policy's seed-mean curve reaches (≥) `{b}`'s final value, and the saving `1 − size / {b}'s final size` (`saving: first_reach`)."),
        SavingDefinition::PaperScript => writeln!(md, "First round index i* (0-based) at which a policy's seed-mean curve strictly exceeds `{b}`'s final value, the labelled-set size at that round, and the paper script's saving `1 − i* / rounds` (`saving: paper_script`)."),
    }
    .ok();
    let ci = opts.bootstrap > 0;
    if ci {
        writeln!(md, "The interval is the 2.5th–97.5th percentile of the saving over {} bootstrap resamples of the seeds (policy and baseline resampled independently; \"not reached\" ranks lowest).", opts.bootstrap).ok();
    }
    writeln!(md).ok();
    let ci_head = if ci { " 95% bootstrap interval |" } else { "" };
    let ci_rule = if ci { "---|" } else { "" };
    writeln!(md, "| metric | policy | seeds | final value (± s.e.) | reaches baseline's final at | label saving |{ci_head}").ok();
    writeln!(md, "|---|---|---|---|---|---|{ci_rule}").ok();
    for r in &rows {
        let (at, saving) = match r.reached {
            Reached::At { labels, saving } => (labels.to_string(), percent(Some(saving))),
            Reached::NotReached => ("not reached".into(), "—".into()),
        };
        let iv = r.interval.map_or(String::new(), |iv| {
            format!(" [{}, {}] |", percent(iv.low), percent(iv.high))
        });
        writeln!(
            md,
            "| {} | {} | {} | {:.4} ± {:.4} | {at} | {saving} |{iv}",
            r.metric, r.policy, r.seeds, r.final_mean, r.final_stderr
        )
        .ok();
    }
    md.push_str(&missing_section(&opts.missing));
    Ok(md)
}

/// The label-efficiency table as CSV (`report/summary.csv`, what `activepref.read_summary` reads):
/// one row per (metric, policy) with the metric's column name, the final smoothed seed-mean and
/// its standard error, the labelled-set size at which the policy reaches the baseline's final
/// value and the saving as a fraction (both empty when not reached), and the bootstrap interval
/// of the saving (empty when not computed or when that end did not reach).
///
/// # Errors
/// [`ReportError`] when a run lacks a metric's column.
pub fn summary_csv(runs: &[RunCurves], opts: &ReportOptions) -> Result<String, ReportError> {
    let rows = summary_rows(runs, opts)?;
    let column_of: BTreeMap<&str, &str> = opts
        .metrics
        .iter()
        .map(|(column, title)| (title.as_str(), column.as_str()))
        .collect();
    let mut w = csv::Writer::from_writer(vec![]);
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
    let header = [
        "metric",
        "title",
        "policy",
        "seeds",
        "final_mean",
        "final_stderr",
        "baseline",
        "reached_labels",
        "saving",
        "saving_low",
        "saving_high",
        "bootstrap_reached",
    ];
    let mut out = || -> Result<(), csv::Error> {
        w.write_record(header)?;
        for r in &rows {
            let (labels, saving) = match r.reached {
                Reached::At { labels, saving } => (labels.to_string(), saving.to_string()),
                Reached::NotReached => (String::new(), String::new()),
            };
            w.write_record([
                column_of.get(r.metric.as_str()).copied().unwrap_or(""),
                &r.metric,
                &r.policy,
                &r.seeds.to_string(),
                &r.final_mean.to_string(),
                &r.final_stderr.to_string(),
                &opts.baseline,
                &labels,
                &saving,
                &opt(r.interval.and_then(|iv| iv.low)),
                &opt(r.interval.and_then(|iv| iv.high)),
                &opt(r.interval.map(|iv| iv.reached)),
            ])?;
        }
        Ok(())
    };
    out().expect("writing CSV to memory cannot fail");
    let bytes = w.into_inner().expect("an in-memory CSV flushes");
    Ok(String::from_utf8(bytes).expect("the CSV holds UTF-8 text"))
}

/// Writes `report/curve-<column>.csv`: one row per (policy, labelled-set size) of the plotted
/// curves, with the seed-mean, its standard error (ddof 0) and the number of seeds.
fn write_curve_csv(
    report: &Path,
    column: &str,
    curves: &[AggregateCurve],
) -> Result<PathBuf, ReportError> {
    let path = report.join(format!("curve-{column}.csv"));
    let mut text = String::from("policy,labels,mean,stderr,seeds\n");
    for c in curves {
        for ((l, m), e) in c.labels.iter().zip(&c.mean).zip(&c.stderr) {
            let _ = writeln!(text, "{},{l},{m},{e},{}", c.policy, c.seeds);
        }
    }
    write_text(&path, &text)?;
    Ok(path)
}

/// The summary's list of expected runs that it leaves out (empty when none is missing).
pub(crate) fn missing_section(missing: &[String]) -> String {
    if missing.is_empty() {
        return String::new();
    }
    let mut md = format!(
        "\n## Runs left out\n\n{} expected run(s) of this configuration are not in the tables and figures above; `activepref run` on the same file finishes or redoes them:\n\n",
        missing.len()
    );
    for m in missing {
        let _ = writeln!(md, "- {m}");
    }
    md
}

/// Writes a report file atomically; an error names the file.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), ReportError> {
    write_atomic_bytes(path, text.as_bytes()).map_err(|error| ReportError::Io {
        action: "write",
        path: path.to_path_buf(),
        error,
    })
}

/// `text` with LaTeX's special characters escaped.
pub(crate) fn latex_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '_' | '%' | '&' | '#' | '$' | '{' | '}' => format!("\\{c}"),
            '~' => "\\textasciitilde{}".into(),
            '^' => "\\textasciicircum{}".into(),
            '\\' => "\\textbackslash{}".into(),
            c => c.to_string(),
        })
        .collect()
}

/// The same table as LaTeX (`booktabs`), ready for `\input{summary.tex}` in a paper.
pub fn summary_latex(
    runs: &[RunCurves],
    opts: &ReportOptions,
    caption: &str,
) -> Result<String, ReportError> {
    let rows = summary_rows(runs, opts)?;
    let ci = opts.bootstrap > 0;
    let pct =
        |v: Option<f64>| v.map_or_else(|| "n.r.".to_string(), |v| format!("{:.1}\\%", 100.0 * v));
    let mut tex = String::new();
    writeln!(
        tex,
        "% Made by `activepref report`; needs \\usepackage{{booktabs}}."
    )
    .ok();
    writeln!(tex, "\\begin{{table}}[t]\n\\centering").ok();
    writeln!(
        tex,
        "\\begin{{tabular}}{{ll{}}}",
        if ci { "rrrr" } else { "rrr" }
    )
    .ok();
    writeln!(tex, "\\toprule").ok();
    let ci_head = if ci { " & 95\\% CI" } else { "" };
    writeln!(
        tex,
        "Metric & Policy & Final value & Labels to match & Saving{ci_head} \\\\"
    )
    .ok();
    writeln!(tex, "\\midrule").ok();
    let mut previous = "";
    for r in &rows {
        if !previous.is_empty() && previous != r.metric {
            writeln!(tex, "\\midrule").ok();
        }
        let metric = if previous == r.metric {
            String::new()
        } else {
            latex_escape(&r.metric)
        };
        previous = &r.metric;
        let (at, saving) = match r.reached {
            Reached::At { labels, saving } => (labels.to_string(), pct(Some(saving))),
            Reached::NotReached => ("n.r.".into(), "--".into()),
        };
        let iv = r.interval.map_or(String::new(), |iv| {
            format!(" & [{}, {}]", pct(iv.low), pct(iv.high))
        });
        writeln!(
            tex,
            "{metric} & {} & ${:.4} \\pm {:.4}$ & {at} & {saving}{iv} \\\\",
            latex_escape(&r.policy),
            r.final_mean,
            r.final_stderr
        )
        .ok();
    }
    writeln!(tex, "\\bottomrule\n\\end{{tabular}}").ok();
    writeln!(
        tex,
        "\\caption{{{}}}\n\\end{{table}}",
        latex_escape(caption)
    )
    .ok();
    Ok(tex)
}

/// The fixed root seed of every report's bootstrap (a report is a pure function of its runs).
const BOOTSTRAP_SEED: u64 = 0x5eed_b007;

/// FNV-1a of a name: a stable per-row stream index.
fn fnv(bytes: &[u8]) -> u64 {
    activepref_core::io::fnv1a(bytes)
}

/// Each policy's batch diagnostic `column`: per round, the mean and standard error (ddof 0) over
/// the seeds that have a value; rounds without any value are left out.
pub fn aggregate_diagnostic(runs: &[RunCurves], column: &str) -> Vec<AggregateCurve> {
    let mut by_policy: BTreeMap<&str, Vec<&RunCurves>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.diagnostics.contains_key(column)) {
        by_policy.entry(&r.policy).or_default().push(r);
    }
    by_policy
        .into_iter()
        .map(|(policy, rs)| {
            let mut c = AggregateCurve {
                policy: policy.to_string(),
                labels: vec![],
                mean: vec![],
                stderr: vec![],
                seeds: rs.len(),
            };
            for (i, &labels) in rs[0].labels.iter().enumerate() {
                let v: Vec<f64> = rs
                    .iter()
                    .filter_map(|r| r.diagnostics[column].get(i).copied())
                    .filter(|v| v.is_finite())
                    .collect();
                if v.is_empty() {
                    continue;
                }
                let n = v.len() as f64;
                let mean = v.iter().sum::<f64>() / n;
                c.labels.push(labels);
                c.mean.push(mean);
                c.stderr.push(
                    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt() / n.sqrt(),
                );
            }
            c
        })
        .filter(|c| !c.labels.is_empty())
        .collect()
}

/// Writes `report/curves.png`, `report/curves.svg` and `report/summary.md` under `dir`.
pub fn write_report(dir: &Path, opts: &ReportOptions) -> Result<Vec<PathBuf>, ReportError> {
    let runs = load_runs_of(dir, opts.runs.as_deref())?;
    // A metric no run could measure (NaN throughout: a benchmark without an OOD split) is left out.
    let mut opts = opts.clone();
    opts.metrics.retain(|(m, _)| {
        runs.iter().any(|r| {
            r.metrics
                .get(m)
                .is_some_and(|v| v.iter().any(|x| x.is_finite()))
        })
    });
    if opts.metrics.is_empty() {
        return Err(ReportError::NothingToPlot {
            dir: dir.to_path_buf(),
        });
    }
    let opts = &opts;
    let report = dir.join("report");
    std::fs::create_dir_all(&report).map_err(|error| ReportError::Io {
        action: "create",
        path: report.clone(),
        error,
    })?;
    let panels: Vec<(String, Vec<AggregateCurve>)> = opts
        .metrics
        .iter()
        .map(|(m, title)| {
            Ok((
                title.clone(),
                ordered(
                    aggregate(&runs, m, opts.smoothing_window)?,
                    &opts.policy_order,
                ),
            ))
        })
        .collect::<Result<_, ReportError>>()?;
    // The numbers behind every plotted line, for other tools (pandas, R, pgfplots).
    let mut curve_files = vec![];
    for ((metric, _), (_, curves)) in opts.metrics.iter().zip(&panels) {
        curve_files.push(write_curve_csv(&report, metric, curves)?);
    }
    let png = report.join("curves.png");
    let svg = report.join("curves.svg");
    let title = match opts.title.as_str() {
        "" => dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
        t => t.to_string(),
    };
    plot_curves(&title, &panels, &png)?;
    plot_curves(&title, &panels, &svg)?;
    let mut written = vec![];
    // Batch diagnostics of the pool setting (§5.4): how many distinct prompts each batch holds,
    // and how many the labelled set has reached.
    let diag_panels: Vec<(String, Vec<AggregateCurve>)> = DIAGNOSTICS
        .iter()
        .map(|(column, title)| {
            (
                title.to_string(),
                ordered(
                    aggregate_diagnostic(&runs, column)
                        .into_iter()
                        .filter(|c| !c.labels.is_empty())
                        .collect(),
                    &opts.policy_order,
                ),
            )
        })
        .filter(|(_, curves)| !curves.is_empty())
        .collect();
    for (column, title) in DIAGNOSTICS {
        if let Some((_, curves)) = diag_panels.iter().find(|(t, _)| t == title) {
            curve_files.push(write_curve_csv(&report, column, curves)?);
        }
    }
    if !diag_panels.is_empty() {
        for ext in ["png", "svg"] {
            let path = report.join(format!("batches.{ext}"));
            plot_curves(&format!("{title}: batch diagnostics"), &diag_panels, &path)?;
            written.push(path);
        }
    }
    let tex_path = report.join("summary.tex");
    let caption = format!(
        "Label efficiency against {} ({} saving; n.r. = not reached).",
        opts.baseline,
        match opts.saving {
            SavingDefinition::FirstReach => "first-reach",
            SavingDefinition::PaperScript => "paper-script",
        }
    );
    write_text(&tex_path, &summary_latex(&runs, opts, &caption)?)?;
    let md_path = report.join("summary.md");
    write_text(&md_path, &summary_markdown(&runs, opts)?)?;
    let csv_path = report.join("summary.csv");
    write_text(&csv_path, &summary_csv(&runs, opts)?)?;
    let mut files = vec![png, svg, md_path, tex_path, csv_path];
    files.extend(written);
    files.extend(curve_files);
    files.extend(write_prefix_report(dir, opts, &title)?);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: &str, seed: u64, values: &[f64]) -> RunCurves {
        RunCurves {
            policy: policy.into(),
            seed,
            labels: (1..=values.len()).map(|i| i * 10).collect(),
            metrics: BTreeMap::from([("m".to_string(), values.to_vec())]),
            diagnostics: BTreeMap::new(),
        }
    }

    #[test]
    fn trailing_mean_with_min_periods_one() {
        assert_eq!(
            smooth(&[1.0, 2.0, 6.0, 3.0], 3),
            vec![1.0, 1.5, 3.0, 11.0 / 3.0]
        );
        assert_eq!(smooth(&[1.0, 2.0], 1), vec![1.0, 2.0]);
    }

    #[test]
    fn mean_and_population_standard_error() {
        let runs = [run("a", 1, &[1.0, 2.0]), run("a", 2, &[3.0, 2.0])];
        let agg = aggregate(&runs, "m", 1).unwrap();
        assert_eq!(agg[0].mean, vec![2.0, 2.0]);
        // std (ddof 0) of {1, 3} is 1; / √2.
        assert_eq!(agg[0].stderr, vec![1.0 / 2f64.sqrt(), 0.0]);
    }

    #[test]
    fn label_efficiency_on_hand_made_curves() {
        // Baseline (random) ends at −0.50 with 50 labels.
        let runs = [
            run("random", 1, &[-0.70, -0.62, -0.58, -0.53, -0.50]),
            run("good", 1, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
            run("bad", 1, &[-0.80, -0.75, -0.70, -0.65, -0.60]),
        ];
        let agg = aggregate(&runs, "m", 1).unwrap();
        let get = |p: &str| agg.iter().find(|c| c.policy == p).unwrap();
        // good first reaches −0.50 at round 3 (−0.49 ≥ −0.50), labelled size 30: saving 1 − 30/50 = 40%.
        assert_eq!(
            label_efficiency(get("good"), -0.50, 50, SavingDefinition::FirstReach),
            Reached::At {
                labels: 30,
                saving: 0.4
            }
        );
        assert_eq!(
            label_efficiency(get("bad"), -0.50, 50, SavingDefinition::FirstReach),
            Reached::NotReached
        );
        assert_eq!(
            label_efficiency(get("random"), -0.50, 50, SavingDefinition::FirstReach),
            Reached::At {
                labels: 50,
                saving: 0.0
            }
        );
        // With smoothing 3 the target is random's smoothed final (−0.58 − 0.53 − 0.50)/3 = −0.5367;
        // good's smoothed curve is −0.68, −0.615, −0.5733, −0.5033, −0.4733: it reaches the target
        // at round 4 (40 labels, saving 20%), one round later than unsmoothed.
        let sm = aggregate(&runs, "m", 3).unwrap();
        let target = *sm
            .iter()
            .find(|c| c.policy == "random")
            .unwrap()
            .mean
            .last()
            .unwrap();
        assert!((target - (-0.58 - 0.53 - 0.50) / 3.0).abs() < 1e-12);
        let good = sm.iter().find(|c| c.policy == "good").unwrap();
        let Reached::At { labels, saving } =
            label_efficiency(good, target, 50, SavingDefinition::FirstReach)
        else {
            panic!()
        };
        assert_eq!(labels, 40);
        assert!((saving - 0.2).abs() < 1e-12);
    }

    #[test]
    fn summary_reports_not_reached() {
        let runs = [
            run("random", 1, &[-0.7, -0.5]),
            run("bad", 1, &[-0.9, -0.8]),
        ];
        let mut opts = ReportOptions::new(1, "random", vec!["random".into(), "bad".into()]);
        opts.metrics = vec![("m".into(), "M".into())];
        let md = summary_markdown(&runs, &opts).unwrap();
        assert!(
            md.contains("| M | random | 1 | -0.5000 ± 0.0000 | 20 | 0.0% |"),
            "{md}"
        );
        assert!(
            md.contains("| M | bad | 1 | -0.8000 ± 0.0000 | not reached | — |"),
            "{md}"
        );
    }

    #[test]
    fn both_definitions_and_the_interval_reach_the_tables() {
        // Two seeds of each: random ends at −0.50 (both seeds), good is the README's worked
        // example on both seeds, so every resample gives the same saving.
        let runs = [
            run("random", 1, &[-0.70, -0.62, -0.58, -0.53, -0.50]),
            run("random", 2, &[-0.71, -0.61, -0.58, -0.53, -0.50]),
            run("good_one", 1, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
            run("good_one", 2, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
        ];
        let mut opts = ReportOptions::new(1, "random", vec!["random".into(), "good_one".into()]);
        opts.metrics = vec![("m".into(), "Test LL".into())];
        opts.bootstrap = 50;
        let md = summary_markdown(&runs, &opts).unwrap();
        assert!(
            md.contains(
                "| Test LL | good_one | 2 | -0.4600 ± 0.0000 | 30 | 40.0% | [40.0%, 40.0%] |"
            ),
            "{md}"
        );
        opts.saving = SavingDefinition::PaperScript;
        let md = summary_markdown(&runs, &opts).unwrap();
        assert!(
            md.contains(
                "| Test LL | good_one | 2 | -0.4600 ± 0.0000 | 30 | 60.0% | [60.0%, 60.0%] |"
            ),
            "{md}"
        );
        assert!(md.contains("saving: paper_script"), "{md}");
        // Strictly above its own final value never happens for a curve that ends at its best, so
        // under the paper's definition the baseline's own row is "not reached".
        opts.bootstrap = 0;
        let tex = summary_latex(&runs, &opts, "Savings of good_one.").unwrap();
        let golden = "% Made by `activepref report`; needs \\usepackage{booktabs}.
\\begin{table}[t]
\\centering
\\begin{tabular}{llrrr}
\\toprule
Metric & Policy & Final value & Labels to match & Saving \\\\
\\midrule
Test LL & random & $-0.5000 \\pm 0.0000$ & n.r. & -- \\\\
 & good\\_one & $-0.4600 \\pm 0.0000$ & 30 & 60.0\\% \\\\
\\bottomrule
\\end{tabular}
\\caption{Savings of good\\_one.}
\\end{table}
";
        assert_eq!(tex, golden);
    }

    #[test]
    fn summary_csv_is_the_table_in_numbers() {
        // The worked example of `both_definitions_and_the_interval_reach_the_tables`, plus a
        // policy that never reaches the baseline's final value.
        let runs = [
            run("random", 1, &[-0.70, -0.62, -0.58, -0.53, -0.50]),
            run("random", 2, &[-0.71, -0.61, -0.58, -0.53, -0.50]),
            run("good_one", 1, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
            run("good_one", 2, &[-0.68, -0.55, -0.49, -0.47, -0.46]),
            run("bad", 1, &[-0.9, -0.9, -0.9, -0.9, -0.8]),
        ];
        let order = vec!["random".into(), "good_one".into(), "bad".into()];
        let mut opts = ReportOptions::new(1, "random", order);
        opts.metrics = vec![("m".into(), "Test LL, final".into())];
        opts.bootstrap = 50;
        let csv = summary_csv(&runs, &opts).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "metric,title,policy,seeds,final_mean,final_stderr,baseline,reached_labels,saving,saving_low,saving_high,bootstrap_reached"
        );
        // First reach at 30 of random's 50 labels: saving 0.4; every resample agrees.
        assert_eq!(
            lines[2],
            "m,\"Test LL, final\",good_one,2,-0.46,0,random,30,0.4,0.4,0.4,1"
        );
        assert_eq!(lines[3], "m,\"Test LL, final\",bad,1,-0.8,0,random,,,,,0");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn metric_titles() {
        assert_eq!(metric_title("ood_brier"), "OOD test Brier score");
        assert_eq!(metric_title("test_accuracy"), "Test accuracy");
        assert_eq!(
            metric_title("heldout_log_likelihood"),
            "Held-out log-likelihood"
        );
    }

    #[test]
    fn diagnostics_average_over_the_seeds_that_have_a_value() {
        let mut a = run("p", 1, &[0.0, 0.0, 0.0]);
        let mut b = run("p", 2, &[0.0, 0.0, 0.0]);
        a.diagnostics
            .insert("batch_unique_prompts".into(), vec![4.0, 2.0, f64::NAN]);
        b.diagnostics
            .insert("batch_unique_prompts".into(), vec![2.0, 2.0, f64::NAN]);
        let c = &aggregate_diagnostic(&[a, b], "batch_unique_prompts")[0];
        assert_eq!(
            (c.labels.clone(), c.mean.clone()),
            (vec![10, 20], vec![3.0, 2.0])
        );
        assert_eq!(c.stderr, vec![1.0 / 2f64.sqrt(), 0.0]);
    }
}
