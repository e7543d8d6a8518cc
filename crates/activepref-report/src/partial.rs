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
    let runs_dir = dir.join("runs");
    // (policy, seed), its file's lines (header first), and whether the run finished.
    let mut rows: Vec<((String, u64), Vec<String>, bool)> = vec![];
    let mut not_started = vec![];
    for label in exp.setting.labels() {
        for &seed in &exp.common.seeds {
            let run = (label.clone(), seed);
            let stem = format!("{label}__seed{seed}");
            let finished = found.finished.contains(&run);
            let path = if finished {
                runs_dir.join(format!("{stem}.csv"))
            } else {
                runs_dir.join(format!("{stem}.{PARTIAL_RUN_FILE}"))
            };
            match std::fs::read_to_string(&path) {
                Ok(text) if text.lines().count() > 1 => {
                    rows.push((run, text.lines().map(str::to_string).collect(), finished));
                }
                _ => not_started.push(format!("{label} seed {seed}: no round finished yet")),
            }
        }
    }
    let Some(cut) = rows.iter().map(|(_, lines, _)| lines.len() - 1).min() else {
        return Err(ReportError::Options(format!(
            "{}: no run has finished a round yet; a partial report needs at least one round of every run it shows",
            dir.display()
        )));
    };
    let stage = dir.join("partial");
    own_dir(&stage)?;
    own_dir(&stage.join("runs"))?;
    for ((label, seed), lines, _) in &rows {
        let path = stage.join("runs").join(format!("{label}__seed{seed}.csv"));
        write_text(&path, &format!("{}\n", lines[..=cut].join("\n")))?;
    }
    let unfinished = rows.iter().filter(|(_, _, done)| !done).count();
    let runs = ReportableRuns {
        finished: rows.iter().map(|(run, _, _)| run.clone()).collect(),
        missing: not_started,
        variant: found.variant,
    };
    let mut opts = options_for(&exp, over, runs)?;
    let of = exp
        .known_rounds_per_run()
        .map_or(String::new(), |r| format!(" of {r}"));
    opts.title = format!("{} (partial: {cut}{of} rounds)", opts.title);
    opts.departures.insert(
        0,
        format!(
            "a partial report: {unfinished} of the {} runs shown are unfinished; every run is cut after round {cut}{of}, so the curves stop there and each saving is measured against the baseline's value at that round, not at the experiment's end.",
            rows.len()
        ),
    );
    for f in write_report(&stage, &opts)? {
        log.push(ReportLine::Wrote(f));
    }
    Ok(())
}
