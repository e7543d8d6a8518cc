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

use activepref_core::FieldError;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use strum::{EnumMessage, EnumIter, IntoEnumIterator, IntoStaticStr};

use crate::AcquireError;

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
}

/// Reference (code-faithful) or corrected behaviour; recorded in every result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PairMode {
    Reference,
    #[default]
    Corrected,
}

impl std::fmt::Display for PairMode {
    /// The YAML spelling: `reference` or `corrected`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PairMode::Reference => "reference",
            PairMode::Corrected => "corrected",
        })
    }
}

/// How a corrected-mode Thompson draw samples rewards (reference mode always uses `uniform`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThompsonDraw {
    /// `μ + β·U(−1, 1)·s`, the reference's perturbation.
    Uniform,
    /// `μ + β·N(0, 1)·s`.
    #[default]
    Gaussian,
    /// The rewards of one ensemble member drawn uniformly (a coherent joint sample).
    Member,
}

fn one() -> f32 {
    1.0
}
fn thirty() -> usize {
    30
}
fn tol() -> f32 {
    1e-4
}
fn half() -> f32 {
    0.5
}

/// Parameters of the Thompson-sampling rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThompsonParams {
    #[serde(default = "one")]
    pub beta: f32,
    /// Redraws of the second arm before falling back to a uniform `b ≠ a`.
    #[serde(default = "thirty")]
    pub max_iterations: usize,
    #[serde(default)]
    pub draw: ThompsonDraw,
}

impl Default for ThompsonParams {
    fn default() -> Self {
        Self { beta: 1.0, max_iterations: 30, draw: ThompsonDraw::Gaussian }
    }
}

/// A single β.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BetaParams {
    #[serde(default = "one")]
    pub beta: f32,
}

impl Default for BetaParams {
    fn default() -> Self {
        Self { beta: 1.0 }
    }
}

fn q005() -> f32 {
    0.05
}

/// DeltaQuantile: the gap at quantile `quantile ± epsilon` of all `u_i − l_j`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantileParams {
    #[serde(default = "one")]
    pub beta: f32,
    #[serde(default = "q005")]
    pub quantile: f32,
    #[serde(default)]
    pub epsilon: f32,
}

impl Default for QuantileParams {
    fn default() -> Self {
        Self { beta: 1.0, quantile: 0.05, epsilon: 0.0 }
    }
}

/// MaxMinLCB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxMinLcbParams {
    #[serde(default = "one")]
    pub beta: f32,
    /// Entries within this of the min/max count as ties, broken at random.
    #[serde(default = "tol")]
    pub argmax_tol: f32,
    #[serde(default)]
    pub decision_buffer: f32,
    /// Keep only arms with `UCB_ij > −decision_buffer` for every `j` (the reference config: false).
    #[serde(default)]
    pub use_candidate_set: bool,
}

impl Default for MaxMinLcbParams {
    fn default() -> Self {
        Self { beta: 1.0, argmax_tol: 1e-4, decision_buffer: 0.0, use_candidate_set: false }
    }
}

/// RUCB and IDS share a UCB candidate set `ucb_i > threshold − decision_buffer`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UcbSetParams {
    #[serde(default = "one")]
    pub beta: f32,
    /// The reference hard-codes 0.5 (a preference-probability threshold applied to raw rewards).
    #[serde(default = "half")]
    pub threshold: f32,
    #[serde(default)]
    pub decision_buffer: f32,
    #[serde(default = "tol")]
    pub tol: f32,
}

impl Default for UcbSetParams {
    fn default() -> Self {
        Self { beta: 1.0, threshold: 0.5, decision_buffer: 0.0, tol: 1e-4 }
    }
}

/// A pair policy and its parameters, as written in an experiment file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, IntoStaticStr, EnumIter, EnumMessage)]
#[serde(tag = "policy", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PairPolicySpec {
    /// Two responses uniformly (reference: with replacement).
    #[strum(message = "two responses uniformly (reference: with replacement, so a = b happens)")]
    Random,
    /// Best of 4 random responses by predicted mean, then one of the other 3.
    #[strum(message = "best of 4 random responses by predicted mean, then one of the other 3")]
    Ultrafeedback,
    /// Highest and lowest predicted mean.
    #[strum(message = "highest and lowest predicted mean")]
    Maxmin,
    /// Double Thompson sampling: two independent argmax draws.
    #[strum(message = "double Thompson sampling: two independent argmax draws, redrawn until distinct")]
    Dts(ThompsonParams),
    /// Double reverse Thompson sampling: an argmax draw and an independent argmin draw.
    #[strum(message = "double reverse Thompson sampling: an argmax draw and an independent argmin draw")]
    Drts(ThompsonParams),
    /// `argmax_{i≠j} u_i − l_j`.
    #[strum(message = "argmax over i≠j of u_i − l_j (reference ignores beta)")]
    Deltaucb(BetaParams),
    /// The gap `u_i − l_j` at a quantile, first arm with the largest `u_i`.
    #[strum(message = "the u_i − l_j gap at a quantile, first arm with the largest u (reference ignores beta)")]
    Deltaquantile(QuantileParams),
    /// Widest Bradley–Terry confidence interval `σ(u_i − l_j) − σ(l_i − u_j)`.
    #[strum(message = "widest Bradley–Terry interval sig(u_i − l_j) − sig(l_i − u_j) (reference ignores beta)")]
    Infomax(BetaParams),
    /// Thompson draw for `a`, then the InfoMax width against it.
    #[strum(message = "Thompson draw for a, then the InfoMax width against a")]
    Infogain(ThompsonParams),
    /// `a = argmax_i min_j LCB_ij`, `b` its hardest competitor.
    #[strum(message = "a = argmax_i min_j LCB_ij, b = its hardest competitor (reference: s_i + s_j)")]
    Maxminlcb(MaxMinLcbParams),
    /// Relative UCB: `b` uniform in the candidate set, `a` the best other UCB.
    #[strum(message = "relative UCB: b uniform in the UCB candidate set, a the best other UCB")]
    Rucb(UcbSetParams),
    /// Information-directed sampling.
    #[strum(message = "information-directed sampling (reference gap R + mu, corrected R − mu)")]
    Ids(UcbSetParams),
    /// Offline baseline on judge scores: 2 distinct random responses, chosen = higher score.
    #[strum(message = "offline, judge scores: 2 distinct random responses")]
    StaticRandom,
    /// Offline baseline on judge scores: best of 4 random, rejected one of the other 3.
    #[strum(message = "offline, judge scores: best of 4 random, rejected one of the other 3")]
    StaticUltrafeedback,
    /// Offline baseline on judge scores: best and worst response.
    #[strum(message = "offline, judge scores: best and worst response")]
    StaticMaxmin,
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
    AcquireError::Rule { policy: policy.to_string(), why }
}

impl PairPolicySpec {
    /// The `policy:` tag.
    pub fn name(&self) -> &'static str {
        self.into()
    }

    /// One line on what the rule does.
    pub fn summary(&self) -> &'static str {
        self.get_message().expect("every pair policy has a summary")
    }

    /// Every pair policy with default parameters: the registry.
    pub fn all() -> Vec<PairPolicySpec> {
        PairPolicySpec::iter().collect()
    }

    /// Checks parameters; the error is `(parameter, message)`.
    pub fn validate(&self) -> Result<(), FieldError> {
        let bad = |f: &str, m: &str| Err(FieldError::new(f, m));
        let beta = match self {
            PairPolicySpec::Dts(p) | PairPolicySpec::Drts(p) | PairPolicySpec::Infogain(p) => Some(p.beta),
            PairPolicySpec::Deltaucb(p) | PairPolicySpec::Infomax(p) => Some(p.beta),
            PairPolicySpec::Deltaquantile(p) => Some(p.beta),
            PairPolicySpec::Maxminlcb(p) => Some(p.beta),
            PairPolicySpec::Rucb(p) | PairPolicySpec::Ids(p) => Some(p.beta),
            _ => None,
        };
        if beta.is_some_and(|b| !(b.is_finite() && b >= 0.0)) {
            return bad("beta", "must be a finite number ≥ 0");
        }
        if let PairPolicySpec::Deltaquantile(p) = self {
            if !(p.quantile - p.epsilon >= 0.0 && p.quantile + p.epsilon <= 1.0) {
                return bad("quantile", "needs 0 ≤ quantile − epsilon and quantile + epsilon ≤ 1");
            }
        }
        Ok(())
    }

    /// Picks `(a, b)` for one prompt. `a ≠ b` whenever `Ok`.
    pub fn select(&self, c: &CandidateScores<'_>, mode: PairMode, rng: &mut ChaCha8Rng) -> Result<(usize, usize), AcquireError> {
        let name = self.name();
        let n = c.mu.len();
        if c.sd.len() != n {
            return Err(fail(name, format!("{} means but {} spreads", n, c.sd.len())));
        }
        if n < 2 {
            return Err(AcquireError::TooFewResponses { policy: name.to_string(), n });
        }
        for (what, v) in [("mean", c.mu), ("spread", c.sd)] {
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(fail(name, format!("{what} of response {i} is {} (NaN and infinity are not allowed)", v[i])));
            }
        }
        if let Some(i) = c.sd.iter().position(|&x| x < 0.0) {
            return Err(fail(name, format!("spread of response {i} is negative ({})", c.sd[i])));
        }
        let reference = mode == PairMode::Reference;
        // Reference bounds: the reward model's β_b = 1; s = (u − l)/2 recomputed in f32 as the code does.
        let l: Vec<f32> = c.mu.iter().zip(c.sd).map(|(m, s)| m - s).collect();
        let u: Vec<f32> = c.mu.iter().zip(c.sd).map(|(m, s)| m + s).collect();
        let s: Vec<f32> = u.iter().zip(&l).map(|(u, l)| (u - l) / 2.0).collect();
        // Bounds with the acquisition β applied (corrected) or not (reference: β ignored).
        let scaled = |beta: f32| -> (Vec<f32>, Vec<f32>) {
            if reference {
                (l.clone(), u.clone())
            } else {
                (c.mu.iter().zip(&s).map(|(m, s)| m - beta * s).collect(), c.mu.iter().zip(&s).map(|(m, s)| m + beta * s).collect())
            }
        };
        match self {
            PairPolicySpec::Random => {
                if reference {
                    let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
                    if a == b {
                        return Err(fail(name, format!("the reference draws with replacement and drew a = b = {a}; its loop asserts a ≠ b here (use mode: corrected)")));
                    }
                    Ok((a, b))
                } else {
                    let a = rng.random_range(0..n);
                    Ok((a, uniform_other(n, a, rng)))
                }
            }
            PairPolicySpec::Ultrafeedback => best_of_four(name, c.mu, reference, rng),
            PairPolicySpec::Maxmin => Ok(max_min(c.mu)),
            PairPolicySpec::StaticRandom => {
                let o = oracle(name, c)?;
                let a = rng.random_range(0..n);
                let b = uniform_other(n, a, rng);
                // Chosen = the higher judge score; a tie keeps the first sampled.
                Ok(if o[b] > o[a] { (b, a) } else { (a, b) })
            }
            PairPolicySpec::StaticUltrafeedback => best_of_four(name, oracle(name, c)?, reference, rng),
            PairPolicySpec::StaticMaxmin => Ok(max_min(oracle(name, c)?)),
            PairPolicySpec::Dts(p) | PairPolicySpec::Drts(p) => {
                let reverse = matches!(self, PairPolicySpec::Drts(_));
                let a = thompson(name, c, &s, p, reference, false, rng)?;
                for _ in 0..p.max_iterations {
                    let b = thompson(name, c, &s, p, reference, reverse, rng)?;
                    if b != a {
                        return Ok((a, b));
                    }
                }
                Ok((a, uniform_other(n, a, rng)))
            }
            PairPolicySpec::Deltaucb(p) => {
                let (l, u) = scaled(p.beta);
                Ok(pair_argmax(n, |i, j| u[i] - l[j]))
            }
            PairPolicySpec::Infomax(p) => {
                let (l, u) = scaled(p.beta);
                Ok(pair_argmax(n, |i, j| sigmoid(u[i] - l[j]) - sigmoid(l[i] - u[j])))
            }
            PairPolicySpec::Infogain(p) => {
                let a = thompson(name, c, &s, p, reference, false, rng)?;
                let (l, u) = scaled(p.beta);
                let b = first_argmax((0..n).map(|j| if j == a { -1e7 } else { sigmoid(u[a] - l[j]) - sigmoid(l[a] - u[j]) }));
                Ok((a, b))
            }
            PairPolicySpec::Deltaquantile(p) => {
                if !(0.0..=1.0).contains(&p.quantile) || !(0.0..=1.0).contains(&p.epsilon) || p.quantile - p.epsilon < 0.0 || p.quantile + p.epsilon > 1.0 {
                    return Err(fail(name, format!("needs 0 ≤ quantile − epsilon and quantile + epsilon ≤ 1 (got {} ± {})", p.quantile, p.epsilon)));
                }
                let (l, u) = scaled(p.beta);
                let v = n * (n - 1);
                let start = ((v as f32 * (p.quantile - p.epsilon).max(0.0)).floor() as usize).min(v - 1);
                let mut end = (v as f32 * (p.quantile + p.epsilon).min(1.0)).floor() as usize;
                if end <= start {
                    end = start + 1;
                }
                let end = end.min(v);
                let mut gaps: Vec<(f32, usize, usize)> =
                    (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| (u[i] - l[j], i, j)).collect();
                // Descending by gap; equal gaps keep row-major order.
                gaps.sort_by(|x, y| y.0.total_cmp(&x.0));
                let window = &gaps[start..end];
                let k = first_argmax(window.iter().map(|&(_, i, _)| u[i]));
                Ok((window[k].1, window[k].2))
            }
            PairPolicySpec::Maxminlcb(p) => maxmin_lcb(name, c.mu, &s, p, reference, rng),
            PairPolicySpec::Rucb(p) => {
                let ucb: Vec<f32> = c.mu.iter().zip(&s).map(|(m, s)| m + p.beta * s).collect();
                let cands = candidate_set(name, &ucb, p, reference)?;
                let b = pick(&cands, rng);
                let best = (0..n).filter(|&i| i != b).map(|i| ucb[i]).fold(f32::NEG_INFINITY, f32::max);
                let near: Vec<usize> = (0..n).filter(|&i| i != b && (ucb[i] - best).abs() < p.tol).collect();
                Ok((pick(&near, rng), b))
            }
            PairPolicySpec::Ids(p) => ids(name, c.mu, &s, p, reference, rng),
        }
    }
}

fn oracle<'a>(name: &str, c: &CandidateScores<'a>) -> Result<&'a [f32], AcquireError> {
    let o = c.oracle.ok_or_else(|| fail(name, "needs judge scores (a static baseline reads the oracle, not the model)".into()))?;
    if o.len() != c.mu.len() {
        return Err(fail(name, format!("{} judge scores for {} responses", o.len(), c.mu.len())));
    }
    if let Some(i) = o.iter().position(|x| !x.is_finite()) {
        return Err(fail(name, format!("judge score of response {i} is {}", o[i])));
    }
    Ok(o)
}

/// 4 distinct uniform responses (fewer when n < 4 in corrected mode); a = the best score among them
/// in draw order (first on ties), b = uniform among the others.
fn best_of_four(name: &str, score: &[f32], reference: bool, rng: &mut ChaCha8Rng) -> Result<(usize, usize), AcquireError> {
    let n = score.len();
    if reference && n < 4 {
        return Err(fail(name, format!("the reference draws 4 distinct responses and needs n ≥ 4 (n = {n}; use mode: corrected)")));
    }
    let drawn: Vec<usize> = rand::seq::index::sample(rng, n, n.min(4)).into_vec();
    let k = first_argmax(drawn.iter().map(|&i| score[i]));
    let others: Vec<usize> = drawn.iter().enumerate().filter(|&(j, _)| j != k).map(|(_, &i)| i).collect();
    Ok((drawn[k], pick(&others, rng)))
}

/// a = first argmax, b = last argmin (the offline MaxMin's tie rules). For n ≥ 2 they differ:
/// when all scores tie, a = 0 and b = n − 1.
fn max_min(score: &[f32]) -> (usize, usize) {
    let a = first_argmax(score.iter().copied());
    let mut b = 0;
    for (i, &x) in score.iter().enumerate() {
        if x <= score[b] {
            b = i;
        }
    }
    (a, b)
}

/// One Thompson draw: argmax (or argmin when `reverse`) of sampled rewards.
fn thompson(
    name: &str,
    c: &CandidateScores<'_>,
    s: &[f32],
    p: &ThompsonParams,
    reference: bool,
    reverse: bool,
    rng: &mut ChaCha8Rng,
) -> Result<usize, AcquireError> {
    let sign = if reverse { -1.0 } else { 1.0 };
    let draw = if reference { ThompsonDraw::Uniform } else { p.draw };
    let sampled: Vec<f32> = match draw {
        ThompsonDraw::Uniform => c.mu.iter().zip(s).map(|(m, s)| sign * m + p.beta * (rng.random::<f32>() * 2.0 - 1.0) * s).collect(),
        ThompsonDraw::Gaussian => c
            .mu
            .iter()
            .zip(s)
            .map(|(m, s)| {
                let z: f32 = StandardNormal.sample(rng);
                sign * m + p.beta * z * s
            })
            .collect(),
        ThompsonDraw::Member => {
            let members = c.members.filter(|m| !m.is_empty()).ok_or_else(|| fail(name, "draw: member needs per-member rewards".into()))?;
            let k = rng.random_range(0..members.len());
            if members[k].len() != c.mu.len() {
                return Err(fail(name, format!("member {k} scores {} responses, not {}", members[k].len(), c.mu.len())));
            }
            if let Some(i) = members[k].iter().position(|x| !x.is_finite()) {
                return Err(fail(name, format!("member {k}'s reward of response {i} is {}", members[k][i])));
            }
            members[k].iter().map(|r| sign * r).collect()
        }
    };
    Ok(first_argmax(sampled))
}

fn maxmin_lcb(name: &str, mu: &[f32], s: &[f32], p: &MaxMinLcbParams, reference: bool, rng: &mut ChaCha8Rng) -> Result<(usize, usize), AcquireError> {
    let n = mu.len();
    let spread = |i: usize, j: usize| if reference { s[i] + s[j] } else { (s[i] * s[i] + s[j] * s[j]).sqrt() };
    let lcb = |i: usize, j: usize| (mu[i] - mu[j]) - p.beta * spread(i, j);
    let ucb = |i: usize, j: usize| (mu[i] - mu[j]) + p.beta * spread(i, j);
    let mut cands: Vec<usize> =
        (0..n).filter(|&i| !p.use_candidate_set || (0..n).all(|j| j == i || ucb(i, j) > -p.decision_buffer)).collect();
    if cands.len() < 2 {
        if reference {
            return Err(fail(name, format!("{} candidate arm(s) remain; the reference returns (i, i) or fails here (use mode: corrected)", cands.len())));
        }
        cands = (0..n).collect();
    }
    // Row minima over candidate competitors, with the near-minimal competitors of each row.
    let rows: Vec<(usize, f32, Vec<usize>)> = cands
        .iter()
        .map(|&i| {
            let m = cands.iter().filter(|&&j| j != i).map(|&j| lcb(i, j)).fold(f32::INFINITY, f32::min);
            let near = cands.iter().copied().filter(|&j| j != i && (lcb(i, j) - m).abs() < p.argmax_tol).collect();
            (i, m, near)
        })
        .collect();
    let best = rows.iter().map(|r| r.1).fold(f32::NEG_INFINITY, f32::max);
    let top: Vec<&(usize, f32, Vec<usize>)> = rows.iter().filter(|r| (r.1 - best).abs() < p.argmax_tol).collect();
    let row = top[rng.random_range(0..top.len())];
    Ok((row.0, pick(&row.2, rng)))
}

/// The UCB candidate set of RUCB and IDS; corrected mode falls back to all arms when it has < 2.
fn candidate_set(name: &str, ucb: &[f32], p: &UcbSetParams, reference: bool) -> Result<Vec<usize>, AcquireError> {
    let cands: Vec<usize> = (0..ucb.len()).filter(|&i| ucb[i] > p.threshold - p.decision_buffer).collect();
    if cands.len() >= 2 {
        return Ok(cands);
    }
    if reference {
        return Err(fail(
            name,
            format!("{} response(s) have UCB above the threshold {}; the reference returns (i, i) or raises here (use mode: corrected)", cands.len(), p.threshold),
        ));
    }
    Ok((0..ucb.len()).collect())
}

fn ids(name: &str, mu: &[f32], s: &[f32], p: &UcbSetParams, reference: bool, rng: &mut ChaCha8Rng) -> Result<(usize, usize), AcquireError> {
    const GRID: usize = 100;
    const RHO2: f32 = 1.0;
    let ucb: Vec<f32> = mu.iter().zip(s).map(|(m, s)| m + p.beta * s).collect();
    let cands = candidate_set(name, &ucb, p, reference)?;
    let top = cands.iter().map(|&i| mu[i]).fold(f32::NEG_INFINITY, f32::max);
    let greedy: Vec<usize> = cands.iter().copied().filter(|&i| (mu[i] - top).abs() < p.tol).collect();
    let mut g = pick(&greedy, rng);
    if mu[g] < p.threshold && cands.contains(&0) {
        g = 0; // arm 0 as the "null" arm, as the reference does
    }
    let r = cands.iter().map(|&i| ucb[i]).fold(f32::NEG_INFINITY, f32::max);
    // (ratio, arm, p) over non-greedy candidates and the probability grid.
    let mut cells: Vec<(f32, usize, f32)> = vec![];
    for &i in cands.iter().filter(|&&i| i != g) {
        let gap = if reference { r + mu[i] } else { r - mu[i] };
        let info = (1.0 + s[i] / RHO2).ln();
        for k in 1..=GRID {
            let q = k as f32 / GRID as f32;
            let regret = ((1.0 - q) * r + q * gap).powi(2);
            // Reference, as specified: regret² / p · info. Corrected: the information ratio regret² / (p · info).
            let ratio = if reference { regret / q * info } else { regret / (q * info) };
            cells.push((if ratio.is_nan() { f32::INFINITY } else { ratio }, i, q));
        }
    }
    let best = cells.iter().map(|c| c.0).fold(f32::INFINITY, f32::min);
    let near: Vec<(f32, usize, f32)> = if best.is_finite() {
        cells.iter().copied().filter(|c| (c.0 - best).abs() < p.tol).collect()
    } else {
        cells.clone()
    };
    let (_, c, q) = pick(&near, rng);
    if reference && rng.random::<f32>() >= q {
        return Err(fail(name, format!("the reference returned (g, g) = ({g}, {g}) with probability 1 − p* = {:.2}; its loop asserts a ≠ b here (use mode: corrected)", 1.0 - q)));
    }
    Ok((g, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn scores<'a>(mu: &'a [f32], sd: &'a [f32]) -> CandidateScores<'a> {
        CandidateScores { mu, sd, members: None, oracle: None }
    }

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn run(spec: &PairPolicySpec, c: &CandidateScores<'_>, mode: PairMode) -> (usize, usize) {
        spec.select(c, mode, &mut rng(0)).unwrap()
    }

    // Four responses chosen so that β changes the DeltaUCB and InfoMax picks:
    // μ = [0, 1, 0.2, 0.9], σ = [1, 0.1, 0.05, 0.6].
    const MU: [f32; 4] = [0.0, 1.0, 0.2, 0.9];
    const SD: [f32; 4] = [1.0, 0.1, 0.05, 0.6];

    #[test]
    fn deltaucb_by_hand_and_beta_only_matters_when_corrected() {
        // β = 1: u − l gaps: (i=3, j=0): 1.5 − (−1) = 2.5; (1, 0): 1.1 + 1 = 2.1; (0, 2): 1 − 0.15 = 0.85.
        // Max is (3, 0). β = 2 (corrected): (3,0): 0.9+1.2+2 = 4.1; (0,2)? 2 − 0.1 = 1.9; (1,0): 1.2+2 = 3.2 → (3, 0).
        let c = scores(&MU, &SD);
        let b1 = PairPolicySpec::Deltaucb(BetaParams { beta: 1.0 });
        let b0 = PairPolicySpec::Deltaucb(BetaParams { beta: 0.0 });
        assert_eq!(run(&b1, &c, PairMode::Reference), (3, 0));
        assert_eq!(run(&b0, &c, PairMode::Reference), (3, 0), "reference ignores β");
        // β = 0 corrected: plain mean gap μ_i − μ_j, maximised by (1, 0).
        assert_eq!(run(&b0, &c, PairMode::Corrected), (1, 0));
        assert_eq!(run(&b1, &c, PairMode::Corrected), (3, 0));
    }

    #[test]
    fn deltaucb_beta_one_and_two_tell_modes_apart() {
        // μ = [0, 1, 0.5], σ = [0, 0, 0.4]. Gaps μi − μj + β(σi + σj):
        // (1,0) = 1; (1,2) = (2,0) = 0.5 + 0.4β; the rest are smaller.
        // β = 1: (1,0) = 1 > 0.9 → (1, 0). β = 2: (1,2) = (2,0) = 1.3 > 1, first in row-major order → (1, 2).
        let (mu, sd) = ([0.0f32, 1.0, 0.5], [0.0f32, 0.0, 0.4]);
        let c = scores(&mu, &sd);
        let beta = |b| PairPolicySpec::Deltaucb(BetaParams { beta: b });
        assert_eq!(run(&beta(1.0), &c, PairMode::Reference), (1, 0));
        assert_eq!(run(&beta(2.0), &c, PairMode::Reference), (1, 0), "reference ignores β");
        assert_eq!(run(&beta(1.0), &c, PairMode::Corrected), (1, 0));
        assert_eq!(run(&beta(2.0), &c, PairMode::Corrected), (1, 2));
    }

    #[test]
    fn infomax_prefers_close_means_with_wide_spread() {
        // Width σ(Δ + σi + σj) − σ(Δ − σi − σj) is largest for (0, 3): Δ = −0.9, σ sum 1.6.
        let c = scores(&MU, &SD);
        let (a, b) = run(&PairPolicySpec::Infomax(BetaParams::default()), &c, PairMode::Reference);
        assert_eq!((a.min(b), a.max(b)), (0, 3));
    }

    #[test]
    fn maxmin_and_static_tie_rules() {
        let mu = [0.5f32, 2.0, 2.0, -1.0, -1.0];
        assert_eq!(run(&PairPolicySpec::Maxmin, &scores(&mu, &[0.0; 5]), PairMode::Corrected), (1, 4));
        let c = CandidateScores { mu: &[0.0; 5], sd: &[0.0; 5], members: None, oracle: Some(&mu) };
        assert_eq!(run(&PairPolicySpec::StaticMaxmin, &c, PairMode::Corrected), (1, 4));
        assert!(PairPolicySpec::StaticMaxmin.select(&scores(&mu, &[0.0; 5]), PairMode::Corrected, &mut rng(0)).is_err());
    }

    #[test]
    fn maxminlcb_by_hand_and_spread_rule_per_mode() {
        // μ = [1, 0, 0.5], s = [0.1, 0.1, 0.4], β = 1.
        // Reference LCB_ij = μi − μj − (si + sj): row 0: vs1 0.8, vs2 0.0 → min 0.0 (j=2);
        // row 1: vs0 −1.2, vs2 −1.0 → −1.2; row 2: vs0 −1.0, vs1 0.0 → −1.0. a = 0, b = 2.
        let spec = PairPolicySpec::Maxminlcb(MaxMinLcbParams::default());
        assert_eq!(run(&spec, &scores(&[1.0, 0.0, 0.5], &[0.1, 0.1, 0.4]), PairMode::Reference), (0, 2));
        // μ = [0, 0, 0.1], s = [0.4, 0.1, 0.4]. Reference (si + sj): row minima −0.9, −0.6, −0.7 → (1, 2).
        // Corrected (√(si² + sj²)): S01 = S12 = 0.4123, S02 = 0.5657; row minima −0.6657, −0.5123,
        // −0.4657 → a = 2 with hardest competitor 0.
        let c = scores(&[0.0, 0.0, 0.1], &[0.4, 0.1, 0.4]);
        assert_eq!(run(&spec, &c, PairMode::Reference), (1, 2));
        assert_eq!(run(&spec, &c, PairMode::Corrected), (2, 0));
    }

    #[test]
    fn infomax_beta_matters_only_when_corrected() {
        // μ = [−1.3, 1.2, 1.7], s = [0.8, 0.8, 0]: widest interval at β = 1 is {1, 2} (0.3603 vs 0.2727),
        // at β = 2 it is {0, 1} (0.6649 vs 0.6412).
        let c = scores(&[-1.3, 1.2, 1.7], &[0.8, 0.8, 0.0]);
        let beta = |b| PairPolicySpec::Infomax(BetaParams { beta: b });
        let unordered = |(a, b): (usize, usize)| (a.min(b), a.max(b));
        assert_eq!(unordered(run(&beta(2.0), &c, PairMode::Reference)), (1, 2));
        assert_eq!(unordered(run(&beta(1.0), &c, PairMode::Corrected)), (1, 2));
        assert_eq!(unordered(run(&beta(2.0), &c, PairMode::Corrected)), (0, 1));
    }

    #[test]
    fn deltaquantile_beta_matters_only_when_corrected() {
        // Same input as DeltaUCB's β test, quantile 0 → the largest gap: (1, 0) at β = 1, (1, 2) at β = 2.
        let c = scores(&[0.0, 1.0, 0.5], &[0.0, 0.0, 0.4]);
        let q = |b| PairPolicySpec::Deltaquantile(QuantileParams { beta: b, quantile: 0.0, epsilon: 0.0 });
        assert_eq!(run(&q(2.0), &c, PairMode::Reference), (1, 0));
        assert_eq!(run(&q(1.0), &c, PairMode::Corrected), (1, 0));
        assert_eq!(run(&q(2.0), &c, PairMode::Corrected), (1, 2));
    }

    #[test]
    fn ids_gap_sign_per_mode() {
        // μ = [2, 1, 0.8], s = [0.1, 0.5, 0.1], β = 1: all UCBs > 0.5, greedy g = 0, R = 2.1.
        // Corrected gap R − μ: at p = 1, arm 1: 1.1² / ln 1.5 = 2.98, arm 2: 1.3² / ln 1.1 = 17.7 → (0, 1).
        // Reference gap R + μ (× info): arm 1: 3.1² · ln 1.5 = 3.90, arm 2: 2.9² · ln 1.1 = 0.80 → (0, 2), p* = 1.
        let c = scores(&[2.0, 1.0, 0.8], &[0.1, 0.5, 0.1]);
        let spec = PairPolicySpec::Ids(UcbSetParams::default());
        assert_eq!(run(&spec, &c, PairMode::Corrected), (0, 1));
        assert_eq!(run(&spec, &c, PairMode::Reference), (0, 2));
    }

    #[test]
    fn reference_thompson_is_uniform_whatever_the_configured_draw() {
        // Gaussian is configured, but reference mode uses the uniform perturbation: P(a = 0) = 1/4.
        let (mu, sd) = ([0.0f32, 0.5], [1.0f32, 0.0]);
        let f = frequencies(&PairPolicySpec::Dts(ThompsonParams::default()), &scores(&mu, &sd), PairMode::Reference, 40_000);
        assert!((f[&(0, 1)] - 0.25).abs() < 0.012, "{f:?}");
    }

    #[test]
    fn maxminlcb_candidate_set_singleton_is_an_error_only_in_reference() {
        // With the candidate set on and one dominant arm, only arm 0 has UCB_0j > 0 for all j.
        let (mu, sd) = ([5.0f32, 0.0, 0.1], [0.01f32, 0.01, 0.01]);
        let spec = PairPolicySpec::Maxminlcb(MaxMinLcbParams { use_candidate_set: true, ..Default::default() });
        assert!(spec.select(&scores(&mu, &sd), PairMode::Reference, &mut rng(1)).is_err());
        let (a, b) = run(&spec, &scores(&mu, &sd), PairMode::Corrected);
        assert_ne!(a, b);
    }

    #[test]
    fn deltaquantile_picks_the_ranked_gap() {
        // n = 3 → V = 6 gaps; q = 0.5, ε = 0 → start = 3, end = 4: the 4th-largest gap.
        // μ = [0, 1, 3], σ = 0: gaps μi − μj: (2,0) 3, (2,1) 2, (1,0) 1, (0,1) −1, (1,2) −2, (0,2) −3.
        let (mu, sd) = ([0.0f32, 1.0, 3.0], [0.0f32; 3]);
        let spec = PairPolicySpec::Deltaquantile(QuantileParams { quantile: 0.5, epsilon: 0.0, beta: 1.0 });
        assert_eq!(run(&spec, &scores(&mu, &sd), PairMode::Reference), (0, 1));
        // A window of 3 ranks [1, 4) = (2,1), (1,0), (0,1): the first arm with the largest u is 2.
        let spec = PairPolicySpec::Deltaquantile(QuantileParams { quantile: 0.4, epsilon: 0.2, beta: 1.0 });
        assert_eq!(run(&spec, &scores(&mu, &sd), PairMode::Reference), (2, 1));
    }

    #[test]
    fn reference_random_with_replacement_errors_on_a_collision() {
        let (mu, sd) = ([0.0f32; 2], [0.0f32; 2]);
        let mut r = rng(5);
        let results: Vec<_> = (0..200).map(|_| PairPolicySpec::Random.select(&scores(&mu, &sd), PairMode::Reference, &mut r)).collect();
        let errors = results.iter().filter(|r| r.is_err()).count();
        // P(a = b) = 1/2 with n = 2: about 100 of 200; 60..140 is > 5 standard deviations wide.
        assert!((60..140).contains(&errors), "{errors}");
        assert!(results.iter().flatten().all(|&(a, b)| a != b));
    }

    /// Frequencies of the pairs a rule returns over `draws` seeded calls.
    fn frequencies(spec: &PairPolicySpec, c: &CandidateScores<'_>, mode: PairMode, draws: usize) -> std::collections::HashMap<(usize, usize), f64> {
        let mut r = rng(42);
        let mut f = std::collections::HashMap::new();
        for _ in 0..draws {
            *f.entry(spec.select(c, mode, &mut r).unwrap()).or_insert(0.0) += 1.0 / draws as f64;
        }
        f
    }

    #[test]
    fn corrected_random_is_uniform_over_ordered_distinct_pairs() {
        let (mu, sd) = ([0.0f32; 3], [0.0f32; 3]);
        let f = frequencies(&PairPolicySpec::Random, &scores(&mu, &sd), PairMode::Corrected, 30_000);
        assert_eq!(f.len(), 6);
        // Each of 6 ordered pairs 1/6 ± 0.015 (≈ 7 standard errors of 0.0022).
        assert!(f.values().all(|&p| (p - 1.0 / 6.0).abs() < 0.015), "{f:?}");
    }

    #[test]
    fn ultrafeedback_best_of_four_distribution() {
        // n = 5, μ strictly increasing: a = max of a random 4-subset = 4 unless 4 is left out (prob 1/5),
        // then a = 3. b is uniform over the other 3 drawn.
        let mu = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        let f = frequencies(&PairPolicySpec::Ultrafeedback, &scores(&mu, &[0.0; 5]), PairMode::Corrected, 40_000);
        let pa4: f64 = f.iter().filter(|((a, _), _)| *a == 4).map(|(_, p)| p).sum();
        assert!((pa4 - 0.8).abs() < 0.015, "{pa4}");
        // P(a = 4, b = 0) = P(4 drawn, 0 drawn) · 1/3 = (3/5) · 1/3 = 0.2.
        assert!((f[&(4, 0)] - 0.2).abs() < 0.015, "{f:?}");
        let err = PairPolicySpec::Ultrafeedback.select(&scores(&mu[..3], &[0.0; 3]), PairMode::Reference, &mut rng(0));
        assert!(err.is_err(), "reference needs n ≥ 4");
    }

    #[test]
    fn dts_uniform_draw_frequencies() {
        // Two responses μ = [0, 0.5], s = [1, 0]: the perturbed score of 0 is U(−1, 1) and beats 0.5
        // with probability 1/4. With n = 2, b must be the other arm, so P(a = 0) = 1/4.
        let (mu, sd) = ([0.0f32, 0.5], [1.0f32, 0.0]);
        let spec = PairPolicySpec::Dts(ThompsonParams { draw: ThompsonDraw::Uniform, ..Default::default() });
        let f = frequencies(&spec, &scores(&mu, &sd), PairMode::Corrected, 40_000);
        assert!((f[&(0, 1)] - 0.25).abs() < 0.012, "{f:?}");
        // Gaussian draw: P(z > 0.5) = 0.3085.
        let spec = PairPolicySpec::Dts(ThompsonParams::default());
        let f = frequencies(&spec, &scores(&mu, &sd), PairMode::Corrected, 40_000);
        assert!((f[&(0, 1)] - 0.3085).abs() < 0.012, "{f:?}");
    }

    #[test]
    fn drts_pairs_likely_best_with_likely_worst() {
        // μ = [0, 1, 2], s = [0.5; 3], uniform noise: the argmax is 2 unless noise makes 1 win (never: gaps of 1 ≥ 2·0.5
        // are only reached at the boundary), the reverse argmax is 0 likewise: always (2, 0).
        let (mu, sd) = ([0.0f32, 1.0, 2.0], [0.49f32; 3]);
        let spec = PairPolicySpec::Drts(ThompsonParams { draw: ThompsonDraw::Uniform, ..Default::default() });
        let f = frequencies(&spec, &scores(&mu, &sd), PairMode::Corrected, 2_000);
        assert_eq!(f.len(), 1);
        assert!((f[&(2, 0)] - 1.0).abs() < 1e-9);
    }

    #[test]
    fn member_draws_use_one_member() {
        // Two members that disagree completely: member 0 ranks 0 best and 2 worst, member 1 the reverse.
        let members = vec![vec![2.0f32, 1.0, 0.0], vec![0.0f32, 1.0, 2.0]];
        let c = CandidateScores { mu: &[1.0; 3], sd: &[1.0; 3], members: Some(&members), oracle: None };
        let spec = PairPolicySpec::Drts(ThompsonParams { draw: ThompsonDraw::Member, ..Default::default() });
        let f = frequencies(&spec, &c, PairMode::Corrected, 20_000);
        // a is 0 or 2 (each ½); b is the argmin of an independent member draw: 2 or 0, resampled if equal.
        for (&(a, b), p) in &f {
            assert!(a != b && [0, 2].contains(&a) && [0, 2].contains(&b), "{f:?}");
            assert!((p - 0.5).abs() < 0.02, "{f:?}");
        }
        let no_members = scores(&[1.0; 3], &[1.0; 3]);
        assert!(spec.select(&no_members, PairMode::Corrected, &mut rng(0)).is_err());
    }

    #[test]
    fn infogain_distribution() {
        // μ = [0, 1, 1], s = [1, 0, 0], Gaussian draw: a = 0 when z > 1 (P = 0.1587), else the first
        // of the tied arms 1. Against a = 1 the widest interval is arm 0 (σ(2) − ½ = 0.381 vs 0);
        // against a = 0, arms 1 and 2 tie at 0.381 and the first, 1, wins.
        let c = scores(&[0.0, 1.0, 1.0], &[1.0, 0.0, 0.0]);
        let f = frequencies(&PairPolicySpec::Infogain(ThompsonParams::default()), &c, PairMode::Corrected, 40_000);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!((f[&(0, 1)] - 0.1587).abs() < 0.012, "{f:?}");
        assert!((f[&(1, 0)] - 0.8413).abs() < 0.012, "{f:?}");
    }

    #[test]
    fn static_random_and_ultrafeedback_distributions() {
        // static_random: each unordered pair 1/3, returned as (higher judge score, lower).
        let judge = [3.0f32, 1.0, 2.0];
        let c = CandidateScores { mu: &[0.0; 3], sd: &[0.0; 3], members: None, oracle: Some(&judge) };
        let f = frequencies(&PairPolicySpec::StaticRandom, &c, PairMode::Corrected, 30_000);
        assert_eq!(f.len(), 3, "{f:?}");
        for pair in [(0, 1), (0, 2), (2, 1)] {
            assert!((f[&pair] - 1.0 / 3.0).abs() < 0.012, "{f:?}");
        }
        // static_ultrafeedback on judge scores 0..4: chosen = 4 unless 4 is not drawn (P = 1/5).
        let judge = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        let c = CandidateScores { mu: &[0.0; 5], sd: &[0.0; 5], members: None, oracle: Some(&judge) };
        let f = frequencies(&PairPolicySpec::StaticUltrafeedback, &c, PairMode::Corrected, 40_000);
        let p4: f64 = f.iter().filter(|((a, _), _)| *a == 4).map(|(_, p)| p).sum();
        assert!((p4 - 0.8).abs() < 0.015 && (f[&(4, 0)] - 0.2).abs() < 0.015, "{f:?}");
    }

    #[test]
    fn infogain_draw_then_widest_interval() {
        // μ = [0, 0, 10], s = [0, 0, 0]: a is always 2; widths against 2 are equal (0) for 0 and 1 → first index 0.
        let (mu, sd) = ([0.0f32, 0.0, 10.0], [0.0f32; 3]);
        let spec = PairPolicySpec::Infogain(ThompsonParams::default());
        assert_eq!(run(&spec, &scores(&mu, &sd), PairMode::Reference), (2, 0));
    }

    #[test]
    fn rucb_and_ids_reference_failures_are_errors_and_corrected_is_safe() {
        // All UCBs below 0.5: empty candidate set.
        let (mu, sd) = ([-1.0f32, -2.0, -3.0], [0.1f32; 3]);
        for spec in [PairPolicySpec::Rucb(UcbSetParams::default()), PairPolicySpec::Ids(UcbSetParams::default())] {
            assert!(spec.select(&scores(&mu, &sd), PairMode::Reference, &mut rng(0)).is_err());
            let (a, b) = run(&spec, &scores(&mu, &sd), PairMode::Corrected);
            assert_ne!(a, b);
        }
    }

    #[test]
    fn nan_and_tiny_inputs_are_clear_errors() {
        let spec = PairPolicySpec::Deltaucb(BetaParams::default());
        let e = spec.select(&scores(&[0.0, f32::NAN], &[0.0, 0.0]), PairMode::Corrected, &mut rng(0)).unwrap_err();
        assert!(e.to_string().contains("mean of response 1 is NaN"), "{e}");
        let e = spec.select(&scores(&[0.0], &[0.0]), PairMode::Corrected, &mut rng(0)).unwrap_err();
        assert!(e.to_string().contains("at least 2"), "{e}");
        let e = spec.select(&scores(&[], &[]), PairMode::Corrected, &mut rng(0)).unwrap_err();
        assert!(e.to_string().contains("0 response"), "{e}");
    }

    proptest! {
        #[test]
        fn corrected_pairs_are_distinct_and_in_range(
            n in 2usize..12,
            vals in proptest::collection::vec((-5.0f32..5.0, 0.0f32..2.0, -5.0f32..5.0), 12),
            seed in 0u64..10_000,
        ) {
            let mu: Vec<f32> = vals[..n].iter().map(|v| v.0).collect();
            let sd: Vec<f32> = vals[..n].iter().map(|v| v.1).collect();
            let oracle: Vec<f32> = vals[..n].iter().map(|v| v.2).collect();
            let members = vec![mu.clone(), oracle.clone(), sd.clone()];
            let c = CandidateScores { mu: &mu, sd: &sd, members: Some(&members), oracle: Some(&oracle) };
            let mut all = PairPolicySpec::all();
            all.push(PairPolicySpec::Dts(ThompsonParams { draw: ThompsonDraw::Member, ..Default::default() }));
            all.push(PairPolicySpec::Maxminlcb(MaxMinLcbParams { use_candidate_set: true, ..Default::default() }));
            for spec in all {
                let (a, b) = spec.select(&c, PairMode::Corrected, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
                prop_assert!(a != b && a < n && b < n, "{} gave ({a}, {b}) for n = {n}", spec.name());
                // Reference mode either returns a valid pair or a clear error, never a = b.
                if let Ok((a, b)) = spec.select(&c, PairMode::Reference, &mut ChaCha8Rng::seed_from_u64(seed)) {
                    prop_assert!(a != b && a < n && b < n);
                }
            }
        }
    }
}
