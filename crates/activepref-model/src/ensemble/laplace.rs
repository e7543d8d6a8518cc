//! A Bayesian last layer with a Laplace (Gaussian) posterior (issue 23;
//! `model.backend: { kind: laplace_last_layer }`): one trained reward MLP whose final linear
//! weights get a Gaussian posterior, and a few weight samples from it that act as the "members"
//! every score reads (MacKay 1992; Daxberger et al., "Laplace Redux", NeurIPS 2021, last-layer
//! Laplace with the generalised Gauss–Newton; the posterior rewarduq pairs with ensembles).
//!
//! With `φ(x)` the final layer's input (`h` wide) and the trained (MAP) weights `w`, the logit of
//! "A preferred" is `wᵀ g`, `g = φ(A) − φ(B)` (the bias cancels). The Bradley–Terry likelihood's
//! Hessian (equal to its Fisher and its Gauss–Newton matrix for a logistic link) gives the
//! posterior precision
//!
//! `H = λ I + Σ_i p_i (1 − p_i) g_i g_iᵀ`, `p_i = σ(wᵀ g_i)`,
//!
//! over the training comparisons, `λ` the prior precision. With the Cholesky factor `H = L Lᵀ`,
//! sample `s` is `w_s = w + L⁻ᵀ z_s`, `z_s ~ N(0, I)` from
//! `[run seed, Model, round, s, model_draw::LAPLACE]`; its reward is `φ(x)ᵀ w_s + b`.
//! Cost: `O(n h²)` for `H`, `O(h³)` for the factor (`h = 256` in the paper's MLP).

use activepref_core::FeatureMatrix;
use activepref_core::prediction::fisher_weight;
use activepref_core::seeds::{Stream, model_draw, rng_for};
use rand_distr::{Distribution, StandardNormal};

use crate::mlp::{DenseRewardMlp, DenseScratch};

/// The fitted posterior: the network as plain arrays, its final bias, and the weight samples.
#[derive(Debug)]
pub struct LaplaceHead {
    pub(super) dense: DenseRewardMlp,
    pub(super) bias: f32,
    /// `[sample]`: `h` weights each.
    pub(super) samples: Vec<Vec<f32>>,
}

/// `H = λ I + Σ_i p_i (1 − p_i) g_i g_iᵀ` (`h × h`, row-major, f64), `g` holding `rows × h`
/// differences and `w` the MAP weights (`h`).
///
/// # Panics
///
/// If `w.len() != h` or `g.len()` is not a multiple of `h`.
pub fn posterior_precision(g: &[f32], h: usize, w: &[f32], lambda: f64) -> Vec<f64> {
    assert!(
        w.len() == h && g.len().is_multiple_of(h.max(1)),
        "g is rows × h, w is h"
    );
    let mut precision = vec![0.0; h * h];
    for i in 0..h {
        precision[i * h + i] = lambda;
    }
    for row in g.chunks(h.max(1)) {
        let weight = fisher_weight(row, w);
        for (a, &ga) in row.iter().enumerate() {
            let scaled = weight * f64::from(ga);
            for (b, &gb) in row.iter().enumerate() {
                precision[a * h + b] += scaled * f64::from(gb);
            }
        }
    }
    precision
}

/// The lower Cholesky factor `L` of a symmetric positive-definite `n × n` matrix (`A = L Lᵀ`,
/// row-major, the upper triangle zero); `None` when `A` is not positive definite or not
/// `n × n`.
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    if a.len() != n * n {
        return None;
    }
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - dot;
                if !(d > 0.0 && d.is_finite()) {
                    return None;
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - dot) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// `w + L⁻ᵀ z`: back substitution of `Lᵀ x = z`, then the shift (`w`, `z`: `n`; `l`: `n × n`).
///
/// # Panics
///
/// If the lengths do not agree.
pub fn sample_from(w: &[f32], l: &[f64], z: &[f64]) -> Vec<f32> {
    let n = w.len();
    assert!(
        z.len() == n && l.len() == n * n,
        "w and z are n, l is n × n"
    );
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let tail: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (z[i] - tail) / l[i * n + i];
    }
    w.iter()
        .zip(&x)
        .map(|(&m, &d)| (f64::from(m) + d) as f32)
        .collect()
}

impl LaplaceHead {
    /// The posterior of `dense`'s final weights given the training comparisons' final-layer
    /// inputs `phi_a`, `phi_b` (`rows × h`; none for the untrained prior), and `samples` weight
    /// samples drawn for `(run_seed, round)`.
    ///
    /// # Errors
    ///
    /// A message when `H` is not positive definite (non-finite inputs).
    pub fn fit(
        dense: DenseRewardMlp,
        (phi_a, phi_b): (&[f32], &[f32]),
        lambda: f64,
        samples: usize,
        (run_seed, round): (u64, u64),
    ) -> Result<Self, String> {
        let w = dense.final_weights().to_vec();
        let h = w.len();
        let g: Vec<f32> = phi_a.iter().zip(phi_b).map(|(a, b)| a - b).collect();
        let precision = posterior_precision(&g, h, &w, lambda);
        let l = cholesky(&precision, h).ok_or_else(|| {
            "the last layer's posterior precision is not positive definite (non-finite features or weights)".to_string()
        })?;
        let samples = (0..samples)
            .map(|s| {
                let mut rng = rng_for(
                    run_seed,
                    Stream::Model,
                    &[round, s as u64, model_draw::LAPLACE],
                );
                let z: Vec<f64> = (0..h).map(|_| StandardNormal.sample(&mut rng)).collect();
                sample_from(&w, &l, &z)
            })
            .collect();
        let bias = dense.final_bias();
        Ok(Self {
            dense,
            bias,
            samples,
        })
    }

    /// The final-layer inputs of `rows` rows stored in `x` (`rows × h`).
    pub(super) fn features(&self, x: &[f32], rows: usize, scratch: &mut DenseScratch) -> Vec<f32> {
        self.dense.final_inputs(x, rows, &[], scratch)
    }

    /// Sample `s`'s rewards `φᵀ w_s + b` of the rows of `phi` (`rows × h`), accumulated in f64.
    pub(super) fn rewards(&self, s: usize, phi: &FeatureMatrix) -> Vec<f32> {
        let w = &self.samples[s];
        (0..phi.rows())
            .map(|i| {
                let dot: f64 = phi
                    .row(i)
                    .iter()
                    .zip(w)
                    .map(|(&x, &v)| f64::from(x) * f64::from(v))
                    .sum();
                (dot + f64::from(self.bias)) as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// By hand, h = 2, λ = 1, w = 0 (so p = ½, weight ¼): g = (2, 0) and (1, 1) give
    /// H = I + ¼ [[4, 0], [0, 0]] + ¼ [[1, 1], [1, 1]] = [[2.25, 0.25], [0.25, 1.25]].
    #[test]
    fn precision_by_hand() {
        let h = posterior_precision(&[2.0, 0.0, 1.0, 1.0], 2, &[0.0, 0.0], 1.0);
        assert_eq!(h, vec![2.25, 0.25, 0.25, 1.25]);
    }

    /// L Lᵀ = A, and Lᵀ (w_s − w) = z: the sample's covariance is H⁻¹.
    #[test]
    fn factor_and_sample_invert_the_precision() {
        let a = [2.25, 0.25, 0.25, 1.25];
        let l = cholesky(&a, 2).unwrap();
        assert_eq!(l[1], 0.0);
        for i in 0..2 {
            for j in 0..2 {
                let v: f64 = (0..2).map(|k| l[i * 2 + k] * l[j * 2 + k]).sum();
                assert!((v - a[i * 2 + j]).abs() < 1e-12);
            }
        }
        // l = [[1.5, 0], [1/6, sqrt(1.25 − 1/36)]].
        assert!((l[0] - 1.5).abs() < 1e-15 && (l[2] - 1.0 / 6.0).abs() < 1e-15);
        let (w, z) = ([0.5f32, -1.0], [0.3, -0.7]);
        let s = sample_from(&w, &l, &z);
        let d = [f64::from(s[0] - w[0]), f64::from(s[1] - w[1])];
        // Lᵀ d = z: row 0 of Lᵀ is (l00, l10), row 1 is (0, l11).
        assert!((l[0] * d[0] + l[2] * d[1] - z[0]).abs() < 1e-6);
        assert!((l[3] * d[1] - z[1]).abs() < 1e-6);
        assert_eq!(
            cholesky(&[1.0, 2.0, 2.0, 1.0], 2),
            None,
            "not positive definite"
        );
    }
}
