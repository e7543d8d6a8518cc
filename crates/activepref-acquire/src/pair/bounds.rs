//! The rules on confidence bounds: DeltaUCB, InfoMax, DeltaQuantile and MaxMinLCB.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{
    BetaParams, MaxMinLcbParams, QuantileParams, fail, first_argmax, pair_argmax, pick, sigmoid,
};
use crate::AcquireError;

/// One prompt's bounds as the reference computes them: `l = μ − σ`, `u = μ + σ` (the reward
/// model's β_b = 1) and `s = (u − l)/2`, all in f32.
pub(super) struct Bounds {
    pub l: Vec<f32>,
    pub u: Vec<f32>,
    pub s: Vec<f32>,
    pub reference: bool,
}

impl Bounds {
    pub fn new(mu: &[f32], sd: &[f32], reference: bool) -> Self {
        let l: Vec<f32> = mu.iter().zip(sd).map(|(m, s)| m - s).collect();
        let u: Vec<f32> = mu.iter().zip(sd).map(|(m, s)| m + s).collect();
        let s = u.iter().zip(&l).map(|(u, l)| (u - l) / 2.0).collect();
        Self { l, u, s, reference }
    }

    /// `(l, u)` with the acquisition β applied (corrected) or not (reference: β ignored).
    pub fn scaled(&self, mu: &[f32], beta: f32) -> (Vec<f32>, Vec<f32>) {
        if self.reference {
            (self.l.clone(), self.u.clone())
        } else {
            (
                mu.iter().zip(&self.s).map(|(m, s)| m - beta * s).collect(),
                mu.iter().zip(&self.s).map(|(m, s)| m + beta * s).collect(),
            )
        }
    }
}

/// DeltaUCB: `argmax_{i≠j} u_i − l_j`.
pub(super) fn delta_ucb(mu: &[f32], b: &Bounds, p: &BetaParams) -> (usize, usize) {
    let (l, u) = b.scaled(mu, p.beta);
    pair_argmax(mu.len(), |i, j| u[i] - l[j])
}

/// InfoMax: the widest Bradley–Terry interval `σ(u_i − l_j) − σ(l_i − u_j)`.
pub(super) fn info_max(mu: &[f32], b: &Bounds, p: &BetaParams) -> (usize, usize) {
    let (l, u) = b.scaled(mu, p.beta);
    pair_argmax(mu.len(), |i, j| sigmoid(u[i] - l[j]) - sigmoid(l[i] - u[j]))
}

/// DeltaQuantile: among the pairs whose gap `u_i − l_j` lies in the quantile window (gaps sorted
/// descending, row-major on ties), the first with the largest `u_i`.
pub(super) fn delta_quantile(
    name: &str,
    mu: &[f32],
    b: &Bounds,
    p: &QuantileParams,
) -> Result<(usize, usize), AcquireError> {
    let n = mu.len();
    if !(0.0..=1.0).contains(&p.quantile)
        || !(0.0..=1.0).contains(&p.epsilon)
        || p.quantile - p.epsilon < 0.0
        || p.quantile + p.epsilon > 1.0
    {
        return Err(fail(
            name,
            format!(
                "needs 0 ≤ quantile − epsilon and quantile + epsilon ≤ 1 (got {} ± {})",
                p.quantile, p.epsilon
            ),
        ));
    }
    let (l, u) = b.scaled(mu, p.beta);
    let (start, end) = quantile_window(n * (n - 1), p.quantile, p.epsilon);
    let mut gaps: Vec<(f32, usize, usize)> = (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| (u[i] - l[j], i, j))
        .collect();
    // Descending by gap; equal gaps keep row-major order.
    gaps.sort_by(|x, y| y.0.total_cmp(&x.0));
    let window = &gaps[start..end];
    let k = first_argmax(window.iter().map(|&(_, i, _)| u[i]));
    Ok((window[k].1, window[k].2))
}

/// DeltaQuantile's rank window `[start, end)` among the `v` off-diagonal gaps sorted descending:
/// `start = min(⌊v·max(0, q − ε)⌋, v − 1)`, `end = max(⌊v·min(1, q + ε)⌋, start + 1)` capped at `v`,
/// in f64 as the reference's Python floats (f32 moves the window for some (n, q), e.g. n = 10,
/// q = 0.7: 90 × 0.7 is 62.999… in f64 but 63 in f32).
pub(crate) fn quantile_window(v: usize, q: f64, eps: f64) -> (usize, usize) {
    let start = ((v as f64 * (q - eps).max(0.0)).floor() as usize).min(v - 1);
    let end = (v as f64 * (q + eps).min(1.0)).floor() as usize;
    let end = if end <= start { start + 1 } else { end };
    (start, end.min(v))
}

/// MaxMinLCB: `a = argmax_i min_j LCB_ij`, `b` its hardest competitor; ties within `argmax_tol`
/// broken at random. The spread of `μ_i − μ_j` is `s_i + s_j` in reference mode; corrected, it is
/// the members' own spread of `r_m(i) − r_m(j)` (unbiased) when per-member rewards are given, which
/// knows that two responses the members rank alike are surely ordered, and `√(s_i² + s_j²)`
/// (independent responses) otherwise.
pub(super) fn maxmin_lcb(
    name: &str,
    mu: &[f32],
    s: &[f32],
    members: Option<&[Vec<f32>]>,
    p: &MaxMinLcbParams,
    reference: bool,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), AcquireError> {
    let n = mu.len();
    let joint: Option<Vec<f32>> = members
        .filter(|m| !reference && m.len() >= 2)
        .map(|m| pairwise_member_spread(m, n));
    let spread = |i: usize, j: usize| match &joint {
        Some(v) => v[i * n + j],
        None if reference => s[i] + s[j],
        None => (s[i] * s[i] + s[j] * s[j]).sqrt(),
    };
    let lcb = |i: usize, j: usize| (mu[i] - mu[j]) - p.beta * spread(i, j);
    let ucb = |i: usize, j: usize| (mu[i] - mu[j]) + p.beta * spread(i, j);
    let mut cands: Vec<usize> = (0..n)
        .filter(|&i| {
            !p.use_candidate_set || (0..n).all(|j| j == i || ucb(i, j) > -p.decision_buffer)
        })
        .collect();
    if cands.len() < 2 {
        if reference {
            return Err(fail(
                name,
                format!(
                    "{} the reference returns (i, i) or fails here (use pair_mode: corrected)",
                    activepref_core::error::counted(
                        cands.len(),
                        "candidate arm remains;",
                        "candidate arms remain;"
                    )
                ),
            ));
        }
        cands = (0..n).collect();
    }
    // Reference bug (specs/activeuf.md §3.9): a pruned arm's row is all NaN, so its NaN-aware row
    // minimum is +inf; the row maximum is then +inf, no row is within `argmax_tol` of it
    // (|inf − inf| is NaN), and the priority argmax over an empty set falls back to arm 0. So the
    // reference returns a = 0 whenever any arm is pruned, with b = arm 0's hardest candidate
    // competitor, or (0, 0) when arm 0 itself is pruned. Corrected mode keeps the best candidate.
    if reference && cands.len() < n {
        return reference_pruned_pick(name, &cands, &lcb, p.argmax_tol, rng);
    }
    // Row minima over candidate competitors, with the near-minimal competitors of each row.
    let rows: Vec<(usize, f32, Vec<usize>)> = cands
        .iter()
        .map(|&i| {
            let m = cands
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| lcb(i, j))
                .fold(f32::INFINITY, f32::min);
            let near = cands
                .iter()
                .copied()
                .filter(|&j| j != i && (lcb(i, j) - m).abs() < p.argmax_tol)
                .collect();
            (i, m, near)
        })
        .collect();
    let best = rows.iter().map(|r| r.1).fold(f32::NEG_INFINITY, f32::max);
    let top: Vec<&(usize, f32, Vec<usize>)> = rows
        .iter()
        .filter(|r| (r.1 - best).abs() < p.argmax_tol)
        .collect();
    let row = top[rng.random_range(0..top.len())];
    Ok((row.0, pick(&row.2, rng)))
}

/// The reference's pick once an arm is pruned (specs/activeuf.md §3.9): `a = 0`, `b` arm 0's
/// hardest candidate competitor by `lcb`; an error when arm 0 itself is pruned.
fn reference_pruned_pick(
    name: &str,
    cands: &[usize],
    lcb: &dyn Fn(usize, usize) -> f32,
    argmax_tol: f32,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), AcquireError> {
    if !cands.contains(&0) {
        return Err(fail(
            name,
            "arm 0 is pruned from the candidate set, so the reference returns (0, 0); its loop asserts a ≠ b here (use pair_mode: corrected)".into(),
        ));
    }
    let m = cands
        .iter()
        .filter(|&&j| j != 0)
        .map(|&j| lcb(0, j))
        .fold(f32::INFINITY, f32::min);
    let near: Vec<usize> = cands
        .iter()
        .copied()
        .filter(|&j| j != 0 && (lcb(0, j) - m).abs() < argmax_tol)
        .collect();
    Ok((0, pick(&near, rng)))
}

/// The members' own spread of every reward difference: `out[i * n + j]` is the unbiased
/// standard deviation over members of `r_m(i) − r_m(j)` (`members`: `[members][n]`, at least 2).
fn pairwise_member_spread(members: &[Vec<f32>], n: usize) -> Vec<f32> {
    let e = members.len() as f64;
    let mut out = vec![0.0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            let d: Vec<f64> = members
                .iter()
                .map(|r| f64::from(r[i]) - f64::from(r[j]))
                .collect();
            let mean = d.iter().sum::<f64>() / e;
            let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (e - 1.0);
            out[i * n + j] = var.sqrt() as f32;
        }
    }
    out
}
