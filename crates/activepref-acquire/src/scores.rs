//! Which per-comparison uncertainty a pool policy ranks by (specs/balpm.md §4.1, the `heuristic`).

use activepref_core::EnsemblePrediction;

use crate::AcquireError;
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
    /// Latent Reward Uncertainty (specs/balpm.md §4.5, "LRU"): how atypical a comparison's
    /// predicted rewards are under Gaussians fitted to the labelled chosen and rejected rewards.
    /// Label-free: averaged over both assignments of the two sides to chosen and rejected.
    #[strum(
        message = "Latent Reward Uncertainty: −(a_c + a_r), a = min(Φ(r), 1 − Φ(r)) under Gaussians fitted to the labelled chosen / rejected rewards; label-free (both side assignments averaged); needs the loop's per-side rewards"
    )]
    LatentReward,
    /// LRU as the reference computes it: each pool comparison's preferred side is scored under the
    /// chosen Gaussian, which reads the hidden label of the comparison.
    #[strum(
        message = "LRU as the reference computes it: the preferred side of each pool comparison under the chosen Gaussian (reads the hidden label)"
    )]
    LatentRewardReference,
    /// The per-comparison score imported next to the features (`score.safetensors`), highest
    /// first: with the summed token entropy of both responses under an LLM this is the paper's
    /// "High Perplexity" baseline (specs/balpm.md §4.5).
    #[strum(
        message = "the imported per-comparison score (score.safetensors in the pool's feature store), highest first: High Perplexity with LLM token entropies"
    )]
    Imported,
    /// The imported score negated, lowest first: the paper's "Low Perplexity" baseline.
    #[strum(message = "the imported score, lowest first: Low Perplexity with LLM token entropies")]
    ImportedLow,
}

/// What the Latent Reward Uncertainty needs: the ensemble's mean reward of each side of the
/// labelled comparisons (split into chosen and rejected) and of the candidates.
#[derive(Clone, Copy, Debug)]
pub struct LatentRewardInputs<'a> {
    /// Ensemble-mean reward of the chosen side of every labelled comparison.
    pub labelled_chosen: &'a [f64],
    /// Ensemble-mean reward of the rejected side of every labelled comparison (same length).
    pub labelled_rejected: &'a [f64],
    /// Ensemble-mean reward of side A of every candidate.
    pub candidate_a: &'a [f64],
    /// Ensemble-mean reward of side B of every candidate (same length as `candidate_a`).
    pub candidate_b: &'a [f64],
    /// Which side of each candidate is preferred: given only for the reference form.
    pub candidate_a_preferred: Option<&'a [bool]>,
}

/// Mean and population standard deviation (ddof 0, as NumPy's default).
fn gaussian_fit(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// `min(Φ(z), 1 − Φ(z))` of `r` under N(mean, sd²); a zero spread counts every other value as
/// fully atypical (0) and the mean itself as typical (½).
fn two_sided_tail(r: f64, (mean, sd): (f64, f64)) -> f64 {
    if sd > 0.0 {
        let p = 0.5 * statrs::function::erf::erfc(-(r - mean) / (sd * std::f64::consts::SQRT_2));
        p.min(1.0 - p)
    } else if r == mean {
        0.5
    } else {
        0.0
    }
}

/// The Latent Reward Uncertainty of every candidate: `−(a_c + a_r)` with
/// `a = min(Φ(r), 1 − Φ(r))` under the Gaussians fitted to the labelled chosen and rejected
/// rewards. Label-free (default): `−½[(a_c(r_A) + a_r(r_B)) + (a_c(r_B) + a_r(r_A))]`; with
/// `candidate_a_preferred` (the reference's form), the preferred side is scored as chosen.
///
/// # Errors
///
/// [`AcquireError::MissingInput`] when either labelled side is empty; [`AcquireError::ScoreLength`]
/// when the candidate slices differ in length; [`AcquireError::NonFiniteScore`] for a NaN or
/// infinite reward (its index counts through all four slices in order).
pub fn latent_reward_uncertainty(x: &LatentRewardInputs<'_>) -> Result<Vec<f64>, AcquireError> {
    let missing = |what| AcquireError::MissingInput {
        policy: "score latent_reward",
        what,
    };
    if x.labelled_chosen.is_empty() || x.labelled_rejected.is_empty() {
        return Err(missing("a non-empty labelled set"));
    }
    if x.candidate_a.len() != x.candidate_b.len()
        || x.candidate_a_preferred
            .is_some_and(|p| p.len() != x.candidate_a.len())
    {
        return Err(AcquireError::ScoreLength {
            expected: x.candidate_a.len(),
            got: x.candidate_b.len(),
        });
    }
    let all = [
        x.labelled_chosen,
        x.labelled_rejected,
        x.candidate_a,
        x.candidate_b,
    ];
    if let Some((i, v)) = all
        .iter()
        .flat_map(|s| s.iter().copied())
        .enumerate()
        .find(|(_, v)| !v.is_finite())
    {
        return Err(AcquireError::NonFiniteScore { index: i, value: v });
    }
    let (chosen, rejected) = (
        gaussian_fit(x.labelled_chosen),
        gaussian_fit(x.labelled_rejected),
    );
    let score = |c: f64, r: f64| -(two_sided_tail(c, chosen) + two_sided_tail(r, rejected));
    Ok((0..x.candidate_a.len())
        .map(|i| {
            let (a, b) = (x.candidate_a[i], x.candidate_b[i]);
            match x.candidate_a_preferred {
                Some(pref) if pref[i] => score(a, b),
                Some(_) => score(b, a),
                None => 0.5 * (score(a, b) + score(b, a)),
            }
        })
        .collect())
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

    /// True for the scores that need the model's per-side rewards ([`latent_reward_uncertainty`]),
    /// which the loop computes; [`Self::compute`] cannot.
    pub fn needs_rewards(self) -> bool {
        matches!(
            self,
            UncertaintyScore::LatentReward | UncertaintyScore::LatentRewardReference
        )
    }

    /// True for the scores read from the imported score column ([`Self::from_imported`]).
    pub fn needs_imported(self) -> bool {
        matches!(
            self,
            UncertaintyScore::Imported | UncertaintyScore::ImportedLow
        )
    }

    /// The imported score of each candidate (`imported` of the whole split, `candidates` its
    /// rows), negated for [`UncertaintyScore::ImportedLow`].
    ///
    /// # Errors
    ///
    /// [`AcquireError::MissingInput`] when `imported` is `None`; [`AcquireError::NonFiniteScore`]
    /// or [`AcquireError::IndexOutOfRange`] for a candidate whose score is not finite or missing.
    pub fn from_imported(
        self,
        imported: Option<&[f64]>,
        candidates: &[usize],
    ) -> Result<Vec<f64>, AcquireError> {
        let imported = imported.ok_or(AcquireError::MissingInput {
            policy: "score imported",
            what: "a score table (score.safetensors, one column) in the pool's feature store",
        })?;
        let sign = if self == UncertaintyScore::ImportedLow {
            -1.0
        } else {
            1.0
        };
        candidates
            .iter()
            .map(|&i| match imported.get(i) {
                Some(v) if v.is_finite() => Ok(sign * v),
                Some(&value) => Err(AcquireError::NonFiniteScore { index: i, value }),
                None => Err(AcquireError::IndexOutOfRange {
                    index: i,
                    rows: imported.len(),
                }),
            })
            .collect()
    }

    /// The score of every row of `pred` (nats for the entropies and BALD; `Random` draws `U[0, 1)`
    /// from `rng`).
    ///
    /// # Errors
    ///
    /// [`AcquireError::MissingInput`] for the imported and latent-reward scores, which need inputs
    /// only the loop has ([`Self::from_imported`], [`latent_reward_uncertainty`]).
    pub fn compute(
        self,
        pred: &EnsemblePrediction,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f64>, AcquireError> {
        let rows = 0..pred.rows();
        Ok(match self {
            UncertaintyScore::Bald => rows.map(|i| pred.bald(i)).collect(),
            UncertaintyScore::Predictive => rows.map(|i| pred.predictive_entropy(i)).collect(),
            UncertaintyScore::Aleatoric => rows.map(|i| pred.expected_entropy(i)).collect(),
            UncertaintyScore::Variance => rows.map(|i| pred.variance(i)).collect(),
            UncertaintyScore::Random => rows.map(|_| rng.random::<f64>()).collect(),
            UncertaintyScore::Imported | UncertaintyScore::ImportedLow => {
                return Err(AcquireError::MissingInput {
                    policy: "score imported",
                    what: "the imported score column (the pool loop supplies it)",
                });
            }
            UncertaintyScore::LatentReward | UncertaintyScore::LatentRewardReference => {
                return Err(AcquireError::MissingInput {
                    policy: "score latent_reward",
                    what: "per-side rewards (the pool loop supplies them)",
                });
            }
        })
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
        let get = |s: UncertaintyScore, rng: &mut ChaCha8Rng| s.compute(&pred, rng).unwrap()[0];
        assert!((get(UncertaintyScore::Predictive, &mut rng) - 2f64.ln()).abs() < 1e-12);
        assert!((get(UncertaintyScore::Aleatoric, &mut rng) - h).abs() < 1e-12);
        assert!((get(UncertaintyScore::Bald, &mut rng) - (2f64.ln() - h)).abs() < 1e-12);
        assert!((get(UncertaintyScore::Variance, &mut rng) - 0.16).abs() < 1e-12);
        let r = get(UncertaintyScore::Random, &mut rng);
        assert!((0.0..1.0).contains(&r));
    }

    #[test]
    fn latent_reward_uncertainty_by_hand() {
        // Labelled chosen rewards {1, 3}: mean 2, sd 1; rejected {−1, 1}: mean 0, sd 1.
        let (chosen, rejected) = ([1.0, 3.0], [-1.0, 1.0]);
        // Candidate 0 sits at both means (A = 2, B = 0): a_c = a_r = ½ as assigned, so the
        // reference form (A preferred) gives −1; swapped, A = 2 under N(0, 1) has Φ(2) = 0.97725,
        // a = 0.02275, and B = 0 under N(2, 1) has Φ(−2) = 0.02275: −0.0455; the label-free form
        // averages the two: −(1 + 0.0455)/2.
        let phi2 = 0.5 * statrs::function::erf::erfc(-2.0 / std::f64::consts::SQRT_2);
        let tail = 1.0 - phi2;
        let x = LatentRewardInputs {
            labelled_chosen: &chosen,
            labelled_rejected: &rejected,
            candidate_a: &[2.0, 0.0],
            candidate_b: &[0.0, 2.0],
            candidate_a_preferred: Some(&[true, true]),
        };
        let reference = latent_reward_uncertainty(&x).unwrap();
        assert!((reference[0] + 1.0).abs() < 1e-12);
        assert!((reference[1] + 2.0 * tail).abs() < 1e-12, "{reference:?}");
        let free = latent_reward_uncertainty(&LatentRewardInputs {
            candidate_a_preferred: None,
            ..x
        })
        .unwrap();
        assert!(
            (free[0] - free[1]).abs() < 1e-15,
            "label-free: the side order does not matter"
        );
        assert!(
            (free[0] + 0.5 * (1.0 + 2.0 * tail)).abs() < 1e-12,
            "{free:?}"
        );
        // Φ(−2) = 0.0227501319481792; statrs's erfc is accurate to about 1e-12 here.
        assert!((tail - 0.022_750_131_948_179).abs() < 1e-11, "{tail}");
        // An atypical comparison (far in both tails) scores higher (less negative) than a typical one.
        let far = latent_reward_uncertainty(&LatentRewardInputs {
            candidate_a: &[9.0],
            candidate_b: &[-9.0],
            candidate_a_preferred: None,
            ..x
        })
        .unwrap();
        assert!(far[0] > free[0]);
        // Needs labels, and finite rewards.
        let empty = LatentRewardInputs {
            labelled_chosen: &[],
            ..x
        };
        assert!(latent_reward_uncertainty(&empty).is_err());
        let nan = LatentRewardInputs {
            candidate_a: &[f64::NAN, 0.0],
            ..x
        };
        assert!(matches!(
            latent_reward_uncertainty(&nan),
            Err(AcquireError::NonFiniteScore { .. })
        ));
    }

    #[test]
    fn imported_scores_rank_high_or_low() {
        let col = [0.5, 2.0, -1.0];
        assert_eq!(
            UncertaintyScore::Imported
                .from_imported(Some(&col), &[2, 1])
                .unwrap(),
            [-1.0, 2.0]
        );
        assert_eq!(
            UncertaintyScore::ImportedLow
                .from_imported(Some(&col), &[2, 1])
                .unwrap(),
            [1.0, -2.0]
        );
        assert!(matches!(
            UncertaintyScore::Imported.from_imported(None, &[0]),
            Err(AcquireError::MissingInput { .. })
        ));
        assert!(matches!(
            UncertaintyScore::Imported.from_imported(Some(&col), &[3]),
            Err(AcquireError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            UncertaintyScore::Imported.from_imported(Some(&[f64::NAN]), &[0]),
            Err(AcquireError::NonFiniteScore { .. })
        ));
    }
}
