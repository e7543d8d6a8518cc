//! One module per command (or family of commands): each owns its `clap::Args` struct and a
//! function that runs it. `main.rs` only parses and dispatches.

pub mod bench_knn;
pub mod bench_model;
pub mod data;
pub mod inspect;
pub mod policies;
pub mod report;
pub mod run;
pub mod slurm_resources;
pub mod sweep;
pub mod validate;

/// `error` in experiment file `file`, one line: `file: error`, plus the sweep grid point when
/// `grid_point` names one (`run` and `validate` word it alike).
fn file_error(
    file: &std::path::Path,
    grid_point: &str,
    error: impl std::fmt::Display,
) -> anyhow::Error {
    if grid_point.is_empty() {
        anyhow::anyhow!("{}: {error}", file.display())
    } else {
        anyhow::anyhow!(
            "{}: {error} (in sweep grid point `{grid_point}`)",
            file.display()
        )
    }
}
