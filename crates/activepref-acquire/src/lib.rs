//! # activepref-acquire
//!
//! Owns the **acquisition** arrow: which unlabelled comparisons to label next.
//!
//! - [`PoolPolicy`] is the seam: `select(&PoolState, batch, rng) -> pool indices`.
//! - Pool policies: [`RandomSampling`], [`TopScore`] (rank; BALD rank is the paper's baseline),
//!   [`ProportionalSampling`], [`GumbelTopK`] (SoftmaxBALD, PowerBALD, SoftRankBALD),
//!   [`SampleThenRank`], [`ClusteredRank`], [`BalPm`] (with its ablations) and [`BatchBald`], each
//!   ranking by an [`UncertaintyScore`]; the diverse-batch baselines [`Coreset`], [`Badge`] and
//!   [`FisherDOptimal`]. [`PolicySpec`] is the registry the YAML parser and `activepref policies`
//!   share.
//! - [`KnnEntropyBonus`] is BAL-PM's kNN estimate of how much a prompt adds to the entropy of the
//!   acquired prompts (specs/balpm.md §4.3), by brute force; [`PromptKnnIndex`] and
//!   [`IndexedKnnEntropyBonus`] give exactly the same numbers at paper scale from a neighbour index
//!   built once per feature table.
//!
//! - [`PairPolicySpec`] holds the ActiveUltraFeedback pair rules (DTS, DRTS, DeltaUCB, InfoMax,
//!   MaxMinLCB, …) in `reference` and `corrected` modes ([`PairMode`]).

#![warn(missing_docs)]

mod balpm;
mod batchbald;
mod diversity;
mod knn;
mod knn_index;
mod pair;
mod policies;
mod registry;
mod rules;
mod scores;

pub use balpm::{BalPm, BalPmConfig, BalPmTrace, EntropyEstimator, FeatureShift};
pub use batchbald::{BatchBald, BatchBaldConfig};
pub use diversity::{
    Badge, Coreset, FisherDOptimal, FisherParams, LastLayerEmbedding, inverse_information,
    k_center_greedy, kmeans_pp_seeds,
};
pub use knn::{KnnEntropyBonus, euclidean};
pub use knn_index::{IndexError, IndexKey, IndexedKnnEntropyBonus, PromptKnnIndex, index_k_for};
pub use pair::{
    BetaParams, CandidateScores, MaxMinLcbParams, PairDesign, PairMode, PairPolicySpec,
    QuantileParams, ThompsonDraw, ThompsonParams, UcbSetParams,
};
pub use policies::{FullDataset, RandomSampling, TopScore};
pub use registry::{GroupParams, GumbelParams, PolicySpec, PowerParams, ScoreParams};
pub use rules::{
    Annealing, ClusteredRank, GumbelRule, GumbelTopK, ProportionalSampling, SampleThenRank,
};
pub use scores::{LatentRewardInputs, UncertaintyScore, latent_reward_uncertainty};

use activepref_core::EnsemblePrediction;
use activepref_core::{FeatureMatrix, PromptFeatures};
use rand_chacha::ChaCha8Rng;

/// What a pool policy sees when it picks a batch.
#[derive(Clone, Copy, Debug)]
pub struct PoolState<'a> {
    /// Pool indices of the unlabelled candidates. Their order is the tie-break order: on equal
    /// scores the earlier candidate wins (the reference's first-index argmax).
    pub unlabelled: &'a [usize],
    /// The uncertainty score `u` of each candidate, aligned with `unlabelled` (BALD by default).
    pub uncertainty: &'a [f64],
    /// Pool indices of the labelled comparisons.
    pub labelled: &'a [usize],
    /// Prompt features of every pool row (indexed by pool index).
    pub prompt_features: &'a PromptFeatures,
    /// The exact neighbour index of `prompt_features.table()`, when the caller built one: BAL-PM's
    /// KSG term then needs no all-pairs pass ([`PromptKnnIndex`]); without it, brute force.
    pub prompt_index: Option<&'a PromptKnnIndex>,
    /// Prompt id of every pool row (indexed by pool index), for one-per-prompt rules.
    pub prompt_ids: Option<&'a [u32]>,
    /// The ensemble's per-member predictions on the candidates (aligned with `unlabelled`), for
    /// joint scores such as BatchBALD.
    pub prediction: Option<&'a EnsemblePrediction>,
    /// The acquisition round (annealed rules).
    pub round: usize,
    /// The `(pair_a, pair_b)` feature rows of every pool comparison (indexed by pool index), for
    /// [`Coreset`].
    pub pair_features: Option<(&'a FeatureMatrix, &'a FeatureMatrix)>,
    /// The ensemble's last-layer embedding of the unlabelled and labelled comparisons, for
    /// [`Badge`] and [`FisherDOptimal`]; the loop builds it when
    /// [`PoolPolicy::needs_last_layer`] says so.
    pub last_layer: Option<&'a LastLayerEmbedding>,
}

impl<'a> PoolState<'a> {
    /// A state with only the parts every policy needs.
    pub fn new(
        unlabelled: &'a [usize],
        uncertainty: &'a [f64],
        labelled: &'a [usize],
        prompt_features: &'a PromptFeatures,
    ) -> Self {
        Self {
            unlabelled,
            uncertainty,
            labelled,
            prompt_features,
            prompt_index: None,
            prediction: None,
            prompt_ids: None,
            round: 0,
            pair_features: None,
            last_layer: None,
        }
    }
}

/// Why a policy could not pick.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum AcquireError {
    /// An uncertainty score is NaN or infinite.
    #[error("uncertainty of candidate {index} is {value} (NaN and infinity are not allowed)")]
    NonFiniteScore {
        /// Pool index of the candidate.
        index: usize,
        /// The offending score.
        value: f64,
    },
    /// The uncertainty scores are not aligned with the unlabelled candidates.
    #[error("{got} uncertainty scores for {expected} candidates")]
    ScoreLength {
        /// Candidates (`unlabelled.len()`).
        expected: usize,
        /// Scores given.
        got: usize,
    },
    /// A policy parameter needs more unlabelled comparisons than the pool has (e.g. BAL-PM's `k`).
    #[error(
        "{what} is {value}, but the unlabelled pool holds only {pool} comparisons; lower {what}"
    )]
    PoolTooSmall {
        /// The parameter's name.
        what: &'static str,
        /// Its value.
        value: usize,
        /// Unlabelled comparisons in the pool.
        pool: usize,
    },
    /// A labelled or unlabelled pool index has no prompt-feature row.
    #[error("pool index {index} is out of range for {rows} prompt-feature rows")]
    IndexOutOfRange {
        /// The offending pool index.
        index: usize,
        /// Rows of the prompt features.
        rows: usize,
    },
    /// A pair rule was given a prompt with fewer than two candidate responses.
    #[error("pair policy `{policy}` needs at least 2 responses per prompt, got {}", activepref_core::error::counted(*.n, "response", "responses"))]
    TooFewResponses {
        /// The rule's name.
        policy: String,
        /// Responses the prompt has.
        n: usize,
    },
    /// A policy's parameters or inputs do not fit together; `why` says how.
    #[error("policy `{policy}`: {why}")]
    Rule {
        /// The policy's name.
        policy: String,
        /// What is wrong, and how to fix it.
        why: String,
    },
    /// A policy or score needs an input the loop did not provide (per-member predictions, prompt
    /// ids, imported scores, rewards).
    #[error("policy `{policy}` needs {what}, which this pool does not provide")]
    MissingInput {
        /// The policy's or score's name.
        policy: &'static str,
        /// The missing input.
        what: &'static str,
    },
}

impl PoolState<'_> {
    /// Checks lengths, index ranges and finiteness once, for every policy.
    ///
    /// # Errors
    ///
    /// [`AcquireError::ScoreLength`] when `uncertainty` and `unlabelled` differ in length;
    /// [`AcquireError::NonFiniteScore`] for a NaN or infinite score; [`AcquireError::Rule`] when
    /// `prompt_index` covers another number of prompts than the feature table;
    /// [`AcquireError::IndexOutOfRange`] for a pool index without a prompt-feature row.
    pub fn validate(&self) -> Result<(), AcquireError> {
        if self.uncertainty.len() != self.unlabelled.len() {
            return Err(AcquireError::ScoreLength {
                expected: self.unlabelled.len(),
                got: self.uncertainty.len(),
            });
        }
        if let Some((i, &v)) = self
            .uncertainty
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite())
        {
            return Err(AcquireError::NonFiniteScore {
                index: self.unlabelled[i],
                value: v,
            });
        }
        let rows = self.prompt_features.rows();
        if let Some(ix) = self.prompt_index
            && ix.rows() != self.prompt_features.table().rows()
        {
            return Err(AcquireError::Rule {
                policy: "balpm".into(),
                why: format!(
                    "the kNN index covers {} prompts but the feature table holds {}; rebuild the index",
                    ix.rows(),
                    self.prompt_features.table().rows()
                ),
            });
        }
        if let Some(&index) = self
            .unlabelled
            .iter()
            .chain(self.labelled)
            .find(|&&i| i >= rows)
        {
            return Err(AcquireError::IndexOutOfRange { index, rows });
        }
        Ok(())
    }
}

/// A pool-based acquisition policy.
pub trait PoolPolicy: Send + Sync {
    /// The uncertainty the caller must put in [`PoolState::uncertainty`].
    fn score(&self) -> UncertaintyScore {
        UncertaintyScore::Bald
    }

    /// True for the "full dataset" upper bound: the loop trains one model on the whole pool and
    /// reports it at every round, while `select` only keeps the label schedule going.
    fn trains_on_whole_pool(&self) -> bool {
        false
    }

    /// True when the policy reads [`PoolState::last_layer`] (BADGE, Fisher): the loop then
    /// computes each member's final-layer inputs on the unlabelled and labelled comparisons.
    fn needs_last_layer(&self) -> bool {
        false
    }

    /// Picks `min(batch, |unlabelled|)` distinct unlabelled pool indices, in pick order.
    ///
    /// # Errors
    ///
    /// The errors of [`PoolState::validate`], and those of the policy itself (e.g.
    /// [`AcquireError::PoolTooSmall`], [`AcquireError::MissingInput`], [`AcquireError::Rule`]).
    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError>;
}
