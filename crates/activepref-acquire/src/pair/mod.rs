//! ActiveUltraFeedback pair selection: per prompt, which 2 of n candidate responses go to the judge
//! (specs/activeuf.md §3).
//!
//! Inputs per prompt are the ensemble's mean `μ_i` and spread `σ_i` per response (and, where a rule
//! can use them, per-member rewards and oracle scores). Bounds are `l_i = μ_i − σ_i`,
//! `u_i = μ_i + σ_i` as in the reference (the reward model's β_b = 1), and `s_i = (u_i − l_i)/2`.
//! Matrix rules compute in f32, like the reference's float32 tensors, so that float ordering matches.
//!
//! Two modes ([`PairMode`]):
//! - `reference`: what the public code does (specs/activeuf.md §7.1): β ignored by DeltaUCB, InfoMax
//!   and DeltaQuantile; Thompson draws are uniform-noise perturbations `μ + β·U(−1,1)·s`; MaxMinLCB
//!   uses `s_i + s_j`; IDS uses the gap `R + μ_i`; first-index tie-breaking. Where the reference
//!   would return `a = b` (random with replacement, IDS, RUCB, MaxMinLCB with one candidate) or
//!   raise, activepref returns a clear error instead of a pair the reference loop would reject.
//! - `corrected` (default): β applied inside the bounds of DeltaUCB, InfoMax and DeltaQuantile (and
//!   InfoGain's width); Thompson draws from a Gaussian or from a random ensemble member
//!   ([`ThompsonDraw`]); MaxMinLCB uses `√(s_i² + s_j²)`, the spread of a difference of independent
//!   rewards; IDS gap `R − μ_i`; `a ≠ b` always; empty or singleton candidate sets fall back to all
//!   responses.
//!
//! Where things are: [`PairPolicySpec`] (the registry the YAML names, and `select`, which checks the
//! inputs and dispatches); `params` (every rule's parameters); `baselines` (random, UltraFeedback's
//! best-of-4, MaxMin, the static judge-score baselines); `bounds` (DeltaUCB, InfoMax,
//! DeltaQuantile, MaxMinLCB); `thompson` (DTS, DRTS, InfoGain); `dueling` (RUCB, IDS).

mod baselines;
mod bounds;
mod design;
mod dueling;
mod params;
#[cfg(test)]
mod tests;
mod thompson;

use activepref_core::FieldError;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::ops::Bound::{Excluded, Included};
use strum::{EnumIter, EnumMessage, IntoEnumIterator, IntoStaticStr};

use crate::AcquireError;
use baselines::{best_of_four, max_min, oracle, random_pair, static_random};
use bounds::{Bounds, delta_quantile, delta_ucb, info_max, maxmin_lcb};
pub use design::PairDesign;
use design::d_optimal_pair;
use dueling::{ids, rucb};
pub use params::{
    BetaParams, MaxMinLcbParams, QuantileParams, ThompsonDraw, ThompsonParams, UcbSetParams,
};
use thompson::{double_thompson, info_gain};

/// What a pair policy sees for one prompt.
#[derive(Clone, Copy, Debug)]
pub struct CandidateScores<'a> {
    /// Predicted mean reward per response.
    pub mu: &'a [f32],
    /// Predicted spread (ensemble standard deviation) per response.
    pub sd: &'a [f32],
    /// Per-member rewards `[member][response]`, for member-based Thompson draws.
    pub members: Option<&'a [Vec<f32>]>,
    /// Judge (oracle) scores, for the static baselines only.
    pub oracle: Option<&'a [f32]>,
    /// The model's last layer and the information of the pairs acquired so far, for the
    /// D-optimal rule (`fisher`) only.
    pub design: Option<&'a PairDesign<'a>>,
}

/// Reference (code-faithful) or corrected behaviour; recorded in every result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PairMode {
    /// What the public ActiveUltraFeedback code does, quirks included (specs/activeuf.md §7.1).
    Reference,
    /// Fixed rules: β applied inside the bounds, Gaussian or member Thompson draws, `a ≠ b` always.
    #[default]
    Corrected,
}

/// A pair policy and its parameters, as written in an experiment file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumIter, EnumMessage)]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
#[strum(serialize_all = "snake_case")]
pub enum PairPolicySpec {
    /// Two responses uniformly (reference: with replacement).
    #[strum(
        message = "two distinct responses uniformly (the reference draws with replacement, so its first a = b would stop the run: refused in reference mode)"
    )]
    Random {},
    /// Best of 4 random responses by predicted mean, then one of the other 3.
    #[strum(message = "best of 4 random responses by predicted mean, then one of the other 3")]
    Ultrafeedback {},
    /// Highest and lowest predicted mean.
    #[strum(message = "highest and lowest predicted mean")]
    Maxmin {},
    /// Double Thompson sampling: two independent argmax draws.
    #[strum(
        message = "double Thompson sampling: two independent argmax draws, redrawn until distinct"
    )]
    Dts(ThompsonParams),
    /// Double reverse Thompson sampling: an argmax draw and an independent argmin draw.
    #[strum(
        message = "double reverse Thompson sampling: an argmax draw and an independent argmin draw"
    )]
    Drts(ThompsonParams),
    /// `argmax_{i≠j} u_i − l_j`.
    #[strum(message = "argmax over i≠j of u_i − l_j (reference ignores beta)")]
    Deltaucb(BetaParams),
    /// The gap `u_i − l_j` at a quantile, first arm with the largest `u_i`.
    #[strum(
        message = "the u_i − l_j gap at a quantile, first arm with the largest u (reference ignores beta)"
    )]
    Deltaquantile(QuantileParams),
    /// Widest Bradley–Terry confidence interval `σ(u_i − l_j) − σ(l_i − u_j)`.
    #[strum(
        message = "widest Bradley–Terry interval sig(u_i − l_j) − sig(l_i − u_j) (reference ignores beta)"
    )]
    Infomax(BetaParams),
    /// Thompson draw for `a`, then the InfoMax width against it.
    #[strum(message = "Thompson draw for a, then the InfoMax width against a")]
    Infogain(ThompsonParams),
    /// `a = argmax_i min_j LCB_ij`, `b` its hardest competitor.
    #[strum(
        message = "a = argmax_i min_j LCB_ij, b = its hardest competitor (reference: s_i + s_j)"
    )]
    Maxminlcb(MaxMinLcbParams),
    /// Relative UCB: `b` uniform in the candidate set, `a` the best other UCB.
    #[strum(message = "relative UCB: b uniform in the UCB candidate set, a the best other UCB")]
    Rucb(UcbSetParams),
    /// Information-directed sampling.
    #[strum(message = "information-directed sampling (reference gap R + mu, corrected R − mu)")]
    Ids(UcbSetParams),
    /// Offline baseline on judge scores: 2 distinct random responses, chosen = higher score.
    #[strum(message = "offline, judge scores: 2 distinct random responses")]
    StaticRandom {},
    /// Offline baseline on judge scores: best of 4 random, rejected one of the other 3.
    #[strum(message = "offline, judge scores: best of 4 random, rejected one of the other 3")]
    StaticUltrafeedback {},
    /// Offline baseline on judge scores: best and worst response.
    #[strum(message = "offline, judge scores: best and worst response")]
    StaticMaxmin {},
    /// Greedy D-optimal design on the last layer's Fisher information (ARM-FI).
    #[strum(
        message = "D-optimal: the pair adding most to the members' last-layer Fisher log-determinant, given the pairs acquired before the batch (Shen, Sun & Ton, ICML 2025, ARM-FI)"
    )]
    Fisher(crate::FisherParams),
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// First index of the maximum (strict `>` keeps the earliest), like `np.argmax`.
fn first_argmax(v: impl IntoIterator<Item = f32>) -> usize {
    let mut best = (0usize, f32::NEG_INFINITY);
    for (i, x) in v.into_iter().enumerate() {
        if x > best.1 || i == 0 {
            best = (i, x);
        }
    }
    best.0
}

/// Flattened row-major argmax over `i ≠ j` of `score(i, j)`, first on ties.
fn pair_argmax(n: usize, score: impl Fn(usize, usize) -> f32) -> (usize, usize) {
    let mut best = ((0, 1), f32::NEG_INFINITY);
    let mut first = true;
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let s = score(i, j);
            if first || s > best.1 {
                best = ((i, j), s);
                first = false;
            }
        }
    }
    best.0
}

/// Uniform index in `0..n` other than `a`.
fn uniform_other(n: usize, a: usize, rng: &mut ChaCha8Rng) -> usize {
    let k = rng.random_range(0..n - 1);
    if k >= a { k + 1 } else { k }
}

/// Uniform choice among `items` (non-empty).
fn pick<T: Copy>(items: &[T], rng: &mut ChaCha8Rng) -> T {
    items[rng.random_range(0..items.len())]
}

fn fail(policy: &str, why: String) -> AcquireError {
    AcquireError::Rule {
        policy: policy.to_string(),
        why,
    }
}

impl PairPolicySpec {
    /// True when the rule reads the reward ensemble's spread (Thompson draws, confidence
    /// bounds, information gain): with a single deep-ensemble member the spread is 0 and the rule
    /// silently becomes a greedy one, so it needs `model.members ≥ 2` (or MC dropout).
    pub fn needs_members(&self) -> bool {
        !matches!(
            self,
            PairPolicySpec::Random {}
                | PairPolicySpec::Ultrafeedback {}
                | PairPolicySpec::Maxmin {}
                | PairPolicySpec::StaticRandom {}
                | PairPolicySpec::StaticUltrafeedback {}
                | PairPolicySpec::StaticMaxmin {}
                | PairPolicySpec::Fisher(_)
        )
    }

    /// The prior precision `λ` of the D-optimal rule's information matrices, which the pair loop
    /// builds for it; `None` for every other rule.
    pub fn design_prior(&self) -> Option<f64> {
        match self {
            PairPolicySpec::Fisher(p) => Some(p.lambda),
            _ => None,
        }
    }

    /// The `policy:` tag.
    pub fn name(&self) -> &'static str {
        self.into()
    }

    /// The static baselines (specs/activeuf.md §3.12): they pick from the judge's scores of every
    /// response, not from the model.
    pub fn is_static(&self) -> bool {
        matches!(
            self,
            PairPolicySpec::StaticRandom {}
                | PairPolicySpec::StaticUltrafeedback {}
                | PairPolicySpec::StaticMaxmin {}
        )
    }

    /// One line on what the rule does (the registry's help text).
    pub fn summary(&self) -> &'static str {
        self.get_message().expect("every pair policy has a summary")
    }

    /// Every pair policy with default parameters: the registry.
    pub fn all() -> Vec<PairPolicySpec> {
        PairPolicySpec::iter().collect()
    }

    /// Checks parameters.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on `beta` outside `[0, 1000]`, `max_iterations` above 10⁶, `quantile` or
    /// `epsilon` outside `[0, 1]` or a window `quantile ± epsilon` that leaves `[0, 1]`
    /// (`deltaquantile`), `argmax_tol`, `tol` or `decision_buffer` outside `[0, 10⁶]`,
    /// `threshold` outside `[−10⁶, 10⁶]`, or `lambda` outside `(0, 10⁶]` (`fisher`).
    pub fn validate(&self) -> Result<(), FieldError> {
        let beta = |b: f32| {
            FieldError::check_real(
                "beta",
                b,
                0.0..=1000.0,
                "the confidence width, in ensemble standard deviations",
            )
        };
        let margin = |f: &str, v: f32| FieldError::check_real(f, v, 0.0..=1e6, "");
        match self {
            PairPolicySpec::Dts(p) | PairPolicySpec::Drts(p) | PairPolicySpec::Infogain(p) => {
                beta(p.beta)?;
                FieldError::check_count("max_iterations", p.max_iterations, 0, 1_000_000)
            }
            PairPolicySpec::Deltaucb(p) | PairPolicySpec::Infomax(p) => beta(p.beta),
            PairPolicySpec::Deltaquantile(p) => {
                beta(p.beta)?;
                FieldError::check_real("quantile", p.quantile, 0.0..=1.0, "")?;
                FieldError::check_real("epsilon", p.epsilon, 0.0..=1.0, "")?;
                if p.quantile - p.epsilon >= 0.0 && p.quantile + p.epsilon <= 1.0 {
                    Ok(())
                } else {
                    Err(FieldError::new(
                        "quantile",
                        format!(
                            "is {} with epsilon {}; needs 0 ≤ quantile − epsilon and quantile + epsilon ≤ 1",
                            p.quantile, p.epsilon
                        ),
                    ))
                }
            }
            PairPolicySpec::Maxminlcb(p) => {
                beta(p.beta)?;
                margin("argmax_tol", p.argmax_tol)?;
                margin("decision_buffer", p.decision_buffer)
            }
            PairPolicySpec::Rucb(p) | PairPolicySpec::Ids(p) => {
                beta(p.beta)?;
                FieldError::check_real(
                    "threshold",
                    p.threshold,
                    -1e6..=1e6,
                    "a reward level (the reference uses 0.5)",
                )?;
                margin("decision_buffer", p.decision_buffer)?;
                margin("tol", p.tol)
            }
            PairPolicySpec::Fisher(p) => FieldError::check_real(
                "lambda",
                p.lambda,
                (Excluded(0.0), Included(1e6)),
                "the prior precision",
            ),
            _ => Ok(()),
        }
    }

    /// Picks `(a, b)` for one prompt. `a ≠ b` whenever `Ok`.
    ///
    /// # Errors
    ///
    /// [`AcquireError::TooFewResponses`] for fewer than 2 responses; [`AcquireError::Rule`] when
    /// `mu` and `sd` differ in length, a mean or spread is NaN or infinite, a spread is negative,
    /// or the rule's own inputs are missing or out of range (e.g. judge scores for a static
    /// baseline, member rewards for member-based draws).
    pub fn select(
        &self,
        c: &CandidateScores<'_>,
        mode: PairMode,
        rng: &mut ChaCha8Rng,
    ) -> Result<(usize, usize), AcquireError> {
        let name = self.name();
        let n = c.mu.len();
        if c.sd.len() != n {
            return Err(fail(
                name,
                format!("{} means but {} spreads", n, c.sd.len()),
            ));
        }
        if n < 2 {
            return Err(AcquireError::TooFewResponses {
                policy: name.to_string(),
                n,
            });
        }
        for (what, v) in [("mean", c.mu), ("spread", c.sd)] {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(fail(
                    name,
                    format!(
                        "{what} of response {i} is {} (NaN and infinity are not allowed)",
                        v[i]
                    ),
                ));
            }
        }
        if let Some(i) = c.sd.iter().position(|&x| x < 0.0) {
            return Err(fail(
                name,
                format!("spread of response {i} is negative ({})", c.sd[i]),
            ));
        }
        let reference = mode == PairMode::Reference;
        let bounds = Bounds::new(c.mu, c.sd, reference);
        let s = &bounds.s;
        match self {
            PairPolicySpec::Random {} => random_pair(name, n, reference, rng),
            PairPolicySpec::Ultrafeedback {} => best_of_four(name, c.mu, reference, rng),
            PairPolicySpec::Maxmin {} => Ok(max_min(c.mu)),
            PairPolicySpec::StaticRandom {} => Ok(static_random(oracle(name, c)?, rng)),
            PairPolicySpec::StaticUltrafeedback {} => {
                best_of_four(name, oracle(name, c)?, reference, rng)
            }
            PairPolicySpec::StaticMaxmin {} => Ok(max_min(oracle(name, c)?)),
            PairPolicySpec::Dts(p) => double_thompson(name, c, s, p, reference, false, rng),
            PairPolicySpec::Drts(p) => double_thompson(name, c, s, p, reference, true, rng),
            PairPolicySpec::Infogain(p) => info_gain(name, c, &bounds, p, rng),
            PairPolicySpec::Deltaucb(p) => Ok(delta_ucb(c.mu, &bounds, p)),
            PairPolicySpec::Infomax(p) => Ok(info_max(c.mu, &bounds, p)),
            PairPolicySpec::Deltaquantile(p) => delta_quantile(name, c.mu, &bounds, p),
            PairPolicySpec::Maxminlcb(p) => maxmin_lcb(name, c.mu, s, c.members, p, reference, rng),
            PairPolicySpec::Rucb(p) => rucb(name, c.mu, s, p, reference, rng),
            PairPolicySpec::Ids(p) => ids(name, c.mu, s, p, reference, rng),
            PairPolicySpec::Fisher(_) => match c.design {
                Some(d) => d_optimal_pair(name, n, d),
                None => Err(AcquireError::MissingInput {
                    policy: "fisher",
                    what: "the model's last layer and the information of the acquired pairs",
                }),
            },
        }
    }
}
