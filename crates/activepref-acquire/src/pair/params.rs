//! The parameters of the pair rules, with their YAML defaults.

use serde::{Deserialize, Serialize};

/// How a corrected-mode Thompson draw samples rewards (reference mode always uses `uniform`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumMessage,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ThompsonDraw {
    /// `μ + β·U(−1, 1)·s`, the reference's perturbation.
    #[strum(message = "μ + β·U(−1, 1)·s, the reference's perturbation (reference mode always)")]
    Uniform,
    /// `μ + β·N(0, 1)·s`.
    #[default]
    #[strum(message = "μ + β·N(0, 1)·s (the default)")]
    Gaussian,
    /// The rewards of one ensemble member drawn uniformly (a coherent joint sample).
    #[strum(
        message = "the rewards of one ensemble member drawn uniformly (a coherent joint sample)"
    )]
    Member,
}

fn one() -> f32 {
    1.0
}
fn thirty() -> usize {
    30
}
fn tol() -> f32 {
    1e-4
}
fn half() -> f32 {
    0.5
}

/// Parameters of the Thompson-sampling rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThompsonParams {
    /// Width β of the draw around `μ` in units of the spread `s` (default 1).
    #[serde(default = "one")]
    pub beta: f32,
    /// Redraws of the second arm before falling back to a uniform `b ≠ a`.
    #[serde(default = "thirty")]
    pub max_iterations: usize,
    /// How a corrected-mode draw samples rewards.
    #[serde(default)]
    pub draw: ThompsonDraw,
}

impl Default for ThompsonParams {
    fn default() -> Self {
        Self {
            beta: 1.0,
            max_iterations: 30,
            draw: ThompsonDraw::Gaussian,
        }
    }
}

/// A single β.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetaParams {
    /// The confidence width β (default 1).
    #[serde(default = "one")]
    pub beta: f32,
}

impl Default for BetaParams {
    fn default() -> Self {
        Self { beta: 1.0 }
    }
}

fn q005() -> f64 {
    0.05
}

/// DeltaQuantile: the gap at quantile `quantile ± epsilon` of all `u_i − l_j`. The quantile
/// and its window are f64, as the reference computes its rank window in Python floats.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantileParams {
    /// The confidence width β of the bounds (default 1).
    #[serde(default = "one")]
    pub beta: f32,
    /// The quantile of all gaps `u_i − l_j` picked (default 0.05).
    #[serde(default = "q005")]
    pub quantile: f64,
    /// Half-width of the quantile window around `quantile` (default 0).
    #[serde(default)]
    pub epsilon: f64,
}

impl Default for QuantileParams {
    fn default() -> Self {
        Self {
            beta: 1.0,
            quantile: 0.05,
            epsilon: 0.0,
        }
    }
}

/// MaxMinLCB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxMinLcbParams {
    /// The confidence width β (default 1).
    #[serde(default = "one")]
    pub beta: f32,
    /// Entries within this of the min/max count as ties, broken at random.
    #[serde(default = "tol")]
    pub argmax_tol: f32,
    /// Margin of the candidate set: arms with `UCB_ij > −decision_buffer` for every `j` (default 0).
    #[serde(default)]
    pub decision_buffer: f32,
    /// Keep only arms with `UCB_ij > −decision_buffer` for every `j` (the reference config: false).
    #[serde(default)]
    pub use_candidate_set: bool,
}

impl Default for MaxMinLcbParams {
    fn default() -> Self {
        Self {
            beta: 1.0,
            argmax_tol: 1e-4,
            decision_buffer: 0.0,
            use_candidate_set: false,
        }
    }
}

/// RUCB and IDS share a UCB candidate set `ucb_i > threshold − decision_buffer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UcbSetParams {
    /// The confidence width β of the UCBs (default 1).
    #[serde(default = "one")]
    pub beta: f32,
    /// The reference hard-codes 0.5 (a preference-probability threshold applied to raw rewards).
    #[serde(default = "half")]
    pub threshold: f32,
    /// Margin below `threshold` that still admits an arm to the candidate set (default 0).
    #[serde(default)]
    pub decision_buffer: f32,
    /// Scores within this of the best count as ties, broken at random (default 1e-4).
    #[serde(default = "tol")]
    pub tol: f32,
}

impl Default for UcbSetParams {
    fn default() -> Self {
        Self {
            beta: 1.0,
            threshold: 0.5,
            decision_buffer: 0.0,
            tol: 1e-4,
        }
    }
}
