//! The pool-policy registry: one enum that the YAML parser reads, that builds the policy objects,
//! and that `activepref policies` prints (with defaults taken from the enum itself).

use activepref_core::FieldError;
use serde::{Deserialize, Serialize};
use std::ops::Bound::{Excluded, Included};
use strum::{EnumIter, EnumMessage, IntoEnumIterator, IntoStaticStr};

use crate::rules::{
    Annealing, ClusteredRank, GumbelRule, GumbelTopK, ProportionalSampling, SampleThenRank,
};
use crate::scores::UncertaintyScore;
use crate::{
    Badge, BalPm, BalPmConfig, BatchBald, BatchBaldConfig, Coreset, FisherDOptimal, FisherParams,
    FullDataset, PoolPolicy, RandomSampling, TopScore,
};

/// Only the score to rank or sample by.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoreParams {
    /// bald | predictive | aleatoric | variance | random
    pub score: UncertaintyScore,
}

/// A Gumbel rule's inverse temperature and score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GumbelParams {
    /// Inverse temperature β (Gumbel scale 1/β).
    pub beta: f64,
    /// The score the Gumbel perturbation is added to (default BALD).
    pub score: UncertaintyScore,
}

impl Default for GumbelParams {
    fn default() -> Self {
        Self {
            beta: 1.0,
            score: UncertaintyScore::Bald,
        }
    }
}

/// PowerBALD: β and an optional annealing schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PowerParams {
    /// Inverse temperature β: picks are `∝ score^β` (default 1).
    pub beta: f64,
    /// The score raised to the power β (default BALD).
    pub score: UncertaintyScore,
    /// `{ initial_beta: 0.25, start_round: 0, rounds: N }`: β climbs linearly to `beta`.
    pub annealing: Option<Annealing>,
}

impl Default for PowerParams {
    fn default() -> Self {
        Self {
            beta: 1.0,
            score: UncertaintyScore::Bald,
            annealing: None,
        }
    }
}

/// Sample-then-rank's group size and score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupParams {
    /// Candidates per group; the best of each group by `score` goes on (default 16).
    pub group_size: usize,
    /// The score that ranks each group (default BALD).
    pub score: UncertaintyScore,
}

impl Default for GroupParams {
    fn default() -> Self {
        Self {
            group_size: 16,
            score: UncertaintyScore::Bald,
        }
    }
}

/// A pool policy with its parameters, as written in an experiment file:
/// `{ policy: balpm, k: 13, beta: 0.01 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumIter, EnumMessage)]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
#[strum(serialize_all = "snake_case")]
pub enum PolicySpec {
    /// Uniform random sampling ([`RandomSampling`]).
    #[strum(message = "uniform sampling of the batch without replacement")]
    Random {},
    /// The "full dataset" upper bound ([`FullDataset`]).
    #[strum(
        message = "the Full Dataset upper bound: one model trained on the whole pool, reported at every round (its label-saving row is meaningless)"
    )]
    FullDataset {},
    /// Top-B by BALD, the paper's BALD baseline ([`TopScore`]).
    #[strum(
        message = "top-B by BALD, H[p̄] − mean_m H[p_m] (the paper's BALD baseline; = rank with score bald)"
    )]
    Bald {},
    /// Top-B by a chosen score ([`TopScore`]).
    #[strum(message = "top-B by the chosen score")]
    Rank(ScoreParams),
    /// Sampling without replacement `∝ score` ([`ProportionalSampling`]).
    #[strum(message = "sampling without replacement with probability ∝ score")]
    Sample(ScoreParams),
    /// SoftmaxBALD: Gumbel top-k, `∝ exp(β · score)` ([`GumbelTopK`]).
    #[strum(message = "top-B of score + Gumbel(0, 1/beta): ∝ exp(beta·score) (Kirsch et al. 2023)")]
    SoftmaxBald(GumbelParams),
    /// PowerBALD: Gumbel top-k, `∝ score^β` ([`GumbelTopK`]).
    #[strum(
        message = "top-B of log(score + 1e-5) + Gumbel(0, 1/beta): ∝ score^beta, optional annealing of beta"
    )]
    PowerBald(PowerParams),
    /// SoftRankBALD: Gumbel top-k, `∝ rank^−β` ([`GumbelTopK`]).
    #[strum(message = "top-B of log(1/rank + 1e-5) + Gumbel(0, 1/beta): ∝ rank^−beta")]
    SoftrankBald(GumbelParams),
    /// Shuffle into groups, keep each group's best, then B winners uniformly ([`SampleThenRank`]).
    #[strum(message = "shuffle, best of each group of group_size, then B of the winners uniformly")]
    SampleThenRank(GroupParams),
    /// Top-B by score with at most one comparison per prompt ([`ClusteredRank`]).
    #[strum(message = "top-B by score with at most one comparison per prompt")]
    ClusteredRank(ScoreParams),
    /// BAL-PM (Melo et al., NeurIPS 2024) and its ablations ([`BalPm`]).
    #[strum(
        message = "BAL-PM: greedy u + beta·(log(2 r_k + eps) − ψ(n + 1)/d_tilde), counts updated within the batch; ablations: estimator kl, no_uncertainty, entropy_minimizer, normalize_entropy, score"
    )]
    Balpm(BalPmConfig),
    /// BatchBALD: greedy joint mutual information ([`BatchBald`]).
    #[strum(
        message = "BatchBALD: greedy joint mutual information of the batch's labels with the ensemble member"
    )]
    Batchbald(BatchBaldConfig),
    /// Core-set: greedy k-center on the pair features (Sener & Savarese 2018; [`Coreset`]).
    #[strum(
        message = "core-set: greedy k-center on [pair_a; pair_b] features from the labelled set (Sener & Savarese, ICLR 2018)"
    )]
    Coreset {},
    /// BADGE: k-means++ on last-layer gradient embeddings (Ash et al. 2020; [`Badge`]).
    #[strum(
        message = "BADGE: k-means++ seeding on the members' last-layer gradient embeddings of the BT loss under the predicted label (Ash et al., ICLR 2020)"
    )]
    Badge {},
    /// Greedy D-optimal design on the last layer's Fisher information ([`FisherDOptimal`]).
    #[strum(
        message = "Fisher: greedy D-optimal design on the members' last-layer Fisher information, prior precision lambda (Shen, Sun & Ton, ICML 2025, ARM-FI)"
    )]
    Fisher(FisherParams),
}

impl PolicySpec {
    /// Every policy with its default parameters: the registry itself.
    pub fn all() -> Vec<PolicySpec> {
        PolicySpec::iter().collect()
    }

    /// The `policy:` tag.
    pub fn name(&self) -> &'static str {
        self.into()
    }

    /// One line on what the policy does.
    pub fn summary(&self) -> &'static str {
        self.get_message().expect("every policy has a summary")
    }

    /// True when the policy reads the members' disagreement (BALD, variance, BatchBALD, BAL-PM's
    /// uncertainty term): with a single deep-ensemble member that is 0 everywhere, so such a
    /// policy needs `model.members ≥ 2` (or MC dropout).
    pub fn needs_members(&self) -> bool {
        let epistemic =
            |s: UncertaintyScore| matches!(s, UncertaintyScore::Bald | UncertaintyScore::Variance);
        match self {
            PolicySpec::Random {}
            | PolicySpec::FullDataset {}
            | PolicySpec::Coreset {}
            | PolicySpec::Badge {}
            | PolicySpec::Fisher(_) => false,
            PolicySpec::Bald {} | PolicySpec::Batchbald(_) => true,
            PolicySpec::Rank(p) | PolicySpec::Sample(p) | PolicySpec::ClusteredRank(p) => {
                epistemic(p.score)
            }
            PolicySpec::SoftmaxBald(p) | PolicySpec::SoftrankBald(p) => epistemic(p.score),
            PolicySpec::PowerBald(p) => epistemic(p.score),
            PolicySpec::SampleThenRank(p) => epistemic(p.score),
            PolicySpec::Balpm(c) => !c.no_uncertainty && epistemic(c.score),
        }
    }

    /// The policy object that [`PoolPolicy::select`]s batches with these parameters.
    pub fn build(&self) -> Box<dyn PoolPolicy> {
        match self {
            PolicySpec::Random {} => Box::new(RandomSampling),
            PolicySpec::FullDataset {} => Box::new(FullDataset),
            PolicySpec::Bald {} => Box::new(TopScore::default()),
            PolicySpec::Rank(p) => Box::new(TopScore { score: p.score }),
            PolicySpec::Sample(p) => Box::new(ProportionalSampling { score: p.score }),
            PolicySpec::SoftmaxBald(p) => Box::new(GumbelTopK {
                rule: GumbelRule::Softmax,
                beta: p.beta,
                score: p.score,
            }),
            PolicySpec::PowerBald(p) => Box::new(GumbelTopK {
                rule: GumbelRule::Power(p.annealing.clone()),
                beta: p.beta,
                score: p.score,
            }),
            PolicySpec::SoftrankBald(p) => Box::new(GumbelTopK {
                rule: GumbelRule::SoftRank,
                beta: p.beta,
                score: p.score,
            }),
            PolicySpec::SampleThenRank(p) => Box::new(SampleThenRank {
                group_size: p.group_size,
                score: p.score,
            }),
            PolicySpec::ClusteredRank(p) => Box::new(ClusteredRank { score: p.score }),
            PolicySpec::Balpm(c) => Box::new(BalPm::new(c.clone())),
            PolicySpec::Batchbald(c) => Box::new(BatchBald { config: c.clone() }),
            PolicySpec::Coreset {} => Box::new(Coreset),
            PolicySpec::Badge {} => Box::new(Badge),
            PolicySpec::Fisher(p) => Box::new(FisherDOptimal { lambda: p.lambda }),
        }
    }

    /// Checks parameters against the pool size.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the parameter: a Gumbel rule's `beta` outside `(0, 10⁶]`,
    /// `annealing.initial_beta` outside `(0, 10⁶]` or its `start_round`/`rounds` above 10⁶,
    /// `group_size` outside `1..=pool_size`, BatchBALD's `max_configurations` outside `2..=2²⁴`,
    /// BAL-PM's `k` 0 or above `pool_size`, `beta` outside `[0, 10⁶]`, `d_tilde` outside
    /// `(0, 10⁶]` or `eps` outside `(0, 1]`, Fisher's `lambda` outside `(0, 10⁶]`.
    pub fn validate(&self, pool_size: usize) -> Result<(), FieldError> {
        let positive = |f: &str, v: f64, why: &str| {
            FieldError::check_real(f, v, (Excluded(0.0), Included(1e6)), why)
        };
        let gumbel_beta = "the inverse temperature (the Gumbel scale is 1/beta)";
        match self {
            PolicySpec::SoftmaxBald(p) | PolicySpec::SoftrankBald(p) => {
                positive("beta", p.beta, gumbel_beta)
            }
            PolicySpec::PowerBald(p) => {
                positive("beta", p.beta, gumbel_beta)?;
                match &p.annealing {
                    Some(a) => {
                        positive("annealing.initial_beta", a.initial_beta, "")?;
                        FieldError::check_count(
                            "annealing.start_round",
                            a.start_round,
                            0,
                            1_000_000,
                        )?;
                        FieldError::check_count("annealing.rounds", a.rounds, 0, 1_000_000)
                    }
                    None => Ok(()),
                }
            }
            PolicySpec::SampleThenRank(p) => {
                FieldError::check_count("group_size", p.group_size, 1, pool_size.max(1))
            }
            PolicySpec::Batchbald(c) => {
                // The joint distribution over configurations is a dense [configurations, members]
                // table per candidate: 2^24 is already 128 MB per member.
                FieldError::check_count("max_configurations", c.max_configurations, 2, 1 << 24)
            }
            PolicySpec::Balpm(c) => {
                if c.k == 0 {
                    return Err(FieldError::new(
                        "k",
                        "must be at least 1 (the point itself counts as its first neighbour)",
                    ));
                }
                if c.k > pool_size {
                    return Err(FieldError::new(
                        "k",
                        format!(
                            "is {}; must be between 1 and {pool_size}, the comparisons the pool holds (lower k)",
                            c.k
                        ),
                    ));
                }
                FieldError::check_real(
                    "beta",
                    c.beta,
                    0.0..=1e6,
                    "the weight of the entropy bonus, 0 = BALD alone (to penalise entropy instead, set entropy_minimizer: true)",
                )?;
                positive(
                    "d_tilde",
                    c.d_tilde,
                    "it divides the ψ(n + 1) term (the reference uses 1)",
                )?;
                FieldError::check_real(
                    "eps",
                    c.eps,
                    (Excluded(0.0), Included(1.0)),
                    "it keeps log(2r + eps) finite when r = 0 (the reference uses 1e-4)",
                )
            }
            PolicySpec::Fisher(p) => positive(
                "lambda",
                p.lambda,
                "the prior precision of the last-layer weights",
            ),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PoolState;

    #[test]
    fn every_registered_policy_is_listed_once() {
        let names: Vec<_> = PolicySpec::all().iter().map(PolicySpec::name).collect();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names.len(), unique.len());
        assert_eq!(names.len(), 15);
        assert!(names.contains(&"batchbald") && names.contains(&"balpm"));
    }

    /// The derived names are the YAML spellings serde reads: a spec written with its name parses
    /// back to the same variant, for every pool policy, pair policy and score.
    #[test]
    fn derived_names_are_the_yaml_tags() {
        for spec in PolicySpec::all() {
            let back: PolicySpec =
                serde_json::from_str(&format!(r#"{{"policy": "{}"}}"#, spec.name())).unwrap();
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(&spec),
                "{}",
                spec.name()
            );
            assert!(!spec.summary().is_empty());
        }
        for spec in crate::PairPolicySpec::all() {
            let back: crate::PairPolicySpec =
                serde_json::from_str(&format!(r#"{{"policy": "{}"}}"#, spec.name())).unwrap();
            assert_eq!(
                std::mem::discriminant(&back),
                std::mem::discriminant(&spec),
                "{}",
                spec.name()
            );
        }
        assert_eq!(crate::PairPolicySpec::all().len(), 16);
        let scores: Vec<&str> = UncertaintyScore::all()
            .map(UncertaintyScore::name)
            .collect();
        assert_eq!(
            scores,
            [
                "bald",
                "predictive",
                "aleatoric",
                "variance",
                "random",
                "latent_reward",
                "latent_reward_reference",
                "imported",
                "imported_low"
            ]
        );
        for score in UncertaintyScore::all() {
            assert_eq!(
                serde_json::from_str::<UncertaintyScore>(&format!(r#""{}""#, score.name()))
                    .unwrap(),
                score
            );
        }
    }

    proptest::proptest! {
        /// Every registered pool policy returns min(B, |U|) distinct unlabelled indices.
        #[test]
        fn every_pool_policy_returns_distinct_unlabelled_picks(
            n_pool in 3usize..30,
            n_lab in 0usize..5,
            batch in 1usize..40,
            seed in 0u64..1000,
            logits in proptest::collection::vec(-4.0f64..4.0, 3 * 35),
            coords in proptest::collection::vec(-3i8..3, 35),
        ) {
            use rand::SeedableRng;
            let rows = n_pool + n_lab;
            let feats: activepref_core::PromptFeatures = activepref_core::FeatureMatrix::new(rows, 1, coords[..rows].iter().map(|&c| c as f32).collect()).unwrap().into();
            let ids: Vec<u32> = coords[..rows].iter().map(|&c| (c + 3) as u32).collect();
            let unlabelled: Vec<usize> = (n_lab..rows).collect();
            let labelled: Vec<usize> = (0..n_lab).collect();
            let pred = activepref_core::EnsemblePrediction::from_logits(
                3, n_pool, (0..3).flat_map(|m| logits[m * 35..m * 35 + n_pool].to_vec()).collect());
            // Pair features and a 3-member last layer of width 2, from the same coordinates.
            let side = |shift: i8| activepref_core::FeatureMatrix::new(rows, 2, coords[..rows].iter().flat_map(|&c| [c as f32, (c + shift) as f32 * 0.5]).collect()).unwrap();
            let (pair_a, pair_b) = (side(1), side(-2));
            let all: Vec<usize> = (0..rows).collect();
            let last_layer = crate::LastLayerEmbedding::from_inputs(&all, &[side(0), side(1), side(2)], &[side(-1), side(2), side(0)], &[vec![0.5, -1.0], vec![1.0, 0.25], vec![-0.5, 2.0]]).unwrap();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            for spec in PolicySpec::all() {
                let spec = match spec {
                    PolicySpec::Balpm(c) => PolicySpec::Balpm(BalPmConfig { k: 3, ..c }),
                    other => other,
                };
                let policy = spec.build();
                let u = policy.score().compute(&pred, &mut rng).unwrap();
                let state = PoolState { prompt_ids: Some(&ids), prediction: Some(&pred), round: 2, pair_features: Some((&pair_a, &pair_b)), last_layer: Some(&last_layer), ..PoolState::new(&unlabelled, &u, &labelled, &feats) };
                let picks = policy.select(&state, batch, &mut rng).unwrap();
                proptest::prop_assert_eq!(picks.len(), batch.min(n_pool), "{}", spec.name());
                let set: std::collections::HashSet<_> = picks.iter().collect();
                proptest::prop_assert_eq!(set.len(), picks.len(), "{} repeated a pick", spec.name());
                proptest::prop_assert!(picks.iter().all(|p| unlabelled.contains(p)), "{} picked a labelled row", spec.name());
            }
        }
    }

    #[test]
    fn k_beyond_pool_is_named() {
        let spec = PolicySpec::Balpm(BalPmConfig {
            k: 50,
            ..Default::default()
        });
        let FieldError {
            field,
            message: msg,
        } = spec.validate(20).unwrap_err();
        assert_eq!(field, "k");
        assert_eq!(
            msg,
            "is 50; must be between 1 and 20, the comparisons the pool holds (lower k)"
        );
        assert_eq!(
            PolicySpec::SoftmaxBald(GumbelParams {
                beta: 0.0,
                ..Default::default()
            })
            .validate(20)
            .unwrap_err()
            .field,
            "beta"
        );
    }
}
