//! Uncertainty measures and evaluation metrics derived from per-member rewards
//! (specs/balpm.md §4.1 and §5.1). Everything is in nats and accumulated in f64.

/// `log σ(x)` without overflow.
fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Shannon entropy (nats) of the Bernoulli `σ(logit)`, computed from the logit so that
/// saturated members give exactly 0 instead of `0 · log 0 = NaN`.
pub fn binary_entropy_from_logit(logit: f64) -> f64 {
    let p = sigmoid(logit);
    let h = -(p * log_sigmoid(logit) + (1.0 - p) * log_sigmoid(-logit));
    if h.is_finite() { h.max(0.0) } else { 0.0 }
}

/// The Bradley–Terry Fisher weight `p(1 − p)`, `p = σ(xᵀw)`, of a last-layer feature `x`
/// under final weights `w` (the dot product in f64, `σ` as `1 / (1 + e^(−z))`): what the Laplace
/// posterior and the D-optimal rules weight each comparison by.
///
/// ```
/// let w = activepref_core::prediction::fisher_weight(&[1.0, 2.0], &[0.5, -0.25]);
/// assert_eq!(w, 0.25); // xᵀw = 0, p = ½
/// ```
pub fn fisher_weight(x: &[f32], w: &[f32]) -> f64 {
    let logit: f64 = x
        .iter()
        .zip(w)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum();
    let p = 1.0 / (1.0 + (-logit).exp());
    p * (1.0 - p)
}

/// Binary entropy (nats) of a probability.
fn binary_entropy(p: f64) -> f64 {
    let term = |q: f64| if q > 0.0 { -q * q.ln() } else { 0.0 };
    term(p) + term(1.0 - p)
}

/// Per-member logits `Δ_m(i) = r_m(A_i) − r_m(B_i)` of `E` members on `N` comparisons, and what
/// acquisition derives from them. `p_m(i) = σ(Δ_m(i))` is the member's `P(A ≻ B)`.
///
/// Logits are stored member-major (`[members][rows]`, flattened) in f64; every entropy and BALD
/// figure is in nats. Row and member indices passed to the accessors must be in range, or they
/// panic.
///
/// # Example
///
/// Two members that disagree (`p = 0.9` and `p = 0.1`) on comparison 0 and agree (`p = 0.9`) on
/// comparison 1:
///
/// ```
/// use activepref_core::EnsemblePrediction;
///
/// let logit = |p: f64| (p / (1.0 - p)).ln();
/// // Member-major: member 0's two logits, then member 1's.
/// let pred = EnsemblePrediction::from_logits(2, 2, vec![logit(0.9), logit(0.9), logit(0.1), logit(0.9)]);
/// assert_eq!((pred.members(), pred.rows()), (2, 2));
/// assert!((pred.member_prob(1, 0) - 0.1).abs() < 1e-12);
///
/// // Comparison 0: p̄ = 0.5, so the predictive entropy is ln 2 = 0.693147 nats; each member has
/// // H(0.9) = −0.9 ln 0.9 − 0.1 ln 0.1 = 0.325083 nats; BALD = 0.693147 − 0.325083 = 0.368064.
/// assert!((pred.mean_prob(0) - 0.5).abs() < 1e-12);
/// assert!((pred.predictive_entropy(0) - 2f64.ln()).abs() < 1e-12);
/// assert!((pred.expected_entropy(0) - 0.325083).abs() < 1e-6);
/// assert!((pred.bald(0) - 0.368064).abs() < 1e-6);
/// // Variance of (0.9, 0.1) around 0.5: (0.4² + 0.4²) / 2 = 0.16.
/// assert!((pred.variance(0) - 0.16).abs() < 1e-12);
///
/// // Comparison 1: the members agree, so there is no epistemic uncertainty.
/// assert!(pred.bald(1).abs() < 1e-12);
///
/// // Both labels "A preferred": p̄(chosen) = 0.5 and 0.9, so the log-likelihood is
/// // (ln 0.5 + ln 0.9) / 2 = −0.399254, accuracy 1 (0.5 counts as correct), Brier (0.25 + 0.01) / 2.
/// let m = pred.metrics(&[true, true]);
/// assert!((m.log_likelihood + 0.399254).abs() < 1e-6);
/// assert_eq!(m.accuracy, 1.0);
/// assert!((m.brier - 0.13).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct EnsemblePrediction {
    members: usize,
    rows: usize,
    /// Member-major: `logits[m * rows + i]`.
    logits: Vec<f64>,
}

/// Log-likelihood, accuracy and Brier score of the ensemble mean against labels (§5.1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvalMetrics {
    /// `(1/N) Σ log p̄(chosen)`, natural log, `p̄` clipped at f64 machine epsilon as sklearn does.
    pub log_likelihood: f64,
    /// Share of comparisons with `p̄(chosen) ≥ 0.5` (ties count as correct, as the reference's argmax).
    pub accuracy: f64,
    /// `(1/N) Σ (1 − p̄(chosen))²`.
    pub brier: f64,
}

impl EnsemblePrediction {
    /// From per-member rewards of the A and B sides (`rewards_a[m][i]`, `[members][rows]`):
    /// `Δ_m(i) = rewards_a[m][i] − rewards_b[m][i]`.
    ///
    /// # Panics
    ///
    /// If the two sides have different member counts, or a member's vectors differ in length from
    /// member 0's.
    pub fn from_rewards(rewards_a: &[Vec<f32>], rewards_b: &[Vec<f32>]) -> Self {
        assert_eq!(
            rewards_a.len(),
            rewards_b.len(),
            "one reward vector per member on each side"
        );
        let members = rewards_a.len();
        let rows = rewards_a.first().map_or(0, Vec::len);
        let mut logits = Vec::with_capacity(members * rows);
        for (a, b) in rewards_a.iter().zip(rewards_b) {
            assert!(
                a.len() == rows && b.len() == rows,
                "every member scores every row"
            );
            logits.extend(a.iter().zip(b).map(|(&x, &y)| x as f64 - y as f64));
        }
        Self {
            members,
            rows,
            logits,
        }
    }

    /// From member-major logits directly (`logits[m * rows + i]`; tests, other back-ends).
    ///
    /// # Panics
    ///
    /// If `logits.len() != members * rows`.
    pub fn from_logits(members: usize, rows: usize, logits: Vec<f64>) -> Self {
        assert_eq!(logits.len(), members * rows);
        Self {
            members,
            rows,
            logits,
        }
    }

    /// Number of ensemble members `E` (or MC-dropout realisations).
    pub fn members(&self) -> usize {
        self.members
    }

    /// Number of comparisons `N`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn member_logits(&self, i: usize) -> impl Iterator<Item = f64> + '_ {
        (0..self.members).map(move |m| self.logits[m * self.rows + i])
    }

    /// `p_m(i) = P_m(A ≻ B)`.
    pub fn member_prob(&self, m: usize, i: usize) -> f64 {
        sigmoid(self.logits[m * self.rows + i])
    }

    /// `p̄(i) = (1/E) Σ_m p_m(i)`.
    pub fn mean_prob(&self, i: usize) -> f64 {
        self.member_logits(i).map(sigmoid).sum::<f64>() / self.members as f64
    }

    /// Predictive entropy `H[p̄]`.
    pub fn predictive_entropy(&self, i: usize) -> f64 {
        binary_entropy(self.mean_prob(i))
    }

    /// Expected (aleatoric) entropy `(1/E) Σ_m H[p_m]`.
    pub fn expected_entropy(&self, i: usize) -> f64 {
        self.member_logits(i)
            .map(binary_entropy_from_logit)
            .sum::<f64>()
            / self.members as f64
    }

    /// Epistemic uncertainty (BALD): `H[p̄] − (1/E) Σ_m H[p_m]`, the mutual information between
    /// the label and the ensemble member.
    pub fn bald(&self, i: usize) -> f64 {
        self.predictive_entropy(i) - self.expected_entropy(i)
    }

    /// Population variance (ddof 0) of `p_m(i)` across members.
    pub fn variance(&self, i: usize) -> f64 {
        let mean = self.mean_prob(i);
        self.member_logits(i)
            .map(|l| (sigmoid(l) - mean).powi(2))
            .sum::<f64>()
            / self.members as f64
    }

    /// BALD for every row.
    pub fn bald_all(&self) -> Vec<f64> {
        (0..self.rows).map(|i| self.bald(i)).collect()
    }

    /// Mean over members and rows of the Bradley–Terry loss `−log σ(±Δ_m(i))` (sign by label, nats):
    /// for one member, the validation loss used for early stopping.
    ///
    /// # Panics
    ///
    /// If `a_preferred.len() != self.rows()`.
    pub fn mean_member_nll(&self, a_preferred: &[bool]) -> f64 {
        assert_eq!(a_preferred.len(), self.rows);
        let mut total = 0.0f64;
        for m in 0..self.members {
            for (i, &a) in a_preferred.iter().enumerate() {
                let l = self.logits[m * self.rows + i];
                total -= log_sigmoid(if a { l } else { -l });
            }
        }
        total / (self.members * self.rows).max(1) as f64
    }

    /// Metrics of the ensemble mean against `a_preferred` labels (all NaN when there are no rows).
    ///
    /// # Panics
    ///
    /// If `a_preferred.len() != self.rows()`.
    pub fn metrics(&self, a_preferred: &[bool]) -> EvalMetrics {
        assert_eq!(a_preferred.len(), self.rows);
        if self.rows == 0 {
            // No comparisons, no estimate (an absent OOD split): NaN, never a made-up 0.
            return EvalMetrics {
                log_likelihood: f64::NAN,
                accuracy: f64::NAN,
                brier: f64::NAN,
            };
        }
        let n = self.rows as f64;
        let (mut ll, mut correct, mut brier) = (0.0f64, 0usize, 0.0f64);
        for (i, &a) in a_preferred.iter().enumerate() {
            let p_a = self.mean_prob(i);
            let p = if a { p_a } else { 1.0 - p_a };
            ll += p.clamp(f64::EPSILON, 1.0 - f64::EPSILON).ln();
            correct += usize::from(p >= 0.5);
            brier += (1.0 - p).powi(2);
        }
        EvalMetrics {
            log_likelihood: ll / n,
            accuracy: correct as f64 / n,
            brier: brier / n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logit(p: f64) -> f64 {
        (p / (1.0 - p)).ln()
    }

    #[test]
    fn bald_of_a_known_ensemble() {
        // Two members with p = 0.9 and 0.1: p̄ = 0.5, H[p̄] = ln 2,
        // each member H = −0.9 ln 0.9 − 0.1 ln 0.1 = 0.325082973...
        let pred = EnsemblePrediction::from_logits(2, 1, vec![logit(0.9), logit(0.1)]);
        let h_member = -(0.9f64 * 0.9f64.ln() + 0.1 * 0.1f64.ln());
        assert!((pred.predictive_entropy(0) - 2f64.ln()).abs() < 1e-12);
        assert!((pred.expected_entropy(0) - h_member).abs() < 1e-12);
        assert!((pred.bald(0) - (2f64.ln() - 0.325_082_973_391_448)).abs() < 1e-12);
        assert!((pred.variance(0) - 0.16).abs() < 1e-12);
    }

    #[test]
    fn agreeing_members_have_zero_bald() {
        let pred = EnsemblePrediction::from_logits(3, 1, vec![0.7, 0.7, 0.7]);
        assert!(pred.bald(0).abs() < 1e-15);
        assert!(pred.variance(0) < 1e-30);
    }

    #[test]
    fn saturated_members_do_not_give_nan() {
        let pred = EnsemblePrediction::from_logits(2, 1, vec![800.0, -800.0]);
        assert!((pred.bald(0) - 2f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn metrics_by_hand() {
        // Rows: p̄(A) = 0.8 labelled A, p̄(A) = 0.8 labelled B, p̄(A) = 0.5 labelled B.
        let pred = EnsemblePrediction::from_logits(1, 3, vec![logit(0.8), logit(0.8), 0.0]);
        let m = pred.metrics(&[true, false, false]);
        let ll = (0.8f64.ln() + 0.2f64.ln() + 0.5f64.ln()) / 3.0;
        assert!((m.log_likelihood - ll).abs() < 1e-12);
        assert!((m.accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.brier - (0.04 + 0.64 + 0.25) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn rewards_to_logits() {
        let pred = EnsemblePrediction::from_rewards(&[vec![1.0, 0.0]], &[vec![0.0, 0.0]]);
        assert!((pred.member_prob(0, 0) - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-12);
        assert_eq!(pred.member_prob(0, 1), 0.5);
    }
}
