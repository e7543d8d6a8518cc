//! # activepref-experiment
//!
//! Owns the **experiment** arrow: YAML experiment files ([`ExperimentConfig`], the file as written,
//! with errors that name the file and the field) checked into an [`Experiment`] (what every run
//! shares + its [`Setting`]: BAL-PM's pool setting or ActiveUltraFeedback's pair setting), and the
//! runner that executes every (policy, seed) in parallel with a progress bar and stores the results
//! so that an interrupted experiment resumes where it stopped ([`run_experiment`]). Sweeps expand
//! named grids into variants and runs with stable ids ([`Sweep`]).
//!
//! Modules by job: `config/` (the file, its checks, ids), `setting` (the checked types),
//! `runner/` (scheduling, run files, checkpoints, the index cache, the pair loop's acquired
//! dataset), [`results_dir`] (what a results directory holds and what `--fresh` may delete),
//! `progress`, `export` (results.parquet), `sweep`.

#![warn(missing_docs)]

mod config;
mod export;
mod progress;
pub mod results_dir;
mod runner;
mod setting;
mod sweep;

pub use config::{
    BenchmarkSpec, ConfigError, ExperimentConfig, MAX_BOOTSTRAP, MAX_LABEL_LEN,
    MAX_SMOOTHING_WINDOW, ReportSection, yaml_value,
};
pub use export::{ExportedRuns, write_results_parquet};
pub use progress::SlowNotice;
pub use runner::{
    AcquiredPairRow, PARTIAL_RUN_FILE, PairRunRow, PrefixRow, RecordedRound, RunError, RunOptions,
    RunRow, RunSummary, read_recorded_rounds, run_experiment,
};
pub use setting::{
    Benchmark, Common, Experiment, Metric, PairSetting, PairSource, PoolSetting, PoolSource,
    Setting,
};
pub use sweep::{PlannedRun, Sweep, Variant};
