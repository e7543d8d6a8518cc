//! The pool loop's sizes ([`LoopConfig`]) and what a round of either loop records
//! ([`RoundRecord`], [`RoundTiming`]).

use activepref_core::{EvalMetrics, FieldError};
use activepref_model::TrainReport;
use serde::{Deserialize, Serialize};

use crate::cold_start::ColdStart;
use crate::oracle::OracleConfig;

/// Sizes of the loop. Paper: 320 initial, batches of 320, 75 rounds, pool capped at 92,000.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    /// Size of the initial random labelled set.
    pub initial_labels: usize,
    /// Comparisons acquired per round (B).
    pub batch_size: usize,
    /// Training/evaluation rounds; `rounds − 1` batches are acquired.
    pub rounds: usize,
    /// Optional cap on the pool after the seeded shuffle (the reference keeps 92,000).
    #[serde(default)]
    pub pool_size: Option<usize>,
    /// Optional cap on the validation comparisons that early stopping (and the record's
    /// `validation_loss`) reads: a seeded subset of that many, drawn once per run
    /// (`[run seed, InitialSet, initial_draw::VALIDATION_SUBSET]`), in the split's order.
    /// Not the paper's (the reference evaluates the whole split); it trades a noisier
    /// validation loss for time, as validation passes are the largest share of a paper-scale
    /// run. Absent (the default): the whole split. The loop reads a cap at least the split's
    /// size as the whole split; experiment files refuse one (it would change nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_size: Option<usize>,
    /// How the initial labelled set is chosen ([`ColdStart`]); absent: `random`.
    #[serde(default, skip_serializing_if = "ColdStart::is_random")]
    pub cold_start: ColdStart,
    /// Who answers the label queries ([`OracleConfig`]); absent: the dataset's labels.
    #[serde(default, skip_serializing_if = "OracleConfig::is_default")]
    pub oracle: OracleConfig,
}

impl LoopConfig {
    /// The `validation_size` cap in effect on a validation split of `split` comparisons: `None`
    /// when absent or when it would keep the whole split.
    pub fn validation_cap(&self, split: usize) -> Option<usize> {
        self.validation_size.filter(|&cap| cap < split)
    }

    /// Checks the sizes against a pool of `pool` comparisons (after `pool_size`'s cap).
    ///
    /// # Errors
    ///
    /// A [`FieldError`] for `rounds` outside `1..=1,000,000`, `initial_labels` or `batch_size` 0,
    /// an initial set not smaller than the pool, a batch larger than what is left after it, more
    /// rounds than the pool has labels for, a `pool_size` outside `1..=10⁹`, a `validation_size` of 0, or a bad
    /// `oracle` ([`OracleConfig::validate`]).
    pub fn validate(&self, pool: usize) -> Result<(), FieldError> {
        self.oracle.validate().map_err(|e| e.within("oracle"))?;
        let pool = self.pool_size.map_or(pool, |c| c.min(pool));
        let bad = |f: &str, m: String| Err(FieldError::new(f, m));
        FieldError::check_count("rounds", self.rounds, 1, 1_000_000)?;
        if let Some(cap) = self.pool_size {
            FieldError::check_count("pool_size", cap, 1, 1_000_000_000).map_err(|e| {
                FieldError::new(
                    e.field,
                    format!(
                        "{} (it caps the pool the loop labels from); leave it out to use the whole pool",
                        e.message
                    ),
                )
            })?;
        }
        if self.validation_size == Some(0) {
            return bad(
                "validation_size",
                "must be at least 1 (early stopping needs a validation loss); leave it out to use the whole split".into(),
            );
        }
        if self.initial_labels == 0 {
            return bad(
                "initial_labels",
                "must be at least 1 (the first model needs labels to train on)".into(),
            );
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        if self.initial_labels >= pool {
            return bad(
                "initial_labels",
                format!(
                    "is {}, but the pool holds only {pool} comparisons; lower initial_labels",
                    self.initial_labels
                ),
            );
        }
        if self.batch_size > pool - self.initial_labels {
            return bad(
                "batch_size",
                format!(
                    "is {}, larger than the {} unlabelled comparisons left after the initial set; lower batch_size",
                    self.batch_size,
                    pool - self.initial_labels
                ),
            );
        }
        // Saturating: a huge `rounds` must be refused, not wrap around to a small product.
        let needed = self
            .initial_labels
            .saturating_add((self.rounds - 1).saturating_mul(self.batch_size));
        if needed > pool {
            return bad(
                "rounds",
                format!(
                    "{} need {needed} labels but the pool holds {pool}; lower rounds or batch_size",
                    activepref_core::error::counted(self.rounds, "round", "rounds")
                ),
            );
        }
        Ok(())
    }
}

/// Everything recorded about one round. `batch_*` fields are `None` in the last round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// 0-based round index.
    pub round: usize,
    /// Size of the labelled set the model of this round was trained on.
    pub labels: usize,
    /// Mean test log-likelihood of the labels under the ensemble mean `p̄` (nats, `≤ 0`).
    pub test_log_likelihood: f64,
    /// Test accuracy of `p̄` (share of comparisons, in `[0, 1]`).
    pub test_accuracy: f64,
    /// Test Brier score `(1/N) Σ (1 − p̄(chosen))²`.
    pub test_brier: f64,
    /// Mean OOD log-likelihood (nats; NaN when the benchmark has no OOD split).
    pub ood_log_likelihood: f64,
    /// OOD accuracy (NaN without an OOD split).
    pub ood_accuracy: f64,
    /// OOD Brier score (NaN without an OOD split).
    pub ood_brier: f64,
    /// Mean validation loss of the members' restored checkpoints.
    pub validation_loss: f64,
    /// Mean BALD over the whole unlabelled pool.
    pub pool_mean_bald: Option<f64>,
    /// Mean BALD of the picked batch.
    pub batch_mean_bald: Option<f64>,
    /// Distinct prompts in the picked batch.
    pub batch_unique_prompts: Option<usize>,
    /// Distinct prompts in the labelled set after this round's acquisition (BAL-PM's batch
    /// diagnostics, specs/balpm.md §5.4). Absent from state files written before it existed.
    #[serde(default)]
    pub labelled_unique_prompts: Option<usize>,
    /// Comparisons picked this round.
    pub batch_size: Option<usize>,
    /// The largest BALD score of the unlabelled pool before this round's pick (nats; `None` in
    /// the last round and for `full_dataset`), for the `max_uncertainty` stopping rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_max_bald: Option<f64>,
    /// Cohen's κ between this round's and the previous round's predicted preferences on the
    /// run's fixed stopping sample ([`STOPPING_SAMPLE`](crate::stopping::STOPPING_SAMPLE)
    /// comparisons; `None` in round 0, for an empty sample and for `full_dataset`), for the
    /// `stable_predictions` stopping rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_agreement: Option<f64>,
    /// Comparisons the round's model was trained on (the labelled set; the whole pool for
    /// `full_dataset`) whose oracle answer differs from the dataset's label: flips, and under
    /// `bradley_terry` the resampled labels that disagree with it (`None` under the default
    /// oracle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_flipped: Option<usize>,
    /// Comparisons of that same set that the oracle's tie rule dropped: acquired, counted in
    /// `labels`, but not trained on (`None` under the default oracle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_dropped: Option<usize>,
    /// Comparisons of that same set kept as ties (`ties.policy: half`): trained on once in each
    /// orientation (`None` under the default oracle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_ties: Option<usize>,
    /// What the oracle charged for that same set (`loop.oracle.cost`, in its unit; dropped ties
    /// included; `None` without a cost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_cost: Option<f64>,
}

/// A fitted model's test and OOD metrics, and its members' mean best validation loss.
pub(crate) type Evaluation = (EvalMetrics, EvalMetrics, f64);

impl RoundRecord {
    /// The row of round `round`, trained on `labels` labels, before anything is acquired.
    pub(crate) fn evaluated(
        round: usize,
        labels: usize,
        (test, ood, validation_loss): Evaluation,
    ) -> Self {
        Self {
            round,
            labels,
            test_log_likelihood: test.log_likelihood,
            test_accuracy: test.accuracy,
            test_brier: test.brier,
            ood_log_likelihood: ood.log_likelihood,
            ood_accuracy: ood.accuracy,
            ood_brier: ood.brier,
            validation_loss,
            pool_mean_bald: None,
            batch_mean_bald: None,
            batch_unique_prompts: None,
            labelled_unique_prompts: None,
            batch_size: None,
            pool_max_bald: None,
            stopping_agreement: None,
            oracle_flipped: None,
            label_cost: None,
            oracle_dropped: None,
            oracle_ties: None,
        }
    }
}

/// A round's training work: `(train_steps, validation_passes)`, as [`RoundTiming`] records
/// them.
pub type TrainingWork = (usize, usize);

/// Wall-clock seconds of one round. Kept apart from [`RoundRecord`] so that result files stay
/// bit-identical across machines and thread counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundTiming {
    /// 0-based round index.
    pub round: usize,
    /// Seconds spent training the model (wall clock).
    pub train_secs: f64,
    /// Seconds spent scoring the unlabelled pool (prediction and uncertainty).
    pub score_secs: f64,
    /// Seconds the policy spent selecting the batch.
    pub select_secs: f64,
    /// Optimiser steps the round's training took, summed over the networks trained (a deep
    /// ensemble's members; an anchored pair loop's heads in its one refit).
    pub train_steps: usize,
    /// Validation passes the round's training made, summed over the networks trained: each is one
    /// network's losses over every validation comparison (early stopping's evaluations).
    pub validation_passes: usize,
}

impl RoundTiming {
    /// The training work of the fits in `reports` (one per network), summed over them.
    pub fn training_work(reports: &[TrainReport]) -> TrainingWork {
        reports
            .iter()
            .fold((0, 0), |(s, v), r| (s + r.steps, v + r.evaluations))
    }

    /// The round's seconds in all: training, scoring and selection.
    pub fn secs(&self) -> f64 {
        self.train_secs + self.score_secs + self.select_secs
    }
}
