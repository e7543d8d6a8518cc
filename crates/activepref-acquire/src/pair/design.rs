//! D-optimal pair selection on the last layer's Fisher information, pair setting (Shen, Sun &
//! Ton, "Active Reward Modeling: Adaptive Preference Labeling for Large Language Model
//! Alignment", ICML 2025, ARM-FI): the pool rule [`crate::FisherDOptimal`] asked, per prompt,
//! which of its `n(n − 1)/2` pairs adds most to `Σ_m ln det A_m`.

use activepref_core::FeatureMatrix;

use crate::AcquireError;

/// What the D-optimal pair rule reads of one prompt, per draw `m` of the reward model.
#[derive(Clone, Copy, Debug)]
pub struct PairDesign<'a> {
    /// `[draw]`: the final layer's inputs `φ_m` of the prompt's `n` responses (`n × h`).
    pub features: &'a [FeatureMatrix],
    /// `[draw]`: the final layer's weights `w_m` (`h`).
    pub weights: &'a [Vec<f32>],
    /// `[draw]`: `A_m⁻¹`, the inverse of `λI + Σ p(1 − p) g gᵀ` over the pairs acquired before
    /// this batch (`h × h`, row-major; see [`crate::inverse_information`]).
    pub inverse_information: &'a [Vec<f64>],
}

/// The pair `(i, j)`, `i < j`, of largest gain `Σ_m ln(1 + p_m(1 − p_m) gᵀ A_m⁻¹ g)`,
/// `g = φ_m(i) − φ_m(j)`, `p_m = σ(w_mᵀ g)`; ties go to the first pair in `(i, j)` order.
pub(super) fn d_optimal_pair(
    name: &str,
    n: usize,
    d: &PairDesign<'_>,
) -> Result<(usize, usize), AcquireError> {
    let bad = |why: String| AcquireError::Rule {
        policy: name.to_string(),
        why,
    };
    let draws = d.weights.len();
    if draws == 0 || d.features.len() != draws || d.inverse_information.len() != draws {
        return Err(bad(format!(
            "{} feature sets, {} weight vectors and {} inverse information matrices: one of each per draw is needed",
            d.features.len(),
            draws,
            d.inverse_information.len()
        )));
    }
    // v_m(i) = A_m⁻¹ φ_m(i) and the quadratic forms φ_m(i)ᵀ A_m⁻¹ φ_m(j), per draw.
    let mut quad = Vec::with_capacity(draws);
    for m in 0..draws {
        let (phi, inv) = (&d.features[m], &d.inverse_information[m]);
        let h = d.weights[m].len();
        if phi.rows() != n || phi.dim() != h || inv.len() != h * h {
            return Err(bad(format!(
                "draw {m}: features {}×{}, weights {h}, inverse {} entries; expected {n}×{h} and {h}²",
                phi.rows(),
                phi.dim(),
                inv.len()
            )));
        }
        let v: Vec<Vec<f64>> = (0..n)
            .map(|i| {
                inv.chunks(h)
                    .map(|row| {
                        row.iter()
                            .zip(phi.row(i))
                            .map(|(a, &x)| a * f64::from(x))
                            .sum()
                    })
                    .collect()
            })
            .collect();
        let q: Vec<f64> = (0..n * n)
            .map(|k| {
                let (i, j) = (k / n, k % n);
                phi.row(i)
                    .iter()
                    .zip(&v[j])
                    .map(|(&x, y)| f64::from(x) * y)
                    .sum()
            })
            .collect();
        quad.push(q);
    }
    let mut best: Option<((usize, usize), f64)> = None;
    for i in 0..n {
        for j in i + 1..n {
            let gain: f64 = (0..draws)
                .map(|m| pair_gain(d, &quad[m], m, (i, j), n))
                .sum();
            if !gain.is_nan() && best.is_none_or(|(_, g)| gain > g) {
                best = Some(((i, j), gain));
            }
        }
    }
    best.map(|(pair, _)| pair)
        .ok_or_else(|| bad("every pair's gain is NaN (non-finite features)".into()))
}

/// Draw `m`'s term `ln(1 + p(1 − p) gᵀ A⁻¹ g)` for the pair `(i, j)`, from the draw's quadratic
/// forms `q` (`n × n`, `q[i·n + j] = φ(i)ᵀ A⁻¹ φ(j)`).
fn pair_gain(d: &PairDesign<'_>, q: &[f64], m: usize, (i, j): (usize, usize), n: usize) -> f64 {
    let (phi, w) = (&d.features[m], &d.weights[m]);
    let logit: f64 = phi
        .row(i)
        .iter()
        .zip(phi.row(j))
        .zip(w)
        .map(|((&a, &b), &v)| f64::from(a - b) * f64::from(v))
        .sum();
    let p = 1.0 / (1.0 + (-logit).exp());
    let form = q[i * n + i] - q[i * n + j] - q[j * n + i] + q[j * n + j];
    (p * (1.0 - p) * form.max(0.0)).ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// h = 2, one draw, weights 0 (p = ½, weight ¼), A⁻¹ = diag(1, ¼) (information diag(1, 4)).
    /// Responses at (0, 0), (2, 0), (0, 2), (1, 1): by hand, pair (0, 1) has g = (−2, 0), form 4,
    /// gain ln 2; (0, 2) form 1, ln 1.25; (1, 2) g = (2, −2), form 5, ln 2.25 — the largest;
    /// (0, 3) 1.25, (1, 3) 1.25, (2, 3) 1.25.
    #[test]
    fn the_largest_gain_by_hand() {
        let phi = FeatureMatrix::new(4, 2, vec![0.0, 0.0, 2.0, 0.0, 0.0, 2.0, 1.0, 1.0]).unwrap();
        let d = PairDesign {
            features: std::slice::from_ref(&phi),
            weights: &[vec![0.0, 0.0]],
            inverse_information: &[vec![1.0, 0.0, 0.0, 0.25]],
        };
        assert_eq!(d_optimal_pair("fisher", 4, &d).unwrap(), (1, 2));
        let no_draws = PairDesign {
            features: &[],
            weights: &[],
            inverse_information: &[],
        };
        assert!(d_optimal_pair("fisher", 4, &no_draws).is_err());
    }
}
