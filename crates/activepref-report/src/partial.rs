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
        return Err(not_one_results_dir(dir));
    }
    let exp = read_resolved(&resolved)?;
    let mut found = reportable_runs(&exp, dir)?;
    if found.unfinished.is_empty() {
        return Err(ReportError::Options(format!(
            "{}: no unfinished run of this configuration has rows to show ({} finished); `{}` is the report of the finished runs",
            dir.display(),
            found.finished.len(),
            crate::report_command(&dir.to_string_lossy(), false)
        )));
    }
    let rows = rows_so_far(&mut found, &dir.join("runs"))?;
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
    if !opts.missing.is_empty() {
        log.push(ReportLine::Warning(format!(
            "{}: {} left out of the partial report ({})",
            dir.display(),
            activepref_core::error::counted(opts.missing.len(), "expected run", "expected runs"),
            activepref_core::error::first_few(&opts.missing, 3)
        )));
    }
    if cut > 1 && opts.smoothing_window >= cut {
        log.push(ReportLine::Warning(format!(
            "{}: the smoothing window ({} rounds) is as long as the {cut} rounds shown or longer, so every point of a partial curve is the mean of all rounds up to it; `{} --window {}` or less for a trailing mean",
            dir.display(),
            opts.smoothing_window,
            crate::report_command(&dir.to_string_lossy(), true),
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
/// far of an unfinished one of this configuration ([`ReportableRuns::unfinished`]), which then
/// leaves `found.missing`; runs without a round yet are left out, and so is a file whose rows do not all have the header's fields
/// (edited or cut by hand: the runner writes whole files), named in `found.missing`.
fn rows_so_far(found: &mut ReportableRuns, runs_dir: &Path) -> Result<Vec<RunLines>, ReportError> {
    let sources: Vec<((String, u64), &str)> = found
        .finished
        .iter()
        .map(|run| (run.clone(), "csv"))
        .chain(
            found
                .unfinished
                .iter()
                .map(|run| (run.clone(), PARTIAL_RUN_FILE)),
        )
        .collect();
    let mut rows = vec![];
    for ((label, seed), ext) in sources {
        let name = format!("{label}__seed{seed}.{ext}");
        let path = runs_dir.join(&name);
        let text = std::fs::read_to_string(&path).map_err(|error| ReportError::Io {
            action: "read",
            path: path.clone(),
            error,
        })?;
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        let fields = |l: &String| l.split(',').count();
        let whole = text.ends_with('\n') && lines.iter().all(|l| fields(l) == fields(&lines[0]));
        // A shown run, or a damaged one's own reason, replaces the "not finished" its state gave.
        let head = format!("{label} seed {seed}: ");
        if !whole {
            found.missing.retain(|m| !m.starts_with(&head));
            found.missing.push(format!(
                "{head}its {name} has rows cut short or edited (a run rewrites it whole after its next round)"
            ));
        } else if lines.len() > 1 {
            found.missing.retain(|m| !m.starts_with(&head));
            rows.push(((label, seed), lines));
        }
    }
    Ok(rows)
}

/// The error of `--partial` on a path that is not one results directory: missing, a file, or a
/// sweep's results root (whose grid points are named).
fn not_one_results_dir(dir: &Path) -> ReportError {
    let why = if !dir.exists() {
        "does not exist".to_string()
    } else if !dir.is_dir() {
        "is a file, not a results directory".to_string()
    } else {
        match crate::result_dirs::result_dirs(dir) {
            Ok(found) if !found.is_empty() => {
                let names: Vec<String> = found.iter().map(|d| d.display().to_string()).collect();
                format!(
                    "holds results directories, not one; --partial reports one of them: {}",
                    activepref_core::error::first_few(&names, 3)
                )
            }
            _ => "not a results directory (it has no config.resolved.yaml)".to_string(),
        }
    };
    ReportError::Options(format!(
        "{}: {why}; --partial reports one results directory that `activepref run` wrote",
        dir.display()
    ))
}

/// The report options of a partial report of `rows` cut to `cut` rounds: the experiment's, with
/// the cut in the title and in words ([`crate::ReportOptions::partial`]).
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
    let runs = ReportableRuns {
        finished: rows.iter().map(|(run, _)| run.clone()).collect(),
        missing: found.missing,
        unfinished: Vec::new(),
        variant: found.variant,
    };
    let mut opts = options_for(exp, over, runs)?;
    // "first 2 of 3 rounds", or "first 1 round" where the run's length is not known.
    let first = match exp.known_rounds_per_run() {
        Some(r) => format!("first {cut} of {r} rounds"),
        None => format!(
            "first {}",
            activepref_core::error::counted(cut, "round", "rounds")
        ),
    };
    opts.title = format!("{} (partial: {first})", opts.title);
    // Where some runs went further, the ones that set the cut are named.
    let set_by = if shortest.len() < rows.len() {
        format!(
            " (the fewest any has finished: {})",
            activepref_core::error::first_few(&shortest, 3)
        )
    } else {
        String::new()
    };
    let shown = match (rows.len(), unfinished) {
        // Every unfinished run was left out (its rows cut short or edited): named in a warning.
        (_, 0) => "every run shown is finished".to_string(),
        (1, _) => "the one run shown is unfinished".to_string(),
        (n, 1) => format!("1 of the {n} runs shown is unfinished"),
        (n, u) => format!("{u} of the {n} runs shown are unfinished"),
    };
    opts.partial = Some(format!(
        "{shown}, and every run is cut to its {first}{set_by}, so the curves stop there and each saving is measured against the baseline's value at that round, not at the experiment's end."
    ));
    Ok(opts)
}
