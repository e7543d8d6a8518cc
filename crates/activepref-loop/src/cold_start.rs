//! How the pool loop picks its initial labelled set, and the pair loop its first batch of
//! prompts (issue 23): `loop.cold_start` and `pair_loop.cold_start` in an experiment file.

use activepref_acquire::{k_center_greedy, kmeans_pp_seeds};
use activepref_core::PromptFeatures;
use activepref_core::seeds::{Stream, initial_draw, rng_for};
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// The initial labelled set's rule. Every rule draws from the run's shuffled (and capped) pool, so
/// the candidates and their order are the same whatever the rule.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumMessage,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ColdStart {
    /// The first `initial_labels` comparisons of the shuffled pool (both papers).
    #[default]
    #[strum(
        message = "the first initial_labels comparisons of the run's shuffled pool (both papers)"
    )]
    Random,
    /// k-means++ seeding on the prompt features: one pick per seeded cluster.
    #[strum(
        message = "k-means++ seeding (Arthur & Vassilvitskii 2007) on the prompt features: one comparison per seeded cluster, the first uniform"
    )]
    Kmeans,
    /// Greedy k-center on the prompt features.
    #[strum(
        message = "greedy k-center (Gonzalez 1985) on the prompt features: each pick the comparison farthest from the picks so far, the first uniform"
    )]
    Kcenter,
}

impl ColdStart {
    /// True for `random` (serialised as nothing, so run ids do not change).
    pub fn is_random(&self) -> bool {
        *self == ColdStart::Random
    }

    /// The `loop.cold_start` spelling.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// One line on what the rule does.
    pub fn summary(self) -> &'static str {
        strum::EnumMessage::get_message(&self).unwrap_or_default()
    }

    /// Splits the shuffled pool `order` into the initial labelled set (`k` comparisons, in pick
    /// order) and the rest (in `order`'s order). `prompt` holds every pool row's prompt vector;
    /// the distances are Euclidean, accumulated in f64. Draws from
    /// `[run seed, Stream::InitialSet, initial_draw::COLD_START]`.
    ///
    /// # Panics
    ///
    /// If an entry of `order` has no row in `prompt`.
    pub fn split(
        self,
        order: Vec<usize>,
        k: usize,
        prompt: &PromptFeatures,
        run_seed: u64,
    ) -> (Vec<usize>, Vec<usize>) {
        let k = k.min(order.len());
        let mut rng = rng_for(run_seed, Stream::InitialSet, &[initial_draw::COLD_START]);
        let dist2 = |i: usize, j: usize| -> f64 {
            prompt
                .row(i)
                .iter()
                .zip(prompt.row(j))
                .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                .sum()
        };
        let picks: Vec<usize> = match self {
            ColdStart::Random => {
                let mut order = order;
                let rest = order.split_off(k);
                return (order, rest);
            }
            ColdStart::Kcenter => k_center_greedy(&order, &[], k, &dist2, &mut rng),
            ColdStart::Kmeans => {
                if k == 0 {
                    vec![]
                } else {
                    let first = rng.random_range(0..order.len());
                    let by_position = |a: usize, b: usize| dist2(order[a], order[b]);
                    kmeans_pp_seeds(order.len(), k, first, &by_position, &mut rng)
                        .into_iter()
                        .map(|p| order[p])
                        .collect()
                }
            }
        };
        let taken: std::collections::HashSet<usize> = picks.iter().copied().collect();
        let rest = order.into_iter().filter(|i| !taken.contains(i)).collect();
        (picks, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activepref_core::FeatureMatrix;

    fn prompts(x: &[f32]) -> PromptFeatures {
        FeatureMatrix::new(x.len(), 1, x.to_vec()).unwrap().into()
    }

    /// Prompts at 0, 0, 0, 10, 10, 20 (three clusters of identical prompts): k-center and
    /// k-means++ both cover the three distinct prompts before any repeat; random keeps the order.
    #[test]
    fn diverse_starts_cover_every_cluster() {
        let p = prompts(&[0.0, 0.0, 0.0, 10.0, 10.0, 20.0]);
        let order = vec![2, 0, 4, 1, 5, 3];
        assert_eq!(
            ColdStart::Random.split(order.clone(), 3, &p, 1),
            (vec![2, 0, 4], vec![1, 5, 3])
        );
        for rule in [ColdStart::Kcenter, ColdStart::Kmeans] {
            for seed in 0..30 {
                let (init, rest) = rule.split(order.clone(), 3, &p, seed);
                let mut values: Vec<f32> = init.iter().map(|&i| p.row(i)[0]).collect();
                values.sort_by(f32::total_cmp);
                assert_eq!(values, vec![0.0, 10.0, 20.0], "{rule:?} seed {seed}");
                assert_eq!(init.len() + rest.len(), 6);
                assert!(rest.iter().all(|i| !init.contains(i)));
                // The rest keeps the shuffled order.
                let positions: Vec<usize> = rest
                    .iter()
                    .map(|i| order.iter().position(|o| o == i).unwrap())
                    .collect();
                assert!(positions.windows(2).all(|w| w[0] < w[1]));
            }
        }
    }

    /// Whatever first pick the seed draws, k-center's second pick is the prompt farthest from it
    /// (ties to the earlier in the order), recomputed here by brute force.
    #[test]
    fn k_center_after_its_first_pick_is_farthest_first() {
        let p = prompts(&[0.0, 4.0, 9.0, 1.0]);
        let order = vec![0, 1, 2, 3];
        for seed in 0..20 {
            let (init, _) = ColdStart::Kcenter.split(order.clone(), 3, &p, seed);
            let d = |a: usize, b: usize| (p.row(a)[0] - p.row(b)[0]).abs();
            let second = *order
                .iter()
                .filter(|&&i| i != init[0])
                .max_by(|&&a, &&b| d(a, init[0]).total_cmp(&d(b, init[0])).then(b.cmp(&a)))
                .unwrap();
            assert_eq!(init[1], second, "seed {seed}");
        }
        assert_eq!(
            ColdStart::Kmeans.split(order, 0, &p, 1).0,
            Vec::<usize>::new()
        );
    }
}
