//! BAL-PM: greedy batch of `u_i + β · (log(2 r_k(i) + ε) − ψ(n_i + 1)/d̃)` with in-batch count
//! updates (specs/balpm.md §4.3; Melo et al. 2024, Algorithm 1).

use activepref_core::FeatureMatrix;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::knn::{KlEntropyTerm, KnnEntropyBonus};
use crate::knn_index::IndexedKnnEntropyBonus;
use crate::scores::UncertaintyScore;
use crate::{AcquireError, PoolPolicy, PoolState};

/// Coordinates of prompt features for the entropy term.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureShift {
    /// Corrected default: raw features for pool and labelled prompts alike.
    #[default]
    None,
    /// Reference behaviour (bug B): pool features become `x − μ/σ` (a shift, μ and σ per dimension
    /// over the unlabelled pool, σ with ddof 1), labelled features stay raw, so initial counts
    /// compare mismatched coordinates.
    Reference,
}

/// Which entropy estimate BAL-PM adds to the uncertainty.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntropyEstimator {
    /// The paper's KSG-style term: pool radius and digamma of the acquired count (§4.3).
    #[default]
    Ksg,
    /// The ablation's Kozachenko–Leonenko term on the acquired set only (§4.4).
    Kl,
}

/// BAL-PM's parameters; defaults are the paper scripts' values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BalPmConfig {
    /// k of the kNN radius, the point itself included (paper: 13).
    pub k: usize,
    /// Weight β of the entropy term (paper: 0.01).
    pub beta: f64,
    /// d̃ dividing the digamma term (reference default 1).
    pub d_tilde: f64,
    /// ε inside `log(2r + ε)` (reference: 1e-4).
    pub eps: f64,
    /// Prompt-feature coordinates; `reference` reproduces bug B.
    pub feature_shift: FeatureShift,
    /// The uncertainty u (paper: BALD; the ablation uses predictive entropy).
    pub score: UncertaintyScore,
    /// Entropy estimator (`ksg` = BAL-PM, `kl` = the estimator ablation).
    pub estimator: EntropyEstimator,
    /// Ablation "no uncertainty": u := 0, entropy only.
    pub no_uncertainty: bool,
    /// Baseline "entropy minimiser": u − β·Ĥ.
    pub entropy_minimizer: bool,
    /// z-score Ĥ over the remaining candidates at every pick (reference flag; false in the paper).
    pub normalize_entropy: bool,
}

impl Default for BalPmConfig {
    fn default() -> Self {
        Self {
            k: 13,
            beta: 0.01,
            d_tilde: 1.0,
            eps: 1e-4,
            feature_shift: FeatureShift::None,
            score: UncertaintyScore::Bald,
            estimator: EntropyEstimator::Ksg,
            no_uncertainty: false,
            entropy_minimizer: false,
            normalize_entropy: false,
        }
    }
}

/// The BAL-PM policy.
#[derive(Clone, Debug, Default)]
pub struct BalPm {
    /// BAL-PM's parameters.
    pub config: BalPmConfig,
}

/// One greedy pick and the score it was picked with.
#[derive(Clone, Debug, PartialEq)]
pub struct BalPmTrace {
    /// The picked pool indices, in pick order.
    pub picks: Vec<usize>,
    /// The score `u_i + β · Ĥ_i` each was picked with (sign flipped on `Ĥ` for the entropy minimiser).
    pub scores: Vec<f64>,
    /// The entropy term `Ĥ_i` (nats, z-scored when `normalize_entropy`) of each pick.
    pub entropy_terms: Vec<f64>,
}

/// `x − μ/σ` per dimension over the rows of `x` (the reference's operator-precedence bug).
fn reference_shift(x: &FeatureMatrix) -> FeatureMatrix {
    let (n, d) = (x.rows(), x.dim());
    let mut shift = vec![0.0f64; d];
    for (c, shift_c) in shift.iter_mut().enumerate() {
        let mean = (0..n).map(|r| x.row(r)[c] as f64).sum::<f64>() / n as f64;
        let var = (0..n)
            .map(|r| (x.row(r)[c] as f64 - mean).powi(2))
            .sum::<f64>()
            / (n as f64 - 1.0);
        let sd = var.sqrt();
        // A constant column gives μ/0; the reference would produce inf/NaN there. Leave it unshifted.
        *shift_c = if sd > 0.0 { mean / sd } else { 0.0 };
    }
    let data: Vec<f32> = (0..n)
        .flat_map(|r| (0..d).map(move |c| (r, c)))
        .map(|(r, c)| (x.row(r)[c] as f64 - shift[c]) as f32)
        .collect();
    FeatureMatrix::new(n, d, data).expect("shifted finite features")
}

/// The entropy term of one BAL-PM selection, by estimator: KSG brute force, KSG through the
/// prompt index (same numbers), or the KL ablation.
enum EntropyTerm<'a> {
    Ksg(KnnEntropyBonus),
    Indexed(IndexedKnnEntropyBonus<'a>),
    Kl(KlEntropyTerm),
}

impl<'a> EntropyTerm<'a> {
    /// The estimator `c` asks for over `state`'s pool. The index answers the corrected KSG term
    /// exactly; the reference shift moves the pool per round and the KL ablation counts labelled
    /// neighbours only, so both stay brute force.
    fn for_state(c: &BalPmConfig, state: &PoolState<'a>) -> Self {
        match (c.estimator, c.feature_shift, state.prompt_index) {
            (EntropyEstimator::Ksg, FeatureShift::None, Some(index)) => {
                EntropyTerm::Indexed(IndexedKnnEntropyBonus::new(
                    index,
                    state.prompt_features,
                    state.unlabelled,
                    state.labelled,
                    c.k,
                    c.eps,
                    c.d_tilde,
                ))
            }
            (estimator, shift, _) => {
                let raw = state.prompt_features.to_matrix(state.unlabelled);
                let candidates = match shift {
                    FeatureShift::None => raw,
                    FeatureShift::Reference => reference_shift(&raw),
                };
                let labelled = state.prompt_features.to_matrix(state.labelled);
                match estimator {
                    EntropyEstimator::Ksg => {
                        EntropyTerm::Ksg(KnnEntropyBonus::new(candidates, &labelled, c.k))
                    }
                    EntropyEstimator::Kl => {
                        EntropyTerm::Kl(KlEntropyTerm::new(candidates, &labelled, c.k))
                    }
                }
            }
        }
    }

    /// Candidate `i`'s entropy term (nats; position in `unlabelled`).
    fn term(&self, i: usize, c: &BalPmConfig) -> f64 {
        match self {
            EntropyTerm::Ksg(k) => k.term(i, c.eps, c.d_tilde),
            EntropyTerm::Indexed(k) => k.term(i),
            EntropyTerm::Kl(k) => k.term(i, c.eps),
        }
    }

    /// Candidate `picked` joins the acquired set; `remaining` are the candidates still open.
    fn add_acquired(&mut self, picked: usize, remaining: &[usize]) {
        match self {
            EntropyTerm::Ksg(k) => k.add_acquired(picked, remaining),
            EntropyTerm::Indexed(k) => k.add_acquired(picked),
            EntropyTerm::Kl(k) => k.add_acquired(picked, remaining),
        }
    }
}

impl BalPm {
    /// The BAL-PM policy with `config`.
    pub fn new(config: BalPmConfig) -> Self {
        Self { config }
    }

    /// Runs the greedy loop and returns picks with their scores.
    ///
    /// # Errors
    ///
    /// The errors of [`PoolState::validate`]; [`AcquireError::PoolTooSmall`] when `k` exceeds the
    /// number of unlabelled candidates.
    pub fn select_traced(
        &self,
        state: &PoolState<'_>,
        batch: usize,
    ) -> Result<BalPmTrace, AcquireError> {
        state.validate()?;
        let c = &self.config;
        let n = state.unlabelled.len();
        if c.k > n {
            return Err(AcquireError::PoolTooSmall {
                what: "balpm k",
                value: c.k,
                pool: n,
            });
        }
        let mut estimator = EntropyTerm::for_state(c, state);
        let sign = if c.entropy_minimizer { -1.0 } else { 1.0 };

        let mut remaining: Vec<usize> = (0..n).collect();
        let mut trace = BalPmTrace {
            picks: vec![],
            scores: vec![],
            entropy_terms: vec![],
        };
        for _ in 0..batch.min(n) {
            let mut terms: Vec<f64> = remaining.iter().map(|&i| estimator.term(i, c)).collect();
            if c.normalize_entropy {
                z_score(&mut terms);
            }
            let mut best: Option<(usize, f64)> = None; // (position in remaining, score)
            for (pos, &i) in remaining.iter().enumerate() {
                let u = if c.no_uncertainty {
                    0.0
                } else {
                    state.uncertainty[i]
                };
                let score = u + sign * c.beta * terms[pos];
                if best.is_none_or(|(_, s)| score > s) {
                    best = Some((pos, score));
                }
            }
            let (pos, score) = best.expect("remaining is non-empty");
            let picked = remaining.remove(pos);
            estimator.add_acquired(picked, &remaining);
            trace.picks.push(state.unlabelled[picked]);
            trace.scores.push(score);
            trace.entropy_terms.push(terms[pos]);
        }
        Ok(trace)
    }
}

/// `(x − mean) / std` with the unbiased std (torch's default); only centred when std is 0.
fn z_score(v: &mut [f64]) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 {
        (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    for x in v.iter_mut() {
        *x = if sd > 0.0 {
            (*x - mean) / sd
        } else {
            *x - mean
        };
    }
}

impl PoolPolicy for BalPm {
    fn score(&self) -> UncertaintyScore {
        self.config.score
    }

    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        Ok(self.select_traced(state, batch)?.picks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PromptKnnIndex;
    use activepref_core::PromptFeatures;

    const LN_EPS: f64 = -9.210_340_371_976_182; // ln 1e-4
    const PSI1: f64 = -0.577_215_664_901_532_9; // ψ(1) = −γ
    const PSI2: f64 = 0.422_784_335_098_467_1; // ψ(2) = 1 − γ
    const PSI3: f64 = 0.922_784_335_098_467_1; // ψ(3) = 3/2 − γ

    /// A 6-point example worked by hand (1-D prompts, k = 2, β = 0.1, d̃ = 1, ε = 1e-4).
    ///
    /// Pool prompts x = [0, 0, 1, 3, 7, 7.5] with BALD u = [.30, .29, .05, .02, 0, .01];
    /// one labelled prompt at 0.
    /// Radii (2nd nearest incl. self): r = [0, 0, 1, 2, 0.5, 0.5].
    /// Counts within r of the labelled 0: n = [1, 1, 1, 0, 0, 0].
    /// Scores s = u + β(ln(2r+ε) − ψ(n+1)):
    ///   s0 = .30 + .1(ln ε − ψ2) = −0.66331…   s1 = .29 + .1(ln ε − ψ2) = −0.67331…
    ///   s2 = .05 + .1(ln 2.0001 − ψ2) = 0.07704…  s3 = .02 + .1(ln 4.0001 − ψ1) = 0.21635…
    ///   s4 = 0 + .1(ln 1.0001 − ψ1) = 0.05773…     s5 = .01 + .1(ln 1.0001 − ψ1) = 0.06773…
    /// Greedy: pick 3 (no one within radius of 3), pick 2, pick 5 → 4 is within r4 = 0.5 of 7.5,
    /// so n4 = 1 and s4 drops to .1(ln 1.0001 − ψ2) = −0.04227…; pick 4; pick 0 → 1 is a twin of 0
    /// (distance 0 ≤ r1 = 0), n1 = 2, s1 = .29 + .1(ln ε − ψ3) = −0.72331…; pick 1.
    /// BALD rank alone would pick 0, 1, 2, 3, 5, 4.
    #[test]
    fn greedy_batch_worked_by_hand() {
        let feats: PromptFeatures =
            FeatureMatrix::new(7, 1, vec![0.0, 0.0, 1.0, 3.0, 7.0, 7.5, 0.0])
                .unwrap()
                .into();
        let unl = [0, 1, 2, 3, 4, 5];
        let u = [0.30, 0.29, 0.05, 0.02, 0.0, 0.01];
        let state = PoolState::new(&unl, &u, &[6], &feats);
        let policy = BalPm::new(BalPmConfig {
            k: 2,
            beta: 0.1,
            ..Default::default()
        });
        let trace = policy.select_traced(&state, 6).unwrap();
        assert_eq!(trace.picks, vec![3, 2, 5, 4, 0, 1]);
        let ln = |x: f64| x.ln();
        let expected = [
            0.02 + 0.1 * (ln(4.0001) - PSI1),
            0.05 + 0.1 * (ln(2.0001) - PSI2),
            0.01 + 0.1 * (ln(1.0001) - PSI1),
            0.1 * (ln(1.0001) - PSI2),
            0.30 + 0.1 * (LN_EPS - PSI2),
            0.29 + 0.1 * (LN_EPS - PSI3),
        ];
        let hand = [
            0.216_353_502_570_892,
            0.077_041_284_421_152,
            0.067_731_565_990_187,
            -0.042_268_434_009_813,
            -0.663_312_470_707_465,
            -0.723_312_470_707_465,
        ];
        for ((got, want), h) in trace.scores.iter().zip(expected).zip(hand) {
            assert!((got - want).abs() < 1e-12, "{:?}", trace.scores);
            assert!((got - h).abs() < 1e-9, "{:?}", trace.scores);
        }
        // A batch of 4 stops after the in-batch update has changed 4's score.
        assert_eq!(
            policy.select_traced(&state, 4).unwrap().picks,
            vec![3, 2, 5, 4]
        );
        // The neighbour index gives the same trace, with lists that hold every prompt (K = 64) and
        // with lists of 1 or 2 that run out and fall back to brute force.
        for index_k in [1, 2, 64] {
            let index = PromptKnnIndex::build(feats.table(), index_k, &|_| {});
            let indexed = PoolState {
                prompt_index: Some(&index),
                ..state
            };
            assert_eq!(
                policy.select_traced(&indexed, 6).unwrap(),
                trace,
                "index K = {index_k}"
            );
        }
    }

    fn hand_state() -> (PromptFeatures, [usize; 6], [f64; 6]) {
        let feats: PromptFeatures =
            FeatureMatrix::new(7, 1, vec![0.0, 0.0, 1.0, 3.0, 7.0, 7.5, 0.0])
                .unwrap()
                .into();
        (
            feats,
            [0, 1, 2, 3, 4, 5],
            [0.30, 0.29, 0.05, 0.02, 0.0, 0.01],
        )
    }

    #[test]
    fn ablations_on_the_hand_example() {
        let (feats, unl, u) = hand_state();
        let state = PoolState::new(&unl, &u, &[6], &feats);
        let base = BalPmConfig {
            k: 2,
            beta: 0.1,
            ..Default::default()
        };
        let picks = |c: BalPmConfig, b| BalPm::new(c).select_traced(&state, b).unwrap();
        // No uncertainty: entropy only. Terms (×β removed): 3: 1.9635, 4: 0.5773, 5: 0.5773, 2: 0.2704;
        // pick 3, then 4 (first of the tie 4/5), after which 5's count rises (0.5 ≤ r5) → 2 before 5.
        assert_eq!(
            picks(
                BalPmConfig {
                    no_uncertainty: true,
                    ..base.clone()
                },
                3
            )
            .picks,
            vec![3, 4, 2]
        );
        // Entropy minimiser: u − βĤ favours the duplicates: 0 (0.30 + 0.963), then 1 whose count
        // rose to 2 (0.29 + 1.013).
        assert_eq!(
            picks(
                BalPmConfig {
                    entropy_minimizer: true,
                    ..base.clone()
                },
                2
            )
            .picks,
            vec![0, 1]
        );
        // With β = 0 every variant is BALD rank.
        assert_eq!(
            picks(
                BalPmConfig {
                    beta: 0.0,
                    ..base.clone()
                },
                3
            )
            .picks,
            vec![0, 1, 2]
        );
    }

    #[test]
    fn kl_estimator_on_a_worked_example() {
        // Same pool, k = 1, β = 0.1: the term is log(2ρ + ε) with ρ the nearest labelled/picked
        // prompt. Labelled = {0}. ρ = [0, 0, 1, 3, 7, 7.5].
        // Scores: 0: .30 + .1 ln(1e-4) = −0.621, 1: −0.631, 2: .05 + .1 ln 2.0001 = 0.1193,
        // 3: .02 + .1 ln 6.0001 = 0.1992, 4: .1 ln 14.0001 = 0.2639, 5: .01 + .1 ln 15.0001 = 0.2808.
        // Pick 5; then 4's ρ becomes 0.5: .1 ln 1.0001 ≈ 0.00001; pick 3 (0.1992), then 2: ρ2 = min(1, 2) = 1 → 0.1193.
        let (feats, unl, u) = hand_state();
        let state = PoolState::new(&unl, &u, &[6], &feats);
        let c = BalPmConfig {
            k: 1,
            beta: 0.1,
            estimator: EntropyEstimator::Kl,
            ..Default::default()
        };
        let t = BalPm::new(c).select_traced(&state, 3).unwrap();
        assert_eq!(t.picks, vec![5, 3, 2]);
        assert!((t.scores[0] - (0.01 + 0.1 * 15.0001f64.ln())).abs() < 1e-12);
    }

    #[test]
    fn normalized_entropy_is_scale_free() {
        // Unbiased std of [1, 2, 3] is 1; a single value is only centred.
        let mut v = vec![1.0, 2.0, 3.0];
        z_score(&mut v);
        assert_eq!(v, vec![-1.0, 0.0, 1.0]);
        let mut one = vec![5.0];
        z_score(&mut one);
        assert_eq!(one, vec![0.0]);
    }

    #[test]
    fn k_larger_than_pool_is_an_error() {
        let feats: PromptFeatures = FeatureMatrix::new(3, 1, vec![0.0, 1.0, 2.0])
            .unwrap()
            .into();
        let state = PoolState::new(&[0, 1, 2], &[0.1; 3], &[], &feats);
        let err = BalPm::new(BalPmConfig {
            k: 4,
            ..Default::default()
        })
        .select_traced(&state, 1)
        .unwrap_err();
        assert_eq!(
            err,
            AcquireError::PoolTooSmall {
                what: "balpm k",
                value: 4,
                pool: 3
            }
        );
    }

    #[test]
    fn reference_shift_is_a_shift_not_a_standardisation() {
        let x = FeatureMatrix::from_rows(&[vec![1.0, 10.0], vec![3.0, 10.0]]).unwrap();
        let s = reference_shift(&x);
        // Column 0: μ = 2, σ = √2 → shift 2/√2 = √2. Column 1 is constant and stays.
        let r2 = 2f64.sqrt();
        assert_eq!(s.row(0), &[(1.0 - r2) as f32, 10.0]);
        assert_eq!(s.row(1), &[(3.0 - r2) as f32, 10.0]);
    }
}
