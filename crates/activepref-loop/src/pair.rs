//! The pair-selection loop of ActiveUltraFeedback (specs/activeuf.md §1.4), on a prompt stream with
//! n candidate responses per prompt and fixed judge scores.
//!
//! The stream is shuffled once with the run seed and cut into batches of `batch_prompts`. Each
//! round `t` evaluates the current reward model on held-out pairs; then, unless it is the last
//! round, the model predicts mean and spread for every response of the batch's prompts, the pair
//! policy picks one pair per prompt, and the judge orders it (the higher score is chosen; ties go
//! to `a`, as the reference oracle does). The model is then refitted from scratch on the replay
//! buffer: the last `batch_prompts × replay_factor` pairs, or all of them.
//!
//! Departures from the reference, by design: the refit is a full retrain with early stopping, not one
//! warm-started epoch with the anchoring regulariser. The first round uses the untrained ensemble,
//! as the reference does.

use activepref_core::FieldError;
use std::time::Instant;

use activepref_acquire::{CandidateScores, PairMode, PairPolicySpec};
use activepref_core::seeds::{Stream, rng_for};
use activepref_core::{FeatureMatrix, PoolSplit};
use activepref_core::{PairBenchmark, PromptCandidates};
use activepref_model::{EnsembleConfig, FittedEnsemble, ModelError};

use crate::LoopError;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::RoundTiming;

/// Sizes of the pair loop (the paper: batches of 64 prompts, replay factor as configured).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairLoopConfig {
    /// Prompts per outer batch (one pair each).
    pub batch_prompts: usize,
    /// Acquisition batches; the loop records `rounds + 1` evaluations. Absent (or `null`): the
    /// whole stream, as the reference consumes it, the last batch holding what is left.
    #[serde(default)]
    pub rounds: Option<usize>,
    /// Replay buffer of the last `batch_prompts × replay_factor` pairs; `null` keeps every pair.
    #[serde(default)]
    pub replay_factor: Option<usize>,
}

impl PairLoopConfig {
    pub fn validate(&self, prompts: usize) -> Result<(), FieldError> {
        let bad = |f: &str, m: String| Err(FieldError::new(f, m));
        if self.batch_prompts == 0 {
            return bad("batch_prompts", "must be at least 1".into());
        }
        if self.rounds == Some(0) {
            return bad(
                "rounds",
                "must be at least 1, or left out to use the whole stream".into(),
            );
        }
        let rounds = self.rounds_for(prompts);
        if self.replay_factor == Some(0) {
            return bad(
                "replay_factor",
                "must be at least 1, or null to keep every pair".into(),
            );
        }
        if self.rounds.is_some() && self.batch_prompts * rounds > prompts {
            return bad(
                "rounds",
                format!(
                    "{} rounds of {} prompts need {} prompts but the stream has {prompts}; lower rounds or batch_prompts, or leave rounds out to use the whole stream",
                    rounds,
                    self.batch_prompts,
                    self.batch_prompts * rounds
                ),
            );
        }
        Ok(())
    }

    /// Acquisition rounds on a stream of `prompts` prompts: `rounds`, or enough batches for the
    /// whole stream.
    pub fn rounds_for(&self, prompts: usize) -> usize {
        self.rounds
            .unwrap_or(prompts.div_ceil(self.batch_prompts.max(1)))
    }
}

/// One acquired, judged pair, with what the model predicted for its two responses when it was
/// picked (the predictions default to 0 in state files written before they were recorded).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcquiredPair {
    /// Index into the benchmark's stream.
    pub prompt: usize,
    pub chosen: usize,
    pub rejected: usize,
    /// The round that picked it.
    #[serde(default)]
    pub round: usize,
    /// Predicted mean reward and spread (ensemble standard deviation) of the chosen response.
    #[serde(default)]
    pub chosen_mu: f32,
    #[serde(default)]
    pub chosen_sd: f32,
    /// The same for the rejected response.
    #[serde(default)]
    pub rejected_mu: f32,
    #[serde(default)]
    pub rejected_sd: f32,
}

/// What one round records. `batch_*` are `None` in the last round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairRoundRecord {
    pub round: usize,
    /// Pairs the evaluated model was trained on.
    pub labels: usize,
    pub heldout_log_likelihood: f64,
    pub heldout_accuracy: f64,
    pub heldout_brier: f64,
    /// Mean judge-score gap |s_chosen − s_rejected| of the pairs acquired this round.
    pub batch_mean_score_gap: Option<f64>,
    /// Pairs of this round whose two judge scores tie.
    pub batch_judge_ties: Option<usize>,
    /// Mean predicted reward gap μ_chosen − μ_rejected of the pairs acquired this round (next to
    /// the judge's gap above: how well the model foresaw the judge).
    #[serde(default)]
    pub batch_mean_predicted_gap: Option<f64>,
    /// Mean predicted spread of the picked responses.
    #[serde(default)]
    pub batch_mean_predicted_sd: Option<f64>,
}

/// Comparisons (chosen as A, so every label is "A preferred") of the given pairs.
fn pairs_split(
    prompts: &[PromptCandidates],
    pairs: impl Iterator<Item = (usize, usize, usize, bool)>,
) -> PoolSplit {
    let d = prompts[0].features.dim();
    let (mut a, mut b, mut ids, mut labels) = (vec![], vec![], vec![], vec![]);
    for (p, i, j, i_preferred) in pairs {
        a.extend_from_slice(prompts[p].features.row(i));
        b.extend_from_slice(prompts[p].features.row(j));
        ids.push(prompts[p].prompt_id);
        labels.push(i_preferred);
    }
    let n = labels.len();
    PoolSplit {
        pair_a: FeatureMatrix::new(n, d, a).expect("finite features"),
        pair_b: FeatureMatrix::new(n, d, b).expect("finite features"),
        prompt: FeatureMatrix::new(n, 0, vec![])
            .expect("empty prompt features")
            .into(),
        prompt_id: ids,
        a_preferred: labels,
        score: None,
    }
}

/// Every judged pair of every prompt in `prompts`.
fn judged_split(prompts: &[PromptCandidates]) -> PoolSplit {
    pairs_split(
        prompts,
        prompts.iter().enumerate().flat_map(|(p, c)| {
            c.judged_pairs()
                .into_iter()
                .map(move |(i, j, ip)| (p, i, j, ip))
        }),
    )
}

/// A pair-selection run between rounds.
pub struct PairLoop<'a> {
    bench: &'a PairBenchmark,
    model: &'a EnsembleConfig,
    config: &'a PairLoopConfig,
    policy: &'a PairPolicySpec,
    mode: PairMode,
    run_seed: u64,
    order: Vec<usize>,
    validation: PoolSplit,
    heldout: PoolSplit,
    /// Pairs acquired so far, in acquisition order.
    pub acquired: Vec<AcquiredPair>,
    /// Next round to run.
    pub round: usize,
}

impl<'a> PairLoop<'a> {
    pub fn new(
        bench: &'a PairBenchmark,
        model: &'a EnsembleConfig,
        config: &'a PairLoopConfig,
        policy: &'a PairPolicySpec,
        mode: PairMode,
        run_seed: u64,
    ) -> Self {
        let mut order: Vec<usize> = (0..bench.stream.len()).collect();
        order.shuffle(&mut rng_for(run_seed, Stream::InitialSet, &[]));
        let validation = judged_split(&bench.validation);
        let heldout = judged_split(&bench.heldout);
        Self {
            bench,
            model,
            config,
            policy,
            mode,
            run_seed,
            order,
            validation,
            heldout,
            acquired: vec![],
            round: 0,
        }
    }

    /// Continues after rounds `0..round`, given the pairs acquired in them.
    pub fn resume_from(
        mut self,
        acquired: Vec<AcquiredPair>,
        round: usize,
    ) -> Result<Self, LoopError> {
        let expected = (round.min(self.rounds()) * self.config.batch_prompts).min(self.order.len());
        if acquired.len() != expected {
            return Err(LoopError::PairResumeLength {
                got: acquired.len(),
                round,
                expected,
            });
        }
        let prompts: Vec<usize> = acquired.iter().map(|p| p.prompt).collect();
        if prompts[..] != self.order[..expected] {
            return Err(LoopError::PairResumeForeign);
        }
        self.acquired = acquired;
        self.round = round;
        Ok(self)
    }

    /// Acquisition rounds of this run.
    pub fn rounds(&self) -> usize {
        self.config.rounds_for(self.order.len())
    }

    /// The benchmark this run draws from.
    pub fn bench(&self) -> &'a PairBenchmark {
        self.bench
    }

    pub fn finished(&self) -> bool {
        self.round > self.rounds()
    }

    fn fitted(&self) -> Result<FittedEnsemble, ModelError> {
        let t = self.round as u64;
        if self.acquired.is_empty() {
            return self
                .model
                .untrained(self.bench.stream[0].features.dim(), self.run_seed, t);
        }
        let keep = self
            .config
            .replay_factor
            .map_or(self.acquired.len(), |f| f * self.config.batch_prompts);
        let buffer = &self.acquired[self.acquired.len().saturating_sub(keep)..];
        let train = pairs_split(
            &self.bench.stream,
            buffer
                .iter()
                .map(|p| (p.prompt, p.chosen, p.rejected, true)),
        );
        self.model.fit(&train, &self.validation, self.run_seed, t)
    }

    /// Runs one round and advances.
    pub fn step(&mut self) -> Result<(PairRoundRecord, RoundTiming), LoopError> {
        let t = self.round;
        let clock = Instant::now();
        let fitted = self.fitted()?;
        let train_secs = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let m = fitted
            .predict(&self.heldout, None)
            .metrics(&self.heldout.a_preferred);
        let mut record = PairRoundRecord {
            round: t,
            labels: self.acquired.len(),
            heldout_log_likelihood: m.log_likelihood,
            heldout_accuracy: m.accuracy,
            heldout_brier: m.brier,
            batch_mean_score_gap: None,
            batch_judge_ties: None,
            batch_mean_predicted_gap: None,
            batch_mean_predicted_sd: None,
        };
        let score_secs = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        if t < self.rounds() {
            let b = self.config.batch_prompts;
            let (mut gap, mut ties) = (0.0f64, 0usize);
            let (mut predicted_gap, mut predicted_sd) = (0.0f64, 0.0f64);
            let batch =
                &self.order[(t * b).min(self.order.len())..((t + 1) * b).min(self.order.len())];
            for (k, &p) in batch.iter().enumerate() {
                let prompt = &self.bench.stream[p];
                let (mu, sd, members) = fitted.response_stats(&prompt.features);
                let c = CandidateScores {
                    mu: &mu,
                    sd: &sd,
                    members: Some(&members),
                    oracle: Some(&prompt.judge),
                };
                let mut rng = rng_for(self.run_seed, Stream::Policy, &[t as u64, k as u64]);
                let (a, bb) = self
                    .policy
                    .select(&c, self.mode, &mut rng)
                    .map_err(|error| LoopError::PairPolicy {
                        round: t,
                        prompt: prompt.prompt_id,
                        error,
                    })?;
                // The judge: the higher score is chosen; a tie goes to `a` (specs/activeuf.md §1.3).
                let (chosen, rejected) = if prompt.judge[a] < prompt.judge[bb] {
                    (bb, a)
                } else {
                    (a, bb)
                };
                gap += (prompt.judge[a] - prompt.judge[bb]).abs() as f64;
                predicted_gap += f64::from(mu[chosen]) - f64::from(mu[rejected]);
                predicted_sd += 0.5 * (f64::from(sd[chosen]) + f64::from(sd[rejected]));
                ties += usize::from(prompt.judge[a] == prompt.judge[bb]);
                self.acquired.push(AcquiredPair {
                    prompt: p,
                    chosen,
                    rejected,
                    round: t,
                    chosen_mu: mu[chosen],
                    chosen_sd: sd[chosen],
                    rejected_mu: mu[rejected],
                    rejected_sd: sd[rejected],
                });
            }
            let n = batch.len().max(1) as f64;
            record.batch_mean_score_gap = Some(gap / n);
            record.batch_judge_ties = Some(ties);
            record.batch_mean_predicted_gap = Some(predicted_gap / n);
            record.batch_mean_predicted_sd = Some(predicted_sd / n);
        }
        let select_secs = clock.elapsed().as_secs_f64();
        self.round += 1;
        Ok((
            record,
            RoundTiming {
                round: t,
                train_secs,
                score_secs,
                select_secs,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activepref_acquire::BetaParams;
    use activepref_data::synthetic_pairs::SyntheticPairConfig;
    use activepref_model::{RewardMlpConfig, TrainConfig};

    fn setup() -> (PairBenchmark, EnsembleConfig, PairLoopConfig) {
        let bench = SyntheticPairConfig {
            prompts: 60,
            heldout_prompts: 20,
            validation_prompts: 10,
            ..Default::default()
        }
        .generate();
        let model = EnsembleConfig {
            members: 3,
            mlp: RewardMlpConfig {
                hidden: vec![8],
                weight_init_std: 0.1,
                ..Default::default()
            },
            train: TrainConfig {
                lr: 3e-3,
                max_epochs: 4,
                ..Default::default()
            },
            ..Default::default()
        };
        (
            bench,
            model,
            PairLoopConfig {
                batch_prompts: 10,
                rounds: Some(3),
                replay_factor: None,
            },
        )
    }

    #[test]
    fn without_rounds_the_whole_stream_is_consumed_and_the_last_batch_is_smaller() {
        let (bench, model, mut cfg) = setup();
        cfg.rounds = None;
        cfg.batch_prompts = 13;
        let n = bench.stream.len();
        assert_ne!(n % 13, 0, "the last batch must be smaller");
        let spec = PairPolicySpec::Drts(Default::default());
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 2);
        assert_eq!(run.rounds(), n.div_ceil(13));
        let mut records = vec![];
        while !run.finished() {
            records.push(run.step().unwrap().0);
        }
        assert_eq!(records.len(), run.rounds() + 1);
        let labels: Vec<usize> = records.iter().map(|r| r.labels).collect();
        let want: Vec<usize> = (0..=run.rounds()).map(|t| (13 * t).min(n)).collect();
        assert_eq!(labels, want, "the last batch holds what is left");
        let prompts: std::collections::HashSet<usize> =
            run.acquired.iter().map(|p| p.prompt).collect();
        assert_eq!(prompts.len(), n, "every prompt is used once");
        // Each acquired pair records the model's predictions and the batch means match them.
        let last = records[run.rounds() - 1].batch_mean_predicted_gap.unwrap();
        let tail: Vec<&AcquiredPair> = run
            .acquired
            .iter()
            .filter(|p| p.round == run.rounds() - 1)
            .collect();
        let mean = tail
            .iter()
            .map(|p| f64::from(p.chosen_mu) - f64::from(p.rejected_mu))
            .sum::<f64>()
            / tail.len() as f64;
        assert!((last - mean).abs() < 1e-12);
        // Resuming after the second round gives the same pairs.
        let mut resumed = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 2)
            .resume_from(run.acquired[..26].to_vec(), 2)
            .unwrap();
        while !resumed.finished() {
            resumed.step().unwrap();
        }
        assert_eq!(resumed.acquired, run.acquired);
    }

    #[test]
    fn one_pair_per_prompt_ordered_by_the_judge() {
        let (bench, model, cfg) = setup();
        let spec = PairPolicySpec::Deltaucb(BetaParams::default());
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 1);
        let mut records = vec![];
        while !run.finished() {
            records.push(run.step().unwrap().0);
        }
        assert_eq!(
            records.iter().map(|r| r.labels).collect::<Vec<_>>(),
            vec![0, 10, 20, 30]
        );
        assert_eq!(records[3].batch_mean_score_gap, None);
        let prompts: std::collections::HashSet<usize> =
            run.acquired.iter().map(|p| p.prompt).collect();
        assert_eq!(prompts.len(), 30, "each prompt visited once");
        for p in &run.acquired {
            assert_ne!(p.chosen, p.rejected);
            assert!(
                bench.stream[p.prompt].judge[p.chosen] >= bench.stream[p.prompt].judge[p.rejected]
            );
        }
        // Static MaxMin picks the judge's best and worst: its gap is the largest possible.
        let spec = PairPolicySpec::StaticMaxmin;
        let mut best = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 1);
        let r0 = best.step().unwrap().0;
        assert!(r0.batch_mean_score_gap.unwrap() >= records[0].batch_mean_score_gap.unwrap());
    }

    #[test]
    fn resume_reproduces_the_run() {
        let (bench, model, cfg) = setup();
        let spec = PairPolicySpec::Drts(Default::default());
        let mut full = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Reference, 2);
        let all: Vec<_> = (0..4).map(|_| full.step().unwrap().0).collect();
        let mut first = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Reference, 2);
        first.step().unwrap();
        first.step().unwrap();
        let mut resumed = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Reference, 2)
            .resume_from(first.acquired.clone(), 2)
            .unwrap();
        let rest: Vec<_> = (0..2).map(|_| resumed.step().unwrap().0).collect();
        assert_eq!(&all[2..], &rest[..]);
        assert!(
            PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Reference, 3)
                .resume_from(first.acquired, 2)
                .is_err()
        );
    }

    #[test]
    fn sizes_are_checked() {
        let cfg = PairLoopConfig {
            batch_prompts: 50,
            rounds: Some(3),
            replay_factor: None,
        };
        assert_eq!(cfg.validate(100).unwrap_err().field, "rounds");
        assert!(
            PairLoopConfig {
                batch_prompts: 50,
                rounds: Some(2),
                replay_factor: Some(2)
            }
            .validate(100)
            .is_ok()
        );
    }
}
