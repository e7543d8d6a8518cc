//! Policies that need no geometry: uniform sampling and top-B by score (specs/balpm.md §4.2).

use rand_chacha::ChaCha8Rng;

use crate::scores::UncertaintyScore;
use crate::{AcquireError, PoolPolicy, PoolState};

/// Uniform sampling of the batch without replacement.
#[derive(Clone, Copy, Debug, Default)]
pub struct RandomSampling;

impl PoolPolicy for RandomSampling {
    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        state.validate()?;
        let n = state.unlabelled.len();
        let picks = rand::seq::index::sample(rng, n, batch.min(n));
        Ok(picks.into_iter().map(|p| state.unlabelled[p]).collect())
    }
}

/// The paper's "Full Dataset" line (specs/balpm.md §5.4, `al_upperbound_hermes`): one model trained
/// on every comparison of the pool, shown at every round as the upper bound. Its batches are
/// uniform draws that only keep the run's label schedule (and its resume state) like the others';
/// the model never sees them.
#[derive(Clone, Copy, Debug, Default)]
pub struct FullDataset;

impl PoolPolicy for FullDataset {
    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        RandomSampling.select(state, batch, rng)
    }

    fn trains_on_whole_pool(&self) -> bool {
        true
    }
}

/// Top-B by the uncertainty score (`rank` in the reference). With BALD scores this is the paper's
/// "BALD" baseline. Ties go to the earlier candidate.
#[derive(Clone, Copy, Debug, Default)]
pub struct TopScore {
    /// The score to rank by (default BALD).
    pub score: UncertaintyScore,
}

/// Candidate positions sorted by descending score, ties by position.
pub(crate) fn rank_desc(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

impl PoolPolicy for TopScore {
    fn score(&self) -> UncertaintyScore {
        self.score
    }

    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        state.validate()?;
        Ok(rank_desc(state.uncertainty)
            .into_iter()
            .take(batch)
            .map(|p| state.unlabelled[p])
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activepref_core::{FeatureMatrix, PromptFeatures};
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn state<'a>(unl: &'a [usize], u: &'a [f64], feats: &'a PromptFeatures) -> PoolState<'a> {
        PoolState::new(unl, u, &[], feats)
    }

    #[test]
    fn top_score_takes_highest_with_first_index_ties() {
        let f: PromptFeatures = FeatureMatrix::new(6, 1, vec![0.0; 6]).unwrap().into();
        let unl = [5, 1, 2, 4];
        let u = [0.2, 0.5, 0.2, 0.9];
        let picks = TopScore::default()
            .select(&state(&unl, &u, &f), 3, &mut ChaCha8Rng::seed_from_u64(0))
            .unwrap();
        assert_eq!(picks, vec![4, 1, 5]);
    }

    #[test]
    fn nan_score_is_an_error() {
        let f: PromptFeatures = FeatureMatrix::new(2, 1, vec![0.0; 2]).unwrap().into();
        let err = TopScore::default().select(
            &state(&[0, 1], &[0.1, f64::NAN], &f),
            1,
            &mut ChaCha8Rng::seed_from_u64(0),
        );
        assert!(matches!(
            err,
            Err(AcquireError::NonFiniteScore { index: 1, .. })
        ));
    }

    #[test]
    fn random_is_uniform() {
        // 4 candidates, batch 1, 40,000 draws: each frequency within 0.01 of 1/4 (≈ 4.6 standard errors).
        let f: PromptFeatures = FeatureMatrix::new(4, 1, vec![0.0; 4]).unwrap().into();
        let unl = [0, 1, 2, 3];
        let u = [0.0; 4];
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0usize; 4];
        for _ in 0..40_000 {
            counts[RandomSampling
                .select(&state(&unl, &u, &f), 1, &mut rng)
                .unwrap()[0]] += 1;
        }
        for c in counts {
            assert!((c as f64 / 40_000.0 - 0.25).abs() < 0.01, "{counts:?}");
        }
    }

    proptest! {
        #[test]
        fn picks_are_distinct_unlabelled_and_sized(n in 1usize..40, batch in 0usize..50, seed in 0u64..1000,
                                                  scores in proptest::collection::vec(0.0f64..1.0, 40)) {
            let f: PromptFeatures = FeatureMatrix::new(60, 1, vec![0.0; 60]).unwrap().into();
            let unl: Vec<usize> = (0..n).map(|i| i + 20).collect();
            let u = &scores[..n];
            for picks in [
                TopScore::default().select(&state(&unl, u, &f), batch, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap(),
                RandomSampling.select(&state(&unl, u, &f), batch, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap(),
            ] {
                prop_assert_eq!(picks.len(), batch.min(n));
                let set: std::collections::HashSet<_> = picks.iter().collect();
                prop_assert_eq!(set.len(), picks.len());
                prop_assert!(picks.iter().all(|p| unl.contains(p)));
            }
        }
    }
}
