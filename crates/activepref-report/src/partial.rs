//! The report of an unfinished experiment (`activepref report --partial`): a quick look at runs
//! paused by `--max-rounds`, interrupted, or still going. Each run's rows so far are its run file
//! when it finished, else the `runs/<stem>.partial.csv` its checkpoint rewrites after every
//! round. Every run is cut at the fewest rounds any of them has finished, so that each policy's
//! curve averages the same rounds of every seed and the baseline's "final" value is the one at
//! that round. The copies and the report go to `<dir>/partial/` (`runs/`, `report/`), never over
//! the experiment's own report.

use std::path::Path;

use activepref_experiment::PARTIAL_RUN_FILE;
use activepref_experiment::results_dir::{ReportableRuns, reportable_runs};

use crate::ReportError;
use crate::results::{ReportLine, ReportLog, ReportOverrides, options_for, read_resolved};
use crate::write::{own_dir, write_report, write_text};

/// Writes the partial report of results directory `dir` to `<dir>/partial/report/`.
///
/// # Errors
/// The directory has no `config.resolved.yaml`, no run has finished a round yet, a run file
/// cannot be read, or the report cannot be written.
pub fn report_partial(
    dir: &Path,
    over: ReportOverrides,
    log: &mut ReportLog,
) -> Result<(), ReportError> {
    let resolved = dir.join("config.resolved.yaml");
    if !resolved.is_file() {
        return Err(ReportError::Options(format!(
            "{}: not a results directory (it has no config.resolved.yaml); --partial reports one results directory that `activepref run` wrote (in a sweep, one grid point's folder)",
            dir.display()
        )));
    }
    let exp = read_resolved(&resolved)?;
    let found = reportable_runs(&exp, dir)?;
    let rows = rows_so_far(&found, &dir.join("runs"))?;
    let Some(cut) = rows.iter().map(|(_, lines)| lines.len() - 1).min() else {
        return Err(ReportError::Options(format!(
            "{}: no run of this configuration has finished a round yet; a partial report shows runs from their first round on",
            dir.display()
        )));
    };
    let stage = dir.join("partial");
    own_dir(&stage)?;
    own_dir(&stage.join("runs"))?;
    for ((label, seed), lines) in &rows {
        let path = stage.join("runs").join(format!("{label}__seed{seed}.csv"));
        write_text(&path, &format!("{}\n", lines[..=cut].join("\n")))?;
    }
    let opts = partial_options(&exp, over, found, &rows, cut)?;
    if cut > 1 && opts.smoothing_window >= cut {
        log.push(ReportLine::Warning(format!(
            "{}: the smoothing window ({} rounds) is as long as the {cut} rounds shown or longer, so every point of a partial curve is the mean of all rounds up to it; `--window {}` or less for a trailing mean",
            dir.display(),
            opts.smoothing_window,
            cut - 1
        )));
    }
    for f in write_report(&stage, &opts)? {
        log.push(ReportLine::Wrote(f));
    }
    Ok(())
}

/// A run (policy label, seed) and its file's lines, header first.
type RunLines = ((String, u64), Vec<String>);

/// The lines of every run a partial report shows: the run file of a finished run, the rows so
/// far of an unfinished one of this configuration ([`ReportableRuns::unfinished`]); runs without
/// a round yet are left out.
fn rows_so_far(found: &ReportableRuns, runs_dir: &Path) -> Result<Vec<RunLines>, ReportError> {
    let sources = found
        .finished
        .iter()
        .map(|run| (run, "csv"))
        .chain(found.unfinished.iter().map(|run| (run, PARTIAL_RUN_FILE)));
    let mut rows = vec![];
    for ((label, seed), ext) in sources {
        let path = runs_dir.join(format!("{label}__seed{seed}.{ext}"));
        let text = std::fs::read_to_string(&path).map_err(|error| ReportError::Io {
            action: "read",
            path: path.clone(),
            error,
        })?;
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() > 1 {
            rows.push(((label.clone(), *seed), lines));
        }
    }
    Ok(rows)
}

/// The report options of a partial report of `rows` cut to `cut` rounds: the experiment's, with
/// the cut in the title and, first among the departures, in words.
fn partial_options(
    exp: &activepref_experiment::Experiment,
    over: ReportOverrides,
    found: ReportableRuns,
    rows: &[RunLines],
    cut: usize,
) -> Result<crate::ReportOptions, ReportError> {
    // The runs that set the cut, named: a seed that just started cuts every curve short.
    let shortest: Vec<String> = rows
        .iter()
        .filter(|(_, lines)| lines.len() - 1 == cut)
        .map(|((label, seed), _)| format!("{label} seed {seed}"))
        .collect();
    let unfinished = rows
        .iter()
        .filter(|(run, _)| found.unfinished.contains(run))
        .count();
    let shown: Vec<(String, u64)> = rows.iter().map(|(run, _)| run.clone()).collect();
    let missing = found
        .missing
        .iter()
        .filter(|m| {
            !shown
                .iter()
                .any(|(l, s)| m.starts_with(&format!("{l} seed {s}: ")))
        })
        .cloned()
        .collect();
    let runs = ReportableRuns {
        finished: shown,
        missing,
        unfinished: Vec::new(),
        variant: found.variant,
    };
    let mut opts = options_for(exp, over, runs)?;
    let of = exp
        .known_rounds_per_run()
        .map_or(String::new(), |r| format!(" of {r}"));
    opts.title = format!("{} (partial: first {cut}{of} rounds)", opts.title);
    // Where some runs went further, the ones that set the cut are named.
    let set_by = if shortest.len() < rows.len() {
        format!(
            " (the fewest any has finished: {})",
            activepref_core::error::first_few(&shortest, 3)
        )
    } else {
        String::new()
    };
    opts.departures.insert(
        0,
        format!(
            "a partial report: {unfinished} of the {} runs shown are unfinished, and every run is cut to its first {cut}{of} rounds{set_by}, so the curves stop there and each saving is measured against the baseline's value at that round, not at the experiment's end.",
            rows.len()
        ),
    );
    Ok(opts)
}
