//! Stopping rules (issue 23): when a run could have stopped asking for labels. Each rule is
//! evaluated after every round from what the run records, and reported, never obeyed: a run
//! always goes on to its last round, so the report can say what stopping would have saved or cost.
//!
//! The signals come from [`RoundRecord`](crate::RoundRecord) in the pool setting: `labels`,
//! `pool_max_bald`, `stopping_agreement` (Cohen's κ of this round's and the previous round's
//! predicted preferences on a fixed sample of the pool, as small-text's `KappaAverage`) and
//! `validation_loss`. In the pair setting, [`PairRoundRecord`](crate::PairRoundRecord) records
//! the same with `batch_max_bald` (the round's batch of candidate pairs, a stream's analogue of
//! the pool) and κ on a ring of response pairs of the last prompts of the loop order.

use activepref_core::FieldError;
use serde::{Deserialize, Serialize};
use std::ops::Bound::{Excluded, Included};

/// Comparisons on which successive models' predictions are compared (`stopping_agreement`): the
/// tail of the run's shuffled pool, unlabelled at the start (pool setting), or the ring of
/// response pairs `(0, 1), …, (n − 1, 0)` of the last prompts of the loop order (pair setting).
pub const STOPPING_SAMPLE: usize = 1000;

/// A stopping rule, as written in `report.stopping`:
/// `- { rule: stable_predictions, kappa: 0.99, window: 3 }`.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumMessage,
)]
#[serde(tag = "rule", rename_all = "snake_case", deny_unknown_fields)]
#[strum(serialize_all = "snake_case")]
pub enum StoppingRule {
    /// Stop once the labelled set holds `labels` comparisons.
    #[strum(message = "stop once the labelled set holds `labels` comparisons")]
    Budget {
        /// The label budget (≥ 1).
        labels: usize,
    },
    /// Stop once the largest BALD score of the unlabelled pool (pair setting: of the round's
    /// candidate pairs) falls below `below` (nats), as baal's uncertainty criterion.
    #[strum(
        message = "stop once the largest BALD score of the pool (pairs: the round's candidate pairs) falls below `below` (nats)"
    )]
    MaxUncertainty {
        /// The threshold (nats; finite, > 0).
        below: f64,
    },
    /// Stop once the mean of the last `window` agreements (Cohen's κ of successive models'
    /// predicted preferences on a fixed sample) reaches `kappa` (small-text's
    /// `KappaAverage`; Bloodgood & Vijay-Shanker 2009).
    #[strum(
        message = "stop once the mean Cohen's kappa of successive models on a fixed sample, over `window` rounds, reaches `kappa`"
    )]
    StablePredictions {
        /// The κ to reach, in `(−1, 1]` (default 0.99).
        #[serde(default = "default_kappa")]
        kappa: f64,
        /// Rounds averaged (≥ 1; default 3).
        #[serde(default = "default_window")]
        window: usize,
    },
    /// Stop once `patience` rounds in a row brought no validation loss lower than the best so
    /// far by more than `min_delta`.
    #[strum(
        message = "stop once `patience` rounds in a row bring no validation loss below the best by more than `min_delta`"
    )]
    ValidationPlateau {
        /// Rounds without improvement (≥ 1; default 3).
        #[serde(default = "default_window")]
        patience: usize,
        /// The improvement that counts (nats; finite, ≥ 0; default 0).
        #[serde(default)]
        min_delta: f64,
    },
}

fn default_kappa() -> f64 {
    0.99
}

fn default_window() -> usize {
    3
}

/// What a rule reads of one round.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundSignals {
    /// The labelled-set size the round's model was trained on.
    pub labels: usize,
    /// The largest BALD score of the unlabelled pool, or of the round's candidate pairs in the
    /// pair setting (nats); NaN where the round scored none.
    pub pool_max_bald: f64,
    /// Cohen's κ against the previous round's model; NaN in round 0.
    pub agreement: f64,
    /// The members' mean best validation loss (nats); NaN where there is none (an anchored
    /// pair-setting refit).
    pub validation_loss: f64,
}

impl StoppingRule {
    /// Every rule with its defaults, for listings; `labels` and `below` have no default and show
    /// an example value.
    pub fn all() -> Vec<StoppingRule> {
        <StoppingRule as strum::IntoEnumIterator>::iter()
            .map(|rule| match rule {
                StoppingRule::Budget { .. } => StoppingRule::Budget { labels: 1000 },
                StoppingRule::MaxUncertainty { .. } => StoppingRule::MaxUncertainty { below: 0.01 },
                StoppingRule::StablePredictions { .. } => StoppingRule::StablePredictions {
                    kappa: default_kappa(),
                    window: default_window(),
                },
                StoppingRule::ValidationPlateau { .. } => StoppingRule::ValidationPlateau {
                    patience: default_window(),
                    min_delta: 0.0,
                },
            })
            .collect()
    }

    /// The `rule:` tag.
    pub fn name(&self) -> &'static str {
        self.into()
    }

    /// One line on what the rule does.
    pub fn summary(&self) -> &'static str {
        strum::EnumMessage::get_message(self).unwrap_or_default()
    }

    /// Checks the rule's numbers.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the parameter: `labels` outside `1..=10⁹`, `window` or `patience`
    /// outside `1..=10⁶` (the most rounds a loop runs), `below` outside `(0, ln 2]`, `kappa`
    /// outside `(−1, 1]`, `min_delta` outside `[0, 10]`.
    pub fn validate(&self) -> Result<(), FieldError> {
        match *self {
            StoppingRule::Budget { labels } => {
                FieldError::check_count("labels", labels, 1, 1_000_000_000)
            }
            StoppingRule::MaxUncertainty { below } => FieldError::check_real(
                "below",
                below,
                (Excluded(0.0), Included(std::f64::consts::LN_2)),
                "BALD of a binary preference is at most ln 2 nats, so a larger threshold would stop at the first round",
            )
            .map_err(|e| {
                let ln2 = std::f64::consts::LN_2.to_string();
                FieldError::new(e.field, e.message.replace(&ln2, "ln 2 ≈ 0.693"))
            }),
            StoppingRule::StablePredictions { kappa, window } => {
                FieldError::check_real(
                    "kappa",
                    kappa,
                    (Excluded(-1.0), Included(1.0)),
                    "Cohen's kappa",
                )?;
                FieldError::check_count("window", window, 1, 1_000_000)
            }
            StoppingRule::ValidationPlateau {
                patience,
                min_delta,
            } => {
                FieldError::check_count("patience", patience, 1, 1_000_000)?;
                FieldError::check_real(
                    "min_delta",
                    min_delta,
                    0.0..=10.0,
                    "nats of mean validation loss (ln 2 ≈ 0.693 at chance)",
                )
            }
        }
    }

    /// The first round after which the rule says stop, or `None` if it never does. A NaN signal
    /// (a round that measured nothing) never makes a rule fire, and `validation_plateau` does not
    /// count it as stale; `max_uncertainty` never fires on a model trained on no label.
    pub fn first_stop(&self, rounds: &[RoundSignals]) -> Option<usize> {
        match *self {
            StoppingRule::Budget { labels } => rounds.iter().position(|r| r.labels >= labels),
            StoppingRule::MaxUncertainty { below } => {
                // An untrained model (the pair setting's first round) agrees with itself by
                // construction: its low BALD says nothing about what labels would teach.
                rounds
                    .iter()
                    .position(|r| r.labels > 0 && r.pool_max_bald < below)
            }
            StoppingRule::StablePredictions { kappa, window } => (0..rounds.len()).find(|&t| {
                t + 1 >= window && {
                    let last = &rounds[t + 1 - window..=t];
                    let mean = last.iter().map(|r| r.agreement).sum::<f64>() / window as f64;
                    mean >= kappa
                }
            }),
            StoppingRule::ValidationPlateau {
                patience,
                min_delta,
            } => {
                let mut best = f64::INFINITY;
                let mut stale = 0;
                rounds.iter().position(|r| {
                    if r.validation_loss.is_nan() {
                        // No measurement: neither an improvement nor a stale round.
                        return false;
                    }
                    if r.validation_loss < best - min_delta {
                        best = r.validation_loss;
                        stale = 0;
                    } else {
                        stale += 1;
                    }
                    stale >= patience
                })
            }
        }
    }
}

/// Cohen's κ of two label vectors of equal length: `(p_o − p_e) / (1 − p_e)`, with `p_o` the
/// share of agreements and `p_e` the agreement expected from each vector's share of `true`.
/// Two identical constant vectors (`p_e = 1`) give 1; empty vectors give NaN.
///
/// # Panics
///
/// If `a` and `b` differ in length.
pub fn cohens_kappa(a: &[bool], b: &[bool]) -> f64 {
    assert_eq!(a.len(), b.len(), "two labelings of the same items");
    let n = a.len() as f64;
    if a.is_empty() {
        return f64::NAN;
    }
    let agree = a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / n;
    let pa = a.iter().filter(|&&x| x).count() as f64 / n;
    let pb = b.iter().filter(|&&x| x).count() as f64 / n;
    let expected = pa * pb + (1.0 - pa) * (1.0 - pb);
    if expected >= 1.0 {
        return if agree >= 1.0 { 1.0 } else { 0.0 };
    }
    (agree - expected) / (1.0 - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rounds(agreement: &[f64], bald: &[f64], loss: &[f64]) -> Vec<RoundSignals> {
        (0..agreement.len())
            .map(|t| RoundSignals {
                labels: 40 + 40 * t,
                pool_max_bald: bald[t],
                agreement: agreement[t],
                validation_loss: loss[t],
            })
            .collect()
    }

    /// κ by hand: a = TTFF, b = TFFF: p_o = 3/4, p_e = ½·¼ + ½·¾ = ½, κ = (¾ − ½)/(½) = ½.
    #[test]
    fn kappa_by_hand() {
        let (t, f) = (true, false);
        assert_eq!(cohens_kappa(&[t, t, f, f], &[t, f, f, f]), 0.5);
        assert_eq!(cohens_kappa(&[t, f], &[f, t]), -1.0);
        assert_eq!(cohens_kappa(&[t, t], &[t, t]), 1.0);
        assert_eq!(cohens_kappa(&[t, t], &[f, f]), 0.0);
        assert!(cohens_kappa(&[], &[]).is_nan());
    }

    /// Each rule on a hand-made series: the round it first fires.
    #[test]
    fn rules_fire_where_computed_by_hand() {
        let nan = f64::NAN;
        let r = rounds(
            &[nan, 0.5, 0.95, 0.99, 1.0, 1.0],
            &[0.3, 0.2, 0.05, 0.02, 0.009, nan],
            &[0.69, 0.60, 0.58, 0.585, 0.581, 0.59],
        );
        let at = |rule: StoppingRule| rule.first_stop(&r);
        assert_eq!(at(StoppingRule::Budget { labels: 120 }), Some(2));
        assert_eq!(at(StoppingRule::Budget { labels: 10_000 }), None);
        assert_eq!(at(StoppingRule::MaxUncertainty { below: 0.01 }), Some(4));
        // An untrained first round (the pair setting's: 0 labels) with a tiny BALD never stops.
        let mut untrained = r.clone();
        untrained[0].labels = 0;
        untrained[0].pool_max_bald = 0.001;
        assert_eq!(
            StoppingRule::MaxUncertainty { below: 0.01 }.first_stop(&untrained),
            Some(4)
        );
        // Means of three: (0.5+0.95+0.99)/3 = 0.813, (0.95+0.99+1)/3 = 0.98, (0.99+1+1)/3 = 0.9967.
        assert_eq!(
            at(StoppingRule::StablePredictions {
                kappa: 0.99,
                window: 3
            }),
            Some(5)
        );
        assert_eq!(
            at(StoppingRule::StablePredictions {
                kappa: 0.99,
                window: 1
            }),
            Some(3)
        );
        // Best 0.58 at round 2; rounds 3, 4, 5 bring nothing lower: the third stale round is 5.
        assert_eq!(
            at(StoppingRule::ValidationPlateau {
                patience: 3,
                min_delta: 0.0
            }),
            Some(5)
        );
        // With min_delta 0.025, round 2 (0.58, not below 0.60 − 0.025) is stale too: rounds 2, 3, 4.
        assert_eq!(
            at(StoppingRule::ValidationPlateau {
                patience: 3,
                min_delta: 0.025
            }),
            Some(4)
        );
        // NaN losses are skipped, not stale: nothing fires on them.
        let unmeasured = rounds(&[nan; 4], &[nan; 4], &[nan; 4]);
        let plateau = StoppingRule::ValidationPlateau {
            patience: 1,
            min_delta: 0.0,
        };
        assert_eq!(plateau.first_stop(&unmeasured), None);
    }

    #[test]
    fn bad_parameters_are_named() {
        let field = |r: StoppingRule| r.validate().unwrap_err().field;
        assert_eq!(field(StoppingRule::Budget { labels: 0 }), "labels");
        assert_eq!(
            field(StoppingRule::MaxUncertainty { below: f64::NAN }),
            "below"
        );
        assert_eq!(
            field(StoppingRule::StablePredictions {
                kappa: 1.5,
                window: 3
            }),
            "kappa"
        );
        assert_eq!(
            field(StoppingRule::ValidationPlateau {
                patience: 0,
                min_delta: 0.0
            }),
            "patience"
        );
        let parsed: StoppingRule =
            serde_json::from_str(r#"{"rule": "stable_predictions"}"#).unwrap();
        assert_eq!(
            parsed,
            StoppingRule::StablePredictions {
                kappa: 0.99,
                window: 3
            }
        );
        assert_eq!(StoppingRule::all().len(), 4);
        assert!(StoppingRule::all().iter().all(|r| r.validate().is_ok()));
    }
}
