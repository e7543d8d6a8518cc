//! One module per command (or family of commands): each owns its `clap::Args` struct and a
//! function that runs it. `main.rs` only parses and dispatches.

pub mod bench_knn;
pub mod bench_model;
pub mod bench_round;
pub mod data;
pub mod import_features;
pub mod inspect;
pub mod policies;
pub mod report;
pub mod run;
pub mod slurm_resources;
pub mod sweep;
mod texts_progress;
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

/// On Ctrl-C or SIGTERM (a batch system's time limit), prints `interrupted: <what_is_kept>` (what
/// was saved and how to go on), then exits with the signal's usual status (130, 143).
fn on_interrupt(what_is_kept: String) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            eprintln!("\ninterrupted: {what_is_kept}");
            std::process::exit(128 + sig);
        }
    });
}

/// `n` and the noun in the number it takes: `counted(1, "seed", "seeds")` is `1 seed`.
fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
