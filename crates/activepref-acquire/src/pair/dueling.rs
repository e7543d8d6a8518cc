//! The dueling-bandit rules on a UCB candidate set: RUCB and IDS.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{UcbSetParams, fail, pick};
use crate::AcquireError;

/// Relative UCB: `b` uniform in the candidate set, `a` uniform among the other arms within `tol`
/// of the best other UCB.
pub(super) fn rucb(
    name: &str,
    mu: &[f32],
    s: &[f32],
    p: &UcbSetParams,
    reference: bool,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), AcquireError> {
    let n = mu.len();
    let ucb: Vec<f32> = mu.iter().zip(s).map(|(m, s)| m + p.beta * s).collect();
    let cands = candidate_set(name, &ucb, p, reference)?;
    let b = pick(&cands, rng);
    let best = (0..n)
        .filter(|&i| i != b)
        .map(|i| ucb[i])
        .fold(f32::NEG_INFINITY, f32::max);
    let near: Vec<usize> = (0..n)
        .filter(|&i| i != b && (ucb[i] - best).abs() < p.tol)
        .collect();
    Ok((pick(&near, rng), b))
}

/// The UCB candidate set of RUCB and IDS; corrected mode falls back to all arms when it has < 2.
fn candidate_set(
    name: &str,
    ucb: &[f32],
    p: &UcbSetParams,
    reference: bool,
) -> Result<Vec<usize>, AcquireError> {
    let cands: Vec<usize> = (0..ucb.len())
        .filter(|&i| ucb[i] > p.threshold - p.decision_buffer)
        .collect();
    if cands.len() >= 2 {
        return Ok(cands);
    }
    if reference {
        return Err(fail(
            name,
            format!(
                "{} UCB above the threshold {}; the reference returns (i, i) or raises here (use pair_mode: corrected)",
                activepref_core::error::counted(cands.len(), "response has", "responses have"),
                p.threshold
            ),
        ));
    }
    Ok((0..ucb.len()).collect())
}

/// Information-directed sampling (specs/activeuf.md §3): the greedy arm against the candidate
/// and mixing probability with the smallest information ratio.
pub(super) fn ids(
    name: &str,
    mu: &[f32],
    s: &[f32],
    p: &UcbSetParams,
    reference: bool,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), AcquireError> {
    const GRID: usize = 100;
    const RHO2: f32 = 1.0;
    // The reference loop never passes β to IDS (specs/activeuf.md §3.0), so it keeps 1.0 there.
    let beta = if reference { 1.0 } else { p.beta };
    let ucb: Vec<f32> = mu.iter().zip(s).map(|(m, s)| m + beta * s).collect();
    let cands = candidate_set(name, &ucb, p, reference)?;
    let top = cands
        .iter()
        .map(|&i| mu[i])
        .fold(f32::NEG_INFINITY, f32::max);
    let greedy: Vec<usize> = cands
        .iter()
        .copied()
        .filter(|&i| (mu[i] - top).abs() < p.tol)
        .collect();
    let mut g = pick(&greedy, rng);
    if mu[g] < p.threshold && cands.contains(&0) {
        g = 0; // arm 0 as the "null" arm, as the reference does
    }
    let r = cands
        .iter()
        .map(|&i| ucb[i])
        .fold(f32::NEG_INFINITY, f32::max);
    // (ratio, arm, p) over non-greedy candidates and the probability grid.
    // Reference (as specified): the mixture's regret is (1 − p)·R + p·(R + μ_i), information
    // log(1 + s_i/ρ²). Corrected: each arm's regret is its gap to the optimistic best, R − μ, so
    // the mixture's is (1 − p)·(R − μ_g) + p·(R − μ_i), and the information of a Gaussian
    // observation is ½·log(1 + s_i²/ρ²) (a variance, not a standard deviation).
    let greedy_gap = r - mu[g];
    let mut cells: Vec<(f32, usize, f32)> = vec![];
    for &i in cands.iter().filter(|&&i| i != g) {
        let (gap, first, info) = if reference {
            (r + mu[i], r, (1.0 + s[i] / RHO2).ln())
        } else {
            (r - mu[i], greedy_gap, 0.5 * (1.0 + s[i] * s[i] / RHO2).ln())
        };
        for k in 1..=GRID {
            let q = k as f32 / GRID as f32;
            let regret = ((1.0 - q) * first + q * gap).powi(2);
            // Reference, as specified: regret² / p · info. Corrected: the information ratio regret² / (p · info).
            let ratio = if reference {
                regret / q * info
            } else {
                regret / (q * info)
            };
            cells.push((if ratio.is_nan() { f32::INFINITY } else { ratio }, i, q));
        }
    }
    let best = cells.iter().map(|c| c.0).fold(f32::INFINITY, f32::min);
    let near: Vec<(f32, usize, f32)> = if best.is_finite() {
        cells
            .iter()
            .copied()
            .filter(|c| (c.0 - best).abs() < p.tol)
            .collect()
    } else {
        cells.clone()
    };
    let (_, c, q) = pick(&near, rng);
    if reference && rng.random::<f32>() >= q {
        return Err(fail(
            name,
            format!(
                "the reference returned (g, g) = ({g}, {g}) with probability 1 − p* = {:.2}; its loop asserts a ≠ b here (use pair_mode: corrected)",
                1.0 - q
            ),
        ));
    }
    Ok((g, c))
}
