//! BAL-PM's pool-based loop (specs/balpm.md §3): [`PoolLoop`], its sizes ([`LoopConfig`]) and
//! what each round records ([`RoundRecord`], [`RoundTiming`]).

use activepref_acquire::AcquireError;
use activepref_model::{FittedEnsemble, TrainingStrategy};

use crate::LoopError;
use crate::oracle::Answer;
use crate::records::{Evaluation, LoopConfig, RoundRecord, RoundTiming};
use crate::stopping::{STOPPING_SAMPLE, cohens_kappa};
use std::collections::HashSet;
use std::time::Instant;

use std::sync::Arc;

mod labels;
mod scores;

use activepref_acquire::{
    LastLayerEmbedding, PoolPolicy, PoolState, PromptKnnIndex, UncertaintyScore,
};
use activepref_core::EnsemblePrediction;
use activepref_core::seeds::{Stream, initial_draw, policy_draw, rng_for};
use activepref_core::{PoolBenchmark, PoolSplit};
use activepref_model::EnsembleConfig;
use rand::seq::SliceRandom;

/// The state of a run between rounds.
pub struct PoolLoop<'a> {
    bench: &'a PoolBenchmark,
    model: &'a EnsembleConfig,
    config: &'a LoopConfig,
    run_seed: u64,
    /// The validation comparisons early stopping reads when `validation_size` caps them (a
    /// seeded subset); `None`: the benchmark's whole split ([`Self::validation`]).
    validation_subset: Option<PoolSplit>,
    /// Labelled pool indices, in acquisition order.
    pub labelled: Vec<usize>,
    /// Unlabelled pool indices, in the run's candidate order.
    pub unlabelled: Vec<usize>,
    /// Next round to run.
    pub round: usize,
    /// The exact kNN index of the pool's prompt table, shared by every run of an experiment.
    prompt_index: Option<Arc<PromptKnnIndex>>,
    /// The "full dataset" model's test and OOD metrics and validation loss, fitted once.
    whole_pool: Option<Evaluation>,
    /// The last round's ensemble, which the next round continues from under
    /// `train.strategy: warm_start` (`None` otherwise, and before round 0).
    previous: Option<FittedEnsemble>,
    /// The oracle's answer to every pool comparison (`None` for a dropped tie), drawn on first
    /// use; `None` under the default oracle, whose answers are the dataset's labels.
    answers: Option<Vec<Answer>>,
    /// The fixed pool comparisons on which successive models' predictions are compared (the
    /// last [`STOPPING_SAMPLE`] of the pool's shuffled order that start unlabelled).
    stopping_sample: Vec<usize>,
    /// The previous round's predicted preferences on `stopping_sample`.
    stopping_previous: Option<Vec<bool>>,
}

impl<'a> PoolLoop<'a> {
    /// A fresh run: the pool is shuffled with the run seed, optionally capped, and
    /// `initial_labels` of its comparisons are labelled: the first ones, or those the
    /// configured [`ColdStart`](crate::ColdStart) picks. Under `validation_size` the validation
    /// subset is drawn here too (from its own seed path, so no pool draw changes).
    pub fn new(
        bench: &'a PoolBenchmark,
        model: &'a EnsembleConfig,
        config: &'a LoopConfig,
        run_seed: u64,
    ) -> Self {
        let mut order: Vec<usize> = (0..bench.pool.len()).collect();
        order.shuffle(&mut rng_for(run_seed, Stream::InitialSet, &[]));
        if let Some(cap) = config.pool_size {
            order.truncate(cap);
        }
        let (labelled, unlabelled) =
            config
                .cold_start
                .split(order, config.initial_labels, &bench.pool.prompt, run_seed);
        let stopping_sample =
            unlabelled[unlabelled.len().saturating_sub(STOPPING_SAMPLE)..].to_vec();
        let validation_subset = config.validation_cap(bench.validation.len()).map(|cap| {
            let mut order: Vec<usize> = (0..bench.validation.len()).collect();
            let path = [initial_draw::VALIDATION_SUBSET];
            order.shuffle(&mut rng_for(run_seed, Stream::InitialSet, &path));
            order.truncate(cap);
            order.sort_unstable();
            bench.validation.subset(&order)
        });
        Self {
            bench,
            model,
            config,
            run_seed,
            validation_subset,
            labelled,
            unlabelled,
            round: 0,
            prompt_index: None,
            whole_pool: None,
            previous: None,
            answers: None,
            stopping_sample,
            stopping_previous: None,
        }
    }

    /// Continues a run whose rounds `0..round` are finished and whose labelled set (in acquisition
    /// order) is `labelled`. Gives the same numbers as an uninterrupted run.
    ///
    /// # Errors
    ///
    /// [`LoopError::ResumeLength`] when `labelled` does not have the size round `round` needs;
    /// [`LoopError::ResumeForeign`] when it holds a comparison outside the run's pool or does not
    /// start with the initial set that `run_seed` gives.
    pub fn resume_from(
        bench: &'a PoolBenchmark,
        model: &'a EnsembleConfig,
        config: &'a LoopConfig,
        run_seed: u64,
        labelled: Vec<usize>,
        round: usize,
    ) -> Result<Self, LoopError> {
        let fresh = Self::new(bench, model, config, run_seed);
        let pool: HashSet<usize> = fresh
            .labelled
            .iter()
            .chain(&fresh.unlabelled)
            .copied()
            .collect();
        let expected =
            config.initial_labels + round.min(config.rounds.saturating_sub(1)) * config.batch_size;
        if labelled.len() != expected {
            return Err(LoopError::ResumeLength {
                got: labelled.len(),
                round,
                expected,
            });
        }
        if labelled.iter().any(|i| !pool.contains(i))
            || labelled[..config.initial_labels.min(labelled.len())] != fresh.labelled[..]
        {
            return Err(LoopError::ResumeForeign);
        }
        let taken: HashSet<usize> = labelled.iter().copied().collect();
        let unlabelled = fresh
            .unlabelled
            .into_iter()
            .filter(|i| !taken.contains(i))
            .collect();
        Ok(Self {
            bench,
            model,
            config,
            run_seed,
            validation_subset: fresh.validation_subset,
            labelled,
            unlabelled,
            round,
            prompt_index: None,
            whole_pool: None,
            previous: None,
            answers: None,
            stopping_sample: fresh.stopping_sample,
            stopping_previous: None,
        })
    }

    /// Lets BAL-PM answer its kNN term from `index`, which must be built from
    /// `bench.pool.prompt.table()` (same picks as without it, without the all-pairs pass).
    pub fn with_prompt_index(mut self, index: Option<Arc<PromptKnnIndex>>) -> Self {
        self.prompt_index = index;
        self
    }

    /// The kNN index this run uses, if any.
    pub fn prompt_index(&self) -> Option<Arc<PromptKnnIndex>> {
        self.prompt_index.clone()
    }

    /// `true` once every configured round has run.
    pub fn finished(&self) -> bool {
        self.round >= self.config.rounds
    }

    /// The benchmark this run draws from.
    pub fn bench(&self) -> &'a PoolBenchmark {
        self.bench
    }

    /// A round of the "full dataset" upper bound: the model trained once on every comparison of
    /// the (capped) pool, in pool order, with the round-0 seeds, so that every round and every
    /// resume reports the same model; the policy's batch only keeps the label schedule.
    fn step_whole_pool(
        &mut self,
        policy: &dyn PoolPolicy,
    ) -> Result<(RoundRecord, RoundTiming), LoopError> {
        let t = self.round;
        let bench = self.bench;
        let clock = Instant::now();
        let mut work = (0, 0);
        let evaluation = match self.whole_pool {
            Some(cached) => cached,
            None => {
                let mut all: Vec<usize> = self
                    .labelled
                    .iter()
                    .chain(&self.unlabelled)
                    .copied()
                    .collect();
                all.sort_unstable();
                let fitted = self.model.fit(
                    &self.labelled_split(&all),
                    self.validation(),
                    self.run_seed,
                    0,
                )?;
                work = RoundTiming::training_work(&fitted.reports);
                *self.whole_pool.insert(self.evaluate(&fitted))
            }
        };
        let train_secs = clock.elapsed().as_secs_f64();
        let mut record = RoundRecord::evaluated(t, self.labelled.len(), evaluation);
        let whole: Vec<usize> = self
            .labelled
            .iter()
            .chain(&self.unlabelled)
            .copied()
            .collect();
        // The noise over the whole pool; no cost: the whole-dataset bound acquires nothing.
        self.record_oracle(&whole, &mut record);
        let clock = Instant::now();
        if t + 1 < self.config.rounds {
            let unscored = vec![0.0; self.unlabelled.len()];
            let state = PoolState {
                prompt_ids: Some(&bench.pool.prompt_id),
                round: t,
                ..PoolState::new(
                    &self.unlabelled,
                    &unscored,
                    &self.labelled,
                    &bench.pool.prompt,
                )
            };
            let mut rng = rng_for(self.run_seed, Stream::Policy, &[t as u64]);
            let picks = policy
                .select(&state, self.config.batch_size, &mut rng)
                .map_err(|error| LoopError::Policy { round: t, error })?;
            record.batch_size = Some(picks.len());
            self.acquire(t, picks)?;
        }
        record.labelled_unique_prompts = Some(self.labelled_prompts());
        let select_secs = clock.elapsed().as_secs_f64();
        self.round += 1;
        Ok((
            record,
            RoundTiming {
                round: t,
                train_secs,
                score_secs: 0.0,
                select_secs,
                train_steps: work.0,
                validation_passes: work.1,
            },
        ))
    }

    /// The validation comparisons that early stopping reads: the seeded subset under
    /// `loop.validation_size`, else the benchmark's whole split.
    fn validation(&self) -> &PoolSplit {
        self.validation_subset
            .as_ref()
            .unwrap_or(&self.bench.validation)
    }

    /// Test and OOD metrics of `fitted`, and its members' mean best validation loss.
    fn evaluate(&self, fitted: &FittedEnsemble) -> Evaluation {
        let bench = self.bench;
        let test = fitted
            .predict(&bench.test, None)
            .metrics(&bench.test.a_preferred);
        let ood = fitted
            .predict(&bench.ood, None)
            .metrics(&bench.ood.a_preferred);
        (test, ood, fitted.mean_validation_loss())
    }

    /// Moves a policy's picks from the unlabelled to the labelled set (in pick order), refusing
    /// repeated or already labelled comparisons.
    fn acquire(&mut self, round: usize, picks: Vec<usize>) -> Result<(), LoopError> {
        let unlabelled: HashSet<usize> = self.unlabelled.iter().copied().collect();
        let picked: HashSet<usize> = picks.iter().copied().collect();
        if picked.len() != picks.len() || !picked.is_subset(&unlabelled) {
            return Err(LoopError::RepeatedPicks { round });
        }
        self.unlabelled.retain(|i| !picked.contains(i));
        self.labelled.extend(picks);
        Ok(())
    }

    /// Distinct prompts in the labelled set.
    fn labelled_prompts(&self) -> usize {
        let ids = &self.bench.pool.prompt_id;
        self.labelled
            .iter()
            .map(|&i| ids[i])
            .collect::<HashSet<_>>()
            .len()
    }

    /// The warning a round deserves when the pool ran out before the batch was full (the whole
    /// remaining pool was acquired); `None` otherwise.
    pub fn short_batch_warning(&self, record: &RoundRecord) -> Option<String> {
        let picked = record.batch_size?;
        (picked < self.config.batch_size).then(|| {
            format!(
                "round {}: only {picked} unlabelled comparisons were left for a batch of {}; the whole remaining pool was acquired",
                record.round, self.config.batch_size
            )
        })
    }

    /// Runs one round and advances.
    ///
    /// # Errors
    ///
    /// [`LoopError::Model`] when training fails (empty set, divergence, device);
    /// [`LoopError::Policy`] when the policy or its score fails; [`LoopError::RepeatedPicks`] when
    /// the policy returns a comparison twice or one already labelled.
    pub fn step(
        &mut self,
        policy: &dyn PoolPolicy,
    ) -> Result<(RoundRecord, RoundTiming), LoopError> {
        self.draw_answers()?;
        if policy.trains_on_whole_pool() {
            return self.step_whole_pool(policy);
        }
        let t = self.round;
        let bench = self.bench;
        // Before the clock: a resumed run's replay is not this round's training.
        self.replay_warm_starts()?;
        self.replay_stopping_previous()?;
        let clock = Instant::now();
        let train = self.labelled_split(&self.labelled);
        let fitted = self.model.fit_from(
            self.previous.as_ref(),
            &train,
            self.validation(),
            self.run_seed,
            t as u64,
        )?;
        let train_secs = clock.elapsed().as_secs_f64();
        let (train_steps, validation_passes) = RoundTiming::training_work(&fitted.reports);

        let clock = Instant::now();
        let evaluation = self.evaluate(&fitted);
        let last = t + 1 == self.config.rounds;
        let pool_pred = if last {
            None
        } else {
            Some(fitted.predict(&bench.pool, Some(&self.unlabelled)))
        };
        let score_secs = clock.elapsed().as_secs_f64();

        let clock = Instant::now();
        let mut record = RoundRecord::evaluated(t, self.labelled.len(), evaluation);
        self.record_oracle(&self.labelled, &mut record);
        self.record_cost(&self.labelled, &mut record);
        let current = self.sample_labels(&fitted);
        record.stopping_agreement = self
            .stopping_previous
            .as_ref()
            .filter(|previous| !previous.is_empty())
            .map(|previous| cohens_kappa(previous, &current));
        self.stopping_previous = Some(current);
        if let Some(pred) = pool_pred {
            self.select_batch(policy, &fitted, &pred, &mut record)?;
        }
        record.labelled_unique_prompts = Some(self.labelled_prompts());
        let select_secs = clock.elapsed().as_secs_f64();
        if self.warm_starts() {
            self.previous = Some(fitted);
        }
        self.round += 1;
        Ok((
            record,
            RoundTiming {
                round: t,
                train_secs,
                score_secs,
                select_secs,
                train_steps,
                validation_passes,
            },
        ))
    }

    /// The policy's score of every unlabelled comparison this round (`[unlabelled]`): BALD
    /// (`bald`), imported, from the fitted rewards, or another score of the members' predictions.
    fn round_score(
        &self,
        policy: &dyn PoolPolicy,
        fitted: &FittedEnsemble,
        pred: &EnsemblePrediction,
        bald: &[f64],
    ) -> Result<Vec<f64>, AcquireError> {
        let t = self.round;
        match policy.score() {
            UncertaintyScore::Bald => Ok(bald.to_vec()),
            s if s.needs_imported() => {
                s.from_imported(self.bench.pool.score.as_deref(), &self.unlabelled)
            }
            s if s.needs_rewards() => {
                self.latent_reward_score(fitted, s == UncertaintyScore::LatentRewardReference)
            }
            other => other.compute(
                pred,
                &mut rng_for(
                    self.run_seed,
                    Stream::Policy,
                    &[t as u64, policy_draw::SCORE],
                ),
            ),
        }
    }

    /// Scores the pool, lets the policy pick this round's batch, acquires it and records the
    /// batch's diagnostics in `record`.
    fn select_batch(
        &mut self,
        policy: &dyn PoolPolicy,
        fitted: &FittedEnsemble,
        pred: &EnsemblePrediction,
        record: &mut RoundRecord,
    ) -> Result<(), LoopError> {
        let t = self.round;
        let bench = self.bench;
        let bald = pred.bald_all();
        let score = self
            .round_score(policy, fitted, pred, &bald)
            .map_err(|error| LoopError::Policy { round: t, error })?;
        let last_layer = if policy.needs_last_layer() {
            Some(
                self.last_layer_embedding(fitted)
                    .map_err(|error| LoopError::Policy { round: t, error })?,
            )
        } else {
            None
        };
        let state = PoolState {
            prompt_ids: Some(&bench.pool.prompt_id),
            prediction: Some(pred),
            round: t,
            prompt_index: self.prompt_index.as_deref(),
            pair_features: Some((&bench.pool.pair_a, &bench.pool.pair_b)),
            last_layer: last_layer.as_ref(),
            ..PoolState::new(&self.unlabelled, &score, &self.labelled, &bench.pool.prompt)
        };
        let mut rng = rng_for(self.run_seed, Stream::Policy, &[t as u64]);
        let picks = policy
            .select(&state, self.config.batch_size, &mut rng)
            .map_err(|error| LoopError::Policy { round: t, error })?;
        let bald_of: std::collections::HashMap<usize, f64> = self
            .unlabelled
            .iter()
            .copied()
            .zip(bald.iter().copied())
            .collect();
        // Checked and moved first, so every pick below is an unlabelled candidate.
        self.acquire(t, picks.clone())?;
        record.pool_mean_bald = Some(bald.iter().sum::<f64>() / bald.len().max(1) as f64);
        record.pool_max_bald = bald.iter().copied().reduce(f64::max);
        record.batch_mean_bald =
            Some(picks.iter().map(|p| bald_of[p]).sum::<f64>() / picks.len().max(1) as f64);
        record.batch_unique_prompts = Some(
            picks
                .iter()
                .map(|&p| bench.pool.prompt_id[p])
                .collect::<HashSet<_>>()
                .len(),
        );
        record.batch_size = Some(picks.len());
        Ok(())
    }

    /// The predicted preferences (`p̄ ≥ ½`) of `fitted` on the stopping sample.
    fn sample_labels(&self, fitted: &FittedEnsemble) -> Vec<bool> {
        let pred = fitted.predict(&self.bench.pool, Some(&self.stopping_sample));
        (0..pred.rows()).map(|i| pred.mean_prob(i) >= 0.5).collect()
    }

    /// Before the first round of a resumed run: the previous round's predictions on the stopping
    /// sample, from the replayed warm-start weights or from one refit of that round (its labelled
    /// prefix and seeds), so that the resumed run records the same agreement.
    fn replay_stopping_previous(&mut self) -> Result<(), LoopError> {
        if self.round == 0 || self.stopping_previous.is_some() {
            return Ok(());
        }
        let r = self.round - 1;
        let previous = match self.previous.take() {
            Some(fitted) => fitted,
            None => {
                let labels = (self.config.initial_labels + r * self.config.batch_size)
                    .min(self.labelled.len());
                let train = self.labelled_split(&self.labelled[..labels]);
                self.model
                    .fit_from(None, &train, self.validation(), self.run_seed, r as u64)?
            }
        };
        self.stopping_previous = Some(self.sample_labels(&previous));
        if self.warm_starts() {
            self.previous = Some(previous);
        }
        Ok(())
    }

    fn warm_starts(&self) -> bool {
        matches!(
            self.model.train.strategy,
            TrainingStrategy::WarmStart { .. }
        )
    }

    /// After a resume under `warm_start`, retrains rounds `0..round` (training only, on each
    /// round's labelled prefix, with each round's seeds) to rebuild the weights the next round
    /// continues from: the same weights as in the uninterrupted run.
    fn replay_warm_starts(&mut self) -> Result<(), LoopError> {
        if !self.warm_starts() || self.previous.is_some() {
            return Ok(());
        }
        for r in 0..self.round {
            let labels =
                (self.config.initial_labels + r * self.config.batch_size).min(self.labelled.len());
            let train = self.labelled_split(&self.labelled[..labels]);
            self.previous = Some(self.model.fit_from(
                self.previous.as_ref(),
                &train,
                self.validation(),
                self.run_seed,
                r as u64,
            )?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activepref_acquire::{BalPm, BalPmConfig, RandomSampling};
    use activepref_data::synthetic::SyntheticPoolConfig;
    use activepref_model::{RewardMlpConfig, TrainConfig};

    fn setup() -> (PoolBenchmark, EnsembleConfig, LoopConfig) {
        let bench = SyntheticPoolConfig {
            pool_prompts: 100,
            validation_prompts: 40,
            test_prompts: 40,
            ood_prompts: 40,
            ..Default::default()
        }
        .generate()
        .unwrap();
        let model = EnsembleConfig {
            members: 2,
            mlp: RewardMlpConfig {
                hidden: vec![8],
                weight_init_std: 0.1,
                ..Default::default()
            },
            train: TrainConfig {
                lr: 3e-3,
                max_epochs: 3,
                ..Default::default()
            },
            ..Default::default()
        };
        (
            bench,
            model,
            LoopConfig {
                initial_labels: 20,
                batch_size: 10,
                rounds: 3,
                pool_size: None,
                validation_size: None,
                cold_start: Default::default(),
                oracle: Default::default(),
            },
        )
    }

    #[test]
    fn the_full_dataset_line_is_one_model_on_the_whole_pool_at_every_round() {
        use activepref_acquire::FullDataset;
        let (bench, model, cfg) = setup();
        let mut lp = PoolLoop::new(&bench, &model, &cfg, 6);
        let records: Vec<RoundRecord> = (0..cfg.rounds)
            .map(|_| lp.step(&FullDataset).unwrap().0)
            .collect();
        // The model trained directly on every pool comparison, with the round-0 seeds.
        let all: Vec<usize> = (0..bench.pool.len()).collect();
        let fitted = model
            .fit(&bench.pool.subset(&all), &bench.validation, 6, 0)
            .unwrap();
        let test = fitted
            .predict(&bench.test, None)
            .metrics(&bench.test.a_preferred);
        for (t, r) in records.iter().enumerate() {
            assert_eq!(r.test_log_likelihood, test.log_likelihood, "round {t}");
            assert_eq!(
                r.labels,
                cfg.initial_labels + t * cfg.batch_size,
                "the label schedule goes on"
            );
        }
        // A resumed run reports the same model.
        let mut resumed = PoolLoop::resume_from(
            &bench,
            &model,
            &cfg,
            6,
            lp.labelled[..cfg.initial_labels + cfg.batch_size].to_vec(),
            1,
        )
        .unwrap();
        assert_eq!(resumed.step(&FullDataset).unwrap().0, records[1]);
    }

    /// A priced oracle: each round's `label_cost` is the sum, over that round's labelled set, of
    /// `per_label + per_prompt_word · prompt words + per_response_word · response words`, counted
    /// here from the benchmark's lengths; the cost changes no answer and no model.
    #[test]
    fn a_priced_oracle_records_the_cost_of_the_labelled_set() {
        use crate::oracle::LabelCost;
        use activepref_data::synthetic::SyntheticLengths;
        let (_, model, mut cfg) = setup();
        let bench = SyntheticPoolConfig {
            pool_prompts: 100,
            validation_prompts: 40,
            test_prompts: 40,
            ood_prompts: 40,
            lengths: Some(SyntheticLengths {
                prompt_words: 100.0,
                response_words: 20.0,
                spread: 0.5,
            }),
            ..Default::default()
        }
        .generate()
        .unwrap();
        let plain: Vec<RoundRecord> = {
            let mut lp = PoolLoop::new(&bench, &model, &cfg, 3);
            (0..2)
                .map(|_| lp.step(&RandomSampling).unwrap().0)
                .collect()
        };
        cfg.oracle.cost = Some(LabelCost {
            per_label: 2.0,
            per_prompt_word: 0.5,
            per_response_word: 0.25,
        });
        let lengths = bench.pool.lengths.as_ref().unwrap();
        let mut lp = PoolLoop::new(&bench, &model, &cfg, 3);
        for plain in &plain {
            let labelled = lp.labelled.clone();
            let (r, _) = lp.step(&RandomSampling).unwrap();
            let by_hand: f64 = labelled
                .iter()
                .map(|&i| {
                    let l = lengths[i];
                    2.0 + 0.5 * f64::from(l.prompt_words)
                        + 0.25 * f64::from(l.response_a_words + l.response_b_words)
                })
                .sum();
            assert_eq!(r.label_cost, Some(by_hand));
            assert!(by_hand > 2.0 * labelled.len() as f64);
            let mut unpriced = r.clone();
            unpriced.label_cost = None;
            assert_eq!(&unpriced, plain, "a cost changes nothing else");
        }
        // The whole-dataset bound acquires nothing and records no cost.
        let mut full = PoolLoop::new(&bench, &model, &cfg, 3);
        let full_round = full.step(&activepref_acquire::FullDataset).unwrap().0;
        assert_eq!(full_round.label_cost, None);
        // Without lengths, a per-word price is refused when the run starts.
        let mut no_lengths = bench.clone();
        no_lengths.pool.lengths = None;
        let err = PoolLoop::new(&no_lengths, &model, &cfg, 3)
            .step(&RandomSampling)
            .unwrap_err();
        assert!(err.to_string().contains("lengths"), "{err}");
    }

    /// A noisy oracle: the round's model is the one trained on the oracle's answers (flipped
    /// labels, dropped ties left out), the records count them against a direct recount, and a
    /// resumed run gives the same numbers.
    #[test]
    fn a_noisy_oracle_trains_on_its_answers_and_records_them() {
        use crate::oracle::{OracleConfig, TiePolicy, TieRule};
        let (bench, model, mut cfg) = setup();
        cfg.oracle = OracleConfig {
            flip: 0.3,
            ties: Some(TieRule {
                margin: 0.2,
                policy: TiePolicy::Drop,
            }),
            ..Default::default()
        };
        let mut lp = PoolLoop::new(&bench, &model, &cfg, 3);
        let initial = lp.labelled.clone();
        let (r0, _) = lp.step(&RandomSampling).unwrap();
        let gaps = bench.pool.latent_gap.as_ref().unwrap();
        let answers: Vec<Answer> = initial
            .iter()
            .map(|&i| {
                cfg.oracle
                    .answer(3, &[i as u64], bench.pool.a_preferred[i], gaps[i])
            })
            .collect();
        let dropped = initial.iter().filter(|&&i| gaps[i].abs() < 0.2).count();
        assert_eq!(r0.oracle_dropped, Some(dropped));
        assert_eq!(
            answers.iter().filter(|&&a| a == Answer::Dropped).count(),
            dropped
        );
        let flipped = initial
            .iter()
            .zip(&answers)
            .filter(|(i, a)| matches!(a, Answer::Prefers(p) if *p != bench.pool.a_preferred[**i]))
            .count();
        assert_eq!(r0.oracle_flipped, Some(flipped));
        assert!(
            flipped > 0 && dropped > 0,
            "the test needs both: {flipped}, {dropped}"
        );
        // The same model, trained here on the answers.
        let (kept, labels): (Vec<usize>, Vec<bool>) = initial
            .iter()
            .zip(&answers)
            .filter_map(|(&i, a)| match a {
                Answer::Prefers(p) => Some((i, *p)),
                _ => None,
            })
            .unzip();
        let mut train = bench.pool.subset(&kept);
        train.a_preferred = labels;
        let fitted = model.fit(&train, &bench.validation, 3, 0).unwrap();
        let test = fitted
            .predict(&bench.test, None)
            .metrics(&bench.test.a_preferred);
        assert_eq!(r0.test_log_likelihood, test.log_likelihood);
        let (r1, _) = lp.step(&RandomSampling).unwrap();
        let mut resumed =
            PoolLoop::resume_from(&bench, &model, &cfg, 3, lp.labelled[..30].to_vec(), 1).unwrap();
        assert_eq!(resumed.step(&RandomSampling).unwrap().0, r1);
        // Without latent gaps, Bradley–Terry answers are refused with the reason.
        let mut real = bench.clone();
        real.pool.latent_gap = None;
        cfg.oracle.kind = crate::oracle::OracleKind::BradleyTerry;
        let err = PoolLoop::new(&real, &model, &cfg, 3)
            .step(&RandomSampling)
            .unwrap_err();
        assert!(matches!(err, LoopError::Oracle { .. }), "{err}");
    }

    /// The diverse-batch baselines run inside the loop (BADGE and Fisher on the members' last
    /// layer over the labelled and unlabelled comparisons), from a k-center cold start, and a
    /// resumed run repeats their rounds exactly, stopping agreement included.
    #[test]
    fn diverse_baselines_from_a_cold_start_run_and_resume() {
        use activepref_acquire::PolicySpec;
        let (bench, model, mut cfg) = setup();
        cfg.cold_start = crate::ColdStart::Kcenter;
        let specs = [
            PolicySpec::Coreset {},
            PolicySpec::Badge {},
            PolicySpec::Fisher(Default::default()),
        ];
        for spec in specs {
            let policy = spec.build();
            let mut lp = PoolLoop::new(&bench, &model, &cfg, 5);
            let records: Vec<RoundRecord> = (0..cfg.rounds)
                .map(|_| lp.step(policy.as_ref()).unwrap().0)
                .collect();
            assert_eq!(
                records[0].batch_size,
                Some(cfg.batch_size),
                "{}",
                spec.name()
            );
            assert!(records[1].stopping_agreement.is_some());
            let after_one = cfg.initial_labels + cfg.batch_size;
            let mut resumed = PoolLoop::resume_from(
                &bench,
                &model,
                &cfg,
                5,
                lp.labelled[..after_one].to_vec(),
                1,
            )
            .unwrap();
            assert_eq!(
                resumed.step(policy.as_ref()).unwrap().0,
                records[1],
                "{}",
                spec.name()
            );
            assert_eq!(
                resumed.labelled[..],
                lp.labelled[..after_one + cfg.batch_size]
            );
        }
    }

    /// `ties.policy: half`: each tie trains once in each orientation, A's side first, and is
    /// counted in `oracle_ties`; the round's model is the one fitted here on that split.
    #[test]
    fn kept_ties_train_in_both_orientations() {
        use crate::oracle::{OracleConfig, TiePolicy, TieRule};
        let (bench, model, mut cfg) = setup();
        cfg.oracle = OracleConfig {
            ties: Some(TieRule {
                margin: 0.6,
                policy: TiePolicy::Half,
            }),
            ..Default::default()
        };
        let mut lp = PoolLoop::new(&bench, &model, &cfg, 4);
        let initial = lp.labelled.clone();
        let r0 = lp.step(&RandomSampling).unwrap().0;
        let gaps = bench.pool.latent_gap.as_ref().unwrap();
        let (mut rows, mut labels, mut ties) = (vec![], vec![], 0);
        for &i in &initial {
            if gaps[i].abs() < 0.6 {
                ties += 1;
                rows.extend([i, i]);
                labels.extend([true, false]);
            } else {
                rows.push(i);
                labels.push(bench.pool.a_preferred[i]);
            }
        }
        assert!(ties > 0, "the test needs a tie");
        assert_eq!(
            (r0.oracle_ties, r0.oracle_dropped, r0.oracle_flipped),
            (Some(ties), Some(0), Some(0))
        );
        let mut train = bench.pool.subset(&rows);
        train.a_preferred = labels;
        let fitted = model.fit(&train, &bench.validation, 4, 0).unwrap();
        let test = fitted
            .predict(&bench.test, None)
            .metrics(&bench.test.a_preferred);
        assert_eq!(r0.test_log_likelihood, test.log_likelihood);
    }

    #[test]
    fn latent_reward_uncertainty_ranks_the_pool_by_the_fitted_rewards() {
        use activepref_acquire::{PolicySpec, ScoreParams};
        let (bench, mut model, cfg) = setup();
        model.members = 1; // the paper's LRU uses one model
        let rank = |score| PolicySpec::Rank(ScoreParams { score }).build();
        for score in [
            UncertaintyScore::LatentReward,
            UncertaintyScore::LatentRewardReference,
        ] {
            let mut lp = PoolLoop::new(&bench, &model, &cfg, 4);
            let before = lp.unlabelled.clone();
            let labelled = lp.labelled.clone();
            let (rec, _) = lp.step(rank(score).as_ref()).unwrap();
            assert_eq!(rec.batch_size, Some(cfg.batch_size));
            // The same scores computed here from the round's model: the picks are their top 10.
            let probe = PoolLoop {
                unlabelled: before.clone(),
                labelled: labelled.clone(),
                ..PoolLoop::new(&bench, &model, &cfg, 4)
            };
            let train = bench.pool.subset(&labelled);
            let fitted = model.fit(&train, &bench.validation, 4, 0).unwrap();
            let u = probe
                .latent_reward_score(&fitted, score == UncertaintyScore::LatentRewardReference)
                .unwrap();
            let mut order: Vec<usize> = (0..before.len()).collect();
            order.sort_by(|&a, &b| u[b].total_cmp(&u[a]).then(a.cmp(&b)));
            let mut want: Vec<usize> = order[..cfg.batch_size].iter().map(|&k| before[k]).collect();
            let mut got: Vec<usize> = lp.labelled[labelled.len()..].to_vec();
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(got, want, "{score:?}");
        }
    }

    #[test]
    fn a_short_batch_is_reported_not_printed() {
        let (bench, model, cfg) = setup();
        let lp = PoolLoop::new(&bench, &model, &cfg, 1);
        let rec = |batch_size| RoundRecord {
            round: 3,
            labels: 40,
            test_log_likelihood: 0.0,
            test_accuracy: 0.0,
            test_brier: 0.0,
            ood_log_likelihood: 0.0,
            ood_accuracy: 0.0,
            ood_brier: 0.0,
            validation_loss: 0.0,
            pool_mean_bald: None,
            batch_mean_bald: None,
            batch_unique_prompts: None,
            labelled_unique_prompts: None,
            batch_size,
            pool_max_bald: None,
            stopping_agreement: None,
            oracle_flipped: None,
            oracle_dropped: None,
            oracle_ties: None,
            label_cost: None,
        };
        assert_eq!(lp.short_batch_warning(&rec(Some(cfg.batch_size))), None);
        assert_eq!(
            lp.short_batch_warning(&rec(None)),
            None,
            "the last round picks nothing"
        );
        let w = lp
            .short_batch_warning(&rec(Some(cfg.batch_size - 3)))
            .unwrap();
        assert_eq!(
            w,
            format!(
                "round 3: only {} unlabelled comparisons were left for a batch of {}; the whole remaining pool was acquired",
                cfg.batch_size - 3,
                cfg.batch_size
            )
        );
    }

    #[test]
    fn rounds_grow_the_labelled_set_and_record_batches() {
        let (bench, model, cfg) = setup();
        let mut run = PoolLoop::new(&bench, &model, &cfg, 5);
        let policy = BalPm::new(BalPmConfig {
            k: 3,
            ..Default::default()
        });
        let mut records = vec![];
        while !run.finished() {
            records.push(run.step(&policy).unwrap().0);
        }
        assert_eq!(
            records.iter().map(|r| r.labels).collect::<Vec<_>>(),
            vec![20, 30, 40]
        );
        assert_eq!(records[0].batch_size, Some(10));
        assert!(records[0].batch_unique_prompts.unwrap() <= 10);
        assert_eq!(
            records[2].batch_size, None,
            "the last round acquires nothing"
        );
        assert_eq!(run.labelled.len() + run.unlabelled.len(), bench.pool.len());
        assert!(
            records
                .iter()
                .all(|r| r.test_log_likelihood < 0.0 && r.ood_log_likelihood < 0.0)
        );
    }

    #[test]
    fn prompt_index_gives_the_same_rounds_as_brute_force() {
        let (bench, model, cfg) = setup();
        let policy = BalPm::new(BalPmConfig {
            k: 3,
            ..Default::default()
        });
        let mut plain = PoolLoop::new(&bench, &model, &cfg, 5);
        // K = 2 < k: every list runs out, so every prompt takes the fallback path too.
        for index_k in [2, 12] {
            let index = Arc::new(PromptKnnIndex::build(
                bench.pool.prompt.table(),
                index_k,
                &|_| {},
            ));
            let mut indexed = PoolLoop::new(&bench, &model, &cfg, 5).with_prompt_index(Some(index));
            plain = PoolLoop::new(&bench, &model, &cfg, 5);
            while !plain.finished() {
                assert_eq!(
                    indexed.step(&policy).unwrap().0,
                    plain.step(&policy).unwrap().0
                );
            }
            assert_eq!(indexed.labelled, plain.labelled);
        }
        assert_eq!(plain.labelled.len(), 40);
    }

    #[test]
    fn single_network_back_ends_drive_every_score() {
        use activepref_model::UncertaintyBackend;
        let (bench, mut model, cfg) = setup();
        let backends = [
            UncertaintyBackend::McDropout {
                rate: 0.2,
                realisations: 4,
            },
            UncertaintyBackend::LaplaceLastLayer {
                samples: 4,
                prior_precision: 1.0,
            },
        ];
        for (backend, score) in backends.into_iter().flat_map(|b| {
            [
                UncertaintyScore::Bald,
                UncertaintyScore::Predictive,
                UncertaintyScore::Variance,
            ]
            .map(move |s| (b.clone(), s))
        }) {
            model.backend = backend;
            let policy = BalPm::new(BalPmConfig {
                k: 3,
                score,
                ..Default::default()
            });
            let mut run = PoolLoop::new(&bench, &model, &cfg, 5);
            let r = run.step(&policy).unwrap().0;
            assert_eq!(r.batch_size, Some(10));
            assert!(
                r.pool_mean_bald.unwrap() > 0.0,
                "draws disagree on the pool: {:?}",
                model.backend
            );
            // The Laplace samples are keyed by (run seed, round, sample): a resume repeats them.
            let r1 = run.step(&policy).unwrap().0;
            let mut resumed =
                PoolLoop::resume_from(&bench, &model, &cfg, 5, run.labelled[..30].to_vec(), 1)
                    .unwrap();
            assert_eq!(resumed.step(&policy).unwrap().0, r1);
        }
    }

    #[test]
    fn resume_gives_the_same_records() {
        let (bench, model, cfg) = setup();
        let mut full = PoolLoop::new(&bench, &model, &cfg, 8);
        let all: Vec<_> = (0..3)
            .map(|_| full.step(&RandomSampling).unwrap().0)
            .collect();
        let mut first = PoolLoop::new(&bench, &model, &cfg, 8);
        first.step(&RandomSampling).unwrap();
        let mut resumed =
            PoolLoop::resume_from(&bench, &model, &cfg, 8, first.labelled.clone(), 1).unwrap();
        let rest: Vec<_> = (0..2)
            .map(|_| resumed.step(&RandomSampling).unwrap().0)
            .collect();
        assert_eq!(&all[1..], &rest[..]);
        assert!(PoolLoop::resume_from(&bench, &model, &cfg, 9, first.labelled.clone(), 1).is_err());
    }

    #[test]
    fn warm_start_resume_replays_training_and_gives_the_same_records() {
        let (bench, mut model, cfg) = setup();
        model.train.strategy = TrainingStrategy::WarmStart { epochs: 1 };
        let mut full = PoolLoop::new(&bench, &model, &cfg, 8);
        let all: Vec<_> = (0..3)
            .map(|_| full.step(&RandomSampling).unwrap().0)
            .collect();
        let mut first = PoolLoop::new(&bench, &model, &cfg, 8);
        first.step(&RandomSampling).unwrap();
        first.step(&RandomSampling).unwrap();
        let mut resumed =
            PoolLoop::resume_from(&bench, &model, &cfg, 8, first.labelled.clone(), 2).unwrap();
        assert_eq!(resumed.step(&RandomSampling).unwrap().0, all[2]);
        // Warm rounds differ from retraining: the strategy is not a no-op.
        let (_, retrain, _) = setup();
        let mut cold = PoolLoop::new(&bench, &retrain, &cfg, 8);
        let cold: Vec<_> = (0..3)
            .map(|_| cold.step(&RandomSampling).unwrap().0)
            .collect();
        assert_eq!(cold[0].labels, all[0].labels);
        assert_ne!(cold[2].test_log_likelihood, all[2].test_log_likelihood);
    }

    /// `validation_size` trains every round's early stopping on the documented seeded subset of
    /// the validation split (in the split's order); a cap at least the split's size changes
    /// nothing; 0 is refused.
    #[test]
    fn a_validation_cap_reads_the_seeded_subset_and_a_large_one_changes_nothing() {
        let (bench, model, cfg) = setup();
        let n = bench.validation.len();
        assert!(n > 20, "the setup's validation split has {n} comparisons");
        let run = |cap: Option<usize>| {
            let cfg = LoopConfig {
                validation_size: cap,
                ..cfg.clone()
            };
            let mut lp = PoolLoop::new(&bench, &model, &cfg, 6);
            let records: Vec<_> = (0..2)
                .map(|_| lp.step(&RandomSampling).unwrap().0)
                .collect();
            // A resumed run draws the same subset.
            let labelled = lp.labelled[..cfg.initial_labels + cfg.batch_size].to_vec();
            let mut resumed = PoolLoop::resume_from(&bench, &model, &cfg, 6, labelled, 1).unwrap();
            assert_eq!(resumed.step(&RandomSampling).unwrap().0, records[1]);
            records
        };
        let whole = run(None);
        assert_eq!(run(Some(n)), whole);
        assert_eq!(run(Some(n + 1000)), whole);

        let capped = run(Some(17));
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut rng_for(
            6,
            Stream::InitialSet,
            &[initial_draw::VALIDATION_SUBSET],
        ));
        order.truncate(17);
        order.sort_unstable();
        let subset = bench.validation.subset(&order);
        let lp = PoolLoop::new(&bench, &model, &cfg, 6);
        let train = lp.labelled_split(&lp.labelled);
        let fitted = model.fit(&train, &subset, 6, 0).unwrap();
        assert_eq!(capped[0].validation_loss, fitted.mean_validation_loss());
        assert_ne!(capped[0].validation_loss, whole[0].validation_loss);
        // The cap touches no pool draw: the same initial set and candidate order.
        let with_cap = LoopConfig {
            validation_size: Some(17),
            ..cfg.clone()
        };
        let a = PoolLoop::new(&bench, &model, &with_cap, 6);
        let b = PoolLoop::new(&bench, &model, &cfg, 6);
        assert_eq!((&a.labelled, &a.unlabelled), (&b.labelled, &b.unlabelled));

        let zero = LoopConfig {
            validation_size: Some(0),
            ..cfg.clone()
        };
        assert_eq!(zero.validate(100).unwrap_err().field, "validation_size");
    }

    #[test]
    fn sizes_are_checked() {
        let cfg = LoopConfig {
            initial_labels: 10,
            batch_size: 500,
            rounds: 2,
            pool_size: None,
            validation_size: None,
            cold_start: Default::default(),
            oracle: Default::default(),
        };
        assert_eq!(cfg.validate(100).unwrap_err().field, "batch_size");
        let cfg = LoopConfig {
            initial_labels: 10,
            batch_size: 50,
            rounds: 4,
            pool_size: None,
            validation_size: None,
            cold_start: Default::default(),
            oracle: Default::default(),
        };
        assert_eq!(cfg.validate(100).unwrap_err().field, "rounds");
        let zero_pool = LoopConfig {
            pool_size: Some(0),
            ..cfg.clone()
        };
        assert_eq!(zero_pool.validate(100).unwrap_err().field, "pool_size");
        assert!(
            LoopConfig {
                initial_labels: 10,
                batch_size: 30,
                rounds: 4,
                pool_size: None,
                validation_size: None,
                cold_start: Default::default(),
                oracle: Default::default(),
            }
            .validate(100)
            .is_ok()
        );
    }
}
