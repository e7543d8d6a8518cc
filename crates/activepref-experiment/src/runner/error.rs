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
    #[error("cannot {action} {}: {}", .path.display(), activepref_core::io::describe(.error))]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot write {}: {error}", .path.display())]
    Serialise { path: PathBuf, error: String },
    #[error(
        "{} holds results of a different configuration ({}); pass --fresh to replace them, or set another output_dir",
        .out.display(),
        .resolved.display()
    )]
    DifferentConfig { out: PathBuf, resolved: PathBuf },
    #[error(
        "{}: {} run(s) were made with a different configuration ({}); pass --rerun to redo just them, or --fresh to start over",
        .out.display(),
        .runs.len(),
        .runs.join(", ")
    )]
    ChangedRuns { out: PathBuf, runs: Vec<String> },
    #[error(
        "{}: {why}; activepref neither writes into nor deletes anything in a directory it did not make (not even with --fresh): choose another output_dir or --out, or empty it yourself",
        .out.display()
    )]
    Foreign { out: PathBuf, why: String },
    #[error(
        "{} holds results of experiment `{experiment}` on another benchmark ({differences}); pass --fresh to replace them, or choose another output_dir",
        .out.display()
    )]
    OtherBenchmark {
        out: PathBuf,
        experiment: String,
        /// The keys of the `benchmark:` sections that differ, old → new.
        differences: String,
    },
    #[error(
        "{}: not an activepref marker ({why}); if this directory holds activepref's results, delete this one file and run again",
        .path.display()
    )]
    UnreadableMarker { path: PathBuf, why: String },
    #[error(
        "--fresh refuses to clear {}: {why}; choose a dedicated output_dir (default results/<name>)",
        .out.display()
    )]
    UnsafeFresh { out: PathBuf, why: String },
    #[error("kNN index: {0} (make the output directory writable)")]
    Index(#[from] IndexError),
    #[error("{}: unreadable run state ({why}); delete it to restart this run", .path.display())]
    UnreadableState { path: PathBuf, why: String },
    #[error("{}: {error}; delete it to restart this run", .path.display())]
    Resume { path: PathBuf, error: LoopError },
    #[error("run {stem}: {error}")]
    Run { stem: String, error: LoopError },
}

/// [`write_atomic_bytes`] with the path in the error (and "the disk is full" when it is).
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), RunError> {
    write_atomic_bytes(path, bytes).map_err(|error| RunError::Io {
        action: "write",
        path: path.to_path_buf(),
        error,
    })
}
