//! Which per-comparison uncertainty a pool policy ranks by (specs/balpm.md §4.1, the `heuristic`).

use activepref_core::EnsemblePrediction;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use strum::{EnumIter, EnumMessage, IntoEnumIterator, IntoStaticStr};

/// An uncertainty score computed from the ensemble's per-member predictions.
///
/// `activepref policies` lists the variants with their messages.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumIter,
    EnumMessage,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum UncertaintyScore {
    /// Epistemic: `H[p̄] − mean_m H[p_m]` (the paper's default).
    #[default]
    #[strum(message = "epistemic uncertainty H[p̄] − mean_m H[p_m] (the paper's default)")]
    Bald,
    /// Predictive entropy `H[p̄]` (max-entropy).
    #[strum(message = "predictive entropy H[p̄] (max-entropy)")]
    Predictive,
    /// Aleatoric: expected entropy `mean_m H[p_m]`.
    #[strum(message = "aleatoric uncertainty, the expected entropy mean_m H[p_m]")]
    Aleatoric,
    /// Population variance of `p_m` across members.
    #[strum(message = "population variance of p_m across members")]
    Variance,
    /// A uniform random number per candidate (with `rank`, this is random sampling).
    #[strum(message = "a uniform random number per candidate (rank + random = random sampling)")]
    Random,
}

impl UncertaintyScore {
    /// Every score, in declaration order.
    pub fn all() -> impl Iterator<Item = UncertaintyScore> {
        UncertaintyScore::iter()
    }

    /// The YAML spelling (`score: bald`).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// One line on what the score measures.
    pub fn summary(self) -> &'static str {
        self.get_message().expect("every score has a summary")
    }

    /// The score of every row of `pred`.
    pub fn compute(self, pred: &EnsemblePrediction, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let rows = 0..pred.rows();
        match self {
            UncertaintyScore::Bald => rows.map(|i| pred.bald(i)).collect(),
            UncertaintyScore::Predictive => rows.map(|i| pred.predictive_entropy(i)).collect(),
            UncertaintyScore::Aleatoric => rows.map(|i| pred.expected_entropy(i)).collect(),
            UncertaintyScore::Variance => rows.map(|i| pred.variance(i)).collect(),
            UncertaintyScore::Random => rows.map(|_| rng.random::<f64>()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn each_score_matches_its_definition() {
        // Two members, p = 0.9 and 0.1 (logits ±ln 9) on one row.
        let pred = EnsemblePrediction::from_logits(2, 1, vec![9f64.ln(), -(9f64.ln())]);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let h = -(0.9f64 * 0.9f64.ln() + 0.1 * 0.1f64.ln());
        let get = |s: UncertaintyScore, rng: &mut ChaCha8Rng| s.compute(&pred, rng)[0];
        assert!((get(UncertaintyScore::Predictive, &mut rng) - 2f64.ln()).abs() < 1e-12);
        assert!((get(UncertaintyScore::Aleatoric, &mut rng) - h).abs() < 1e-12);
        assert!((get(UncertaintyScore::Bald, &mut rng) - (2f64.ln() - h)).abs() < 1e-12);
        assert!((get(UncertaintyScore::Variance, &mut rng) - 0.16).abs() < 1e-12);
        let r = get(UncertaintyScore::Random, &mut rng);
        assert!((0.0..1.0).contains(&r));
    }
}
