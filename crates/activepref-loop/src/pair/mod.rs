//! The pair-selection loop of ActiveUltraFeedback (specs/activeuf.md §1.4), on a prompt stream with
//! n candidate responses per prompt and fixed judge scores.
//!
//! The stream is shuffled once with the run seed and cut into batches of `batch_prompts`. Each
//! round `t` evaluates the current reward model on held-out pairs; then, unless it is the last
//! round, the model predicts mean and spread for every response of the batch's prompts, the pair
//! policy picks one pair per prompt, and the judge orders it (the higher score is chosen; ties go
//! to `a`, as the reference oracle does). The model is then refitted on the replay buffer (the
//! last `batch_prompts × replay_factor` pairs, or all of them), in one of two ways ([`PairRefit`]):
//!
//! - `anchored` (the reference's, and the default in reference mode): the ensemble is kept and each
//!   head trains one epoch on a uniform sample of at most `max_samples` buffer pairs, anchored to
//!   its initial weights with a strength that decays as labels come in, with reward centring and a
//!   cosine schedule per refit ([`AnchoredRefitConfig`](activepref_model::AnchoredRefitConfig)). No validation label is read.
//! - `from_scratch` (the default in corrected mode): every member is retrained from new initial
//!   weights on the whole buffer, with early stopping on the judged pairs of the validation
//!   prompts. Those judge labels lie outside the acquisition budget; every round records how many
//!   were read (`validation_labels`).
//!
//! The first round uses the untrained ensemble, as the reference does.
//!
//! Every round also records what the stopping rules read (issue 23; `report.stopping`):
//! `validation_loss` (a from-scratch refit's members' mean best validation loss; empty when
//! anchored), `batch_max_bald` (the largest BALD of the candidate pairs of the round's batch, the
//! stream's analogue of the pool's maximum) and `stopping_agreement` (Cohen's κ of this and the
//! previous round's predicted preferences on a fixed sample: the ring of responses `(0, 1), (1,
//! 2), …, (n − 1, 0)` of each of the last prompts of the loop order, [`STOPPING_SAMPLE`] pairs at
//! most). A resumed run refits the previous round once to record the same κ.

use std::time::Instant;

use activepref_acquire::{PairMode, PairPolicySpec};
use activepref_core::seeds::{NO_MEMBER, Stream, model_draw, rng_for};
use activepref_core::{EnsemblePrediction, EvalMetrics, FeatureMatrix, PoolSplit};
use activepref_core::{PairBenchmark, PromptCandidates};
use activepref_model::{AnchorDecay, AnchoredEnsemble, EnsembleConfig, FittedEnsemble, ModelError};

mod batch;
mod config;

pub use config::{AcquiredPair, PairLoopConfig, PairRefit, PairRoundRecord};

use crate::LoopError;
use crate::stopping::{STOPPING_SAMPLE, cohens_kappa};
use rand::seq::SliceRandom;

use crate::RoundTiming;
use crate::records::TrainingWork;

/// Comparisons (chosen as A, so every label is "A preferred") of the given pairs.
pub(crate) fn pairs_split(
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
        latent_gap: None,
        lengths: None,
    }
}

/// Every pair of some prompts' responses whose `target` scores differ, kept as indices into the
/// responses stacked once: the ensemble scores each response once, and a pair's prediction is
/// the difference of its two rewards. At the paper's n = 30 that is 30 forward rows per prompt
/// instead of 2 × 435, and no copy of the features per pair.
pub(crate) struct ResponsePairs {
    responses: FeatureMatrix,
    a: Vec<usize>,
    b: Vec<usize>,
    a_preferred: Vec<bool>,
}

impl ResponsePairs {
    /// Pairs `(i, j)`, `i < j`, of each prompt with `target(prompt)[i] != target(prompt)[j]`, `i`
    /// preferred when its target is higher (the order [`PromptCandidates::judged_pairs`] uses).
    pub(crate) fn new(
        prompts: &[PromptCandidates],
        target: impl Fn(&PromptCandidates) -> &[f32],
    ) -> Self {
        let d = prompts.first().map_or(0, |p| p.features.dim());
        let total: usize = prompts.iter().map(|p| p.features.rows()).sum();
        let mut data = Vec::with_capacity(total * d);
        let (mut a, mut b, mut a_preferred) = (vec![], vec![], vec![]);
        for p in prompts {
            let offset = data.len() / d.max(1);
            data.extend_from_slice(p.features.as_slice());
            let t = target(p);
            for i in 0..t.len() {
                for j in i + 1..t.len() {
                    if t[i] != t[j] {
                        a.push(offset + i);
                        b.push(offset + j);
                        a_preferred.push(t[i] > t[j]);
                    }
                }
            }
        }
        Self {
            responses: FeatureMatrix::new(total, d, data).expect("finite features"),
            a,
            b,
            a_preferred,
        }
    }

    /// The ring of each of `prompts` in turn: the pairs `(0, 1), (1, 2), …, (n − 1, 0)` of its
    /// `n` responses (`(0, 1)` alone for two), so every response is in two pairs and a prompt
    /// adds `n` pairs, not `n(n − 1)/2`; until `cap` pairs are held (the last prompt's cut to
    /// fit). The `a_preferred` labels are placeholders: these pairs are only predicted.
    pub(crate) fn ring_pairs<'p>(
        prompts: impl Iterator<Item = &'p PromptCandidates>,
        cap: usize,
    ) -> Self {
        let (mut data, mut rows, mut d) = (vec![], 0, 0);
        let (mut a, mut b) = (vec![], vec![]);
        for p in prompts {
            if a.len() >= cap {
                break;
            }
            d = p.features.dim();
            let n = p.features.rows();
            let ring = match n {
                0 | 1 => 0,
                2 => 1,
                n => n,
            };
            for i in 0..ring.min(cap - a.len()) {
                a.push(rows + i);
                b.push(rows + (i + 1) % n);
            }
            data.extend_from_slice(p.features.as_slice());
            rows += n;
        }
        Self {
            responses: FeatureMatrix::new(rows, d, data).expect("finite features"),
            a_preferred: vec![true; a.len()],
            a,
            b,
        }
    }

    /// The ensemble's predicted preferences `p̄ ≥ ½` (A preferred) on these pairs.
    pub(crate) fn predicted(&self, fitted: &FittedEnsemble) -> Vec<bool> {
        let pred = self.prediction(fitted);
        (0..pred.rows()).map(|i| pred.mean_prob(i) >= 0.5).collect()
    }

    /// Comparisons held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.a_preferred.len()
    }

    /// The ensemble's log-likelihood, accuracy and Brier score on these pairs.
    pub(crate) fn metrics(&self, fitted: &FittedEnsemble) -> EvalMetrics {
        self.prediction(fitted).metrics(&self.a_preferred)
    }

    /// The ensemble's per-member preference probabilities on these pairs.
    fn prediction(&self, fitted: &FittedEnsemble) -> EnsemblePrediction {
        pair_prediction(&fitted.rewards(&self.responses), &self.a, &self.b)
    }
}

/// The per-draw preference of response `a[k]` over `b[k]`, from per-draw rewards `rewards`
/// (`[draw][response]`).
fn pair_prediction(rewards: &[Vec<f32>], a: &[usize], b: &[usize]) -> EnsemblePrediction {
    let side = |idx: &[usize]| -> Vec<Vec<f32>> {
        rewards
            .iter()
            .map(|m| idx.iter().map(|&i| m[i]).collect())
            .collect()
    };
    EnsemblePrediction::from_rewards(&side(a), &side(b))
}

/// The largest BALD (nats) over every pair `(i, j)`, `i < j`, of one prompt's responses, from
/// the per-draw rewards `members` (`[draw][response]`); −∞ for fewer than two responses.
fn largest_pair_bald(members: &[Vec<f32>]) -> f64 {
    let n = members.first().map_or(0, Vec::len);
    let (mut a, mut b) = (vec![], vec![]);
    for i in 0..n {
        for j in i + 1..n {
            a.push(i);
            b.push(j);
        }
    }
    pair_prediction(members, &a, &b)
        .bald_all()
        .into_iter()
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Each prompt's mean response feature (`prompts × d`): the prompt vector a cold start spreads
/// the first batch over (the pair setting stores joint (prompt, response) features only).
fn mean_response_features(prompts: &[PromptCandidates]) -> activepref_core::PromptFeatures {
    let d = prompts.first().map_or(0, |p| p.features.dim());
    let mut data = Vec::with_capacity(prompts.len() * d);
    for p in prompts {
        let n = p.features.rows().max(1) as f64;
        data.extend((0..d).map(|j| {
            ((0..p.features.rows())
                .map(|i| f64::from(p.features.row(i)[j]))
                .sum::<f64>()
                / n) as f32
        }));
    }
    let matrix =
        FeatureMatrix::new(prompts.len(), d, data).expect("means of finite features are finite");
    activepref_core::PromptFeatures::from_matrix(&matrix)
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
    refit: PairRefit,
    decay: AnchorDecay,
    /// The anchored refit's ensemble, refitted through `anchored.refits` batches.
    anchored: Option<AnchoredEnsemble>,
    order: Vec<usize>,
    /// The validation prompts' judged pairs, built when a from-scratch refit first needs them.
    validation: std::sync::OnceLock<PoolSplit>,
    heldout: ResponsePairs,
    /// The fixed pairs on which successive models' predicted preferences are compared.
    stopping: ResponsePairs,
    /// The previous round's predicted preferences on `stopping`.
    stopping_previous: Option<Vec<bool>>,
    /// The price of the first `.1` acquired pairs (`.0`), for `oracle.cost`.
    cost_so_far: (f64, usize),
    /// Pairs acquired so far, in acquisition order.
    pub acquired: Vec<AcquiredPair>,
    /// Next round to run.
    pub round: usize,
}

impl<'a> PairLoop<'a> {
    /// A fresh run: the stream is shuffled with `run_seed` (the loop order; a `kmeans` or
    /// `kcenter` cold start then moves its picks to the first batch) and nothing is acquired.
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
        if !config.cold_start.is_random() {
            let (first, rest) = config.cold_start.split(
                order,
                config.batch_prompts,
                &mean_response_features(&bench.stream),
                run_seed,
            );
            order = first.into_iter().chain(rest).collect();
        }
        let heldout = ResponsePairs::new(&bench.heldout, |p| &p.judge);
        let stopping = ResponsePairs::ring_pairs(
            order.iter().rev().map(|&p| &bench.stream[p]),
            STOPPING_SAMPLE,
        );
        let (refit, decay) = PairRefit::resolve(config.refit.as_ref(), mode);
        Self {
            bench,
            model,
            config,
            policy,
            mode,
            run_seed,
            refit,
            decay,
            anchored: None,
            order,
            validation: std::sync::OnceLock::new(),
            heldout,
            stopping,
            stopping_previous: None,
            cost_so_far: (0.0, 0),
            acquired: vec![],
            round: 0,
        }
    }

    /// Continues after rounds `0..round`, given the pairs acquired in them.
    ///
    /// # Errors
    ///
    /// [`LoopError::PairResumeLength`] when `acquired` does not hold the pairs of `round` batches;
    /// [`LoopError::PairResumeForeign`] when its prompts are not the run's loop order.
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

    /// `true` once the evaluation after the last batch has run (`rounds() + 1` evaluations).
    pub fn finished(&self) -> bool {
        self.round > self.rounds()
    }

    /// The refit this run uses and the anchor decay it counts labels with.
    pub fn refit(&self) -> (&PairRefit, AnchorDecay) {
        (&self.refit, self.decay)
    }

    /// The replay buffer after the pairs `acquired` (a prefix of the run's pairs): the last
    /// `batch_prompts × replay_factor` of them, oldest first (FIFO), or all of them.
    pub fn replay_buffer<'p>(&self, acquired: &'p [AcquiredPair]) -> &'p [AcquiredPair] {
        let keep = self
            .config
            .replay_factor
            .map_or(acquired.len(), |f| f * self.config.batch_prompts);
        &acquired[acquired.len().saturating_sub(keep)..]
    }

    /// Pairs acquired before round `t`: by the end of batch `t − 1`.
    fn acquired_before(&self, t: usize) -> usize {
        (t * self.config.batch_prompts)
            .min(self.order.len())
            .min(self.acquired.len())
    }

    /// Pairs acquired by the end of batch `t` (0-based).
    fn acquired_through(&self, t: usize) -> usize {
        ((t + 1) * self.config.batch_prompts).min(self.order.len())
    }

    /// The uniform sample (without replacement, in drawn order) of at most `max_samples` buffer
    /// pairs that the anchored refit after batch `t` trains on; its random stream is
    /// `(run seed, Model, [t, NO_MEMBER, PAIR_REFIT])` (see
    /// [`activepref_core::seeds`]).
    pub fn refit_sample(&self, t: usize, max_samples: usize) -> Vec<AcquiredPair> {
        let buffer = self.replay_buffer(&self.acquired[..self.acquired_through(t)]);
        let mut rng = rng_for(
            self.run_seed,
            Stream::Model,
            &[t as u64, NO_MEMBER, model_draw::PAIR_REFIT],
        );
        rand::seq::index::sample(&mut rng, buffer.len(), max_samples.min(buffer.len()))
            .into_iter()
            .map(|i| buffer[i])
            .collect()
    }

    /// The model for round `self.round`, the anchor strength of its last refit, and the round's
    /// training work ([`RoundTiming::training_work`]: a refit from scratch, or the anchored
    /// heads' refit after the previous batch; not the refits a resumed run replays).
    fn fitted(&mut self) -> Result<(FittedEnsemble, Option<f64>, TrainingWork), ModelError> {
        let t = self.round as u64;
        let dim = self.bench.stream[0].features.dim();
        let cfg = match &self.refit {
            PairRefit::Anchored(cfg) => cfg.clone(),
            PairRefit::FromScratch => {
                // The pairs of batches 0..round: all acquired ones, except when the previous
                // round is refitted for a resumed run's stopping agreement.
                let seen = &self.acquired[..self.acquired_before(self.round)];
                if seen.is_empty() {
                    return Ok((self.model.untrained(dim, self.run_seed, t)?, None, (0, 0)));
                }
                let train = pairs_split(
                    &self.bench.stream,
                    self.replay_buffer(seen)
                        .iter()
                        .map(|p| (p.prompt, p.chosen, p.rejected, true)),
                );
                let validation = self
                    .validation
                    .get_or_init(|| judged_split(&self.bench.validation));
                let fit = self.model.fit(&train, validation, self.run_seed, t)?;
                let work = RoundTiming::training_work(&fit.reports);
                return Ok((fit, None, work));
            }
        };
        if self.anchored.is_none() {
            self.anchored = Some(self.model.anchored(dim, self.run_seed)?);
        }
        // Refits after batches 0..t, in order; after a resume this replays the earlier ones.
        let mut lambda = None;
        let mut steps = 0;
        let done = self.anchored.as_ref().map_or(0, |a| a.refits);
        for b in done..self.round {
            let sample = self.refit_sample(b, cfg.max_samples);
            let split = pairs_split(
                &self.bench.stream,
                sample
                    .iter()
                    .map(|p| (p.prompt, p.chosen, p.rejected, true)),
            );
            let l = cfg.anchor_strength(self.decay, self.acquired_through(b), self.order.len());
            let anchored = self.anchored.as_mut().expect("made above");
            let refit = anchored.refit(&split, l, &cfg)?;
            if b + 1 == self.round {
                steps = refit.steps;
            }
            lambda = Some(l);
        }
        if self.round > 0 && lambda.is_none() {
            let n = self.acquired_through(self.round - 1);
            lambda = Some(cfg.anchor_strength(self.decay, n, self.order.len()));
        }
        let fitted = self.anchored.as_ref().expect("made above").fitted();
        let heads = fitted.reports.len();
        Ok((fitted, lambda, (steps * heads, 0)))
    }

    /// Runs one round and advances.
    ///
    /// # Errors
    ///
    /// [`LoopError::Model`] when a refit fails (empty set, divergence, device);
    /// [`LoopError::PairPolicy`] when the pair rule fails on a prompt.
    pub fn step(&mut self) -> Result<(PairRoundRecord, RoundTiming), LoopError> {
        let t = self.round;
        self.check_cost_lengths()?;
        // A resumed run's replay of the previous round is not this round's training.
        self.replay_stopping_previous()?;
        let clock = Instant::now();
        let (fitted, anchor_strength, (train_steps, validation_passes)) = self.fitted()?;
        let validation_labels = match self.refit {
            PairRefit::FromScratch if !self.acquired.is_empty() => {
                self.validation.get().map_or(0, PoolSplit::len)
            }
            _ => 0,
        };
        let train_secs = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let m = self.heldout.metrics(&fitted);
        let label_cost = self.acquired_cost();
        let mut record = PairRoundRecord {
            round: t,
            labels: self.acquired.len(),
            heldout_log_likelihood: m.log_likelihood,
            heldout_accuracy: m.accuracy,
            heldout_brier: m.brier,
            batch_mean_score_gap: None,
            batch_judge_ties: None,
            batch_oracle_flipped: None,
            batch_mean_predicted_gap: None,
            batch_mean_predicted_sd: None,
            batch_mean_latent_gap: None,
            validation_labels,
            anchor_strength,
            label_cost,
            validation_loss: None,
            batch_max_bald: None,
            stopping_agreement: None,
        };
        if matches!(self.refit, PairRefit::FromScratch) && !fitted.reports.is_empty() && t > 0 {
            record.validation_loss = Some(fitted.mean_validation_loss());
        }
        let current = self.stopping.predicted(&fitted);
        record.stopping_agreement = self
            .stopping_previous
            .as_ref()
            .filter(|_| !current.is_empty())
            .map(|previous| cohens_kappa(previous, &current));
        self.stopping_previous = Some(current);
        let score_secs = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        if t < self.rounds() {
            self.acquire_batch(&fitted, &mut record)?;
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
                train_steps,
                validation_passes,
            },
        ))
    }

    /// Before the first round of a resumed run: the previous round's predicted preferences on
    /// the stopping sample, from one refit of that round (from scratch: its pairs and seeds;
    /// anchored: the refits replayed up to it, which the current round then continues), so
    /// that the resumed run records the same agreement.
    fn replay_stopping_previous(&mut self) -> Result<(), LoopError> {
        if self.round == 0 || self.stopping_previous.is_some() {
            return Ok(());
        }
        self.round -= 1;
        let previous = self.fitted();
        self.round += 1;
        self.stopping_previous = Some(self.stopping.predicted(&previous?.0));
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use activepref_acquire::BetaParams;
    use activepref_data::synthetic_pairs::SyntheticPairConfig;
    use activepref_model::{AnchoredRefitConfig, RewardMlpConfig, TrainConfig};

    fn setup() -> (PairBenchmark, EnsembleConfig, PairLoopConfig) {
        let bench = SyntheticPairConfig {
            prompts: 60,
            heldout_prompts: 20,
            validation_prompts: 10,
            ..Default::default()
        }
        .generate()
        .unwrap();
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
                refit: None,
                prefix_eval: None,
                cold_start: Default::default(),
                oracle: Default::default(),
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

    /// The largest pair BALD against the formula worked by hand: per-draw logits
    /// `l_m = r_m(i) − r_m(j)`, BALD = H(mean σ(l_m)) − mean H(σ(l_m)), in nats.
    #[test]
    fn largest_pair_bald_by_hand() {
        let members = vec![vec![0.0f32, 1.0, 3.0], vec![0.0, -1.0, 2.0]];
        let h = |p: f64| -(p * p.ln() + (1.0 - p) * (1.0 - p).ln());
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let bald = |l: [f64; 2]| h((s(l[0]) + s(l[1])) / 2.0) - (h(s(l[0])) + h(s(l[1]))) / 2.0;
        // Pairs (0, 1): logits −1, 1; (0, 2): −3, −2; (1, 2): −2, −3.
        let want = bald([-1.0, 1.0]).max(bald([-3.0, -2.0]));
        assert!((largest_pair_bald(&members) - want).abs() < 1e-6, "{want}");
        // The pair whose draws disagree in sign wins: H(½) − H(σ(1)) = 0.6931 − 0.5822.
        assert!((want - 0.110_944).abs() < 1e-6, "{want}");
        assert_eq!(largest_pair_bald(&[vec![1.0]]), f64::NEG_INFINITY);
    }

    /// Every round records the stopping signals, each recomputed here from the round's model:
    /// κ of successive models' predictions on the ring sample (from round 1 on), the largest
    /// pair BALD of the batch's prompts (every acquiring round), the members' mean best
    /// validation loss (from scratch only, after round 0). A run resumed after round 2 records
    /// the same numbers, for both refits.
    #[test]
    fn stopping_signals_are_recorded_and_survive_a_resume() {
        let (bench, model, mut cfg) = setup();
        let spec = PairPolicySpec::Drts(Default::default());
        for refit in [
            PairRefit::FromScratch,
            PairRefit::Anchored(Default::default()),
        ] {
            cfg.refit = Some(refit.clone());
            let scratch = matches!(refit, PairRefit::FromScratch);
            let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 5);
            let (mut records, mut previous, mut kappas) = (vec![], None::<Vec<bool>>, vec![]);
            for t in 0..4 {
                // The model `step` will use: a from-scratch refit is deterministic, and an
                // anchored one is not refitted again by `step` once done here.
                let (fitted, ..) = run.fitted().unwrap();
                let current = run.stopping.predicted(&fitted);
                let bald = (t < 3).then(|| {
                    run.order[t * 10..(t + 1) * 10]
                        .iter()
                        .map(|&p| {
                            largest_pair_bald(&fitted.response_stats(&bench.stream[p].features).2)
                        })
                        .fold(f64::NEG_INFINITY, f64::max)
                });
                let loss = (scratch && t > 0).then(|| {
                    fitted
                        .reports
                        .iter()
                        .map(|r| r.best_validation_loss)
                        .sum::<f64>()
                        / fitted.reports.len() as f64
                });
                let r = run.step().unwrap().0;
                assert_eq!(
                    r.stopping_agreement,
                    previous.as_ref().map(|p| cohens_kappa(p, &current)),
                    "round {t}"
                );
                assert_eq!(
                    (r.batch_max_bald, r.validation_loss),
                    (bald, loss),
                    "round {t}"
                );
                kappas.extend(r.stopping_agreement);
                previous = Some(current);
                records.push(r);
            }
            assert!(
                kappas.iter().any(|&k| k < 1.0),
                "the models change: {kappas:?}"
            );
            let mut resumed = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 5)
                .resume_from(run.acquired[..20].to_vec(), 2)
                .unwrap();
            let again: Vec<PairRoundRecord> = (0..2).map(|_| resumed.step().unwrap().0).collect();
            assert_eq!(again, records[2..], "{refit:?}");
        }
    }

    /// The κ sample: the ring of each of the last prompts of the loop order, cut at the cap.
    #[test]
    fn the_stopping_sample_is_the_ring_of_the_last_prompts() {
        let (bench, _, _) = setup();
        let n = bench.stream[0].features.rows();
        assert!(n > 2);
        let order: Vec<usize> = (0..bench.stream.len()).rev().collect();
        let sample = ResponsePairs::ring_pairs(order.iter().map(|&p| &bench.stream[p]), 2 * n + 1);
        let want_a: Vec<usize> = (0..2 * n).chain([2 * n]).collect();
        let want_b: Vec<usize> = (0..2 * n)
            .map(|i| (i / n) * n + (i % n + 1) % n)
            .chain([2 * n + 1])
            .collect();
        assert_eq!((sample.a, sample.b), (want_a, want_b));
        let last = bench.stream.len() - 1;
        assert_eq!(
            sample.responses.row(0),
            bench.stream[last].features.row(0),
            "the first rows are the last prompt's"
        );
    }

    /// A priced oracle in the pair setting: each round's `label_cost` is the price of the pairs
    /// acquired before it, counted here from the texts (response `j` of prompt `p` has `j + 1`
    /// words, the prompt `p % 5 + 1`); the cost changes no pick.
    #[test]
    fn a_priced_oracle_records_the_cost_of_the_acquired_pairs() {
        use crate::oracle::LabelCost;
        use activepref_core::CandidateTexts;
        let (mut bench, model, mut cfg) = setup();
        for (p, prompt) in bench.stream.iter_mut().enumerate() {
            let n = prompt.judge.len();
            prompt.text = Some(CandidateTexts {
                prompt: vec!["w"; p % 5 + 1].join(" "),
                responses: (0..n).map(|j| vec!["r"; j + 1].join(" ")).collect(),
                models: vec!["m".into(); n],
            });
        }
        let spec = PairPolicySpec::Drts(Default::default());
        let mut plain = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 4);
        let plain: Vec<PairRoundRecord> = (0..3).map(|_| plain.step().unwrap().0).collect();
        cfg.oracle.cost = Some(LabelCost {
            per_label: 3.0,
            per_prompt_word: 1.0,
            per_response_word: 0.5,
        });
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 4);
        for plain in &plain {
            let (r, _) = run.step().unwrap();
            let by_hand: f64 = run.acquired[..r.labels]
                .iter()
                .map(|a| {
                    3.0 + (a.prompt % 5 + 1) as f64 + 0.5 * (a.chosen + 1 + a.rejected + 1) as f64
                })
                .sum();
            assert_eq!(r.label_cost, Some(by_hand));
            let mut unpriced = r.clone();
            unpriced.label_cost = None;
            assert_eq!(&unpriced, plain, "a cost changes nothing else");
        }
        assert!(plain[2].labels > 0);
    }

    /// Under `flip: 1` every pair is ordered against the judge and counted; under a
    /// Bradley–Terry oracle the answer is the draw of the unordered pair, against a direct
    /// recomputation; `ties.policy: drop` is refused in the pair setting.
    #[test]
    fn the_oracle_orders_the_pairs() {
        use crate::oracle::{OracleConfig, OracleKind, TiePolicy, TieRule};
        let (bench, model, mut cfg) = setup();
        let spec = PairPolicySpec::StaticMaxmin {};
        cfg.oracle.flip = 1.0;
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 1);
        let first = run.step().unwrap().0;
        assert_eq!(first.batch_oracle_flipped, Some(10));
        for p in &run.acquired {
            assert!(
                bench.stream[p.prompt].judge[p.chosen] < bench.stream[p.prompt].judge[p.rejected]
            );
        }
        cfg.oracle = OracleConfig {
            kind: OracleKind::BradleyTerry,
            temperature: 0.5,
            ..Default::default()
        };
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 1);
        let record = run.step().unwrap().0;
        let mut against = 0;
        for p in &run.acquired {
            let prompt = &bench.stream[p.prompt];
            let (lo, hi) = (p.chosen.min(p.rejected), p.chosen.max(p.rejected));
            let gap = f64::from(prompt.judge[lo]) - f64::from(prompt.judge[hi]);
            let mut rng = rng_for(
                1,
                Stream::Oracle,
                &[u64::from(prompt.prompt_id), lo as u64, hi as u64],
            );
            let u: f64 = rand::RngExt::random(&mut rng);
            let lo_wins = u < 1.0 / (1.0 + (-gap / 0.5).exp());
            assert_eq!(p.chosen == lo, lo_wins);
            against += usize::from(prompt.judge[p.chosen] < prompt.judge[p.rejected]);
        }
        assert_eq!(record.batch_oracle_flipped, Some(against));
        // The answer is about the unordered pair, judge ties included: asking (b, a) gives the
        // mirror of asking (a, b), under flips as well.
        cfg.oracle.flip = 0.4;
        let asker = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 7);
        for prompt in &bench.stream {
            let mut tied = prompt.clone();
            tied.judge[1] = tied.judge[0];
            for p in [prompt, &tied] {
                let (ab, flip_ab) = asker.oracle_answer(p, 0, 1);
                let (ba, flip_ba) = asker.oracle_answer(p, 1, 0);
                assert_eq!((ab, flip_ab), (!ba, flip_ba));
            }
        }
        cfg.oracle.ties = Some(TieRule {
            margin: 0.1,
            policy: TiePolicy::Drop,
        });
        assert_eq!(
            cfg.validate(bench.stream.len()).unwrap_err().field,
            "oracle.ties.policy"
        );
    }

    /// The D-optimal rule inside the loop: in round 0 (nothing acquired, `A = λ⁻¹ I`) and in
    /// round 1 (the first batch's pairs in `A`), each prompt's pair is the one of largest gain
    /// computed here by brute force from the round's model; a resumed run repeats the pairs.
    #[test]
    fn the_d_optimal_rule_picks_the_largest_gain() {
        let (bench, model, cfg) = setup();
        let spec = PairPolicySpec::Fisher(activepref_acquire::FisherParams { lambda: 0.5 });
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 2);
        for round in 0..2 {
            let before = run.acquired.len();
            let (fitted, ..) = run.fitted().unwrap();
            let (cf, _weights) = {
                let rows = |pick: fn(&AcquiredPair) -> usize| {
                    let d = bench.stream[0].features.dim();
                    let data: Vec<f32> = run
                        .acquired
                        .iter()
                        .flat_map(|p| bench.stream[p.prompt].features.row(pick(p)).to_vec())
                        .collect();
                    FeatureMatrix::new(run.acquired.len(), d, data).unwrap()
                };
                let (c, w) = fitted.last_layer(&rows(|p| p.chosen), None).unwrap();
                let (r, _) = fitted.last_layer(&rows(|p| p.rejected), None).unwrap();
                (
                    c.iter()
                        .zip(&r)
                        .map(|(c, r)| {
                            c.as_slice()
                                .iter()
                                .zip(r.as_slice())
                                .map(|(a, b)| a - b)
                                .collect::<Vec<f32>>()
                        })
                        .collect::<Vec<_>>(),
                    w,
                )
            };
            run.step().unwrap();
            for pair in &run.acquired[before..] {
                let prompt = &bench.stream[pair.prompt];
                let (phi, w) = fitted.last_layer(&prompt.features, None).unwrap();
                let n = prompt.features.rows();
                // Brute force: ln det of each draw's information with the pair added, minus without.
                let logdet = |m: usize, extra: Option<(usize, usize)>| -> f64 {
                    let h = w[m].len();
                    let mut a = vec![0.0f64; h * h];
                    for i in 0..h {
                        a[i * h + i] = 0.5;
                    }
                    let mut add = |g: Vec<f64>| {
                        let logit: f64 = g.iter().zip(&w[m]).map(|(x, &v)| x * f64::from(v)).sum();
                        let p = 1.0 / (1.0 + (-logit).exp());
                        for i in 0..h {
                            for j in 0..h {
                                a[i * h + j] += p * (1.0 - p) * g[i] * g[j];
                            }
                        }
                    };
                    for g in cf[m].chunks(h) {
                        add(g.iter().map(|&x| f64::from(x)).collect());
                    }
                    if let Some((i, j)) = extra {
                        add((0..h)
                            .map(|k| f64::from(phi[m].row(i)[k] - phi[m].row(j)[k]))
                            .collect());
                    }
                    let l = activepref_model::laplace::cholesky(&a, h).unwrap();
                    (0..h).map(|i| 2.0 * l[i * h + i].ln()).sum()
                };
                let gain = |i, j| {
                    (0..w.len())
                        .map(|m| logdet(m, Some((i, j))) - logdet(m, None))
                        .sum::<f64>()
                };
                let best = (0..n)
                    .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
                    .map(|(i, j)| gain(i, j))
                    .fold(f64::NEG_INFINITY, f64::max);
                let (i, j) = (
                    pair.chosen.min(pair.rejected),
                    pair.chosen.max(pair.rejected),
                );
                assert!(
                    (gain(i, j) - best).abs() < 1e-6 * best.abs().max(1.0),
                    "round {round}: {} < {best}",
                    gain(i, j)
                );
            }
        }
        let resumed = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 2)
            .resume_from(run.acquired[..10].to_vec(), 1)
            .unwrap();
        let mut resumed = resumed;
        resumed.step().unwrap();
        assert_eq!(resumed.acquired, run.acquired);
    }

    /// A k-center cold start puts its picks over the prompts' mean response features first,
    /// and a resumed run keeps that order.
    #[test]
    fn a_cold_start_picks_the_first_batch() {
        let (bench, model, mut cfg) = setup();
        cfg.cold_start = crate::ColdStart::Kcenter;
        let spec = PairPolicySpec::StaticMaxmin {};
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 3);
        let mut shuffled: Vec<usize> = (0..bench.stream.len()).collect();
        shuffled.shuffle(&mut rng_for(3, Stream::InitialSet, &[]));
        let (first, _) = crate::ColdStart::Kcenter.split(
            shuffled,
            cfg.batch_prompts,
            &mean_response_features(&bench.stream),
            3,
        );
        assert_eq!(run.order[..cfg.batch_prompts], first[..]);
        let p0 = &bench.stream[0];
        let mean0: f64 = (0..p0.features.rows())
            .map(|i| f64::from(p0.features.row(i)[0]))
            .sum::<f64>()
            / p0.features.rows() as f64;
        assert!((f64::from(mean_response_features(&bench.stream).row(0)[0]) - mean0).abs() < 1e-6);
        run.step().unwrap();
        run.step().unwrap();
        let resumed = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 3)
            .resume_from(run.acquired.clone(), 2)
            .unwrap();
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
        let spec = PairPolicySpec::StaticMaxmin {};
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

    /// An ensemble that learns the synthetic stream's latent order within a few refits.
    pub(crate) fn learning_model(members: usize) -> EnsembleConfig {
        EnsembleConfig {
            members,
            mlp: RewardMlpConfig {
                hidden: vec![32],
                weight_init_std: 0.1,
                ..Default::default()
            },
            train: TrainConfig {
                lr: 3e-3,
                max_epochs: 20,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn anchored_cfg() -> PairLoopConfig {
        PairLoopConfig {
            batch_prompts: 10,
            rounds: Some(4),
            replay_factor: Some(2),
            refit: Some(PairRefit::Anchored(AnchoredRefitConfig {
                lr: 1e-2,
                batch_size: 8,
                max_samples: 15,
                ..Default::default()
            })),
            prefix_eval: None,
            cold_start: Default::default(),
            oracle: Default::default(),
        }
    }

    #[test]
    fn replay_buffer_keeps_the_last_pairs_fifo_and_the_sample_draws_from_it() {
        let (bench, model, _) = setup();
        let cfg = anchored_cfg();
        let spec = PairPolicySpec::Random {};
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 4);
        while !run.finished() {
            run.step().unwrap();
        }
        assert_eq!(run.acquired.len(), 40);
        // Capacity batch_prompts × replay_factor = 20: after 30 pairs, pairs 10..30, oldest first.
        let buffer = run.replay_buffer(&run.acquired[..30]);
        assert_eq!(buffer, &run.acquired[10..30]);
        assert_eq!(run.replay_buffer(&run.acquired[..7]), &run.acquired[..7]);
        // The refit after batch 2 trains on 15 distinct pairs of that buffer.
        let sample = run.refit_sample(2, 15);
        assert_eq!(sample.len(), 15);
        let distinct: std::collections::HashSet<usize> = sample.iter().map(|p| p.prompt).collect();
        assert_eq!(distinct.len(), 15, "without replacement");
        assert!(sample.iter().all(|p| buffer.contains(p)));
        // After batch 0 the buffer holds 10 pairs, all of which are drawn.
        assert_eq!(run.refit_sample(0, 15).len(), 10);
        // No replay factor: every pair.
        let all = PairLoopConfig {
            replay_factor: None,
            ..anchored_cfg()
        };
        let run2 = PairLoop::new(&bench, &model, &all, &spec, PairMode::Corrected, 4);
        assert_eq!(run2.replay_buffer(&run.acquired).len(), 40);
    }

    #[test]
    fn anchored_refit_records_the_anchor_strength_and_reads_no_validation_label() {
        let (bench, model, scratch) = setup();
        let cfg = anchored_cfg();
        let spec = PairPolicySpec::Deltaucb(BetaParams::default());
        let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 3);
        let records: Vec<PairRoundRecord> = (0..5).map(|_| run.step().unwrap().0).collect();
        // Per label (corrected default): λ = 0.9^(n / 14.2) after n = 10, 20, 30, 40 labels.
        let want: Vec<Option<f64>> = std::iter::once(None)
            .chain((1..=4).map(|t| Some(0.9f64.powf(10.0 * t as f64 / 14.2))))
            .collect();
        for (r, w) in records.iter().zip(&want) {
            match (r.anchor_strength, w) {
                (None, None) => {}
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "{a} vs {b}"),
                other => panic!("{other:?}"),
            }
            assert_eq!(r.validation_labels, 0);
        }
        // Reference mode defaults to the anchored refit with the reference's decay over N = 60.
        let plain = PairLoopConfig {
            refit: None,
            prefix_eval: None,
            ..anchored_cfg()
        };
        let mut reference = PairLoop::new(&bench, &model, &plain, &spec, PairMode::Reference, 3);
        assert!(matches!(
            reference.refit(),
            (PairRefit::Anchored(_), AnchorDecay::Reference { .. })
        ));
        reference.step().unwrap();
        let r1 = reference.step().unwrap().0;
        let lambda = r1.anchor_strength.unwrap();
        assert!((lambda - 0.9f64.powf(4308.0 * 10.0 / 60.0)).abs() < 1e-300);
        // Corrected mode defaults to from scratch, whose refits read the validation pairs.
        let mut fresh = PairLoop::new(&bench, &model, &scratch, &spec, PairMode::Corrected, 3);
        assert!(matches!(fresh.refit().0, PairRefit::FromScratch));
        assert_eq!(
            fresh.step().unwrap().0.validation_labels,
            0,
            "round 0 trains nothing"
        );
        let v = fresh.step().unwrap().0.validation_labels;
        let judged: usize = bench
            .validation
            .iter()
            .map(|p| p.judged_pairs().len())
            .sum();
        assert_eq!(v, judged);
        assert!(v > 0);
    }

    #[test]
    fn anchored_runs_rerun_and_resume_bit_identically() {
        let (bench, model, _) = setup();
        let cfg = anchored_cfg();
        let spec = PairPolicySpec::Drts(Default::default());
        let go = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 8);
                let mut records = vec![];
                while !run.finished() {
                    records.push(run.step().unwrap().0);
                }
                (records, run.acquired)
            })
        };
        let (records, acquired) = go(2);
        assert_eq!(
            go(1),
            (records.clone(), acquired.clone()),
            "thread count changes nothing"
        );
        // Resume after round 3: the refits of batches 0..2 are replayed from the recorded pairs.
        let mut resumed = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, 8)
            .resume_from(acquired[..30].to_vec(), 3)
            .unwrap();
        let rest: Vec<PairRoundRecord> = (0..2).map(|_| resumed.step().unwrap().0).collect();
        assert_eq!(rest, records[3..]);
        assert_eq!(resumed.acquired, acquired);
    }

    #[test]
    fn drts_and_deltaucb_acquire_larger_latent_gaps_than_random() {
        let bench = SyntheticPairConfig {
            prompts: 160,
            heldout_prompts: 10,
            validation_prompts: 20,
            ..Default::default()
        }
        .generate()
        .unwrap();
        let model = learning_model(5);
        let cfg = PairLoopConfig {
            batch_prompts: 32,
            rounds: None,
            replay_factor: None,
            refit: None,
            prefix_eval: None,
            cold_start: Default::default(),
            oracle: Default::default(),
        };
        let gap = |spec: PairPolicySpec| {
            let mut sum = 0.0;
            for seed in [1, 2] {
                let mut run = PairLoop::new(&bench, &model, &cfg, &spec, PairMode::Corrected, seed);
                while !run.finished() {
                    let r = run.step().unwrap().0;
                    if r.round > 0 {
                        sum += r.batch_mean_latent_gap.unwrap_or(0.0);
                    }
                }
            }
            sum
        };
        let random = gap(PairPolicySpec::Random {});
        let drts = gap(PairPolicySpec::Drts(Default::default()));
        let deltaucb = gap(PairPolicySpec::Deltaucb(BetaParams::default()));
        // After the first (untrained) round, the trained model steers both towards pairs whose
        // responses differ most in true reward.
        assert!(
            drts > 1.2 * random && deltaucb > 1.2 * random,
            "random {random}, drts {drts}, deltaucb {deltaucb}"
        );
    }

    #[test]
    fn response_level_evaluation_equals_the_per_pair_one() {
        let (bench, model, _) = setup();
        let fitted = model
            .untrained(bench.heldout[0].features.dim(), 3, 0)
            .unwrap();
        let pairs = ResponsePairs::new(&bench.heldout, |p| &p.judge);
        let split = judged_split(&bench.heldout);
        assert_eq!(pairs.len(), split.len());
        let by_pair = fitted.predict(&split, None).metrics(&split.a_preferred);
        let by_response = pairs.metrics(&fitted);
        for (x, y) in [
            (by_pair.log_likelihood, by_response.log_likelihood),
            (by_pair.accuracy, by_response.accuracy),
            (by_pair.brier, by_response.brier),
        ] {
            assert!((x - y).abs() < 1e-6, "{x} vs {y}");
        }
    }

    #[test]
    fn sizes_are_checked() {
        let cfg = PairLoopConfig {
            batch_prompts: 50,
            rounds: Some(3),
            replay_factor: None,
            refit: None,
            prefix_eval: None,
            cold_start: Default::default(),
            oracle: Default::default(),
        };
        assert_eq!(cfg.validate(100).unwrap_err().field, "rounds");
        assert!(
            PairLoopConfig {
                batch_prompts: 50,
                rounds: Some(2),
                replay_factor: Some(2),
                refit: None,
                prefix_eval: None,
                cold_start: Default::default(),
                oracle: Default::default(),
            }
            .validate(100)
            .is_ok()
        );
    }

    /// A prefix larger than the pairs the loop acquires (one per prompt of its rounds, at most the
    /// stream) is refused, naming both; the whole acquired set itself is a valid size.
    #[test]
    fn prefix_sizes_beyond_the_acquired_pairs_are_refused() {
        let with = |rounds, sizes: Vec<usize>| PairLoopConfig {
            batch_prompts: 30,
            rounds,
            replay_factor: None,
            refit: None,
            prefix_eval: Some(crate::PrefixEvalConfig { sizes }),
            cold_start: Default::default(),
            oracle: Default::default(),
        };
        assert!(with(Some(2), vec![10, 60]).validate(100).is_ok());
        let e = with(Some(2), vec![10, 61]).validate(100).unwrap_err();
        assert_eq!(e.field, "prefix_eval.sizes");
        assert!(
            e.message
                .starts_with("lists 61, but the loop acquires at most 60 pairs (one per prompt: 2 rounds of 30 prompts, on a stream of 100)"),
            "{e}"
        );
        let e = with(Some(1), vec![31]).validate(100).unwrap_err();
        assert!(
            e.message
                .contains("(one per prompt: 1 round of 30 prompts, "),
            "{e}"
        );
        let e = with(Some(4), vec![10]).validate(100).unwrap_err();
        assert_eq!(
            e.to_string(),
            "rounds: 4 rounds of 30 prompts need 120 prompts but the stream has 100; lower rounds or batch_prompts, or leave rounds out to use the whole stream"
        );
        // The whole stream: 4 rounds of 30 on 100 prompts acquire 100 pairs.
        assert!(with(None, vec![100]).validate(100).is_ok());
        assert_eq!(
            with(None, vec![101]).validate(100).unwrap_err().field,
            "prefix_eval.sizes"
        );
        assert_eq!(
            with(None, vec![10]).validate(20).unwrap_err().field,
            "batch_prompts"
        );
    }
}
