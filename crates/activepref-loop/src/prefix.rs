//! Prefix evaluation of a pair-selection run (specs/activeuf.md §5.4): what do the first k acquired
//! pairs teach a fresh reward model?
//!
//! The reference cuts each acquired dataset into loop-order prefixes (a prefix of k pairs is what
//! the loop would have produced with a budget of k labels, since the model at step t saw only the
//! earlier pairs), trains a fresh model on each and compares it with the static baselines trained
//! on all of their pairs. Here the fresh model is the experiment's `model` ensemble, trained from
//! scratch (the `model.train` settings; early stopping reads the validation prompts' judged pairs,
//! the same for every method), and it is scored on every response pair of the held-out prompts,
//! ordered by the **latent** reward where the benchmark knows it (the synthetic stream) and by the
//! judge otherwise. Ties of the target are left out.

use activepref_core::FieldError;
use activepref_core::PairBenchmark;
use activepref_model::EnsembleConfig;
use serde::{Deserialize, Serialize};

use crate::LoopError;
use crate::pair::{AcquiredPair, ResponsePairs, pairs_split};

/// `pair_loop.prefix_eval`: which prefixes to evaluate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixEvalConfig {
    /// Prefix sizes k in pairs, increasing, at most the pairs the loop acquires (one per prompt of
    /// its rounds; the loop's check refuses a larger one); the whole acquired set is always
    /// evaluated too.
    pub sizes: Vec<usize>,
}

impl PrefixEvalConfig {
    /// Checks the prefix sizes.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on `sizes` when it is empty, starts at 0 or is not strictly increasing.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.sizes.is_empty() {
            return Err(FieldError::new(
                "sizes",
                "is empty; list prefix sizes in pairs, e.g. [64, 128, 256] (the whole set is always added)",
            ));
        }
        if self.sizes[0] == 0 {
            return Err(FieldError::new("sizes", "a prefix needs at least 1 pair"));
        }
        if self.sizes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(FieldError::new("sizes", "must be strictly increasing"));
        }
        Ok(())
    }

    /// The sizes evaluated for a run that acquired `acquired` pairs.
    pub fn sizes_for(&self, acquired: usize) -> Vec<usize> {
        let mut k: Vec<usize> = self
            .sizes
            .iter()
            .copied()
            .filter(|&k| k < acquired)
            .collect();
        if acquired > 0 {
            k.push(acquired);
        }
        k
    }
}

/// What the held-out pairs are ordered by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrefixTarget {
    /// The latent reward (synthetic benchmarks).
    Latent,
    /// The judge's scores (real data).
    Judge,
}

/// One prefix's evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrefixRecord {
    /// k: the first k acquired pairs, in loop order.
    pub labels: usize,
    /// What the held-out pairs were ordered by.
    pub target: PrefixTarget,
    /// Mean held-out log-likelihood of the target's preferences under the ensemble mean (nats).
    pub prefix_log_likelihood: f64,
    /// Held-out accuracy (share of pairs, in `[0, 1]`).
    pub prefix_accuracy: f64,
    /// Held-out Brier score.
    pub prefix_brier: f64,
}

/// The round index the prefix fits use in their random streams, far from any loop round.
const PREFIX_ROUNDS: u64 = 1 << 32;

/// Trains a fresh model on each prefix of `acquired` and scores it on the held-out prompts.
///
/// # Errors
///
/// [`LoopError::Model`] when a prefix's fit fails (e.g. an empty or diverging training set).
pub fn evaluate_prefixes(
    bench: &PairBenchmark,
    model: &EnsembleConfig,
    acquired: &[AcquiredPair],
    cfg: &PrefixEvalConfig,
    run_seed: u64,
) -> Result<Vec<PrefixRecord>, LoopError> {
    let latent = bench.heldout.iter().all(|p| p.latent.is_some());
    let target = if latent {
        PrefixTarget::Latent
    } else {
        PrefixTarget::Judge
    };
    let heldout = ResponsePairs::new(&bench.heldout, |c| {
        c.latent.as_deref().filter(|_| latent).unwrap_or(&c.judge)
    });
    let validation = pairs_split(
        &bench.validation,
        bench.validation.iter().enumerate().flat_map(|(p, c)| {
            c.judged_pairs()
                .into_iter()
                .map(move |(i, j, ip)| (p, i, j, ip))
        }),
    );
    cfg.sizes_for(acquired.len())
        .into_iter()
        .map(|k| {
            let train = pairs_split(
                &bench.stream,
                acquired[..k]
                    .iter()
                    .map(|p| (p.prompt, p.chosen, p.rejected, true)),
            );
            let fitted = model.fit(&train, &validation, run_seed, PREFIX_ROUNDS + k as u64)?;
            let m = heldout.metrics(&fitted);
            Ok(PrefixRecord {
                labels: k,
                target,
                prefix_log_likelihood: m.log_likelihood,
                prefix_accuracy: m.accuracy,
                prefix_brier: m.brier,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pair::tests::learning_model;
    use crate::pair::{PairLoop, PairLoopConfig};
    use activepref_acquire::{PairMode, PairPolicySpec};
    use activepref_data::synthetic_pairs::SyntheticPairConfig;

    #[test]
    fn sizes_are_checked_and_the_whole_set_is_added() {
        let cfg = PrefixEvalConfig {
            sizes: vec![10, 20, 40],
        };
        assert!(cfg.validate().is_ok());
        assert_eq!(cfg.sizes_for(30), vec![10, 20, 30]);
        assert_eq!(cfg.sizes_for(40), vec![10, 20, 40]);
        assert_eq!(cfg.sizes_for(0), Vec::<usize>::new());
        for bad in [vec![], vec![0, 3], vec![5, 5]] {
            assert_eq!(
                PrefixEvalConfig { sizes: bad }
                    .validate()
                    .unwrap_err()
                    .field,
                "sizes"
            );
        }
    }

    #[test]
    fn prefixes_of_the_judges_best_pairs_teach_the_latent_order() {
        let bench = SyntheticPairConfig {
            prompts: 120,
            heldout_prompts: 30,
            validation_prompts: 20,
            ..Default::default()
        }
        .generate()
        .unwrap();
        let model = learning_model(3);
        let cfg = PairLoopConfig {
            batch_prompts: 40,
            rounds: None,
            replay_factor: None,
            refit: None,
            prefix_eval: None,
            cold_start: Default::default(),
            oracle: Default::default(),
        };
        // Static MaxMin's pairs (judge's best vs worst) need no model: the loop is cheap.
        let spec = PairPolicySpec::StaticMaxmin {};
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 5);
        while !run.finished() {
            run.step().unwrap();
        }
        let eval = PrefixEvalConfig { sizes: vec![4, 60] };
        let records = evaluate_prefixes(&bench, &model, &run.acquired, &eval, 5).unwrap();
        assert_eq!(
            records.iter().map(|r| r.labels).collect::<Vec<_>>(),
            vec![4, 60, 120]
        );
        assert!(records.iter().all(|r| r.target == PrefixTarget::Latent));
        // More pairs, a better model of the latent order; the whole set is well above chance.
        assert!(records[2].prefix_accuracy > records[0].prefix_accuracy);
        assert!(records[2].prefix_accuracy > 0.65, "{records:?}");
        // Reproducible.
        assert_eq!(
            evaluate_prefixes(&bench, &model, &run.acquired, &eval, 5).unwrap(),
            records
        );
    }
}
