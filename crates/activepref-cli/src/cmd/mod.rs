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

/// A field error of sweep grid point `v` in experiment file `file`, naming the grid point unless
/// the error is about the data (`benchmark.path`, `benchmark.features`) and the grid point
/// changes nothing under `benchmark`: then every grid point shares it, and the first one checked
/// would be an arbitrary name. Any other field can fail because of a setting elsewhere (a swept
/// pool size against `loop.initial_labels`), so its grid point is named.
fn grid_point_error(
    file: &std::path::Path,
    v: &activepref_experiment::Variant,
    error: &activepref_core::FieldError,
) -> anyhow::Error {
    let data_field = ["benchmark.path", "benchmark.features"]
        .iter()
        .any(|f| error.field == *f || error.field.starts_with(&format!("{f}.")));
    let touches_benchmark = v
        .settings
        .iter()
        .any(|(path, _)| path == "benchmark" || path.starts_with("benchmark."));
    let shared = data_field && !touches_benchmark;
    file_error(file, if shared { "" } else { &v.name }, error)
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use activepref_core::FieldError;

    /// A grid point is named by its errors, except by a data error every point shares.
    #[test]
    fn a_grid_point_is_named_only_by_its_own_fields() {
        let text = "name: g
benchmark: { kind: synthetic, pool_prompts: 80, validation_prompts: 30, test_prompts: 30, ood_prompts: 30 }
loop: { initial_labels: 10, batch_size: 10, rounds: 2 }
policies:
  random: { policy: random }
  balpm: { policy: balpm, k: 5 }
seeds: [1]
sweep:
  beta:
    policies.balpm.beta: [0.1, 0.001]
";
        let sweep = activepref_experiment::Sweep::parse(text, Path::new("g.yaml")).unwrap();
        let v = &sweep.variants[1];
        let said = |field: &str| {
            super::grid_point_error(Path::new("g.yaml"), v, &FieldError::new(field, "bad"))
                .to_string()
        };
        let named =
            |field: &str| format!("g.yaml: {field}: bad (in sweep grid point `{}`)", v.name);
        assert_eq!(said("policies.balpm.beta"), named("policies.balpm.beta"));
        // A field the point does not set can still fail because of one it does.
        assert_eq!(said("loop.batch_size"), named("loop.batch_size"));
        // The data every point reads: no point named.
        assert_eq!(said("benchmark.path"), "g.yaml: benchmark.path: bad");
        assert_eq!(
            said("benchmark.features"),
            "g.yaml: benchmark.features: bad"
        );
    }
}
