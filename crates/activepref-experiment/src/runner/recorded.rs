//! Reading back what a run recorded of its rounds' cost (`runs/<stem>.timings.csv` next to its
//! run file, or a paused run's `runs/<stem>.state.json`), for comparing a cost model with a
//! real run (`activepref bench-round --against`).

use std::fs;
use std::path::Path;

use serde::Deserialize;

use super::checkpoint::TimingRow;
use super::error::RunError;

/// One round of a run as it recorded it: the labelled size it trained on, its wall-clock seconds
/// per stage and its training work.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRound {
    /// 0-based round.
    pub round: usize,
    /// The labelled comparisons (pool setting) or acquired pairs (pair setting) of the round.
    pub labels: usize,
    /// Seconds training (wall clock).
    pub train_secs: f64,
    /// Seconds scoring.
    pub score_secs: f64,
    /// Seconds selecting.
    pub select_secs: f64,
    /// Optimiser steps summed over the networks trained; `None` for a round recorded before
    /// `timings.csv` had the column.
    pub train_steps: Option<usize>,
    /// Validation passes summed over the networks trained; `None` as for `train_steps`.
    pub validation_passes: Option<usize>,
    /// Whether the round selected a batch (a pool run's record has a `batch_size`): every round
    /// of a pool run but its last, which scores no pool.
    pub selected: bool,
}

/// The columns of a run-file row or checkpoint record that say which labelled size a round had.
#[derive(Deserialize)]
struct Labels {
    round: usize,
    labels: usize,
    #[serde(default)]
    batch_size: Option<usize>,
}

/// What a checkpoint holds besides what it acquired.
#[derive(Deserialize)]
struct State {
    records: Vec<Labels>,
    timings: Vec<TimingRow>,
}

/// The rounds a run recorded, in order: from a paused run's `runs/<stem>.state.json`, or from a
/// finished run's `runs/<stem>.timings.csv` and its run file `runs/<stem>.csv` beside it (for
/// each round's labelled size).
///
/// # Errors
///
/// [`RunError::Io`] when a file cannot be read; [`RunError::UnreadableTimings`] when `path` is
/// neither kind of file, does not parse, or its rounds do not match its records' rounds.
pub fn read_recorded_rounds(path: &Path) -> Result<Vec<RecordedRound>, RunError> {
    let unreadable = |why: String| RunError::UnreadableTimings {
        path: path.to_path_buf(),
        why,
    };
    let read = |p: &Path| {
        fs::read_to_string(p).map_err(|error| RunError::Io {
            action: "read",
            path: p.to_path_buf(),
            error,
        })
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let (stem, paused) = if let Some(stem) = name.strip_suffix(".state.json") {
        (stem, true)
    } else if let Some(stem) = name.strip_suffix(".timings.csv") {
        (stem, false)
    } else {
        return Err(unreadable(
            "not a run's `<stem>.timings.csv` or `<stem>.state.json`".to_string(),
        ));
    };
    let beside = |extension: &str| path.with_file_name(format!("{stem}{extension}"));
    // A finished run has no checkpoint any more, a paused one no timings file yet.
    let (other, state) = if paused {
        (beside(".timings.csv"), "finished")
    } else {
        (beside(".state.json"), "paused")
    };
    if !path.exists() && other.exists() {
        return Err(unreadable(format!(
            "the run is {state}, so this file does not exist: give {}",
            other.display()
        )));
    }
    let (labels, timings) = if paused {
        let state: State =
            serde_json::from_str(&read(path)?).map_err(|e| unreadable(e.to_string()))?;
        (state.records, state.timings)
    } else {
        let run_file = beside(".csv");
        let timings = csv_rows::<TimingRow>(&read(path)?).map_err(&unreadable)?;
        let text = fs::read_to_string(&run_file).map_err(|e| {
            unreadable(format!(
                "its run file {}, which gives each round's labelled size, cannot be read: {}",
                run_file.display(),
                activepref_core::io::describe(&e)
            ))
        })?;
        let labels = csv_rows::<Labels>(&text)
            .map_err(|e| unreadable(format!("its run file {}: {e}", run_file.display())))?;
        (labels, timings)
    };
    if timings.is_empty() {
        return Err(unreadable("no round recorded yet".to_string()));
    }
    let of_timings: Vec<usize> = timings.iter().map(TimingRow::round).collect();
    let of_labels: Vec<usize> = labels.iter().map(|l| l.round).collect();
    if of_timings != of_labels {
        return Err(unreadable(format!(
            "its timings cover rounds {of_timings:?} but its records rounds {of_labels:?}"
        )));
    }
    Ok(timings
        .iter()
        .zip(&labels)
        .map(|(t, l)| t.recorded(l.labels, l.batch_size.is_some()))
        .collect())
}

/// Every row of a CSV text with a header, deserialised (columns not in `T` are ignored). A value
/// that does not parse is named by its line and its column's header (`line 3, column
/// `train_steps`: invalid digit found in string`), not by the csv crate's 0-based field number.
fn csv_rows<T: for<'de> Deserialize<'de>>(text: &str) -> Result<Vec<T>, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    reader
        .deserialize()
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| match e.kind() {
            csv::ErrorKind::Deserialize { pos, err } => {
                let line = pos
                    .as_ref()
                    .map_or(String::new(), |p| format!("line {}, ", p.line()));
                let column = err
                    .field()
                    .and_then(|f| headers.get(usize::try_from(f).ok()?))
                    .map_or(String::new(), |h| format!("column `{h}`: "));
                format!("{line}{column}{}", err.kind())
            }
            _ => e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("activepref-recorded-{name}-"))
            .tempdir()
            .unwrap()
    }

    /// A finished run's timings with its run file's labelled sizes; a paused run's checkpoint,
    /// whose first round came from before the work columns.
    #[test]
    fn rounds_read_back_from_a_finished_or_paused_run() {
        let tmp = scratch("read");
        let dir = tmp.path();
        let timings = dir.join("balpm__seed9.timings.csv");
        fs::write(
            &timings,
            "round,train_secs,score_secs,select_secs,train_steps,validation_passes,kernels\n\
             0,2.5,1.0,0.25,50,10,cpu f32 gemm fma\n\
             1,3.5,0.75,0.125,75,15,cpu f32 gemm fma\n",
        )
        .unwrap();
        fs::write(
            dir.join("balpm__seed9.csv"),
            "policy,seed,round,labels,test_log_likelihood,batch_size\nbalpm,9,0,320,-0.69,320\nbalpm,9,1,640,-0.68,\n",
        )
        .unwrap();
        let rounds = read_recorded_rounds(&timings).unwrap();
        assert_eq!(
            rounds[1],
            RecordedRound {
                round: 1,
                labels: 640,
                train_secs: 3.5,
                score_secs: 0.75,
                select_secs: 0.125,
                train_steps: Some(75),
                validation_passes: Some(15),
                selected: false,
            }
        );
        assert_eq!(
            (rounds.len(), rounds[0].labels, rounds[0].selected),
            (2, 320, true)
        );

        let state = dir.join("bald__seed9.state.json");
        fs::write(
            &state,
            r#"{"round":2,"acquired":[1,2],"records":[{"round":0,"labels":16000,"test_log_likelihood":-0.6,"batch_size":320},{"round":1,"labels":16320,"batch_size":null}],
               "timings":[{"round":0,"train_secs":500.0,"score_secs":113.0,"select_secs":1.0,"kernels":"k"},
                          {"round":1,"train_secs":510.0,"score_secs":112.0,"select_secs":1.0,"train_steps":6500,"validation_passes":70,"kernels":"k"}]}"#,
        )
        .unwrap();
        let rounds = read_recorded_rounds(&state).unwrap();
        assert_eq!(
            rounds
                .iter()
                .map(|r| (r.labels, r.train_steps, r.validation_passes, r.selected))
                .collect::<Vec<_>>(),
            [
                (16000, None, None, true),
                (16320, Some(6500), Some(70), false)
            ]
        );
    }

    /// Another file, a run file missing, or rounds that do not match: a one-line error naming
    /// the file.
    #[test]
    fn what_is_not_a_runs_record_is_refused() {
        let tmp = scratch("refused");
        let dir = tmp.path();
        let summary = dir.join("summary.md");
        fs::write(&summary, "| a |").unwrap();
        let e = read_recorded_rounds(&summary).unwrap_err().to_string();
        assert!(e.contains("not a run's `<stem>.timings.csv`"), "{e}");
        let timings = dir.join("x__seed1.timings.csv");
        fs::write(
            &timings,
            "round,train_secs,score_secs,select_secs,kernels\n0,1.0,1.0,0.0,k\n1,1.0,1.0,0.0,k\n",
        )
        .unwrap();
        let e = read_recorded_rounds(&timings).unwrap_err().to_string();
        assert!(
            e.contains("x__seed1.csv, which gives each round's labelled size, cannot be read")
                && e.ends_with("with its run file <stem>.csv beside it"),
            "{e}"
        );
        // A paused run's timings file, or a finished run's checkpoint: the other file is named.
        fs::write(dir.join("y__seed1.state.json"), "{}").unwrap();
        for (asked, state, other) in [
            ("x__seed1.state.json", "finished", "x__seed1.timings.csv"),
            ("y__seed1.timings.csv", "paused", "y__seed1.state.json"),
        ] {
            let e = read_recorded_rounds(&dir.join(asked))
                .unwrap_err()
                .to_string();
            let says = format!("the run is {state}, so this file does not exist: give");
            assert!(e.contains(&says) && e.contains(other), "{e}");
        }
        fs::write(dir.join("x__seed1.csv"), "round,labels\n0,320\n").unwrap();
        let e = read_recorded_rounds(&timings).unwrap_err().to_string();
        assert!(
            e.contains("rounds [0, 1] but its records rounds [0]"),
            "{e}"
        );
        // A hand-edited value that does not parse: its line and its column by name.
        fs::write(
            &timings,
            "round,train_secs,score_secs,select_secs,train_steps,kernels\n0,1.0,1.0,0.0,12,k\n1,1.0,1.0,0.0,twelve,k\n",
        )
        .unwrap();
        let e = read_recorded_rounds(&timings).unwrap_err().to_string();
        assert!(
            e.contains("x__seed1.timings.csv") && e.contains("line 3, column `train_steps`: "),
            "{e}"
        );
    }
}
