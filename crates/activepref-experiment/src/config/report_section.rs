//! The `report:` section of an experiment file.

use activepref_core::FieldError;
use activepref_core::saving::{DEFAULT_BOOTSTRAP, SavingDefinition};
use activepref_loop::stopping::StoppingRule;
use serde::{Deserialize, Serialize};

/// How the report summarises the runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSection {
    /// Trailing-mean window applied to each run's curve before averaging seeds (paper: 3).
    pub smoothing_window: usize,
    /// The policy label whose final value defines "reaching" in the label-efficiency table.
    pub baseline: String,
    /// `first_reach` (default) or `paper_script`: which definition of the label saving.
    #[serde(skip_serializing_if = "is_default")]
    pub saving: SavingDefinition,
    /// Bootstrap resamples of the seeds for every saving's 95% interval (0: none).
    #[serde(skip_serializing_if = "is_default_bootstrap")]
    pub bootstrap: usize,
    /// Ablation figures of a sweep: the grid point (`beta=0.01`, as its directory is named) whose
    /// `baseline` runs are drawn as the reference line; absent: the first grid point in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ablation_baseline: Option<String>,
    /// Run-file columns to plot and tabulate, e.g. `[test_accuracy, ood_brier]` (any
    /// `<split>_<log_likelihood|accuracy|brier>` column); empty: test and OOD log-likelihood
    /// (pool setting) or held-out accuracy and log-likelihood (pair setting).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<String>,
    /// Stopping rules to evaluate on every run (`stopping.md`: where each would have
    /// stopped, the labels it saves and what it costs); empty: none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stopping: Vec<StoppingRule>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_default_bootstrap(v: &usize) -> bool {
    *v == DEFAULT_BOOTSTRAP
}

/// The most bootstrap resamples a report may ask for (each is a full pass over the seeds).
pub const MAX_BOOTSTRAP: usize = 1_000_000;
/// The widest trailing-mean window (in rounds) a report may ask for.
pub const MAX_SMOOTHING_WINDOW: usize = 10_000;

/// The fewest bootstrap resamples that can place a 95% interval's ends (1/40 = 2.5%).
pub const MIN_BOOTSTRAP: usize = 40;

impl ReportSection {
    /// Checks the numbers; the command line's `report --window/--bootstrap` go through the
    /// same checks, so a flag and its YAML twin accept the same values.
    ///
    /// # Errors
    /// `smoothing_window` outside `[1, MAX_SMOOTHING_WINDOW]`, `bootstrap` from 1 to 39 or over
    /// `MAX_BOOTSTRAP`,
    /// a stopping rule's bad parameter ([`StoppingRule::validate`]), or a rule given twice.
    pub fn validate(&self) -> Result<(), FieldError> {
        FieldError::check_count(
            "smoothing_window",
            self.smoothing_window,
            1,
            MAX_SMOOTHING_WINDOW,
        )
        .map_err(|e| FieldError::new(e.field, format!("{} (1 = no smoothing)", e.message)))?;
        FieldError::check_count("bootstrap", self.bootstrap, 0, MAX_BOOTSTRAP)
            .map_err(|e| FieldError::new(e.field, format!("{} (0 = no interval)", e.message)))?;
        // The interval is the 2.5th-97.5th percentile: fewer than 40 resamples cannot place it.
        if (1..MIN_BOOTSTRAP).contains(&self.bootstrap) {
            return Err(FieldError::new(
                "bootstrap",
                format!(
                    "is {}; a 95% interval needs at least {MIN_BOOTSTRAP} resamples (its ends are the 2.5th and 97.5th percentiles); use 0 for no interval",
                    self.bootstrap
                ),
            ));
        }
        for (i, rule) in self.stopping.iter().enumerate() {
            rule.validate()
                .map_err(|e| e.within(&format!("stopping[{i}]")))?;
            if let Some(j) = self.stopping[..i].iter().position(|r| r == rule) {
                return Err(FieldError::new(
                    format!("stopping[{i}]"),
                    format!(
                        "repeats stopping[{j}]; remove one (stopping.md would show the same rows twice)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Default for ReportSection {
    fn default() -> Self {
        Self {
            smoothing_window: 3,
            baseline: "random".into(),
            saving: SavingDefinition::default(),
            bootstrap: DEFAULT_BOOTSTRAP,
            ablation_baseline: None,
            metrics: Vec::new(),
            stopping: Vec::new(),
        }
    }
}
