//! The baselines: uniform pairs, UltraFeedback's best-of-4, MaxMin on predicted means, and the
//! offline rules that read the judge's scores instead of the model.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{CandidateScores, fail, first_argmax, pick, uniform_other};
use crate::AcquireError;

/// Two uniform responses; the reference draws with replacement and fails on `a = b`.
pub(super) fn random_pair(
    name: &str,
    n: usize,
    reference: bool,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), AcquireError> {
    if reference {
        let (a, b) = (rng.random_range(0..n), rng.random_range(0..n));
        if a == b {
            return Err(fail(
                name,
                format!(
                    "the reference draws with replacement and drew a = b = {a}; its loop asserts a ≠ b here (use pair_mode: corrected)"
                ),
            ));
        }
        Ok((a, b))
    } else {
        let a = rng.random_range(0..n);
        Ok((a, uniform_other(n, a, rng)))
    }
}

/// Two distinct uniform responses; chosen = the higher judge score, a tie keeps the first sampled.
pub(super) fn static_random(oracle: &[f32], rng: &mut ChaCha8Rng) -> (usize, usize) {
    let n = oracle.len();
    let a = rng.random_range(0..n);
    let b = uniform_other(n, a, rng);
    if oracle[b] > oracle[a] {
        (b, a)
    } else {
        (a, b)
    }
}

/// The judge scores of a static baseline, checked.
pub(super) fn oracle<'a>(name: &str, c: &CandidateScores<'a>) -> Result<&'a [f32], AcquireError> {
    let o = c.oracle.ok_or_else(|| {
        fail(
            name,
            "needs judge scores (a static baseline reads the oracle, not the model)".into(),
        )
    })?;
    if o.len() != c.mu.len() {
        return Err(fail(
            name,
            format!("{} judge scores for {} responses", o.len(), c.mu.len()),
        ));
    }
    if let Some(i) = o.iter().position(|x| !x.is_finite()) {
        return Err(fail(
            name,
            format!("judge score of response {i} is {}", o[i]),
        ));
    }
    Ok(o)
}

/// 4 distinct uniform responses (fewer when n < 4 in corrected mode); a = the best score among them
/// in draw order (first on ties), b = uniform among the others.
pub(super) fn best_of_four(
    name: &str,
    score: &[f32],
    reference: bool,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), AcquireError> {
    let n = score.len();
    if reference && n < 4 {
        return Err(fail(
            name,
            format!(
                "the reference draws 4 distinct responses and needs n ≥ 4 (n = {n}; use pair_mode: corrected)"
            ),
        ));
    }
    let drawn: Vec<usize> = rand::seq::index::sample(rng, n, n.min(4)).into_vec();
    let k = first_argmax(drawn.iter().map(|&i| score[i]));
    let others: Vec<usize> = drawn
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != k)
        .map(|(_, &i)| i)
        .collect();
    Ok((drawn[k], pick(&others, rng)))
}

/// a = first argmax, b = last argmin (the offline MaxMin's tie rules). For n ≥ 2 they differ:
/// when all scores tie, a = 0 and b = n − 1.
pub(super) fn max_min(score: &[f32]) -> (usize, usize) {
    let a = first_argmax(score.iter().copied());
    let mut b = 0;
    for (i, &x) in score.iter().enumerate() {
        if x <= score[b] {
            b = i;
        }
    }
    (a, b)
}
