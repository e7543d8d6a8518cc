//! Checkpoints and resume: a run advances round by round, its state is rewritten atomically after
//! every round, and its run file (then its seal) is written when it ends.

use std::fs;
use std::path::Path;

use activepref_loop::{LoopError, RoundTiming};
use serde::{Deserialize, Serialize};

use super::error::{RunError, write_file};
use super::recorded::RecordedRound;
use super::run_files::{PARTIAL_RUN_FILE, csv_bytes, remove_files_of};
use crate::progress::Progress;
use crate::results_dir::run_file_seal;

/// What `*.state.json` holds: the finished rounds, what the run has acquired (the labelled set or
/// the acquired pairs), and the rows and timings so far.
#[derive(Serialize, Deserialize)]
pub(crate) struct RunState<C, R> {
    round: usize,
    acquired: C,
    records: Vec<R>,
    timings: Vec<TimingRow>,
}

/// One row of `*.timings.csv`: a round's wall-clock seconds, its training work and the kernels
/// it computed with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TimingRow {
    round: usize,
    train_secs: f64,
    score_secs: f64,
    select_secs: f64,
    /// [`RoundTiming::train_steps`]; empty in a state file written before this column existed.
    #[serde(default)]
    train_steps: Option<usize>,
    /// [`RoundTiming::validation_passes`]; empty in a state file written before this column
    /// existed.
    #[serde(default)]
    validation_passes: Option<usize>,
    /// [`activepref_model::compute_kernels`] of the process that ran the round; empty in a state
    /// file written before this column existed.
    #[serde(default)]
    kernels: String,
}

impl TimingRow {
    fn new(t: RoundTiming, kernels: &str) -> Self {
        Self {
            round: t.round,
            train_secs: t.train_secs,
            score_secs: t.score_secs,
            select_secs: t.select_secs,
            train_steps: Some(t.train_steps),
            validation_passes: Some(t.validation_passes),
            kernels: kernels.to_string(),
        }
    }

    fn secs(&self) -> f64 {
        self.train_secs + self.score_secs + self.select_secs
    }

    pub(crate) fn round(&self) -> usize {
        self.round
    }

    /// This row as a [`RecordedRound`] of `labels` labelled comparisons that selected a batch or
    /// not.
    pub(crate) fn recorded(&self, labels: usize, selected: bool) -> RecordedRound {
        RecordedRound {
            round: self.round,
            labels,
            train_secs: self.train_secs,
            score_secs: self.score_secs,
            select_secs: self.select_secs,
            train_steps: self.train_steps,
            validation_passes: self.validation_passes,
            selected,
        }
    }
}

/// The warning a resumed run deserves when its finished rounds computed with other kernels than
/// this process (results then differ in their last bits from a run made on one machine).
fn kernel_change(done: &[TimingRow], now: &str) -> Option<String> {
    let last = done.iter().rev().find(|t| !t.kernels.is_empty())?;
    (last.kernels != now).then(|| {
        format!(
            "its first {} computed with `{}`, this process computes with `{now}`: the numbers differ in their last bits from a run made on one kind of machine (see runs/*.timings.csv, column kernels)",
            activepref_core::error::counted(done.len(), "round", "rounds"),
            last.kernels
        )
    })
}

/// A loop that advances round by round and can be rebuilt from what it acquired.
pub(crate) trait ResumableRun {
    /// What the run has acquired (the labelled set, or the acquired pairs): all a resume needs.
    type Acquired: Serialize + for<'de> Deserialize<'de>;
    /// One round's record (one run-file row).
    type Record: Serialize + for<'de> Deserialize<'de> + Clone;
    /// Rounds finished.
    fn round(&self) -> usize;
    /// Whether every round is done.
    fn finished(&self) -> bool;
    /// Runs one round.
    fn step(&mut self) -> Result<(Self::Record, RoundTiming), LoopError>;
    /// What the run has acquired so far.
    fn acquired(&self) -> Self::Acquired;
    /// Rebuilds the run after `round` finished rounds that acquired `acquired`.
    fn resume(&mut self, acquired: Self::Acquired, round: usize) -> Result<(), LoopError>;
    /// The run file's bytes for these records.
    fn csv(&self, records: &[Self::Record], path: &Path) -> Result<Vec<u8>, RunError>;
    /// Files a finished run writes besides its run file (the pair loop's acquired dataset and
    /// prefix evaluation): the extensions written (`pairs.jsonl`), which the run's seal covers.
    fn write_artefacts(
        &self,
        _runs_dir: &Path,
        _stem: &str,
    ) -> Result<Vec<&'static str>, RunError> {
        Ok(vec![])
    }
    /// A line worth telling the user about a finished round (printed above the progress bar).
    fn warning(&self, _record: &Self::Record) -> Option<String> {
        None
    }
}
/// What [`drive`] did: compute seconds spent now, the round it resumed from, whether it ended.
pub(crate) struct RunDone {
    pub(crate) secs: f64,
    pub(crate) from_round: usize,
    pub(crate) finished: bool,
}

/// Which run [`drive`] advances: its file stem and id, its number among the runs to do, how
/// many rounds it records, and the kernels this process computes with
/// ([`activepref_model::compute_kernels`]).
pub(crate) struct RunSlot<'a> {
    pub(crate) stem: &'a str,
    pub(crate) run_id: String,
    pub(crate) number: (usize, usize),
    pub(crate) rounds: usize,
    pub(crate) kernels: &'a str,
}

/// Runs (or resumes, through [`ResumableRun::resume`]) one (policy, seed) run for at most `max_rounds` rounds,
/// checkpointing after every round and writing the run file (then its seal) when it finishes.
pub(crate) fn drive<R: ResumableRun>(
    mut run: R,
    runs_dir: &Path,
    slot: &RunSlot<'_>,
    bar: &Progress,
    max_rounds: Option<usize>,
) -> Result<RunDone, RunError> {
    let stem = slot.stem;
    let state_path = runs_dir.join(format!("{stem}.state.json"));
    let (mut records, mut timings) = match fs::read_to_string(&state_path) {
        Ok(text) => {
            let state: RunState<R::Acquired, R::Record> =
                serde_json::from_str(&text).map_err(|e| RunError::UnreadableState {
                    path: state_path.clone(),
                    why: e.to_string(),
                })?;
            run.resume(state.acquired, state.round)
                .map_err(|error| RunError::Resume {
                    path: state_path.clone(),
                    error,
                })?;
            (state.records, state.timings)
        }
        Err(_) => (vec![], vec![]),
    };
    let from_round = run.round();
    bar.resumed(from_round as u64);
    if let Some(warning) = kernel_change(&timings, slot.kernels) {
        bar.println(format!("warning: run {stem}: {warning}"));
    }
    let stop_at = max_rounds.map_or(usize::MAX, |m| from_round + m);
    while !run.finished() && run.round() < stop_at {
        let (record, timing) = run.step().map_err(|error| RunError::Run {
            stem: stem.to_string(),
            error,
        })?;
        if let Some(warning) = run.warning(&record) {
            bar.println(format!("warning: run {stem}: {warning}"));
        }
        records.push(record);
        timings.push(TimingRow::new(timing, slot.kernels));
        let state = RunState {
            round: run.round(),
            acquired: run.acquired(),
            records: records.clone(),
            timings: timings.clone(),
        };
        let json = serde_json::to_string(&state).map_err(|e| RunError::Serialise {
            path: state_path.clone(),
            error: e.to_string(),
        })?;
        write_file(&state_path, json.as_bytes())?;
        let partial_path = runs_dir.join(format!("{stem}.{PARTIAL_RUN_FILE}"));
        if let Err(e) = write_rows_so_far(&run, &records, &partial_path) {
            bar.println(format!(
                "warning: run {stem}: rows so far not written ({e})"
            ));
        }
        bar.round_done(slot.number, stem, (run.round(), slot.rounds), timing.secs());
    }
    let secs = timings[from_round.min(timings.len())..]
        .iter()
        .map(TimingRow::secs)
        .sum();
    if !run.finished() {
        return Ok(RunDone {
            secs,
            from_round,
            finished: false,
        });
    }
    write_finished(&run, runs_dir, slot, bar, &records, &timings)?;
    Ok(RunDone {
        secs,
        from_round,
        finished: true,
    })
}

/// The rows so far in the run file's format (`runs/<stem>.partial.csv`), for a report of an
/// unfinished experiment: a convenience, so the caller says a failure rather than stopping the
/// run (its checkpoint is saved).
fn write_rows_so_far<R: ResumableRun>(
    run: &R,
    records: &[R::Record],
    path: &Path,
) -> Result<(), RunError> {
    write_file(path, &run.csv(records, path)?)
}

/// The files of a finished run: its timings, its artefacts, its run file, then the seal; the
/// rows so far and the state file go last.
fn write_finished<R: ResumableRun>(
    run: &R,
    runs_dir: &Path,
    slot: &RunSlot<'_>,
    bar: &Progress,
    records: &[R::Record],
    timings: &[TimingRow],
) -> Result<(), RunError> {
    let (stem, run_id) = (slot.stem, slot.run_id.as_str());
    let timings_path = runs_dir.join(format!("{stem}.timings.csv"));
    write_file(&timings_path, &csv_bytes(timings, &timings_path)?)?;
    // The pair loop's acquired dataset and prefix evaluation (fresh models: it can take a while).
    bar.status(format!("{stem}: writing what it acquired"));
    let artefacts = run.write_artefacts(runs_dir, stem)?;
    let run_path = runs_dir.join(format!("{stem}.csv"));
    let bytes = run.csv(records, &run_path)?;
    write_file(&run_path, &bytes)?;
    // The seal: what `report` and the next `run` check the run file against, then one line per
    // artefact (`pairs.jsonl <length> <hash>`), so that a deleted or edited one is seen too.
    let mut seal = format!("{run_id}\n{}\n", run_file_seal(&bytes));
    for ext in artefacts {
        let path = runs_dir.join(format!("{stem}.{ext}"));
        let bytes = fs::read(&path).map_err(|error| RunError::Io {
            action: "read",
            path,
            error,
        })?;
        seal.push_str(&format!("{ext} {}\n", run_file_seal(&bytes)));
    }
    let id_path = runs_dir.join(format!("{stem}.run-id"));
    write_file(&id_path, seal.as_bytes())?;
    remove_files_of(runs_dir, stem, &[PARTIAL_RUN_FILE, "state.json"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(round: usize, kernels: &str) -> TimingRow {
        TimingRow::new(
            RoundTiming {
                round,
                ..Default::default()
            },
            kernels,
        )
    }

    /// A resumed run is warned when its rounds so far computed with other kernels; a state file
    /// from before the column (no `kernels`) still reads, and says nothing.
    #[test]
    fn a_resume_on_other_kernels_is_warned() {
        let amx = "cpu f32 gemm avx512f; bf16 amx tdpbf16ps";
        let gemmkit = "cpu f32 gemm avx512f; bf16 gemmkit vdpbf16ps";
        assert_eq!(kernel_change(&[], amx), None);
        assert_eq!(kernel_change(&[row(0, amx), row(1, amx)], amx), None);
        let warning = kernel_change(&[row(0, amx), row(1, amx)], gemmkit).unwrap();
        assert!(
            warning.starts_with(&format!(
                "its first 2 rounds computed with `{amx}`, this process computes with `{gemmkit}`"
            )),
            "{warning}"
        );
        let old: Vec<TimingRow> = serde_json::from_str(
            r#"[{"round":0,"train_secs":1.5,"score_secs":0.5,"select_secs":0.25}]"#,
        )
        .unwrap();
        assert_eq!(old[0].kernels, "");
        assert_eq!(old[0].secs(), 2.25);
        assert_eq!(kernel_change(&old, amx), None);
    }

    /// A round's training work goes to its timings row; a state file from before those columns
    /// still reads, and its rounds' cells stay empty in `timings.csv` (never a made-up 0).
    #[test]
    fn training_work_reaches_the_timings_and_old_rounds_stay_empty() {
        let new = TimingRow::new(
            RoundTiming {
                round: 1,
                train_steps: 50,
                validation_passes: 10,
                ..Default::default()
            },
            "cpu f32 gemm fma",
        );
        let old: TimingRow = serde_json::from_str(
            r#"{"round":0,"train_secs":1.5,"score_secs":0.5,"select_secs":0.25,"kernels":"k"}"#,
        )
        .unwrap();
        let csv = csv_bytes([old, new], Path::new("t.timings.csv")).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "round,train_secs,score_secs,select_secs,train_steps,validation_passes,kernels\n\
             0,1.5,0.5,0.25,,,k\n\
             1,0.0,0.0,0.0,50,10,cpu f32 gemm fma\n"
        );
    }
}
