//! Reports of results directories, as `activepref report` and `activepref run` make them: the
//! mapping from a checked experiment to [`ReportOptions`] ([`options_for`]), one directory's
//! report ([`report_experiment`]), and a sweep's results root grouped into its grids and grid
//! points, each grid with its ablation report ([`report_results`]).
//!
//! Every function returns a [`ReportLog`] (what it wrote, what it warns about, in order) instead of
//! printing, so that the caller decides where lines go.

use std::path::{Path, PathBuf};

use activepref_experiment::results_dir::{ReportableRuns, reportable_runs};
use activepref_experiment::{
    Experiment, ExperimentConfig, ExportedRuns, ReportSection, write_results_parquet,
};

use crate::result_dirs::result_dirs;
use crate::{GridPoint, ReportError, ReportOptions, metric_title, write_ablation_report};

/// One thing a report did, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum ReportLine {
    /// A file written.
    Wrote(PathBuf),
    /// Something the user should know (runs left out, a table not written); one line.
    Warning(String),
}

/// What a report did, in order.
pub type ReportLog = Vec<ReportLine>;

/// What `activepref report` may override of an experiment's `report:` section.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReportOverrides {
    /// `--window`: trailing-mean window (rounds).
    pub window: Option<usize>,
    /// `--saving`: which definition of the label saving.
    pub saving: Option<crate::SavingDefinition>,
    /// `--bootstrap`: resamples for the saving's 95% interval.
    pub bootstrap: Option<usize>,
}

impl ReportOverrides {
    /// The experiment's `report:` section with these overrides, checked exactly as the YAML is
    /// (so `--window 0` is refused like `smoothing_window: 0`).
    ///
    /// # Errors
    /// An overridden or file value out of range, naming the flag (`--window: ...`) or the field.
    pub fn apply(self, section: &ReportSection) -> Result<ReportSection, ReportError> {
        let mut r = section.clone();
        r.smoothing_window = self.window.unwrap_or(r.smoothing_window);
        r.saving = self.saving.unwrap_or(r.saving);
        r.bootstrap = self.bootstrap.unwrap_or(r.bootstrap);
        r.validate().map_err(|e| {
            // The flag that sets the field, and whether this call set it.
            let (flag, given) = match e.field.as_str() {
                "smoothing_window" => ("--window", self.window.is_some()),
                "bootstrap" => ("--bootstrap", self.bootstrap.is_some()),
                _ => ("", false),
            };
            ReportError::Options(if given {
                format!("{flag}: {}", e.message)
            } else {
                // The file's own values were checked when it ran: these are an older version's,
                // read back from config.resolved.yaml. The report section is not part of a
                // run's id, so fixing it and running again keeps every finished run.
                let over = if flag.is_empty() {
                    String::new()
                } else {
                    format!("pass `{flag} N` to `activepref report`, or ")
                };
                format!(
                    "report.{e} (a value in this results directory's config.resolved.yaml, which an older version accepted); {over}fix it in the experiment file and run that again (`activepref run` keeps the runs it finished: the report section is not part of a run's id)"
                )
            })
        })?;
        Ok(r)
    }
}

/// The report options of experiment `exp` for the runs `runs` found reportable: its `report:`
/// section (with `over`), its policy order and title, its setting's metrics and static baselines.
///
/// # Errors
/// An override out of range.
pub fn options_for(
    exp: &Experiment,
    over: ReportOverrides,
    runs: ReportableRuns,
) -> Result<ReportOptions, ReportError> {
    let report = &exp.common.report;
    let section = over.apply(report)?;
    let mut opts = ReportOptions::new(
        section.smoothing_window,
        &report.baseline,
        exp.setting.labels(),
    );
    opts.saving = section.saving;
    opts.bootstrap = section.bootstrap;
    opts.runs = Some(runs.finished);
    opts.missing = runs.missing;
    opts.variant = runs.variant;
    opts.ablation_baseline = report.ablation_baseline.clone();
    opts.title = exp.common.name.clone();
    opts.static_baselines = exp.setting.static_baselines();
    opts.metrics = exp.report_metrics(metric_title);
    opts.stopping = report.stopping.clone();
    if let activepref_experiment::Setting::Pool(pool) = &exp.setting
        && let Some(cap) = pool.loop_config.validation_size
    {
        opts.departures.push(format!(
            "early stopping read a seeded subset of {cap} validation comparisons (`loop.validation_size`), not the whole split as the paper does, so these curves and savings are not comparable with runs on the whole split."
        ));
    }
    Ok(opts)
}

/// The report of results directory `dir`, made by `exp`.
///
/// # Errors
/// The marker is not activepref's, no run of this configuration has finished, or a report file
/// cannot be written.
pub fn report_experiment(
    dir: &Path,
    exp: &Experiment,
    over: ReportOverrides,
    log: &mut ReportLog,
) -> Result<ReportOptions, ReportError> {
    let runs = reportable_runs(exp, dir)?;
    report_runs(dir, exp, over, runs, log)
}

/// [`report_experiment`] of the runs `runs` already found reportable in `dir`.
fn report_runs(
    dir: &Path,
    exp: &Experiment,
    over: ReportOverrides,
    runs: ReportableRuns,
    log: &mut ReportLog,
) -> Result<ReportOptions, ReportError> {
    let under_way = runs.unfinished.len();
    let opts = options_for(exp, over, runs)?;
    // Only this configuration's finished, intact runs; the others are listed, not mixed in.
    let missing = &opts.missing;
    if opts.runs.as_ref().is_none_or(Vec::is_empty) {
        let how = if under_way > 0 {
            format!(
                "{} paused or under way: `activepref run` on the same file finishes {}, and `{}` shows the rounds so far",
                activepref_core::error::counted(under_way, "run is", "runs are"),
                if under_way == 1 { "it" } else { "them" },
                crate::report_command(&dir.to_string_lossy(), true)
            )
        } else {
            "run the experiment first with `activepref run`".to_string()
        };
        return Err(ReportError::Options(format!(
            "{}: no finished run of this configuration yet ({} expected); {how}",
            dir.display(),
            missing.len()
        )));
    }
    // A window of at least the run's length averages every round up to each point.
    if let Some(rounds) = exp.known_rounds_per_run()
        && rounds > 1
        && opts.smoothing_window >= rounds
    {
        log.push(ReportLine::Warning(format!(
            "{}: the smoothing window ({} rounds) is as long as each run ({rounds} rounds) or longer, so every point of a curve is the mean of all rounds up to it; for a trailing mean, `{} --window {}` or less (or a lower report.smoothing_window)",
            dir.display(),
            opts.smoothing_window,
            crate::report_command(&dir.to_string_lossy(), false),
            rounds - 1
        )));
    }
    if !missing.is_empty() {
        log.push(ReportLine::Warning(format!(
            "{}: {} left out of the report ({}{}); `activepref run` on the same file finishes {} (with --rerun for runs of another configuration or without a .run-id)",
            dir.display(),
            activepref_core::error::counted(missing.len(), "expected run", "expected runs"),
            missing.iter().take(3).cloned().collect::<Vec<_>>().join("; "),
            if missing.len() > 3 { "; ..." } else { "" },
            if missing.len() == 1 { "it" } else { "them" }
        )));
    }
    for f in crate::write_report(dir, &opts)? {
        log.push(ReportLine::Wrote(f));
    }
    export_table(
        &[ExportedRuns {
            grid_point: opts.variant.as_deref().unwrap_or(""),
            dir,
            runs: opts.runs.as_deref().unwrap_or(&[]),
        }],
        &dir.join("report").join("results.parquet"),
        log,
    );
    Ok(opts)
}

/// Writes `results.parquet`; a failure (run files of an older version with other columns) is a
/// warning, since the figures and tables are already written.
fn export_table(sources: &[ExportedRuns], out: &Path, log: &mut ReportLog) {
    log.push(match write_results_parquet(sources, out) {
        Ok(table) => ReportLine::Wrote(table),
        Err(e) => ReportLine::Warning(format!("results.parquet not written: {e}")),
    });
}

/// One grid of a sweep: its directory, its points, and the options of its first reported point.
type Grid = (PathBuf, Vec<GridPoint>, ReportOptions);

/// Reports a results directory: one experiment's, or every grid point of a sweep's results root
/// and then one ablation report per grid plus one `results.parquet` for the whole sweep.
///
/// # Errors
/// Not a results directory, an unreadable `config.resolved.yaml`, no finished run, or a report
/// file that cannot be written. In a sweep's root, a grid point that cannot be reported (its
/// baseline's runs unfinished, say) is a warning naming it, the other points and the ablation
/// reports are still written, and the error at the end lists the failed points.
pub fn report_results(
    results: &Path,
    over: ReportOverrides,
    log: &mut ReportLog,
) -> Result<(), ReportError> {
    let mut grids: Vec<Grid> = vec![];
    let mut unrun: Vec<(PathBuf, GridPoint)> = vec![];
    let mut failed: Vec<String> = vec![];
    for dir in result_dirs(results)? {
        // <root>/<grid>/<point>: one ablation report per grid.
        let grid = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let point = |runs| GridPoint {
            label: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: dir.clone(),
            runs,
            missing: vec![],
            departures: vec![],
        };
        // Read, parsed and checked for finished runs once; the report below reuses them.
        let resolved = dir.join("config.resolved.yaml");
        let found = if resolved.exists() || dir == results {
            let exp = read_resolved(&resolved)?;
            let runs = reportable_runs(&exp, &dir);
            Some((exp, runs))
        } else {
            None
        };
        let started = matches!(&found, Some((_, Ok(r))) if !r.finished.is_empty());
        if dir != results && !started {
            log.push(ReportLine::Warning(format!(
                "grid point {}: no finished run yet",
                dir.display()
            )));
            unrun.push((grid, point(Some(vec![]))));
            continue;
        }
        let Some((exp, runs)) = found else {
            continue;
        };
        let reported = report_runs(&dir, &exp, over, runs?, log);
        if dir == results {
            reported?;
            continue;
        }
        // A grid point whose own runs cannot make a report (its baseline's runs unfinished, or
        // no finite value to plot) is named, and the others are reported all the same; the
        // command still fails at the end, listing it. Any other error (a flag out of range, a
        // file that cannot be written) stops the command at once.
        let opts = match reported {
            Ok(opts) => opts,
            Err(e @ (ReportError::NoBaseline { .. } | ReportError::NothingToPlot { .. })) => {
                log.push(ReportLine::Warning(format!(
                    "grid point {}: not reported: {e}",
                    dir.display()
                )));
                failed.push(dir.display().to_string());
                let mut p = point(Some(vec![]));
                p.missing = vec![format!("not reported ({e})")];
                unrun.push((grid, p));
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut p = point(opts.runs.clone());
        p.missing = opts.missing.clone();
        p.departures = opts.departures.clone();
        match grids.iter_mut().find(|(g, _, _)| *g == grid) {
            Some((_, points, _)) => points.push(p),
            None => grids.push((grid, vec![p], opts)),
        }
    }
    some_point_started(results, &grids, &failed, unrun.len())?;
    for (grid, point) in unrun {
        if let Some((_, points, _)) = grids.iter_mut().find(|(g, _, _)| *g == grid) {
            points.push(point);
        }
    }
    let written = write_sweep_reports(results, &grids, log);
    none_failed(&failed, written)
}

/// A sweep none of whose points has finished a run (`unrun` points, none reported or failed) has
/// nothing to report: an error, as for one experiment, not only a warning per point.
fn some_point_started(
    results: &Path,
    grids: &[Grid],
    failed: &[String],
    unrun: usize,
) -> Result<(), ReportError> {
    if !grids.is_empty() || !failed.is_empty() || unrun == 0 {
        return Ok(());
    }
    Err(ReportError::Options(format!(
        "{}: no grid point of this sweep has a finished run yet ({}); `activepref run` on the sweep's file runs them, and `activepref report <grid point> --partial` shows one point's rounds so far",
        results.display(),
        activepref_core::error::counted(unrun, "grid point", "grid points")
    )))
}

/// The end of a sweep's report: `written` (the ablation reports and the sweep's table), and the
/// grid points not reported (each already named in a warning with its cause), both in one error
/// where both failed.
fn none_failed(failed: &[String], written: Result<(), ReportError>) -> Result<(), ReportError> {
    if failed.is_empty() {
        return written;
    }
    let also = written
        .err()
        .map_or(String::new(), |e| format!("; and {e}"));
    Err(ReportError::Options(format!(
        "{} not be reported (the warnings above say why; the other points with finished runs were reported): {}{also}",
        activepref_core::error::counted(failed.len(), "grid point could", "grid points could"),
        failed.join(", ")
    )))
}

/// A results directory's `config.resolved.yaml`, split into its setting.
pub(crate) fn read_resolved(resolved: &Path) -> Result<Experiment, ReportError> {
    let text = std::fs::read_to_string(resolved)
        .map_err(|e| ReportError::Options(format!("{}: cannot read ({e})", resolved.display())))?;
    ExperimentConfig::parse_unchecked(&text, resolved)?
        .into_experiment()
        .map_err(|e| ReportError::Options(format!("{}: {e}", resolved.display())))
}

/// The sweep's tidy table (every grid point's runs) and one ablation report per grid.
fn write_sweep_reports(
    results: &Path,
    grids: &[Grid],
    log: &mut ReportLog,
) -> Result<(), ReportError> {
    let all: Vec<ExportedRuns> = grids
        .iter()
        .flat_map(|(_, points, _)| points.iter())
        .filter_map(|p| {
            let runs = p.runs.as_deref()?;
            let point = p.dir.strip_prefix(results).ok()?.to_str()?;
            Some(ExportedRuns {
                grid_point: point,
                dir: &p.dir,
                runs,
            })
        })
        .collect();
    if !all.is_empty() {
        export_table(&all, &results.join("results.parquet"), log);
    }
    for (grid, points, opts) in grids {
        let name = grid
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let title = format!("{} ({name})", opts.title);
        for f in write_ablation_report(&title, points, &grid.join("ablation"), opts)? {
            log.push(ReportLine::Wrote(f));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_directory_s_out_of_bounds_value_says_how_to_go_on() {
        // `bootstrap: 10` was accepted before the 40-resample floor; read back from an old
        // directory's config.resolved.yaml, its own flag overrides it, else the error says how.
        let old = ReportSection {
            bootstrap: 10,
            ..ReportSection::default()
        };
        let e = ReportOverrides::default()
            .apply(&old)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("report.bootstrap: is 10;")
                && e.ends_with("which an older version accepted); pass `--bootstrap N` to `activepref report`, or fix it in the experiment file and run that again (`activepref run` keeps the runs it finished: the report section is not part of a run's id)"),
            "{e}"
        );
        let over = ReportOverrides {
            bootstrap: Some(200),
            ..ReportOverrides::default()
        };
        assert_eq!(over.apply(&old).unwrap().bootstrap, 200);
    }
}
