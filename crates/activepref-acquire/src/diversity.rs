//! Diverse-batch baselines from the active-learning literature, pool setting (issue 23):
//!
//! - [`Coreset`]: greedy k-center on the comparisons' (prompt, response) features (Sener &
//!   Savarese, "Active Learning for Convolutional Neural Networks: A Core-Set Approach", ICLR 2018;
//!   the greedy 2-approximation is Gonzalez 1985). [`k_center_greedy`] is the shared algorithm,
//!   also used by the `kcenter` cold start.
//! - [`Badge`]: k-means++ seeding (Arthur & Vassilvitskii 2007) on the gradient embeddings of the
//!   Bradley–Terry loss with respect to each member's last layer, under the ensemble's predicted
//!   label (Ash et al., "Deep Batch Active Learning by Diverse, Uncertain Gradient Lower Bounds",
//!   ICLR 2020).
//! - [`FisherDOptimal`]: greedy D-optimal design on the last layer's Fisher information (Shen, Sun
//!   & Ton, "Active Reward Modeling: Adaptive Preference Labeling for Large Language Model
//!   Alignment", ICML 2025, ARM-FI).
//!
//! The last two read a [`LastLayerEmbedding`] the loop builds from the fitted ensemble.
//!
//! For a Bradley–Terry member `m` with final linear layer `w_m` (the bias cancels in a
//! comparison), the logit of "A preferred" is `w_mᵀ g_m`, where `g_m = φ_m(x, A) − φ_m(x, B)` is
//! the difference of the final layer's inputs (dimension `h`, the last hidden width). The gradient
//! of the loss `−log σ(±w_mᵀ g_m)` for label `y ∈ {0, 1}` is `(p_m − y) g_m`, and the Fisher
//! information of one comparison is `p_m (1 − p_m) g_m g_mᵀ`.

use std::collections::HashMap;

use activepref_core::FeatureMatrix;
use activepref_core::prediction::fisher_weight;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{AcquireError, PoolPolicy, PoolState};

/// Each member's last-layer view of some pool comparisons: the difference `g_m(i)` of the final
/// linear layer's inputs for response A and response B, and `p_m(i) = σ(w_mᵀ g_m(i))`.
///
/// Shapes: `members` × `rows` × `width`; rows are identified by their pool index.
#[derive(Clone, Debug)]
pub struct LastLayerEmbedding {
    width: usize,
    /// `[member]`: `rows × width`, row-major, `g_m` of each row.
    diff: Vec<Vec<f32>>,
    /// `[member][row]`: `p_m(A ≻ B)`.
    prob: Vec<Vec<f64>>,
    row_of: HashMap<usize, usize>,
}

impl LastLayerEmbedding {
    /// From each member's final-layer inputs for response A (`inputs_a[m]`, `rows × width`),
    /// for response B (`inputs_b[m]`) and its final weights (`weights[m]`, `width` entries), for
    /// the pool comparisons `pool_index` (one per row, distinct).
    ///
    /// # Errors
    ///
    /// [`AcquireError::Rule`] when the members, rows or widths do not agree, a pool index repeats,
    /// or an input is NaN or infinite.
    pub fn from_inputs(
        pool_index: &[usize],
        inputs_a: &[FeatureMatrix],
        inputs_b: &[FeatureMatrix],
        weights: &[Vec<f32>],
    ) -> Result<Self, AcquireError> {
        let bad = |why: String| AcquireError::Rule {
            policy: "last-layer embedding".into(),
            why,
        };
        let members = weights.len();
        let width = weights.first().map_or(0, Vec::len);
        if members == 0 || inputs_a.len() != members || inputs_b.len() != members {
            return Err(bad(format!(
                "{} weight vectors, {} and {} input sets: one of each per member is needed",
                members,
                inputs_a.len(),
                inputs_b.len()
            )));
        }
        let rows = pool_index.len();
        if width == 0 && rows > 0 {
            return Err(bad(
                "the final layer has no inputs (width 0); a last-layer policy needs a hidden layer"
                    .into(),
            ));
        }
        let mut diff = Vec::with_capacity(members);
        let mut prob = Vec::with_capacity(members);
        for m in 0..members {
            let (a, b, w) = (&inputs_a[m], &inputs_b[m], &weights[m]);
            if a.rows() != rows || b.rows() != rows || a.dim() != width || b.dim() != width {
                return Err(bad(format!(
                    "member {m}: inputs are {}×{} and {}×{}, expected {rows}×{width}",
                    a.rows(),
                    a.dim(),
                    b.rows(),
                    b.dim()
                )));
            }
            if w.len() != width || w.iter().any(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "member {m}: the final weights must be {width} finite numbers"
                )));
            }
            let g: Vec<f32> = a
                .as_slice()
                .iter()
                .zip(b.as_slice())
                .map(|(x, y)| x - y)
                .collect();
            if g.iter().any(|v| !v.is_finite()) {
                return Err(bad(format!(
                    "member {m}: a last-layer input is NaN or infinite"
                )));
            }
            prob.push(preference_probabilities(&g, w, rows));
            diff.push(g);
        }
        let row_of: HashMap<usize, usize> = pool_index
            .iter()
            .enumerate()
            .map(|(r, &i)| (i, r))
            .collect();
        if row_of.len() != rows {
            return Err(bad("a pool index appears twice".into()));
        }
        Ok(Self {
            width,
            diff,
            prob,
            row_of,
        })
    }

    /// Members `M`.
    pub fn members(&self) -> usize {
        self.diff.len()
    }

    /// Width `h` of the final layer's input.
    pub fn width(&self) -> usize {
        self.width
    }

    /// `g_m` of pool comparison `i`, if the embedding covers it and has member `m`.
    pub fn diff(&self, m: usize, i: usize) -> Option<&[f32]> {
        let r = *self.row_of.get(&i)?;
        Some(&self.diff.get(m)?[r * self.width..(r + 1) * self.width])
    }

    /// `p_m(A ≻ B)` of pool comparison `i`, if the embedding covers it and has member `m`.
    pub fn prob(&self, m: usize, i: usize) -> Option<f64> {
        Some(self.prob.get(m)?[*self.row_of.get(&i)?])
    }

    /// The rows of `indices`, or the error naming `policy` when one is not covered.
    fn rows_of(&self, indices: &[usize], policy: &str) -> Result<Vec<usize>, AcquireError> {
        indices
            .iter()
            .map(|i| {
                self.row_of
                    .get(i)
                    .copied()
                    .ok_or_else(|| AcquireError::Rule {
                        policy: policy.into(),
                        why: format!("the last-layer embedding does not cover pool index {i}"),
                    })
            })
            .collect()
    }
}

/// Squared Euclidean distance, f64 accumulation of f32 differences.
fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum()
}

/// The first position of the largest value (ties go to the earlier one; NaN never wins);
/// `None` when there is no value but NaN.
fn first_argmax(values: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_nan() && best.is_none_or(|b| v > values[b]) {
            best = Some(i);
        }
    }
    best
}

/// Greedy k-center: picks `min(k, candidates.len())` of `candidates`, each time the one farthest
/// from its nearest centre (the `centers`, then the earlier picks). `dist2(i, j)` is the squared
/// distance of items `i` and `j`. Ties go to the earlier candidate. Without any centre the first
/// pick is uniform over the candidates (one draw from `rng`).
///
/// Cost: `|candidates| · (|centers| + k)` distance evaluations.
pub fn k_center_greedy(
    candidates: &[usize],
    centers: &[usize],
    k: usize,
    dist2: &(dyn Fn(usize, usize) -> f64 + Sync),
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let k = k.min(candidates.len());
    let mut picks = Vec::with_capacity(k);
    if k == 0 {
        return picks;
    }
    let mut nearest: Vec<f64> = candidates
        .par_iter()
        .map(|&c| {
            centers
                .iter()
                .map(|&s| dist2(c, s))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut taken = vec![false; candidates.len()];
    while picks.len() < k {
        let pos = if centers.is_empty() && picks.is_empty() {
            rng.random_range(0..candidates.len())
        } else {
            let open: Vec<f64> = nearest
                .iter()
                .zip(&taken)
                .map(|(&d, &t)| if t { f64::NEG_INFINITY } else { d })
                .collect();
            first_argmax(&open).expect("k ≤ candidates")
        };
        taken[pos] = true;
        let chosen = candidates[pos];
        picks.push(chosen);
        nearest
            .par_iter_mut()
            .zip(candidates)
            .for_each(|(d, &c)| *d = d.min(dist2(c, chosen)));
    }
    picks
}

/// k-means++ seeding (Arthur & Vassilvitskii 2007) of `min(k, n)` of the items `0..n`: `first`,
/// then each next item drawn with probability proportional to its squared distance `dist2` to
/// the nearest pick so far (one uniform draw from `rng` per pick, walked in item order); once every
/// remaining item coincides with a pick, the first unpicked one. Returns items in pick order.
///
/// Cost: `n · k` distance evaluations.
///
/// # Panics
///
/// If `first >= n` while `k > 0`.
pub fn kmeans_pp_seeds(
    n: usize,
    k: usize,
    first: usize,
    dist2: &(dyn Fn(usize, usize) -> f64 + Sync),
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let k = k.min(n);
    let mut picks: Vec<usize> = Vec::with_capacity(k);
    if k == 0 {
        return picks;
    }
    assert!(first < n, "the first pick is one of the items");
    let mut pos = first;
    let mut nearest = vec![f64::INFINITY; n];
    let mut taken = vec![false; n];
    loop {
        picks.push(pos);
        taken[pos] = true;
        if picks.len() == k {
            return picks;
        }
        nearest
            .par_iter_mut()
            .enumerate()
            .for_each(|(i, d)| *d = d.min(dist2(i, pos)));
        let total: f64 = nearest.iter().sum();
        pos = if total > 0.0 {
            let mut u = rng.random::<f64>() * total;
            let mut chosen = None;
            for (i, &d) in nearest.iter().enumerate() {
                if d > 0.0 {
                    chosen = Some(i);
                    if u < d {
                        break;
                    }
                    u -= d;
                }
            }
            chosen.expect("a positive weight exists")
        } else {
            // Every item coincides with a pick: the first not yet picked.
            (0..n).find(|&i| !taken[i]).expect("k ≤ n")
        };
    }
}

/// Core-set selection (Sener & Savarese, ICLR 2018): greedy k-center over the unlabelled
/// comparisons, with the labelled ones as the initial centres. A comparison's point is the
/// concatenation `[pair_a; pair_b]` of its two (prompt, response) feature rows, in the order the
/// dataset gives them; the distance is Euclidean. Needs [`PoolState::pair_features`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Coreset;

impl PoolPolicy for Coreset {
    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        state.validate()?;
        let (a, b) = state.pair_features.ok_or(AcquireError::MissingInput {
            policy: "coreset",
            what: "the pool's pair features",
        })?;
        if let Some(&index) = state
            .unlabelled
            .iter()
            .chain(state.labelled)
            .find(|&&i| i >= a.rows().min(b.rows()))
        {
            return Err(AcquireError::IndexOutOfRange {
                index,
                rows: a.rows().min(b.rows()),
            });
        }
        let dist2 = |i: usize, j: usize| {
            squared_distance(a.row(i), a.row(j)) + squared_distance(b.row(i), b.row(j))
        };
        Ok(k_center_greedy(
            state.unlabelled,
            state.labelled,
            batch,
            &dist2,
            rng,
        ))
    }
}

/// BADGE (Ash et al., ICLR 2020): k-means++ seeding over the candidates' gradient embeddings.
///
/// The embedding of comparison `c` concatenates, over members `m`, `(p_m(c) − ŷ(c)) g_m(c)`: the
/// gradient of member `m`'s Bradley–Terry loss with respect to its final weights under the
/// hallucinated label `ŷ(c) = 1[p̄(c) ≥ ½]` (`p̄` the members' mean). The first pick is the
/// embedding of largest norm (ties to the earlier candidate); each next one is drawn with
/// probability proportional to its squared distance to the nearest pick. Needs
/// [`PoolState::last_layer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Badge;

impl Badge {
    /// The gradient embedding of each candidate, `[candidate]`, each `members · width` long.
    fn embeddings(
        emb: &LastLayerEmbedding,
        candidates: &[usize],
    ) -> Result<Vec<Vec<f64>>, AcquireError> {
        let rows = emb.rows_of(candidates, "badge")?;
        let members = emb.members();
        Ok(rows
            .par_iter()
            .map(|&r| {
                let mean = (0..members).map(|m| emb.prob[m][r]).sum::<f64>() / members as f64;
                let y = if mean >= 0.5 { 1.0 } else { 0.0 };
                (0..members)
                    .flat_map(|m| {
                        let scale = emb.prob[m][r] - y;
                        emb.diff[m][r * emb.width..(r + 1) * emb.width]
                            .iter()
                            .map(move |&g| scale * f64::from(g))
                    })
                    .collect()
            })
            .collect())
    }
}

impl PoolPolicy for Badge {
    fn needs_last_layer(&self) -> bool {
        true
    }

    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        state.validate()?;
        let emb = state.last_layer.ok_or(AcquireError::MissingInput {
            policy: "badge",
            what: "the ensemble's last-layer embedding",
        })?;
        let e = Self::embeddings(emb, state.unlabelled)?;
        if batch == 0 || e.is_empty() {
            return Ok(vec![]);
        }
        let norms: Vec<f64> = e.iter().map(|v| v.iter().map(|x| x * x).sum()).collect();
        let first = first_argmax(&norms).expect("candidates exist");
        let dist2 = |i: usize, j: usize| -> f64 {
            e[i].iter().zip(&e[j]).map(|(x, y)| (x - y) * (x - y)).sum()
        };
        let picks = kmeans_pp_seeds(e.len(), batch, first, &dist2, rng);
        Ok(picks.into_iter().map(|p| state.unlabelled[p]).collect())
    }
}

/// The parameters of [`FisherDOptimal`], as written in an experiment file:
/// `{ policy: fisher, lambda: 1.0 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FisherParams {
    /// Prior precision `λ` of the last-layer weights: the information matrix starts at `λ I`
    /// (default 1; finite and > 0).
    pub lambda: f64,
}

impl Default for FisherParams {
    fn default() -> Self {
        Self { lambda: 1.0 }
    }
}

/// Greedy D-optimal design on the last layer's Fisher information (Shen, Sun & Ton, ICML 2025,
/// ARM-FI).
///
/// Member `m`'s information matrix is `A_m = λ I + Σ_{i ∈ labelled} p_m(i)(1 − p_m(i)) g_m(i) g_m(i)ᵀ`
/// (the members' last layers are independent parameter blocks, so the ensemble's matrix is block
/// diagonal and its log-determinant the sum over members). Each pick is the candidate of largest
/// gain `Σ_m ln(1 + w_m(c) g_m(c)ᵀ A_m⁻¹ g_m(c))`, `w_m(c) = p_m(c)(1 − p_m(c))`, which is the
/// increase of `ln det` by the matrix determinant lemma; the picked comparison then joins every
/// `A_m` (Sherman–Morrison updates of `A_m⁻¹`). Ties go to the earlier candidate. Deterministic.
/// The labelled set includes comparisons an oracle's tie rule dropped: they were asked, so their
/// region of the feature space counts as explored.
///
/// Cost per round: `M h² (|labelled| + |candidates| + batch) + M h |candidates| batch` flops.
#[derive(Clone, Copy, Debug)]
pub struct FisherDOptimal {
    /// Prior precision `λ` (finite, > 0).
    pub lambda: f64,
}

/// `A⁻¹` as a dense `h × h` row-major matrix, updated by Sherman–Morrison.
struct InverseInformation {
    h: usize,
    inv: Vec<f64>,
}

impl InverseInformation {
    fn new(h: usize, lambda: f64) -> Self {
        let mut inv = vec![0.0; h * h];
        for i in 0..h {
            inv[i * h + i] = 1.0 / lambda;
        }
        Self { h, inv }
    }

    /// `A⁻¹ g`.
    fn apply(&self, g: &[f32]) -> Vec<f64> {
        self.inv
            .chunks(self.h)
            .map(|row| row.iter().zip(g).map(|(a, &x)| a * f64::from(x)).sum())
            .collect()
    }

    /// `A ← A + w g gᵀ`; returns `(A⁻¹ g, 1 + w gᵀ A⁻¹ g)` before the update.
    fn add(&mut self, g: &[f32], w: f64) -> (Vec<f64>, f64) {
        let v = self.apply(g);
        let denom = 1.0
            + w * g
                .iter()
                .zip(&v)
                .map(|(&x, y)| f64::from(x) * y)
                .sum::<f64>();
        let h = self.h;
        self.inv.par_chunks_mut(h).enumerate().for_each(|(i, row)| {
            let s = w * v[i] / denom;
            row.iter_mut().zip(&v).for_each(|(a, vj)| *a -= s * vj);
        });
        (v, denom)
    }

    /// `gᵀ A⁻¹ g`.
    fn quadratic(&self, g: &[f32]) -> f64 {
        g.iter()
            .zip(self.apply(g))
            .map(|(&x, y)| f64::from(x) * y)
            .sum()
    }
}

/// `(λI + Σ_i p_i(1 − p_i) g_i g_iᵀ)⁻¹` (`h × h`, row-major, f64) for the differences `g`
/// (`rows × h`) under final weights `w` (`p_i = σ(wᵀ g_i)`), by Sherman–Morrison updates from
/// `I/λ`: the inverse information the D-optimal pair rule ([`crate::PairDesign`]) reads.
///
/// # Panics
///
/// If `g.len()` is not a multiple of `w.len()`.
pub fn inverse_information(g: &[f32], w: &[f32], lambda: f64) -> Vec<f64> {
    let h = w.len();
    assert!(h > 0 && g.len().is_multiple_of(h), "rows × h differences");
    let mut inv = InverseInformation::new(h, lambda);
    for row in g.chunks(h) {
        inv.add(row, fisher_weight(row, w));
    }
    inv.inv
}

impl PoolPolicy for FisherDOptimal {
    fn needs_last_layer(&self) -> bool {
        true
    }

    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        state.validate()?;
        if !(self.lambda.is_finite() && self.lambda > 0.0) {
            return Err(AcquireError::Rule {
                policy: "fisher".into(),
                why: format!("lambda is {}; it must be a finite number > 0", self.lambda),
            });
        }
        let emb = state.last_layer.ok_or(AcquireError::MissingInput {
            policy: "fisher",
            what: "the ensemble's last-layer embedding",
        })?;
        let cand = emb.rows_of(state.unlabelled, "fisher")?;
        let lab = emb.rows_of(state.labelled, "fisher")?;
        let (members, h) = (emb.members(), emb.width);
        let g = |m: usize, r: usize| &emb.diff[m][r * h..(r + 1) * h];
        let w = |m: usize, r: usize| emb.prob[m][r] * (1.0 - emb.prob[m][r]);
        let mut inverses: Vec<InverseInformation> = (0..members)
            .map(|m| {
                let mut inv = InverseInformation::new(h, self.lambda);
                for &r in &lab {
                    inv.add(g(m, r), w(m, r));
                }
                inv
            })
            .collect();
        // q[m][c] = g_m(c)ᵀ A_m⁻¹ g_m(c), kept current by the Sherman–Morrison identity.
        let mut q: Vec<Vec<f64>> = (0..members)
            .map(|m| {
                cand.par_iter()
                    .map(|&r| inverses[m].quadratic(g(m, r)))
                    .collect()
            })
            .collect();
        let k = batch.min(cand.len());
        let mut taken = vec![false; cand.len()];
        let mut picks = Vec::with_capacity(k);
        while picks.len() < k {
            let gains: Vec<f64> = (0..cand.len())
                .map(|c| {
                    if taken[c] {
                        f64::NEG_INFINITY
                    } else {
                        (0..members)
                            .map(|m| (w(m, cand[c]) * q[m][c]).ln_1p())
                            .sum()
                    }
                })
                .collect();
            let best = first_argmax(&gains).expect("k ≤ candidates");
            taken[best] = true;
            picks.push(state.unlabelled[best]);
            for (m, inv) in inverses.iter_mut().enumerate() {
                let wb = w(m, cand[best]);
                let (v, denom) = inv.add(g(m, cand[best]), wb);
                q[m].par_iter_mut().zip(&cand).for_each(|(qc, &r)| {
                    let dot: f64 = g(m, r).iter().zip(&v).map(|(&x, y)| f64::from(x) * y).sum();
                    *qc -= wb * dot * dot / denom;
                });
            }
        }
        Ok(picks)
    }
}

/// `σ(wᵀ g_r)` for the first `rows` rows `g_r` of `g` (`rows × w.len()`, row-major), in f64.
fn preference_probabilities(g: &[f32], w: &[f32], rows: usize) -> Vec<f64> {
    g.chunks(w.len().max(1))
        .take(rows)
        .map(|row| {
            let logit: f64 = row
                .iter()
                .zip(w)
                .map(|(&x, &v)| f64::from(x) * f64::from(v))
                .sum();
            1.0 / (1.0 + (-logit).exp())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use activepref_core::PromptFeatures;
    use rand::SeedableRng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn column(values: &[f32]) -> FeatureMatrix {
        FeatureMatrix::new(values.len(), 1, values.to_vec()).unwrap()
    }

    /// One member of width 1 with final weight 1: `g` is the difference `a − b`.
    fn one_member(a: &[f32], b: &[f32]) -> LastLayerEmbedding {
        let idx: Vec<usize> = (0..a.len()).collect();
        LastLayerEmbedding::from_inputs(&idx, &[column(a)], &[column(b)], &[vec![1.0]]).unwrap()
    }

    /// Points on a line at 0 (labelled), 1, 5, 6, 10: by hand, the farthest from {0} is 10, then
    /// 5 (25 against 16 for 6), then 1 and 6 tie at distance 1 and the earlier candidate wins.
    #[test]
    fn k_center_picks_by_hand() {
        let x = [0.0f64, 1.0, 5.0, 6.0, 10.0];
        let d2 = |i: usize, j: usize| (x[i] - x[j]).powi(2);
        let picks = k_center_greedy(&[1, 2, 3, 4], &[0], 3, &d2, &mut rng(0));
        assert_eq!(picks, vec![4, 2, 1]);
        assert_eq!(k_center_greedy(&[1, 2], &[0], 5, &d2, &mut rng(0)).len(), 2);
    }

    fn det2(m: [f64; 4]) -> f64 {
        m[0] * m[3] - m[1] * m[2]
    }

    /// `ln det(λI + Σ_i w_i g_i g_iᵀ)` for width 2, from the determinant itself.
    fn log_det(lambda: f64, items: &[([f32; 2], f64)]) -> f64 {
        let mut m = [lambda, 0.0, 0.0, lambda];
        for (g, w) in items {
            let (x, y) = (f64::from(g[0]), f64::from(g[1]));
            m[0] += w * x * x;
            m[1] += w * x * y;
            m[2] += w * x * y;
            m[3] += w * y * y;
        }
        det2(m).ln()
    }

    /// λ = 1, weights 0 (so p = ½ and each comparison weighs ¼). Labelled g = (2, 0) makes
    /// A = diag(2, 1). Gains: (2, 0) → ln 1.5, (0, 1) → ln 1.25, (0, 2) → ln 2, so (0, 2) first;
    /// then A = diag(2, 2): (2, 0) → ln 1.5 beats (0, 1) → ln 1.125.
    #[test]
    fn fisher_picks_by_hand() {
        let g = [[2.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 2.0]];
        let a = FeatureMatrix::new(4, 2, g.iter().flatten().copied().collect()).unwrap();
        let b = FeatureMatrix::new(4, 2, vec![0.0; 8]).unwrap();
        let emb =
            LastLayerEmbedding::from_inputs(&[0, 1, 2, 3], &[a], &[b], &[vec![0.0, 0.0]]).unwrap();
        let prompts: PromptFeatures = column(&[0.0; 4]).into();
        let (unlabelled, labelled, u) = ([1, 2, 3], [0], [0.0; 3]);
        let state = PoolState {
            last_layer: Some(&emb),
            ..PoolState::new(&unlabelled, &u, &labelled, &prompts)
        };
        let fisher = FisherDOptimal { lambda: 1.0 };
        assert_eq!(fisher.select(&state, 2, &mut rng(0)).unwrap(), vec![3, 1]);
        assert!(
            (log_det(1.0, &[(g[0], 0.25), (g[3], 0.25)])
                - log_det(1.0, &[(g[0], 0.25)])
                - 2f64.ln())
            .abs()
                < 1e-12
        );
        let zero = FisherDOptimal { lambda: 0.0 };
        assert!(matches!(
            zero.select(&state, 1, &mut rng(0)),
            Err(AcquireError::Rule { .. })
        ));
    }

    /// By hand, one member of weight 1: g = −1 gives p = σ(−1) = 0.26894, ŷ = 0 and the embedding
    /// −0.26894; g = 2 gives p = 0.88080, ŷ = 1 and (0.88080 − 1)·2 = −0.23840. The largest norm
    /// comes first (rows 0 and 1 tie: the earlier); row 1 is then at distance 0, so the next pick
    /// is row 2 whatever the draw, and the last falls back to the only one left.
    #[test]
    fn badge_embeddings_and_picks_by_hand() {
        let emb = one_member(&[0.0, 0.0, 2.0], &[1.0, 1.0, 0.0]);
        let e = Badge::embeddings(&emb, &[0, 1, 2]).unwrap();
        let sigma = |x: f64| 1.0 / (1.0 + (-x).exp());
        assert!((e[0][0] + sigma(-1.0)).abs() < 1e-12);
        assert!((e[2][0] - (sigma(2.0) - 1.0) * 2.0).abs() < 1e-12);
        let prompts: PromptFeatures = column(&[0.0; 3]).into();
        let (unlabelled, u) = ([0, 1, 2], [0.0; 3]);
        let state = PoolState {
            last_layer: Some(&emb),
            ..PoolState::new(&unlabelled, &u, &[], &prompts)
        };
        for seed in 0..20 {
            assert_eq!(
                Badge.select(&state, 3, &mut rng(seed)).unwrap(),
                vec![0, 2, 1]
            );
        }
    }

    /// After the first pick, k-means++ draws the next with probability ∝ D²: here, after row 0
    /// (embedding −0.26894), rows 1 and 2 have D² = (−0.26894 + 0.23840)² and
    /// (−0.26894 − 0)², so row 2 (g = 0) should come second about 98.7% of the time.
    #[test]
    fn badge_second_pick_follows_squared_distance() {
        let emb = one_member(&[0.0, 2.0, 3.0], &[1.0, 0.0, 3.0]);
        let e = Badge::embeddings(&emb, &[0, 1, 2]).unwrap();
        let (d1, d2) = ((e[1][0] - e[0][0]).powi(2), (e[2][0] - e[0][0]).powi(2));
        let expected = d2 / (d1 + d2);
        let prompts: PromptFeatures = column(&[0.0; 3]).into();
        let (unlabelled, u) = ([0, 1, 2], [0.0; 3]);
        let state = PoolState {
            last_layer: Some(&emb),
            ..PoolState::new(&unlabelled, &u, &[], &prompts)
        };
        let draws = 4000;
        let hits = (0..draws)
            .filter(|&s| Badge.select(&state, 2, &mut rng(s)).unwrap()[1] == 2)
            .count();
        let freq = hits as f64 / draws as f64;
        let sd = (expected * (1.0 - expected) / draws as f64).sqrt();
        assert!(
            (freq - expected).abs() < 4.0 * sd + 1e-9,
            "{freq} vs {expected}"
        );
    }

    /// Core-set's point is `[pair_a; pair_b]`: from the labelled comparison at (0, 0), the
    /// candidate at (2, 3) (distance √13) beats (3, 0) (distance 3), though pair_a alone would
    /// rank (3, 0) first; then (3, 0) (distance √10 from (2, 3)) beats (0, 1) (distance 1).
    #[test]
    fn coreset_uses_both_sides() {
        let a = column(&[0.0, 3.0, 2.0, 0.0]);
        let b = column(&[0.0, 0.0, 3.0, 1.0]);
        let prompts: PromptFeatures = column(&[0.0; 4]).into();
        let (unlabelled, u) = ([3, 2, 1], [0.0; 3]);
        let state = PoolState {
            pair_features: Some((&a, &b)),
            ..PoolState::new(&unlabelled, &u, &[0], &prompts)
        };
        assert_eq!(Coreset.select(&state, 2, &mut rng(0)).unwrap(), vec![2, 1]);
        let bare = PoolState::new(&unlabelled, &u, &[0], &prompts);
        assert!(matches!(
            Coreset.select(&bare, 1, &mut rng(0)),
            Err(AcquireError::MissingInput { .. })
        ));
        assert!(matches!(
            Badge.select(&bare, 1, &mut rng(0)),
            Err(AcquireError::MissingInput { .. })
        ));
    }

    #[test]
    fn embedding_inputs_are_checked() {
        let a = column(&[1.0, 2.0]);
        let short = column(&[1.0]);
        assert!(
            LastLayerEmbedding::from_inputs(
                &[0, 1],
                std::slice::from_ref(&a),
                &[short],
                &[vec![1.0]]
            )
            .is_err()
        );
        assert!(
            LastLayerEmbedding::from_inputs(
                &[0, 0],
                std::slice::from_ref(&a),
                std::slice::from_ref(&a),
                &[vec![1.0]]
            )
            .is_err()
        );
        assert!(
            LastLayerEmbedding::from_inputs(
                &[0, 1],
                std::slice::from_ref(&a),
                std::slice::from_ref(&a),
                &[vec![f32::NAN]]
            )
            .is_err()
        );
        // Finite inputs whose difference overflows.
        let (big, small) = (column(&[f32::MAX, 0.0]), column(&[-f32::MAX, 0.0]));
        assert!(LastLayerEmbedding::from_inputs(&[0, 1], &[big], &[small], &[vec![1.0]]).is_err());
        let ok = LastLayerEmbedding::from_inputs(
            &[7, 3],
            std::slice::from_ref(&a),
            &[column(&[0.0, 0.0])],
            &[vec![1.0]],
        )
        .unwrap();
        assert_eq!(ok.diff(0, 3), Some(&[2.0f32][..]));
        assert!((ok.prob(0, 7).unwrap() - 1.0 / (1.0 + (-1f64).exp())).abs() < 1e-12);
        assert_eq!(ok.diff(0, 0), None);
        assert_eq!((ok.diff(1, 3), ok.prob(1, 3)), (None, None));
        let empty = FeatureMatrix::new(2, 0, vec![]).unwrap();
        assert!(
            LastLayerEmbedding::from_inputs(
                &[0, 1],
                std::slice::from_ref(&empty),
                std::slice::from_ref(&empty),
                &[vec![]]
            )
            .is_err()
        );
    }

    proptest::proptest! {
        /// Greedy k-center against brute force: every pick is the farthest open candidate (by a
        /// from-scratch recomputation of nearest distances), and the final radius is within twice
        /// the optimum found by exhaustive search over all candidate subsets of size k.
        #[test]
        fn k_center_is_greedy_and_within_twice_the_optimum(
            coords in proptest::collection::vec(-6i32..6, 2 * 9),
            n_centers in 1usize..3,
            k in 1usize..4,
        ) {
            let x: Vec<(f64, f64)> = coords.chunks(2).map(|c| (f64::from(c[0]), f64::from(c[1]))).collect();
            let d2 = |i: usize, j: usize| (x[i].0 - x[j].0).powi(2) + (x[i].1 - x[j].1).powi(2);
            let centers: Vec<usize> = (0..n_centers).collect();
            let candidates: Vec<usize> = (n_centers..x.len()).collect();
            let picks = k_center_greedy(&candidates, &centers, k, &d2, &mut rng(1));
            let nearest = |c: usize, set: &[usize]| set.iter().map(|&s| d2(c, s)).fold(f64::INFINITY, f64::min);
            let mut chosen = centers.clone();
            for &p in &picks {
                let best = candidates.iter().filter(|c| !chosen.contains(c)).map(|&c| nearest(c, &chosen)).fold(f64::NEG_INFINITY, f64::max);
                proptest::prop_assert_eq!(nearest(p, &chosen), best);
                chosen.push(p);
            }
            let radius = |set: &[usize]| candidates.iter().map(|&c| nearest(c, set)).fold(0.0, f64::max).sqrt();
            let mut optimum = f64::INFINITY;
            for mask in 0u32..(1 << candidates.len()) {
                if mask.count_ones() as usize != k.min(candidates.len()) { continue; }
                let mut set = centers.clone();
                set.extend(candidates.iter().enumerate().filter(|(b, _)| mask >> b & 1 == 1).map(|(_, &c)| c));
                optimum = optimum.min(radius(&set));
            }
            proptest::prop_assert!(radius(&chosen) <= 2.0 * optimum + 1e-9);
        }

        /// Fisher's greedy picks against determinants computed directly: each pick's gain in
        /// `Σ_m ln det(A_m)` is the largest any open candidate offers (to 1e-9), for two members
        /// of width 2; with a batch of one, that is the exhaustive optimum.
        #[test]
        fn fisher_gains_match_direct_determinants(
            values in proptest::collection::vec(-3i32..4, 2 * 2 * 2 * 7),
            weights in proptest::collection::vec(-2i32..3, 4),
            n_lab in 0usize..3,
            batch in 1usize..4,
            lambda in 0.25f64..2.0,
        ) {
            let rows = 7;
            let side = |m: usize, s: usize| FeatureMatrix::new(rows, 2, values[(m * 2 + s) * 2 * rows..(m * 2 + s + 1) * 2 * rows].iter().map(|&v| v as f32 * 0.5).collect()).unwrap();
            let w: Vec<Vec<f32>> = weights.chunks(2).map(|c| c.iter().map(|&v| v as f32 * 0.5).collect()).collect();
            let all: Vec<usize> = (0..rows).collect();
            let emb = LastLayerEmbedding::from_inputs(&all, &[side(0, 0), side(1, 0)], &[side(0, 1), side(1, 1)], &w).unwrap();
            let labelled: Vec<usize> = (0..n_lab).collect();
            let unlabelled: Vec<usize> = (n_lab..rows).collect();
            let prompts: PromptFeatures = column(&[0.0; 7]).into();
            let u = vec![0.0; unlabelled.len()];
            let state = PoolState { last_layer: Some(&emb), ..PoolState::new(&unlabelled, &u, &labelled, &prompts) };
            let picks = FisherDOptimal { lambda }.select(&state, batch, &mut rng(0)).unwrap();
            let item = |m: usize, i: usize| {
                let g = emb.diff(m, i).unwrap();
                let p = emb.prob(m, i).unwrap();
                ([g[0], g[1]], p * (1.0 - p))
            };
            let total = |set: &[usize]| (0..2).map(|m| log_det(lambda, &set.iter().map(|&i| item(m, i)).collect::<Vec<_>>())).sum::<f64>();
            let mut chosen = labelled.clone();
            for &p in &picks {
                let base = total(&chosen);
                let gain = |c: usize| { let mut s = chosen.clone(); s.push(c); total(&s) - base };
                let best = unlabelled.iter().filter(|c| !chosen.contains(c)).map(|&c| gain(c)).fold(f64::NEG_INFINITY, f64::max);
                proptest::prop_assert!((gain(p) - best).abs() < 1e-9, "pick {} gains {} < {}", p, gain(p), best);
                chosen.push(p);
            }
        }
    }
}
