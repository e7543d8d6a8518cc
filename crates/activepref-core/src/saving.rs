//! Which label-saving definition a report uses (the computation is `activepref-report`'s; the
//! choice lives here because experiment files name it, and the experiment crate sits below the
//! report crate).

use serde::{Deserialize, Serialize};

/// Bootstrap resamples of the seeds behind every saving's interval, unless a report asks otherwise.
pub const DEFAULT_BOOTSTRAP: usize = 1000;

/// Which definition of the label saving a report uses; spelt `first_reach` / `paper_script` in
/// experiment files, on the command line and in reports (`first-reach` / `paper-script` accepted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SavingDefinition {
    /// First labelled-set size whose seed-mean is `≥` the baseline's final value; saving
    /// `1 − size / the baseline's final size`.
    #[default]
    #[serde(alias = "first-reach")]
    #[cfg_attr(feature = "clap", value(name = "first_reach", alias = "first-reach"))]
    FirstReach,
    /// The paper script's: first 0-based round index `i*` whose seed-mean is strictly `>` the
    /// baseline's final value; saving `1 − i*/rounds`.
    #[serde(alias = "paper-script")]
    #[cfg_attr(feature = "clap", value(name = "paper_script", alias = "paper-script"))]
    PaperScript,
}
