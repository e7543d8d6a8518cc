//! # activepref-experiment
//!
//! Owns the **experiment** arrow: YAML experiment files ([`ExperimentConfig`], with errors that name
//! the file and the field), and the runner that executes every (policy, seed) in parallel with a
//! progress bar and stores the results so that an interrupted experiment resumes where it stopped
//! ([`run_experiment`]). Sweeps expand named grids into variants and runs with stable ids ([`Sweep`]).

mod config;
mod export;
mod progress;
pub mod results_dir;
mod runner;
mod sweep;

pub use config::{
    Benchmark, BenchmarkSpec, ConfigError, ExperimentConfig, ReportSection, yaml_value,
};
pub use export::{ExportedRuns, write_results_parquet};
pub use progress::SlowNotice;
pub use runner::{PairRunRow, RunError, RunOptions, RunRow, RunSummary, run_experiment};
pub use sweep::{PlannedRun, Sweep, Variant};
