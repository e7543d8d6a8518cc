//! The oracle that answers the loops' label queries (issue 23): `loop.oracle` in an experiment
//! file.
//!
//! By default the dataset's label (pool setting) or the judge's order (pair setting) is the answer,
//! as in both papers. On request:
//! - `kind: bradley_terry` samples the label from `σ(gap / temperature)`, where `gap` is the latent
//!   reward gap `r(A) − r(B)` (pool setting; benchmarks that know it, such as the synthetic one) or
//!   the judge's score gap (pair setting), like oat's simulated annotators;
//! - `ties: { margin, policy }` treats a comparison with `|gap| < margin` as a tie, which is
//!   `drop`ped (acquired and paid for, but it teaches nothing; pool setting), settled by a fair
//!   `coin`, or kept as a tie: `half` trains it once in each orientation (a target of ½ counted
//!   twice; pool setting);
//! - `flip: p` then flips each answer with probability `p` (symmetric label noise);
//! - `cost: { per_label, per_prompt_word, per_response_word }` prices each answer by what the
//!   labeller reads, so that curves can be drawn against cost as well as labels: the run file's
//!   `label_cost` column sums it over the labelled set (pool setting; dropped ties included: they
//!   were asked and paid for) or the acquired pairs (pair setting). The cost never changes an
//!   answer.
//!
//! The order is: base label, then tie rule, then flip. Each query draws, from its own generator
//! `[run seed, Stream::Oracle, comparison...]` (see `activepref_core::seeds`), a Bradley–Terry
//! uniform, a flip uniform and a coin uniform, always all three and in that order, so that the
//! same comparison gets the same flip whatever the kind, and whichever round acquires it.
//! Validation and test labels are never touched: they measure the model against the dataset.

use activepref_core::seeds::{Stream, rng_for};
use activepref_core::{ComparisonLength, FieldError};
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::ops::Bound::{Excluded, Included};

/// Where an oracle's base answer comes from.
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
pub enum OracleKind {
    /// The dataset's label (pool) or the judge's order (pair): the papers' oracle.
    #[default]
    #[strum(
        message = "the dataset's label (pool) or the judge's order (pair): both papers' oracle"
    )]
    Dataset,
    /// A label drawn from the Bradley–Terry probability `σ(gap / temperature)`.
    #[strum(
        message = "a label drawn from σ(gap / temperature): the latent reward gap (pool, synthetic benchmark) or the judge's score gap (pair)"
    )]
    BradleyTerry,
}

/// What a tie becomes.
#[derive(
    Clone,
    Copy,
    Debug,
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
pub enum TiePolicy {
    /// No label: the comparison is acquired (it counts against the budget) but not trained on.
    #[strum(
        message = "no label: the comparison is acquired and counted, but not trained on (pool setting)"
    )]
    Drop,
    /// A fair coin decides.
    #[strum(message = "a fair coin decides")]
    Coin,
    /// A tie taught as a tie: the comparison trains once in each orientation (a target of ½,
    /// counted twice; pool setting).
    #[strum(
        message = "a tie: trained once in each orientation, a target of ½ counted twice (pool setting)"
    )]
    Half,
}

/// An oracle's answer to one query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// `Prefers(true)`: A is preferred; `Prefers(false)`: B is.
    Prefers(bool),
    /// A tie kept as a tie (`ties.policy: half`).
    Tie,
    /// A tie dropped (`ties.policy: drop`): no label.
    Dropped,
}

/// `ties: { margin, policy }`: comparisons with `|gap| < margin` are ties.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TieRule {
    /// The gap below which two responses tie (reward units; finite, ≥ 0).
    pub margin: f64,
    /// `drop`, `coin` or `half`.
    pub policy: TiePolicy,
}

/// `loop.oracle`: who answers a label query, and with how much noise. The default (every field
/// left out) is the papers' oracle and changes no result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OracleConfig {
    /// `dataset` (default) or `bradley_terry`.
    pub kind: OracleKind,
    /// The Bradley–Terry temperature (finite, > 0; default 1); only with `kind: bradley_terry`.
    pub temperature: f64,
    /// Probability of flipping each answer, in `[0, 1]` (default 0).
    pub flip: f64,
    /// The tie rule; none by default.
    pub ties: Option<TieRule>,
    /// What each answer costs; none by default (no `label_cost` column).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<LabelCost>,
}

impl Default for OracleConfig {
    fn default() -> Self {
        Self {
            kind: OracleKind::Dataset,
            temperature: 1.0,
            flip: 0.0,
            ties: None,
            cost: None,
        }
    }
}

/// `cost:` the price of one answer, in the experiment's own unit (seconds, cents):
/// `per_label + per_prompt_word · prompt words + per_response_word · (words of A + words of B)`.
/// Every field defaults to 0 except `per_label` (1), so `cost: {}` counts labels.
///
/// ```
/// use activepref_core::ComparisonLength;
/// use activepref_loop::LabelCost;
/// let cost = LabelCost { per_label: 2.0, per_prompt_word: 0.0, per_response_word: 0.5 };
/// let len = ComparisonLength { prompt_words: 300, response_a_words: 10, response_b_words: 30 };
/// assert_eq!(cost.of(Some(&len)), 22.0); // 2 + 0.5 · (10 + 30)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelCost {
    /// The fixed price of one answer (finite, `≥ 0`; default 1).
    pub per_label: f64,
    /// The price of one prompt word (finite, `≥ 0`; default 0).
    pub per_prompt_word: f64,
    /// The price of one word of either response (finite, `≥ 0`; default 0).
    pub per_response_word: f64,
}

impl Default for LabelCost {
    fn default() -> Self {
        Self {
            per_label: 1.0,
            per_prompt_word: 0.0,
            per_response_word: 0.0,
        }
    }
}

impl LabelCost {
    /// True when the price reads the comparison's length.
    pub fn needs_lengths(&self) -> bool {
        self.per_prompt_word != 0.0 || self.per_response_word != 0.0
    }

    /// The price of one answer about a comparison of length `len` (`None`: the benchmark has no
    /// lengths, which [`Self::needs_lengths`] prices rule out before a run starts; counted as 0
    /// words).
    pub fn of(&self, len: Option<&ComparisonLength>) -> f64 {
        let len = len.copied().unwrap_or_default();
        self.per_label
            + self.per_prompt_word * f64::from(len.prompt_words)
            + self.per_response_word * len.response_words() as f64
    }

    /// Checks the prices.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] for a price that is not a finite number in `[0, 10⁶]`, or all three 0.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, v) in [
            ("per_label", self.per_label),
            ("per_prompt_word", self.per_prompt_word),
            ("per_response_word", self.per_response_word),
        ] {
            FieldError::check_real(field, v, 0.0..=1e6, "")?;
        }
        if !self.needs_lengths() && self.per_label == 0.0 {
            return Err(FieldError::new(
                "per_label",
                "is 0 and so are the per-word prices: every label would be free; set a price",
            ));
        }
        Ok(())
    }
}

/// The uniforms one query draws, in order.
struct Draws {
    bradley_terry: f64,
    flip: f64,
    coin: f64,
}

impl OracleConfig {
    /// True for the papers' oracle (serialised as nothing, so run ids do not change).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// True when the answers differ from the dataset's labels in some way (a kind, a flip or a
    /// tie rule); a cost alone changes no answer.
    pub fn changes_answers(&self) -> bool {
        self.kind != OracleKind::Dataset || self.flip != 0.0 || self.ties.is_some()
    }

    /// True when the cost reads the comparison's length ([`LabelCost::needs_lengths`]).
    pub fn prices_words(&self) -> bool {
        self.cost.is_some_and(|c| c.needs_lengths())
    }

    /// True when an answer needs the comparison's gap (Bradley–Terry sampling or a tie rule).
    pub fn needs_gap(&self) -> bool {
        self.kind == OracleKind::BradleyTerry || self.ties.is_some()
    }

    /// Checks the values.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] for `temperature` outside `(0, 10⁶]` (or set without
    /// `kind: bradley_terry`), `flip` outside `[0, 1]`, `ties.margin` outside `[0, 10⁶]`, or a
    /// bad `cost` ([`LabelCost::validate`]).
    pub fn validate(&self) -> Result<(), FieldError> {
        FieldError::check_real(
            "temperature",
            self.temperature,
            (Excluded(0.0), Included(1e6)),
            "it divides the reward gap in the Bradley-Terry probability",
        )?;
        if self.kind != OracleKind::BradleyTerry && self.temperature != 1.0 {
            return Err(FieldError::new(
                "temperature",
                "applies only to kind: bradley_terry; remove it or set kind: bradley_terry",
            ));
        }
        if !(0.0..=1.0).contains(&self.flip) {
            return Err(FieldError::new(
                "flip",
                format!("is {}; must be a probability in [0, 1]", self.flip),
            ));
        }
        if let Some(t) = self.ties {
            FieldError::check_real(
                "ties.margin",
                t.margin,
                0.0..=1e6,
                "a latent reward gap below it is a tie",
            )?;
        }
        if let Some(c) = &self.cost {
            c.validate().map_err(|e| e.within("cost"))?;
        }
        Ok(())
    }

    /// The answer to the query `path` (appended to `[run seed, Stream::Oracle]`) about a
    /// comparison whose dataset label is `a_preferred` and whose gap `r(A) − r(B)` is `gap`.
    ///
    /// `gap` is only read when [`Self::needs_gap`]; pass `0.0` otherwise.
    pub fn answer(&self, run_seed: u64, path: &[u64], a_preferred: bool, gap: f64) -> Answer {
        let mut rng = rng_for(run_seed, Stream::Oracle, path);
        let draws = Draws {
            bradley_terry: rng.random::<f64>(),
            flip: rng.random::<f64>(),
            coin: rng.random::<f64>(),
        };
        let mut label = match self.kind {
            OracleKind::Dataset => a_preferred,
            OracleKind::BradleyTerry => {
                draws.bradley_terry < 1.0 / (1.0 + (-gap / self.temperature).exp())
            }
        };
        if let Some(t) = self.ties
            && gap.abs() < t.margin
        {
            match t.policy {
                TiePolicy::Drop => return Answer::Dropped,
                TiePolicy::Half => return Answer::Tie,
                TiePolicy::Coin => label = draws.coin < 0.5,
            }
        }
        Answer::Prefers(if draws.flip < self.flip {
            !label
        } else {
            label
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oracle(kind: OracleKind, flip: f64, ties: Option<TieRule>) -> OracleConfig {
        OracleConfig {
            kind,
            flip,
            ties,
            ..Default::default()
        }
    }

    /// The uniforms of a query, drawn independently of the oracle.
    fn draws(seed: u64, path: &[u64]) -> (f64, f64, f64) {
        let mut rng = rng_for(seed, Stream::Oracle, path);
        (rng.random(), rng.random(), rng.random())
    }

    /// Each rule against the three uniforms of its query, by hand.
    #[test]
    fn answers_follow_the_draws() {
        for i in 0..200u64 {
            let (bt, flip, coin) = draws(5, &[i]);
            let plain = OracleConfig::default();
            assert_eq!(plain.answer(5, &[i], true, 0.0), Answer::Prefers(true));
            assert_eq!(plain.answer(5, &[i], false, 9.0), Answer::Prefers(false));
            let flipped = oracle(OracleKind::Dataset, 0.3, None);
            assert_eq!(
                flipped.answer(5, &[i], true, 0.0),
                Answer::Prefers(flip >= 0.3)
            );
            // σ(0.8 / 2) = 0.598687660112452.
            let bt_rule = OracleConfig {
                temperature: 2.0,
                ..oracle(OracleKind::BradleyTerry, 0.0, None)
            };
            assert_eq!(
                bt_rule.answer(5, &[i], false, 0.8),
                Answer::Prefers(bt < 0.598_687_660_112_452)
            );
            let drop = oracle(
                OracleKind::Dataset,
                1.0,
                Some(TieRule {
                    margin: 0.5,
                    policy: TiePolicy::Drop,
                }),
            );
            assert_eq!(drop.answer(5, &[i], true, -0.49), Answer::Dropped);
            assert_eq!(
                drop.answer(5, &[i], true, 0.5),
                Answer::Prefers(false),
                "flip 1 always flips"
            );
            let coin_rule = oracle(
                OracleKind::Dataset,
                0.0,
                Some(TieRule {
                    margin: 0.5,
                    policy: TiePolicy::Coin,
                }),
            );
            assert_eq!(
                coin_rule.answer(5, &[i], true, 0.1),
                Answer::Prefers(coin < 0.5)
            );
            assert_eq!(
                coin_rule.answer(5, &[i], false, 0.7),
                Answer::Prefers(false)
            );
            let half = oracle(
                OracleKind::Dataset,
                1.0,
                Some(TieRule {
                    margin: 0.5,
                    policy: TiePolicy::Half,
                }),
            );
            assert_eq!(
                half.answer(5, &[i], true, 0.2),
                Answer::Tie,
                "a tie is never flipped"
            );
        }
    }

    /// Over many comparisons, flips happen at the asked rate and Bradley–Terry answers follow
    /// `σ(gap / T)`: within four standard errors.
    #[test]
    fn rates_match_their_probabilities() {
        let n = 20_000u64;
        let within = |hits: usize, p: f64| {
            let sd = (p * (1.0 - p) / n as f64).sqrt();
            ((hits as f64 / n as f64) - p).abs() < 4.0 * sd
        };
        let flip = oracle(OracleKind::Dataset, 0.2, None);
        let flips = (0..n)
            .filter(|&i| flip.answer(1, &[i], true, 0.0) == Answer::Prefers(false))
            .count();
        assert!(within(flips, 0.2), "{flips}");
        let bt = OracleConfig {
            temperature: 0.5,
            ..oracle(OracleKind::BradleyTerry, 0.0, None)
        };
        let a = (0..n)
            .filter(|&i| bt.answer(1, &[i], false, -0.3) == Answer::Prefers(true))
            .count();
        assert!(within(a, 1.0 / (1.0 + 0.6f64.exp())), "{a}");
    }

    #[test]
    fn bad_values_are_named() {
        let field = |o: OracleConfig| o.validate().unwrap_err().field;
        assert_eq!(field(oracle(OracleKind::Dataset, 1.5, None)), "flip");
        assert_eq!(field(oracle(OracleKind::Dataset, f64::NAN, None)), "flip");
        assert_eq!(
            field(OracleConfig {
                temperature: 0.0,
                ..oracle(OracleKind::BradleyTerry, 0.0, None)
            }),
            "temperature"
        );
        assert_eq!(
            field(OracleConfig {
                temperature: 2.0,
                ..Default::default()
            }),
            "temperature"
        );
        let ties = Some(TieRule {
            margin: -1.0,
            policy: TiePolicy::Coin,
        });
        assert_eq!(field(oracle(OracleKind::Dataset, 0.0, ties)), "ties.margin");
        assert!(OracleConfig::default().validate().is_ok() && OracleConfig::default().is_default());
        let parsed: OracleConfig =
            serde_json::from_str(r#"{"kind": "bradley_terry", "temperature": 0.5, "flip": 0.1, "ties": {"margin": 0.05, "policy": "drop"}}"#).unwrap();
        assert_eq!(parsed.ties.unwrap().policy, TiePolicy::Drop);
        assert!(serde_json::from_str::<OracleConfig>(r#"{"flips": 0.1}"#).is_err());
    }
}
