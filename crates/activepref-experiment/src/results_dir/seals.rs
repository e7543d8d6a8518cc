//! Which run files can be trusted: each finished run's seal (its run file's length and hash,
//! beside its run id) and the runs a report may show.

use std::fs;
use std::path::Path;

use super::ResultsMarker;
use crate::Experiment;
use crate::runner::{PARTIAL_RUN_FILE, RunError};

/// What `runs/<stem>.run-id` records: the run id (first line) and, once the run finished, the
/// seal (second line); each None when absent.
pub(crate) fn recorded_id_and_seal(
    runs_dir: &Path,
    stem: &str,
) -> (Option<String>, Option<String>) {
    let text = run_id_file(runs_dir, stem);
    let mut lines = text.lines().map(|l| l.trim().to_string());
    (lines.next(), lines.next())
}

/// The text of `runs/<stem>.run-id`; empty when it cannot be read.
fn run_id_file(runs_dir: &Path, stem: &str) -> String {
    fs::read_to_string(runs_dir.join(format!("{stem}.run-id"))).unwrap_or_default()
}

/// The second line of `runs/<stem>.run-id`: the run file's length and FNV-1a hash.
pub(crate) fn run_file_seal(bytes: &[u8]) -> String {
    format!("{} {:016x}", bytes.len(), activepref_core::io::fnv1a(bytes))
}

/// Whether a run's files can be trusted as a finished run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunFileState {
    /// The run file exists and matches its seal (or predates seals and has every round).
    Finished,
    /// No run file: not started, or still running.
    NotFinished,
    /// Made with another configuration (its run id differs).
    OtherConfig,
    /// The run file does not match what was recorded when it finished, or (in a directory
    /// whose runs all wrote their id files) the run file or checkpoint has no id file (`why`).
    Damaged(String),
}

impl RunFileState {
    /// One phrase for a user: why a run is not in a report.
    pub fn describe(&self) -> &str {
        match self {
            RunFileState::Finished => "finished",
            RunFileState::NotFinished => "not finished",
            RunFileState::OtherConfig => "made with another configuration",
            RunFileState::Damaged(why) => why,
        }
    }
}

/// The state of run `stem` in `runs_dir`, whose id should be `run_id` (None: do not check it) and
/// whose run file should have `rounds` rows (None: unknown; only checked for run files from
/// before seals). `sealed_runs`: the directory's marker says every run there recorded its id
/// ([`ResultsMarker::sealed_runs`]), so a run file without `<stem>.run-id` is not trusted.
pub fn run_file_state(
    runs_dir: &Path,
    stem: &str,
    (run_id, rounds): (Option<&str>, Option<usize>),
    sealed_runs: bool,
) -> RunFileState {
    // Only a missing id file counts as missing (one that cannot be read now is not evidence).
    let id_missing = || {
        sealed_runs
            && fs::symlink_metadata(runs_dir.join(format!("{stem}.run-id")))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    };
    let Ok(bytes) = fs::read(runs_dir.join(format!("{stem}.csv"))) else {
        // A checkpoint records no run id of its own: without the id file, nothing says which
        // configuration made it.
        if runs_dir.join(format!("{stem}.state.json")).exists() && id_missing() {
            return RunFileState::Damaged(format!(
                "its checkpoint has no {stem}.run-id (deleted?), so nothing says which configuration made it"
            ));
        }
        return RunFileState::NotFinished;
    };
    let record = run_id_file(runs_dir, stem);
    let mut lines = record.lines().map(str::trim);
    let (recorded, seal) = (lines.next(), lines.next());
    if recorded.is_none() && id_missing() {
        return RunFileState::Damaged(format!(
            "its {stem}.run-id is missing (deleted?), so nothing vouches for its run file"
        ));
    }
    if let (Some(want), Some(id)) = (run_id, recorded)
        && id != want
    {
        return RunFileState::OtherConfig;
    }
    match seal {
        Some(seal) if seal != run_file_seal(&bytes) => RunFileState::Damaged(
            "its run file does not match the length and hash recorded when it finished (truncated or edited)".into(),
        ),
        Some(_) => artefacts_state(runs_dir, stem, lines),
        None => {
            // From before seals: a complete file has a header and one row per round.
            let rows = bytes
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count()
                .saturating_sub(1);
            let complete = bytes.ends_with(b"\n") && rows > 0;
            match rounds {
                Some(r) if r != rows || !complete => RunFileState::Damaged(format!(
                    "its run file has {rows} complete rows, not {r} (truncated)"
                )),
                None if !complete => {
                    RunFileState::Damaged("its run file ends mid-row (truncated)".into())
                }
                _ => RunFileState::Finished,
            }
        }
    }
}

/// The state of a sealed run's artefacts (`pairs.jsonl`, `prefix.csv`, ...: `seals`, the lines
/// after the seal in `runs/<stem>.run-id`, each `<extension> <length> <hash>`): `Finished` when each is
/// there as it was written, else `Damaged` naming the first that is missing or changed.
fn artefacts_state<'a>(
    runs_dir: &Path,
    stem: &str,
    seals: impl Iterator<Item = &'a str>,
) -> RunFileState {
    for line in seals {
        let Some((ext, seal)) = line.split_once(' ') else {
            continue;
        };
        let path = runs_dir.join(format!("{stem}.{ext}"));
        // The length first (the seal's first word): a changed file is seen without reading it.
        let length = seal.split(' ').next().and_then(|l| l.parse::<u64>().ok());
        let why = match fs::metadata(&path).map(|m| m.len()) {
            Err(_) => format!("its {stem}.{ext} is missing"),
            Ok(n) if Some(n) != length => format!(
                "its {stem}.{ext} does not match the length and hash recorded when it finished (truncated or edited)"
            ),
            Ok(_) => match fs::read(&path) {
                Err(_) => format!("its {stem}.{ext} is missing"),
                Ok(bytes) if run_file_seal(&bytes) != seal => format!(
                    "its {stem}.{ext} does not match the length and hash recorded when it finished (truncated or edited)"
                ),
                Ok(_) => continue,
            },
        };
        return RunFileState::Damaged(why);
    }
    RunFileState::Finished
}

/// The runs a report of `dir` should show, and why the others of `exp` are left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportableRuns {
    /// (policy label, seed) of every finished, trustworthy run of `exp`, in plan order.
    pub finished: Vec<(String, u64)>,
    /// One line per expected run that is not shown: `balpm seed 23: not finished`.
    pub missing: Vec<String>,
    /// Of the runs not finished, those with rows so far (`runs/<stem>.partial.csv`) that this
    /// configuration made (their id file names it, where ids are checked): what
    /// `report --partial` may show besides the finished ones. Each is in `missing` too.
    pub unfinished: Vec<(String, u64)>,
    /// The sweep grid point the directory holds (from its marker), if any.
    pub variant: Option<String>,
}

/// Which of `exp`'s runs in `dir` a report may show. `exp` is the directory's own
/// `config.resolved.yaml`; with a marker, each run's id is checked too (the marker gives the
/// sweep grid point that the id depends on).
///
/// # Errors
/// The marker exists but is not activepref's.
pub fn reportable_runs(exp: &Experiment, dir: &Path) -> Result<ReportableRuns, RunError> {
    let marker = ResultsMarker::read(dir)?;
    let mut exp = exp.clone();
    if let Some(m) = &marker {
        exp.common.variant = m.variant.clone();
    }
    let rounds = exp.known_rounds_per_run();
    let runs_dir = dir.join("runs");
    let mut out = ReportableRuns {
        variant: exp.common.variant.clone(),
        ..ReportableRuns::default()
    };
    let sealed = marker.as_ref().is_some_and(|m| m.sealed_runs);
    for label in exp.setting.labels() {
        for &seed in &exp.common.seeds {
            let stem = format!("{label}__seed{seed}");
            let id = marker.as_ref().map(|_| exp.run_id(&label, seed));
            let mut state = run_file_state(&runs_dir, &stem, (id.as_deref(), rounds), sealed);
            if state == RunFileState::NotFinished
                && runs_dir
                    .join(format!("{stem}.{PARTIAL_RUN_FILE}"))
                    .is_file()
            {
                // An unfinished run's id file holds its id alone; nothing else vouches for it.
                match (recorded_id_and_seal(&runs_dir, &stem).0, id.as_deref()) {
                    (Some(got), Some(want)) if got != want => state = RunFileState::OtherConfig,
                    (None, _) if sealed => {
                        state = RunFileState::Damaged(format!(
                            "its rows so far have no {stem}.run-id (deleted?), so nothing says which configuration made them"
                        ));
                    }
                    _ => out.unfinished.push((label.clone(), seed)),
                }
            }
            match state {
                RunFileState::Finished => out.finished.push((label.clone(), seed)),
                other => out
                    .missing
                    .push(format!("{label} seed {seed}: {}", other.describe())),
            }
        }
    }
    Ok(out)
}
