//! Writing a report directory: figures, tables and curve files, each atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::{
    AggregateCurve, DIAGNOSTICS, ReportError, ReportOptions, RunCurves, SavingDefinition,
    aggregate, aggregate_diagnostic, load_runs_of, ordered, plot_curves, summary_csv,
    summary_latex, summary_markdown, write_atomic_bytes, write_prefix_report,
};

/// Writes the report of the results directory `dir` into `dir/report/`: `curves.{png,svg}`,
/// `summary.{md,tex,csv}`, `curve-<column>.csv` per plotted metric and batch diagnostic,
/// `batches.{png,svg}` when the runs have batch diagnostics, `stopping.md` when stopping rules
/// are set, `cost.{md,png,svg}` when the runs record a label cost, and the prefix report
/// ([`write_prefix_report`]); returns the files written.
///
/// # Errors
/// The runs cannot be read ([`load_runs_of`]); [`ReportError::NothingToPlot`] when no requested
/// metric has a finite value; [`ReportError::NoBaseline`] when no run is of the baseline policy
/// (both before any file is written); the curves or table cannot be made
/// ([`crate::summary_rows`]); or a figure or file cannot be drawn or written.
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
    // The summary needs the baseline's runs: checked before any file is written, so a failed
    // report leaves no curves without their summary.
    if !runs.iter().any(|r| r.policy == opts.baseline) {
        return Err(ReportError::NoBaseline {
            baseline: opts.baseline.clone(),
        });
    }
    let opts = &opts;
    let report = dir.join("report");
    own_dir(&report)?;
    let panels = metric_panels(&runs, opts)?;
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
    let written = write_diagnostics(&runs, opts, &report, &title, &mut curve_files)?;
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
    if !opts.stopping.is_empty() {
        let path = report.join("stopping.md");
        write_text(&path, &crate::stopping::stopping_markdown(&runs, opts))?;
        files.push(path);
    }
    files.extend(crate::cost::write_cost_report(
        &runs, opts, &panels, &report, &title,
    )?);
    files.extend(written);
    files.extend(curve_files);
    files.extend(write_prefix_report(dir, opts, &title)?);
    Ok(files)
}

/// One panel per metric of `opts.metrics`: its title and each policy's seed-aggregated curve,
/// in display order.
///
/// # Errors
/// As [`aggregate`].
pub(crate) fn metric_panels(
    runs: &[RunCurves],
    opts: &ReportOptions,
) -> Result<Vec<(String, Vec<AggregateCurve>)>, ReportError> {
    opts.metrics
        .iter()
        .map(|(m, title)| {
            Ok((
                title.clone(),
                ordered(
                    aggregate(runs, m, opts.smoothing_window)?,
                    &opts.policy_order,
                ),
            ))
        })
        .collect()
}

/// The batch diagnostics of the pool setting (specs/balpm.md §5.4): how many distinct prompts
/// each batch holds and how many the labelled set has reached, as `batches.{png,svg}` and one
/// `curve-<column>.csv` each (pushed to `curve_files`); the figures written.
fn write_diagnostics(
    runs: &[RunCurves],
    opts: &ReportOptions,
    report: &Path,
    title: &str,
    curve_files: &mut Vec<PathBuf>,
) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = vec![];
    // Batch diagnostics of the pool setting (§5.4): how many distinct prompts each batch holds,
    // and how many the labelled set has reached.
    let diag_panels: Vec<(String, Vec<AggregateCurve>)> = DIAGNOSTICS
        .iter()
        .map(|(column, title)| {
            (
                title.to_string(),
                ordered(
                    aggregate_diagnostic(runs, column)
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
            curve_files.push(write_curve_csv(report, column, curves)?);
        }
    }
    if !diag_panels.is_empty() {
        for ext in ["png", "svg"] {
            let path = report.join(format!("batches.{ext}"));
            plot_curves(&format!("{title}: batch diagnostics"), &diag_panels, &path)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Writes `report/curve-<column>.csv`: one row per (policy, labelled-set size) of the plotted
/// curves, with the seed-mean, its standard error (ddof 0) and the number of seeds.
pub(crate) fn write_curve_csv(
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

/// Writes a report file atomically; an error names the file.
pub(crate) fn write_text(path: &Path, text: &str) -> Result<(), ReportError> {
    write_atomic_bytes(path, text.as_bytes()).map_err(|error| ReportError::Io {
        action: "write",
        path: path.to_path_buf(),
        error,
    })
}

/// Creates the report directory `path` (and its parents), refusing one that is a symbolic link or
/// not a directory: a report is written only into a directory of the results, never through a
/// link to somewhere else.
///
/// # Errors
/// [`ReportError::Options`] for a link or a file at `path`, [`ReportError::Io`] when it cannot
/// be created.
pub(crate) fn own_dir(path: &Path) -> Result<(), ReportError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        let what = if meta.file_type().is_symlink() {
            "a symbolic link"
        } else if !meta.is_dir() {
            "a file"
        } else {
            return Ok(());
        };
        return Err(ReportError::Options(format!(
            "{}: is {what}, and activepref writes a report only into a directory of its own; move it away and report again",
            path.display()
        )));
    }
    std::fs::create_dir_all(path).map_err(|error| ReportError::Io {
        action: "create",
        path: path.to_path_buf(),
        error,
    })
}
