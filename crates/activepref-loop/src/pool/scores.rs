//! Scores of the pool loop that read the fitted model beyond its predictions: the latent-reward
//! uncertainty and the last-layer embedding of the diverse-batch baselines.

use super::*;

impl PoolLoop<'_> {
    /// Latent Reward Uncertainty of the unlabelled pool (specs/balpm.md §4.5): the members' mean
    /// reward of each side of every labelled and unlabelled comparison (labelled sides by the
    /// oracle's answers, dropped ties left out); `reference` scores each candidate's preferred side
    /// as chosen, as the reference does, reading the dataset's hidden label (not an oracle's).
    pub(super) fn latent_reward_score(
        &self,
        fitted: &FittedEnsemble,
        reference: bool,
    ) -> Result<Vec<f64>, AcquireError> {
        let pool = &self.bench.pool;
        let mean = |x: &activepref_core::FeatureMatrix, idx: &[usize]| -> Vec<f64> {
            let r = fitted.rewards_at(x, Some(idx));
            let e = r.len() as f64;
            (0..idx.len())
                .map(|i| r.iter().map(|m| f64::from(m[i])).sum::<f64>() / e)
                .collect()
        };
        let (la, lb) = (
            mean(&pool.pair_a, &self.labelled),
            mean(&pool.pair_b, &self.labelled),
        );
        let (mut chosen, mut rejected) =
            (Vec::with_capacity(la.len()), Vec::with_capacity(la.len()));
        for (k, &i) in self.labelled.iter().enumerate() {
            // A dropped or kept tie names no side: it is neither chosen nor rejected.
            let Answer::Prefers(a_preferred) = self.answer(i) else {
                continue;
            };
            let (c, r) = if a_preferred {
                (la[k], lb[k])
            } else {
                (lb[k], la[k])
            };
            chosen.push(c);
            rejected.push(r);
        }
        let (ca, cb) = (
            mean(&pool.pair_a, &self.unlabelled),
            mean(&pool.pair_b, &self.unlabelled),
        );
        let preferred: Vec<bool> = self
            .unlabelled
            .iter()
            .map(|&i| pool.a_preferred[i])
            .collect();
        activepref_acquire::latent_reward_uncertainty(&activepref_acquire::LatentRewardInputs {
            labelled_chosen: &chosen,
            labelled_rejected: &rejected,
            candidate_a: &ca,
            candidate_b: &cb,
            candidate_a_preferred: reference.then_some(preferred.as_slice()),
        })
    }

    /// The fitted members' last-layer embedding of the unlabelled and labelled comparisons (for
    /// BADGE and Fisher).
    pub(super) fn last_layer_embedding(
        &self,
        fitted: &FittedEnsemble,
    ) -> Result<LastLayerEmbedding, AcquireError> {
        let pool = &self.bench.pool;
        let rows: Vec<usize> = self
            .unlabelled
            .iter()
            .chain(&self.labelled)
            .copied()
            .collect();
        let view = |x| {
            fitted
                .last_layer(x, Some(&rows))
                .map_err(|e| AcquireError::Rule {
                    policy: "last-layer embedding".into(),
                    why: e.to_string(),
                })
        };
        let (a, weights) = view(&pool.pair_a)?;
        let (b, _) = view(&pool.pair_b)?;
        LastLayerEmbedding::from_inputs(&rows, &a, &b, &weights)
    }
}
