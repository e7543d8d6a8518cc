//! The runner's one error type, and its atomic file writer.

use std::path::{Path, PathBuf};

use activepref_acquire::IndexError;
use activepref_core::FieldError;
use activepref_core::io::write_atomic_bytes;
use activepref_loop::LoopError;

/// Why an experiment could not run. Each prints on one line with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The benchmark could not be built or does not fit the loop sizes.
    #[error(transparent)]
    Benchmark(#[from] FieldError),
    /// A file or directory could not be read, listed, created, written or removed.
    #[error("cannot {action} {}: {}", .path.display(), activepref_core::io::describe(.error))]
    Io {
        /// What was attempted: `read`, `write`, `list`, `create` or `remove`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// Something to be written (resolved configuration, run file, run state, acquired pairs,
    /// `results.parquet`) could not be serialised or converted, or the run files to export into
    /// `results.parquet` have different columns.
    #[error("cannot write {}: {error}", .path.display())]
    Serialise {
        /// The file that was to be written.
        path: PathBuf,
        /// The serialiser's message.
        error: String,
    },
    /// The results directory holds runs of a different configuration, none of which has a
    /// `.run-id` file (runs from before run ids), and `--rerun` was not given.
    #[error(
        "{} holds results of a different configuration ({}); pass --fresh to replace them, or set another output_dir",
        .out.display(),
        .resolved.display()
    )]
    DifferentConfig {
        /// The results directory.
        out: PathBuf,
        /// Its `config.resolved.yaml`.
        resolved: PathBuf,
    },
    /// Some planned runs on disk were made with a different configuration, and `--rerun` was not
    /// given.
    #[error(
        "{}: {} made with a different configuration ({}); pass --rerun to redo just them, or --fresh to start over",
        .out.display(),
        activepref_core::error::counted(.runs.len(), "run was", "runs were"),
        .runs.join(", ")
    )]
    ChangedRuns {
        /// The results directory.
        out: PathBuf,
        /// The stems (`<policy>__seed<seed>`) of the changed runs.
        runs: Vec<String>,
    },
    /// Some planned runs have a run file or checkpoint but no `.run-id` in a directory whose
    /// runs all wrote one (the id file was deleted, or the files were copied in), and `--rerun`
    /// was not given.
    #[error(
        "{}: {} a run file or checkpoint but no .run-id ({}), so nothing says which configuration made them; pass --rerun to redo them (their files are replaced), or move those files away",
        .out.display(),
        activepref_core::error::counted(.runs.len(), "run has", "runs have"),
        .runs.join(", ")
    )]
    UnvouchedRuns {
        /// The results directory.
        out: PathBuf,
        /// The stems (`<policy>__seed<seed>`) of those runs.
        runs: Vec<String>,
    },
    /// The output path is a file, or a directory holding files activepref did not write and no
    /// marker.
    #[error(
        "{}: {why}; activepref neither writes into nor deletes anything in a directory it did not make (not even with --fresh): choose another output_dir or --out, or empty it yourself",
        .out.display()
    )]
    Foreign {
        /// The directory.
        out: PathBuf,
        /// What makes it foreign (a file, or a few of the names it holds).
        why: String,
    },
    /// The results directory holds runs on another benchmark, and `--fresh` was not given.
    #[error(
        "{} holds results of experiment `{experiment}` on another benchmark ({differences}); pass --fresh to replace them, or choose another output_dir",
        .out.display()
    )]
    OtherBenchmark {
        /// The results directory.
        out: PathBuf,
        /// The name of the experiment whose results it holds.
        experiment: String,
        /// The keys of the `benchmark:` sections that differ, old → new.
        differences: String,
    },
    /// The results directory's marker file exists but does not parse.
    #[error(
        "{}: not an activepref marker ({why}); if this directory holds activepref's results, delete this one file and run again",
        .path.display()
    )]
    UnreadableMarker {
        /// The marker file.
        path: PathBuf,
        /// The JSON parser's message.
        why: String,
    },
    /// `--fresh` on a directory whose deletion could cost more than results: the working
    /// directory or a parent of it, one holding the experiment file, or a git work tree.
    #[error(
        "--fresh refuses to clear {}: {why}; choose a dedicated output_dir (default results/<name>)",
        .out.display()
    )]
    UnsafeFresh {
        /// The results directory.
        out: PathBuf,
        /// Why clearing it is refused.
        why: String,
    },
    /// The prompt kNN index could not be loaded from or built into its cache.
    #[error("kNN index: {0} (make the output directory writable)")]
    Index(#[from] IndexError),
    /// A run's checkpoint (`runs/<stem>.state.json`) does not parse.
    #[error("{}: unreadable run state ({why}); delete it to restart this run", .path.display())]
    UnreadableState {
        /// The checkpoint file.
        path: PathBuf,
        /// The JSON parser's message.
        why: String,
    },
    /// A run's checkpoint parses but the loop cannot resume from it.
    #[error("{}: {error}; delete it to restart this run", .path.display())]
    Resume {
        /// The checkpoint file.
        path: PathBuf,
        /// The loop's error.
        error: LoopError,
    },
    /// A run's recorded rounds (`runs/<stem>.timings.csv` with its run file, or
    /// `runs/<stem>.state.json`) could not be read back.
    #[error(
        "{}: cannot read a run's recorded rounds ({why}); give a paused run's runs/<stem>.state.json, or a finished run's runs/<stem>.timings.csv with its run file <stem>.csv beside it",
        .path.display()
    )]
    UnreadableTimings {
        /// The file given.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A round of a run failed.
    #[error("run {stem}: {error}")]
    Run {
        /// The run's stem, `<policy>__seed<seed>`.
        stem: String,
        /// The loop's error.
        error: LoopError,
    },
}

/// [`write_atomic_bytes`] with the path in the error (and "the disk is full" when it is).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    write_atomic_bytes(path, bytes).map_err(|error| RunError::Io {
        action: "write",
        path: path.to_path_buf(),
        error,
    })
}
