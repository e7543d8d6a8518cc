//! The pair loop's sizes and refit ([`PairLoopConfig`], [`PairRefit`]) and what it records
//! ([`AcquiredPair`], [`PairRoundRecord`]).

use activepref_acquire::PairMode;
use activepref_core::FieldError;
use activepref_core::error::counted;
use activepref_model::{AnchorDecay, AnchoredRefitConfig};
use serde::{Deserialize, Serialize};

use crate::cold_start::ColdStart;
use crate::oracle::{OracleConfig, TiePolicy};
use crate::prefix::PrefixEvalConfig;

/// Sizes of the pair loop (the paper: batches of 64 prompts, replay factor as configured).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairLoopConfig {
    /// Prompts per outer batch (one pair each).
    pub batch_prompts: usize,
    /// Acquisition batches; the loop records `rounds + 1` evaluations. Absent (or `null`): the
    /// whole stream, as the reference consumes it, the last batch holding what is left.
    #[serde(default)]
    pub rounds: Option<usize>,
    /// Replay buffer of the last `batch_prompts × replay_factor` pairs; `null` keeps every pair.
    #[serde(default)]
    pub replay_factor: Option<usize>,
    /// How the model is refitted after each batch; absent: `anchored` in reference mode,
    /// `from_scratch` in corrected mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refit: Option<PairRefit>,
    /// Prefix evaluation of every finished run (specs/activeuf.md §5.4): fresh models trained
    /// on the first k acquired pairs; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_eval: Option<PrefixEvalConfig>,
    /// Which prompts form the first batch ([`ColdStart`], on each prompt's mean response
    /// features); absent: `random`, the first prompts of the shuffled stream.
    #[serde(default, skip_serializing_if = "ColdStart::is_random")]
    pub cold_start: ColdStart,
    /// Who orders an acquired pair ([`OracleConfig`]; its gap is the judge's score gap); absent:
    /// the judge's order.
    #[serde(default, skip_serializing_if = "OracleConfig::is_default")]
    pub oracle: OracleConfig,
}

/// How the pair loop refits its reward model after each batch. `PairRefit::iter()` (strum) lists
/// every refit with its defaults, for listings: the anchored one's are the reference's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, strum::EnumIter)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PairRefit {
    /// Retrain every member from scratch on the buffer (the `model.train` settings), early
    /// stopping on the validation prompts' judged pairs.
    FromScratch,
    /// The reference's warm-started, anchored one-epoch refit.
    Anchored(AnchoredRefitConfig),
}

impl PairRefit {
    /// One line on what the refit does.
    pub fn summary(&self) -> &'static str {
        match self {
            PairRefit::FromScratch => {
                "retrain every member from scratch on the acquired pairs (the `model.train` settings), early stopping on the validation prompts' judged pairs; corrected mode's default"
            }
            PairRefit::Anchored(_) => {
                "the reference's warm-started one-epoch refit on max_samples pairs of the buffer, with an anchor to the initial weights of strength lambda0 · decay_base^(exponent); reference mode's default (specs/activeuf.md §2.4)"
            }
        }
    }

    /// The refit a run uses: the configured one, else the mode's default; an anchored refit
    /// without a decay gets the mode's (the reference's form in reference mode).
    pub fn resolve(configured: Option<&PairRefit>, mode: PairMode) -> (PairRefit, AnchorDecay) {
        let refit = match (configured, mode) {
            (Some(r), _) => r.clone(),
            (None, PairMode::Reference) => PairRefit::Anchored(AnchoredRefitConfig::default()),
            (None, PairMode::Corrected) => PairRefit::FromScratch,
        };
        let default_decay = match mode {
            PairMode::Reference => AnchorDecay::REFERENCE,
            PairMode::Corrected => AnchorDecay::PER_LABEL,
        };
        let decay = match &refit {
            PairRefit::Anchored(a) => a.decay.unwrap_or(default_decay),
            PairRefit::FromScratch => default_decay,
        };
        (refit, decay)
    }
}

impl PairLoopConfig {
    /// Checks the sizes against a stream of `prompts` prompts, and the prefix and refit settings.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] for `batch_prompts` 0 or above `prompts`, `rounds` outside
    /// `1..=1,000,000`, `replay_factor` outside `1..=1,000,000`, more rounds than the stream has
    /// prompts for, a bad `prefix_eval.*` (or a prefix size above the pairs the loop acquires),
    /// `refit.*` or `oracle.*` field, or `oracle.ties.policy: drop` or `half`.
    pub fn validate(&self, prompts: usize) -> Result<(), FieldError> {
        let bad = |f: &str, m: String| Err(FieldError::new(f, m));
        if self.batch_prompts == 0 {
            return bad("batch_prompts", "must be at least 1".into());
        }
        if self.batch_prompts > prompts {
            return bad(
                "batch_prompts",
                format!(
                    "is {}, but the stream has only {prompts} prompts; lower batch_prompts",
                    self.batch_prompts
                ),
            );
        }
        if let Some(r) = self.rounds {
            FieldError::check_count("rounds", r, 1, 1_000_000).map_err(|e| {
                FieldError::new(
                    e.field,
                    format!("{} (or left out to use the whole stream)", e.message),
                )
            })?;
        }
        let rounds = self.rounds_for(prompts);
        if let Some(f) = self.replay_factor {
            FieldError::check_count("replay_factor", f, 1, 1_000_000).map_err(|e| {
                FieldError::new(
                    e.field,
                    format!("{}, or null to keep every pair", e.message),
                )
            })?;
        }
        if let Some(p) = &self.prefix_eval {
            p.validate().map_err(|e| e.within("prefix_eval"))?;
            // One pair per prompt of the loop's rounds: a larger prefix is never reached.
            let acquired = self.batch_prompts.saturating_mul(rounds).min(prompts);
            if let Some(&k) = p.sizes.iter().find(|&&k| k > acquired) {
                return bad(
                    "prefix_eval.sizes",
                    format!(
                        "lists {k}, but the loop acquires at most {acquired} pairs (one per prompt: {} of {}, on a stream of {prompts}); remove the sizes above {acquired} (the whole acquired set is always evaluated)",
                        counted(rounds, "round", "rounds"),
                        counted(self.batch_prompts, "prompt", "prompts")
                    ),
                );
            }
        }
        if let Some(PairRefit::Anchored(a)) = &self.refit {
            a.validate().map_err(|e| e.within("refit"))?;
        }
        self.oracle.validate().map_err(|e| e.within("oracle"))?;
        if self
            .oracle
            .ties
            .is_some_and(|t| t.policy != TiePolicy::Coin)
        {
            return bad(
                "oracle.ties.policy",
                "drop and half are for the pool setting (every acquired pair of the pair loop is trained on as chosen over rejected); use coin".into(),
            );
        }
        // Saturating: a huge `rounds` must be refused, not wrap around to a small product.
        let needed = self.batch_prompts.saturating_mul(rounds);
        if self.rounds.is_some() && needed > prompts {
            return bad(
                "rounds",
                format!(
                    "{} of {} need {needed} prompts but the stream has {prompts}; lower rounds or batch_prompts, or leave rounds out to use the whole stream",
                    counted(rounds, "round", "rounds"),
                    counted(self.batch_prompts, "prompt", "prompts")
                ),
            );
        }
        Ok(())
    }

    /// Acquisition rounds on a stream of `prompts` prompts: `rounds`, or enough batches for the
    /// whole stream.
    pub fn rounds_for(&self, prompts: usize) -> usize {
        self.rounds
            .unwrap_or(prompts.div_ceil(self.batch_prompts.max(1)))
    }
}

/// One acquired, judged pair, with what the model predicted for its two responses when it was
/// picked (the predictions default to 0 in state files written before they were recorded).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcquiredPair {
    /// Index into the benchmark's stream.
    pub prompt: usize,
    /// Index of the chosen (judge-preferred) response among the prompt's candidates.
    pub chosen: usize,
    /// Index of the rejected response among the prompt's candidates.
    pub rejected: usize,
    /// The round that picked it.
    #[serde(default)]
    pub round: usize,
    /// Predicted mean reward and spread (ensemble standard deviation) of the chosen response.
    #[serde(default)]
    pub chosen_mu: f32,
    /// Predicted spread (ensemble standard deviation) of the chosen response.
    #[serde(default)]
    pub chosen_sd: f32,
    /// The same for the rejected response.
    #[serde(default)]
    pub rejected_mu: f32,
    /// Predicted spread of the rejected response.
    #[serde(default)]
    pub rejected_sd: f32,
}

/// What one round records. `batch_*` are `None` in the last round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairRoundRecord {
    /// 0-based round (the evaluated model has seen batches `0..round`).
    pub round: usize,
    /// Pairs the evaluated model was trained on.
    pub labels: usize,
    /// Mean held-out log-likelihood of the judge's preferences under the ensemble mean (nats).
    pub heldout_log_likelihood: f64,
    /// Held-out accuracy (share of judged pairs, in `[0, 1]`).
    pub heldout_accuracy: f64,
    /// Held-out Brier score.
    pub heldout_brier: f64,
    /// Mean judge-score gap |s_chosen − s_rejected| of the pairs acquired this round.
    pub batch_mean_score_gap: Option<f64>,
    /// Pairs of this round whose two judge scores tie.
    pub batch_judge_ties: Option<usize>,
    /// Pairs of this round that the oracle ordered against the judge (`None` under the default
    /// oracle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_oracle_flipped: Option<usize>,
    /// Mean predicted reward gap μ_chosen − μ_rejected of the pairs acquired this round (next to
    /// the judge's gap above: how well the model foresaw the judge).
    #[serde(default)]
    pub batch_mean_predicted_gap: Option<f64>,
    /// Mean predicted spread of the picked responses.
    #[serde(default)]
    pub batch_mean_predicted_sd: Option<f64>,
    /// Mean latent-reward gap |r_a − r_b| of the pairs acquired this round, where the benchmark
    /// knows the latent reward (the synthetic one).
    #[serde(default)]
    pub batch_mean_latent_gap: Option<f64>,
    /// Judge labels outside the acquired pairs that the evaluated model's refit read (the
    /// validation prompts' pairs of a from-scratch refit with early stopping; 0 when anchored).
    #[serde(default)]
    pub validation_labels: usize,
    /// Anchor strength λ of the evaluated model's last refit (anchored refits after a batch).
    #[serde(default)]
    pub anchor_strength: Option<f64>,
    /// What the oracle charged for the `labels` acquired pairs (`oracle.cost`, in its unit;
    /// `None` without a cost). The judge labels a from-scratch refit reads for early stopping
    /// (`validation_labels`) are not priced: they are not acquired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_cost: Option<f64>,
    /// The refit's members' mean best validation loss (from-scratch refits after a batch; `None`
    /// when anchored and in round 0), for the `validation_plateau` stopping rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_loss: Option<f64>,
    /// The largest BALD (nats) over every candidate pair of this round's batch prompts, before
    /// the pick (`None` in the last round), for the `max_uncertainty` stopping rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_max_bald: Option<f64>,
    /// Cohen's κ of this and the previous round's predicted preferences on the run's fixed
    /// stopping sample (`None` in round 0), for the `stable_predictions` stopping rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_agreement: Option<f64>,
}
