//! Training: every member from its own seed, AdamW with warm-up and decay, minibatches, early
//! stopping on validation loss with the best checkpoint restored.

use activepref_core::seeds::{NO_ROUND, Stream, model_draw, rng_for};
use activepref_core::{EnsemblePrediction, PoolSplit};
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rayon::prelude::*;

use super::dense_train::DenseTrainer;
use super::fitted::DeviceRows;
use super::fitted::Draws;
use super::laplace::LaplaceHead;
use super::passes::{dense_sources_rewards, groups_for, sources_rewards};
use super::repeats::RowGroups;
use super::{
    EnsembleConfig, FittedEnsemble, MemberInit, TrainConfig, TrainingStrategy, UncertaintyBackend,
};
use crate::ModelError;
use crate::mlp::{DenseRewardMlp, DenseScratch};
use crate::mlp::{Precision, RewardMlp, bradley_terry_loss, dropout_masks};

/// What happened while one member trained.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Optimiser steps taken.
    pub steps: usize,
    /// Validation passes made: one per evaluation, each this network's losses over every
    /// validation comparison (0 when never evaluated).
    pub evaluations: usize,
    /// The step whose weights were kept: the evaluation with the lowest validation loss (0 before
    /// any evaluation; `steps` for anchored heads, which keep their last weights).
    pub best_step: usize,
    /// Mean Bradley–Terry validation loss (nats per comparison) at `best_step`; NaN when never
    /// evaluated.
    pub best_validation_loss: f64,
    /// Whether patience ran out before the last epoch.
    pub stopped_early: bool,
}

/// Which member of which round of which run trains: the path of its random streams.
#[derive(Clone, Copy)]
struct MemberKey {
    run_seed: u64,
    round: u64,
    member: usize,
}

/// A fit's validation split and, off the CPU backend, its rows on the device (uploaded once per
/// fit for every pass of every member).
#[derive(Clone, Copy)]
struct Validation<'a> {
    split: &'a PoolSplit,
    on_device: Option<&'a [DeviceRows; 2]>,
}

/// The network a validation pass evaluates.
#[derive(Clone, Copy)]
enum Evaluated<'a> {
    /// A module, through [`sources_rewards`] (or its rows on the device).
    Model(&'a RewardMlp),
    /// The dense trainer's own network, read in place: its weights, in the precision it steps
    /// in (bf16 weights already rounded, the first layer's in the tiles' layout), are those
    /// `RewardMlp::from_dense` then [`RewardMlp::dense`] would rebuild, copy, round and pack
    /// again for every pass.
    Dense(&'a DenseRewardMlp),
}

/// Mean Bradley–Terry loss of `model` on a labelled split, accumulated in f64; `groups` are the
/// split's repeated rows ([`groups_for`]), found once per fit.
fn validation_loss(
    model: Evaluated<'_>,
    validation: Validation<'_>,
    groups: Option<&RowGroups>,
    device: &Device,
) -> f64 {
    let split = validation.split;
    let sources = [(&split.pair_a, None), (&split.pair_b, None)];
    let mut r = match (model, validation.on_device) {
        (Evaluated::Model(m), Some(rows)) => rows.iter().map(|s| s.rewards(m)).collect(),
        (Evaluated::Model(m), None) => sources_rewards(m, &sources, groups, &[], device),
        // The dense trainer runs on the CPU backend only, where no rows are uploaded.
        (Evaluated::Dense(d), _) => dense_sources_rewards(d, &sources, groups, &[]),
    };
    let rb = r.pop().expect("two sources");
    let ra = r.pop().expect("two sources");
    let pred = EnsemblePrediction::from_rewards(&[ra], &[rb]);
    pred.mean_member_nll(&split.a_preferred)
}

impl FittedEnsemble {
    /// Seconds that one validation pass of a fit takes on `split` with these members' weights
    /// and precision: every member's mean Bradley–Terry loss, evaluated as
    /// [`EnsembleConfig::fit`] evaluates it. What a fit keeps from pass to pass is prepared
    /// first and not timed: the dense networks (a fit reads its trainer's in place), the
    /// split's repeated rows, and off the CPU backend the split's rows on the device. For
    /// `activepref bench-round`.
    pub fn time_validation_pass(&self, split: &PoolSplit) -> f64 {
        let device = &self.device;
        let on_device = DeviceRows::pair(split, device);
        let validation = Validation {
            split,
            on_device: on_device.as_ref(),
        };
        let groups = groups_for(device, &[(&split.pair_a, None), (&split.pair_b, None)]);
        let on_cpu = on_device.is_none() && *device == Device::flex();
        let dense: Vec<Option<DenseRewardMlp>> = self
            .members
            .iter()
            .map(|m| on_cpu.then(|| m.dense()).flatten())
            .collect();
        let start = std::time::Instant::now();
        for (member, dense) in self.members.iter().zip(&dense) {
            let evaluated = match dense {
                Some(d) => Evaluated::Dense(d),
                None => Evaluated::Model(member),
            };
            std::hint::black_box(validation_loss(
                evaluated,
                validation,
                groups.as_ref(),
                device,
            ));
        }
        start.elapsed().as_secs_f64()
    }
}

impl EnsembleConfig {
    /// Trains every member from scratch on `train` (round `round` of run `run_seed`), with early
    /// stopping on `validation`: the `full_retrain` schedule, whatever `train.strategy` says (the
    /// "full dataset" line, the pair loop's from-scratch refit and prefix evaluations always
    /// train this way; the pool loop's rounds go through [`Self::fit_from`]). Members train in
    /// parallel; each has its own seeded generator, so the result does not depend on the thread
    /// count.
    ///
    /// # Errors
    ///
    /// As [`Self::fit_from`].
    pub fn fit(
        &self,
        train: &PoolSplit,
        validation: &PoolSplit,
        run_seed: u64,
        round: u64,
    ) -> Result<FittedEnsemble, ModelError> {
        if self.train.strategy == TrainingStrategy::FullRetrain {
            return self.fit_from(None, train, validation, run_seed, round);
        }
        let mut retrain = self.clone();
        retrain.train.strategy = TrainingStrategy::FullRetrain;
        retrain.fit_from(None, train, validation, run_seed, round)
    }

    /// One round's training under [`TrainConfig::strategy`](super::TrainConfig): with
    /// `full_retrain` the same as [`Self::fit`] (`previous` is ignored); with `warm_start` each
    /// member continues from `previous`'s weights (from its initial weights when `previous` is
    /// `None`, in round 0) for the strategy's epochs on `train`, then evaluates once on
    /// `validation`.
    ///
    /// # Errors
    /// [`ModelError::Config`] when the configuration fails [`Self::validate`] (checked here, so an
    /// unchecked configuration never trains), [`ModelError::EmptyTrainingSet`] for an empty
    /// `train`, [`ModelError::Diverged`] for a
    /// non-finite validation loss, [`ModelError::Unsupported`] when `previous` has another number
    /// of members than this config, and the device's error when it is not available.
    pub fn fit_from(
        &self,
        previous: Option<&FittedEnsemble>,
        train: &PoolSplit,
        validation: &PoolSplit,
        run_seed: u64,
        round: u64,
    ) -> Result<FittedEnsemble, ModelError> {
        self.validate().map_err(ModelError::Config)?;
        let previous = match self.train.strategy {
            TrainingStrategy::FullRetrain => None,
            TrainingStrategy::WarmStart { .. } => previous,
        };
        let networks = if self.backend.trains_one_network() {
            1
        } else {
            self.members
        };
        if previous.is_some_and(|p| p.members.len() != networks) {
            return Err(ModelError::Unsupported {
                what: "a warm start from an ensemble of another size",
            });
        }
        let start = |m: usize| previous.map(|p| &p.members[m]);
        if train.is_empty() {
            return Err(ModelError::EmptyTrainingSet);
        }
        let device = self.device.burn_device()?;
        let on_device = DeviceRows::pair(validation, &device);
        let validation = Validation {
            split: validation,
            on_device: on_device.as_ref(),
        };
        // The single network of MC dropout and the Laplace last layer: member 0's seeds.
        let fit_single = |dropout: Option<f64>| {
            let key = MemberKey {
                run_seed,
                round,
                member: 0,
            };
            self.fit_member(train, validation, key, &device, (start(0), dropout))
        };
        if let UncertaintyBackend::McDropout { rate, realisations } = self.backend {
            let (model, report) = fit_single(Some(rate))?;
            return Ok(FittedEnsemble::mc_dropout(
                model,
                rate,
                realisations,
                run_seed,
                round,
                device,
                report,
            ));
        }
        if let UncertaintyBackend::LaplaceLastLayer {
            samples,
            prior_precision,
        } = self.backend
        {
            let (model, report) = fit_single(None)?;
            let head = laplace_head(
                &model,
                &device,
                Some(train),
                (prior_precision, samples),
                (run_seed, round),
            )?;
            return Ok(FittedEnsemble {
                members: vec![model],
                draws: Draws::Laplace(head),
                device,
                reports: vec![report],
            });
        }
        self.fit_members(train, validation, (run_seed, round), device, previous)
    }

    /// The deep ensemble's members, trained in parallel (each from `previous`'s member when
    /// warm-starting).
    fn fit_members(
        &self,
        train: &PoolSplit,
        validation: Validation<'_>,
        (run_seed, round): (u64, u64),
        device: Device,
        previous: Option<&FittedEnsemble>,
    ) -> Result<FittedEnsemble, ModelError> {
        let trained: Vec<Result<(RewardMlp, TrainReport), ModelError>> = (0..self.members)
            .into_par_iter()
            .map(|member| {
                let key = MemberKey {
                    run_seed,
                    round,
                    member,
                };
                let start = previous.map(|p| &p.members[member]);
                self.fit_member(train, validation, key, &device, (start, None))
            })
            .collect();
        let mut members = Vec::with_capacity(self.members);
        let mut reports = Vec::with_capacity(self.members);
        for r in trained {
            let (model, report) = r?;
            members.push(model);
            reports.push(report);
        }
        Ok(FittedEnsemble {
            members,
            draws: Draws::Members,
            device,
            reports,
        })
    }

    /// The ensemble at its initial weights, before any label (the first round of a pair-selection
    /// loop). Members use the same initial-weight streams as [`Self::fit`] would.
    ///
    /// # Errors
    ///
    /// The device's error ([`crate::ComputeDevice::burn_device`]) when it is not available.
    pub fn untrained(
        &self,
        input_dim: usize,
        run_seed: u64,
        round: u64,
    ) -> Result<FittedEnsemble, ModelError> {
        let device = self.device.burn_device()?;
        let init = |m: usize| {
            self.mlp
                .init(
                    input_dim,
                    &mut rng_for(
                        run_seed,
                        Stream::Model,
                        &[round, m as u64, model_draw::INIT],
                    ),
                    &device,
                )
                .with_precision(self.precision)
        };
        let report = TrainReport {
            steps: 0,
            evaluations: 0,
            best_step: 0,
            best_validation_loss: f64::NAN,
            stopped_early: false,
        };
        if let UncertaintyBackend::McDropout { rate, realisations } = self.backend {
            let model = init(0);
            return Ok(FittedEnsemble::mc_dropout(
                model,
                rate,
                realisations,
                run_seed,
                round,
                device,
                report,
            ));
        }
        if let UncertaintyBackend::LaplaceLastLayer {
            samples,
            prior_precision,
        } = self.backend
        {
            let model = init(0);
            let head = laplace_head(
                &model,
                &device,
                None,
                (prior_precision, samples),
                (run_seed, round),
            )?;
            return Ok(FittedEnsemble {
                members: vec![model],
                draws: Draws::Laplace(head),
                device,
                reports: vec![report],
            });
        }
        let members = (0..self.members).map(init).collect();
        Ok(FittedEnsemble {
            members,
            draws: Draws::Members,
            device,
            reports: vec![report; self.members],
        })
    }

    /// Trains one member: from `start`'s weights when warm-starting, else from its initial
    /// weights; `dropout` is MC dropout's rate.
    fn fit_member(
        &self,
        train: &PoolSplit,
        validation: Validation<'_>,
        key: MemberKey,
        device: &Device,
        (start, dropout): (Option<&RewardMlp>, Option<f64>),
    ) -> Result<(RewardMlp, TrainReport), ModelError> {
        let MemberKey { round, member, .. } = key;
        let t = &self.train;
        let (mut order_rng, mut mask_rng) = member_rngs(key);
        let ad = device.clone().autodiff();
        let model = match start {
            // Back from an inference snapshot to a trainable module on the autodiff device.
            Some(previous) => previous.clone().train().fork(&ad),
            None => self
                .mlp
                .init(train.pair_a.dim(), &mut self.init_rng(key), &ad),
        };
        let mut stopping = EarlyStopping::new(t.patience, model.clone());
        let mut learner = Learner::new(model, (dropout, self.precision), t, (device, &ad));

        let n = train.len();
        let batch_size = t.batch_size.min(n);
        let steps_per_epoch = n.div_ceil(batch_size);
        let total_steps = steps_per_epoch * t.epochs();
        let val_groups = groups_for(
            device,
            &[
                (&validation.split.pair_a, None),
                (&validation.split.pair_b, None),
            ],
        );
        let mut step = 0usize;
        let mut order: Vec<usize> = (0..n).collect();
        'epochs: for _epoch in 0..t.epochs() {
            order.shuffle(&mut order_rng);
            for batch in order.chunks(batch_size) {
                let lr = t.lr_at(step, total_steps);
                learner.step(train, batch, (dropout, &mut mask_rng), lr);
                step += 1;
                if t.evaluates_after(step, steps_per_epoch) {
                    // The reference's Trainer evaluates under its training precision (bf16
                    // autocast in the 5-seed scripts); scoring and metrics stay f32.
                    let loss = learner.validation_loss(
                        validation,
                        val_groups.as_ref(),
                        (device, self.precision),
                    );
                    if !loss.is_finite() {
                        return Err(ModelError::Diverged {
                            member,
                            round,
                            step,
                            loss,
                        });
                    }
                    if stopping.observe(loss, step, || learner.current(device)) {
                        break 'epochs;
                    }
                }
            }
        }
        Ok(stopping.finish(step))
    }

    /// The generator of a member's initial weights (specs/balpm.md §2 "Seeding" for the
    /// reference's shared initialisation).
    fn init_rng(&self, key: MemberKey) -> rand_chacha::ChaCha8Rng {
        const SHARED_INIT_SEED: u64 = 42;
        let MemberKey {
            run_seed,
            round,
            member,
        } = key;
        match self.member_init {
            MemberInit::Independent => rng_for(
                run_seed,
                Stream::Model,
                &[round, member as u64, model_draw::INIT],
            ),
            MemberInit::ReferenceShared if member == 0 && round == 0 => {
                rng_for(run_seed, Stream::Model, &[round, 0, model_draw::INIT])
            }
            MemberInit::ReferenceShared => rng_for(
                SHARED_INIT_SEED,
                Stream::Model,
                &[NO_ROUND, member.min(1) as u64],
            ),
        }
    }
}

/// One optimiser step on `loss` (shape `[1]`): backpropagation, then the optimiser's update at
/// learning rate `lr`. The one step every training path takes (the from-scratch fit, warm starts
/// and ActiveUltraFeedback's anchored refit).
pub(crate) fn optimiser_step(
    model: RewardMlp,
    loss: Tensor<1>,
    optim: &mut ModuleOptimizer,
    lr: f64,
) -> RewardMlp {
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    optim.step(lr, model, grads)
}

/// The Laplace posterior of `model`'s final layer given the training comparisons `train` (none:
/// the prior alone, for an untrained model), with `samples` weight samples for `(run_seed, round)`.
fn laplace_head(
    model: &RewardMlp,
    device: &Device,
    train: Option<&PoolSplit>,
    (prior_precision, samples): (f64, usize),
    seeds: (u64, u64),
) -> Result<LaplaceHead, ModelError> {
    let unsupported = ModelError::Unsupported {
        what: "backend laplace_last_layer needs the CPU backend and tanh activations",
    };
    let dense = model
        .dense()
        .filter(|_| *device == Device::flex())
        .ok_or(unsupported)?;
    let (phi_a, phi_b) = match train {
        Some(t) => {
            let side = |x: &activepref_core::FeatureMatrix| {
                dense.final_inputs(x.as_slice(), x.rows(), &[], &mut DenseScratch::default())
            };
            (side(&t.pair_a), side(&t.pair_b))
        }
        None => (vec![], vec![]),
    };
    LaplaceHead::fit(dense, (&phi_a, &phi_b), prior_precision, samples, seeds).map_err(|_| {
        ModelError::Unsupported {
            what: "backend laplace_last_layer: the posterior precision is not positive definite (the model diverged); lower model.train.lr",
        }
    })
}

/// The generators of one member's minibatch order and dropout masks (see `seeds`).
fn member_rngs(key: MemberKey) -> (rand_chacha::ChaCha8Rng, rand_chacha::ChaCha8Rng) {
    let path = |draw| [key.round, key.member as u64, draw];
    (
        rng_for(key.run_seed, Stream::Model, &path(model_draw::ORDER)),
        rng_for(key.run_seed, Stream::Model, &path(model_draw::MASK)),
    )
}

/// Appends to `rows` the chosen sides of the comparisons `batch` of `train`, then their
/// rejected sides, as `2 · batch.len() × d` row-major values (the label decides which side is
/// chosen).
fn batch_rows(train: &PoolSplit, batch: &[usize], rows: &mut Vec<f32>) {
    let d = train.pair_a.dim();
    rows.reserve(2 * batch.len() * d);
    for rejected in [false, true] {
        for &i in batch {
            let chosen_is_a = train.a_preferred[i];
            let side = if chosen_is_a != rejected {
                &train.pair_a
            } else {
                &train.pair_b
            };
            rows.extend_from_slice(side.row(i));
        }
    }
}

/// Tests set this to train on burn's autodiff where the dense trainer would apply, to compare
/// whole fits. f32 results are bit-identical either way, so other tests running meanwhile are
/// unaffected; bf16 fits (which burn cannot train) stay on the dense trainer.
#[cfg(test)]
pub(crate) static FORCE_BURN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

#[cfg(test)]
fn force_burn() -> bool {
    FORCE_BURN.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(not(test))]
fn force_burn() -> bool {
    false
}

/// The network being trained: on burn's autodiff, or on plain buffers ([`DenseTrainer`], the
/// same steps bit for bit) on the CPU backend with tanh and no dropout.
enum Learner {
    Burn {
        model: Option<RewardMlp>,
        optim: Box<ModuleOptimizer>,
        widths: Vec<usize>,
        device: Device,
    },
    Dense(Box<DenseTrainer>),
}

impl Learner {
    /// `model` lives on the autodiff device `ad`; `device` is the plain one. Steps run in
    /// `precision` on the dense path; burn's trains in f32 (`validate` keeps bf16 off it).
    fn new(
        model: RewardMlp,
        (dropout, precision): (Option<f64>, Precision),
        t: &TrainConfig,
        (device, ad): (&Device, &Device),
    ) -> Self {
        let forced = force_burn() && precision == Precision::F32;
        let dense = (*device == Device::flex() && dropout.is_none() && !forced)
            .then(|| DenseTrainer::new(&model, t.fused_adamw(), precision))
            .flatten();
        debug_assert!(
            dense.is_some() || precision == Precision::F32,
            "bf16 training needs the dense CPU path (validate refuses the rest)"
        );
        match dense {
            Some(trainer) => Learner::Dense(Box::new(trainer)),
            None => Learner::Burn {
                widths: model.hidden_widths(),
                device: ad.clone(),
                model: Some(model),
                optim: Box::new(t.optimizer(device)),
            },
        }
    }

    /// One optimiser step at learning rate `lr` on the comparisons `batch` of `train`, with
    /// MC dropout's masks from `mask_rng` when `dropout` is set.
    fn step(
        &mut self,
        train: &PoolSplit,
        batch: &[usize],
        (dropout, mask_rng): (Option<f64>, &mut rand_chacha::ChaCha8Rng),
        lr: f64,
    ) {
        let rows = batch.len();
        match self {
            Learner::Dense(trainer) => {
                let mut pairs = trainer.minibatch();
                batch_rows(train, batch, &mut pairs);
                trainer.step(&pairs, rows, lr);
                trainer.keep_minibatch(pairs);
            }
            Learner::Burn {
                model,
                optim,
                widths,
                device,
            } => {
                let d = train.pair_a.dim();
                let mut pairs = Vec::new();
                batch_rows(train, batch, &mut pairs);
                let tensor = |v: &[f32]| {
                    Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, d]), &*device)
                };
                let (c, r) = pairs.split_at(rows * d);
                let (xc, xr) = (tensor(c), tensor(r));
                let m = model.take().expect("a model between steps");
                let (rc, rr) = match dropout {
                    // Independent masks for the two passes, as the reference's two F.dropout calls.
                    Some(rate) => {
                        let mut masks = || dropout_masks(widths, rows, rate, mask_rng, device);
                        (
                            m.forward_masked(xc, &masks()),
                            m.forward_masked(xr, &masks()),
                        )
                    }
                    None => (m.forward(xc), m.forward(xr)),
                };
                let loss = bradley_terry_loss(rc, rr);
                *model = Some(optimiser_step(m, loss, optim, lr));
            }
        }
    }

    /// The mean validation loss of the weights now, evaluated in `precision` (`device`: the
    /// plain CPU or accelerator device): the dense trainer's network read in place, burn's
    /// module as an inference copy.
    fn validation_loss(
        &self,
        validation: Validation<'_>,
        groups: Option<&RowGroups>,
        (device, precision): (&Device, Precision),
    ) -> f64 {
        match self {
            Learner::Dense(trainer) => {
                let net = trainer.net();
                debug_assert_eq!(net.is_bf16(), precision == Precision::Bf16);
                validation_loss(Evaluated::Dense(net), validation, groups, device)
            }
            Learner::Burn { model, .. } => {
                let m = model.clone().expect("a model between steps");
                let evaluated = m.valid().with_precision(precision);
                validation_loss(Evaluated::Model(&evaluated), validation, groups, device)
            }
        }
    }

    /// The weights now, for a checkpoint (`device`: the plain CPU or accelerator device).
    fn current(&self, device: &Device) -> RewardMlp {
        match self {
            Learner::Dense(trainer) => trainer.model(device),
            Learner::Burn { model, .. } => model.clone().expect("a model between steps"),
        }
    }
}

/// Early stopping on validation loss (burn-train's `EarlyStoppingStrategy` is the model): keeps
/// the model of the lowest loss seen and says when `patience` evaluations in a row brought no
/// strictly lower one.
struct EarlyStopping {
    patience: usize,
    best_loss: f64,
    best_model: RewardMlp,
    best_step: usize,
    bad_evals: usize,
    evaluations: usize,
    stopped: bool,
}

impl EarlyStopping {
    /// Before any evaluation: `initial` is returned if no evaluation ever happens.
    fn new(patience: usize, initial: RewardMlp) -> Self {
        Self {
            patience,
            best_loss: f64::INFINITY,
            best_model: initial,
            best_step: 0,
            bad_evals: 0,
            evaluations: 0,
            stopped: false,
        }
    }

    /// Records the validation `loss` after `step` of the model `model()` returns (called only
    /// when the loss is the lowest yet, to keep it); true when training should stop.
    fn observe(&mut self, loss: f64, step: usize, model: impl FnOnce() -> RewardMlp) -> bool {
        self.evaluations += 1;
        if loss < self.best_loss {
            (self.best_loss, self.best_model, self.best_step) = (loss, model(), step);
            self.bad_evals = 0;
        } else {
            self.bad_evals += 1;
            self.stopped = self.bad_evals >= self.patience;
        }
        self.stopped
    }

    /// The best model, for inference, and what happened over the `steps` steps taken.
    fn finish(self, steps: usize) -> (RewardMlp, TrainReport) {
        let report = TrainReport {
            steps,
            evaluations: self.evaluations,
            best_step: self.best_step,
            best_validation_loss: self.best_loss,
            stopped_early: self.stopped,
        };
        (self.best_model.valid(), report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::RewardMlpConfig;

    /// `model.precision` reaches the trainer: bf16 steps on the dense path, f32 steps there
    /// otherwise, and burn's (f32) trainer only when a test forces it in f32.
    #[test]
    fn the_precision_reaches_the_dense_trainer() {
        let (device, ad) = (Device::flex(), Device::flex().autodiff());
        let cfg = RewardMlpConfig {
            hidden: vec![8],
            ..Default::default()
        };
        let model = cfg.init(6, &mut rng_for(1, Stream::Model, &[0]), &ad);
        let t = TrainConfig::default();
        let steps =
            |precision| match Learner::new(model.clone(), (None, precision), &t, (&device, &ad)) {
                Learner::Dense(trainer) => Some(trainer.steps_in_bf16()),
                Learner::Burn { .. } => None,
            };
        assert_eq!(steps(Precision::Bf16), Some(true));
        assert_eq!(steps(Precision::F32), Some(false));
    }

    /// A validation pass on the dense trainer's own network gives the loss of the module a
    /// checkpoint rebuilds from it, bit for bit, in f32 and bf16, with the split's repeated rows
    /// grouped and without: after a few steps, so that the bf16 weights are the trainer's
    /// rounding of its updated master weights.
    #[test]
    fn validating_the_trainers_network_in_place_gives_the_modules_loss() {
        use activepref_data::synthetic::SyntheticPoolConfig;
        let bench = SyntheticPoolConfig {
            responses_per_prompt: 3,
            ..Default::default()
        }
        .generate()
        .unwrap();
        let (train, split) = (&bench.pool, &bench.validation);
        let (device, ad) = (Device::flex(), Device::flex().autodiff());
        let sources = [(&split.pair_a, None), (&split.pair_b, None)];
        let groups = groups_for(&device, &sources);
        assert!(groups.is_some(), "the split's rows repeat");
        let cfg = RewardMlpConfig {
            hidden: vec![16, 8],
            ..Default::default()
        };
        let model = cfg.init(
            train.pair_a.dim(),
            &mut rng_for(5, Stream::Model, &[0]),
            &ad,
        );
        let t = TrainConfig::default();
        let validation = Validation {
            split,
            on_device: None,
        };
        for precision in [Precision::F32, Precision::Bf16] {
            let mut learner = Learner::new(model.clone(), (None, precision), &t, (&device, &ad));
            assert!(matches!(learner, Learner::Dense(_)), "{precision:?}");
            let mut rng = rng_for(5, Stream::Model, &[1]);
            let order: Vec<usize> = (0..train.len()).collect();
            for batch in order.chunks(t.batch_size).take(3) {
                learner.step(train, batch, (None, &mut rng), 1e-3);
            }
            let rebuilt = learner.current(&device).valid().with_precision(precision);
            for g in [groups.as_ref(), None] {
                let want = validation_loss(Evaluated::Model(&rebuilt), validation, g, &device);
                let got = learner.validation_loss(validation, g, (&device, precision));
                assert!(want.is_finite());
                assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{precision:?}, grouped: {}",
                    g.is_some()
                );
            }
        }
    }

    /// The validation loss on rows kept on the device (a GPU's fit) is the loss on the host rows:
    /// run on the CPU backend, where both paths are the same GEMMs, it is the same number.
    #[test]
    fn validation_rows_on_the_device_give_the_same_loss() {
        use activepref_data::synthetic::SyntheticPoolConfig;
        let bench = SyntheticPoolConfig::default().generate().unwrap();
        let split = &bench.validation;
        let device = Device::flex();
        let cfg = RewardMlpConfig {
            hidden: vec![8, 4],
            weight_init_std: 0.5,
            ..Default::default()
        };
        let model = cfg.init(
            split.pair_a.dim(),
            &mut rng_for(3, Stream::Model, &[0]),
            &device,
        );
        let on_host = Validation {
            split,
            on_device: None,
        };
        let rows = [
            DeviceRows::upload(&split.pair_a, &device),
            DeviceRows::upload(&split.pair_b, &device),
        ];
        let resident = Validation {
            split,
            on_device: Some(&rows),
        };
        let host_loss = validation_loss(Evaluated::Model(&model), on_host, None, &device);
        assert!(host_loss.is_finite() && host_loss > 0.0);
        assert_eq!(
            validation_loss(Evaluated::Model(&model), resident, None, &device),
            host_loss
        );
    }
}
