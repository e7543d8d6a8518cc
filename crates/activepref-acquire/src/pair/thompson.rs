//! The Thompson-sampling rules: DTS, DRTS (double reverse) and InfoGain's first arm.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::bounds::Bounds;
use super::{
    CandidateScores, ThompsonDraw, ThompsonParams, fail, first_argmax, sigmoid, uniform_other,
};
use crate::AcquireError;

/// DTS (`reverse = false`) or DRTS: an argmax draw for `a`, then draws for `b` (argmax, or argmin
/// when `reverse`) until `b ≠ a`, at most `max_iterations` times, then a uniform `b ≠ a`.
pub(super) fn double_thompson(
    name: &str,
    c: &CandidateScores<'_>,
    s: &[f32],
    p: &ThompsonParams,
    reference: bool,
    reverse: bool,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), AcquireError> {
    let a = thompson(name, c, s, p, reference, false, rng)?;
    for _ in 0..p.max_iterations {
        let b = thompson(name, c, s, p, reference, reverse, rng)?;
        if b != a {
            return Ok((a, b));
        }
    }
    Ok((a, uniform_other(c.mu.len(), a, rng)))
}

/// InfoGain: a Thompson draw for `a`, then the widest InfoMax interval against `a`.
pub(super) fn info_gain(
    name: &str,
    c: &CandidateScores<'_>,
    bounds: &Bounds,
    p: &ThompsonParams,
    rng: &mut ChaCha8Rng,
) -> Result<(usize, usize), AcquireError> {
    let a = thompson(name, c, &bounds.s, p, bounds.reference, false, rng)?;
    let (l, u) = bounds.scaled(c.mu, p.beta);
    let b = first_argmax((0..c.mu.len()).map(|j| {
        if j == a {
            -1e7
        } else {
            sigmoid(u[a] - l[j]) - sigmoid(l[a] - u[j])
        }
    }));
    Ok((a, b))
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
    let draw = if reference {
        ThompsonDraw::Uniform
    } else {
        p.draw
    };
    let sampled: Vec<f32> = match draw {
        ThompsonDraw::Uniform => {
            c.mu.iter()
                .zip(s)
                .map(|(m, s)| sign * m + p.beta * (rng.random::<f32>() * 2.0 - 1.0) * s)
                .collect()
        }
        ThompsonDraw::Gaussian => {
            c.mu.iter()
                .zip(s)
                .map(|(m, s)| {
                    let z: f32 = StandardNormal.sample(rng);
                    sign * m + p.beta * z * s
                })
                .collect()
        }
        ThompsonDraw::Member => {
            let members = c
                .members
                .filter(|m| !m.is_empty())
                .ok_or_else(|| fail(name, "draw: member needs per-member rewards".into()))?;
            let k = rng.random_range(0..members.len());
            if members[k].len() != c.mu.len() {
                return Err(fail(
                    name,
                    format!(
                        "member {k} scores {} responses, not {}",
                        members[k].len(),
                        c.mu.len()
                    ),
                ));
            }
            if let Some(i) = members[k].iter().position(|x| !x.is_finite()) {
                return Err(fail(
                    name,
                    format!("member {k}'s reward of response {i} is {}", members[k][i]),
                ));
            }
            members[k].iter().map(|r| sign * r).collect()
        }
    };
    Ok(first_argmax(sampled))
}
