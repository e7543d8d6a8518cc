//! The deep ensemble and its training loop (specs/balpm.md §2).

use activepref_core::FieldError;
use activepref_core::seeds::{Stream, rng_for};
use activepref_core::{FeatureMatrix, PoolSplit};
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::tensor::{Device, Tensor, TensorData};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::mlp::{RewardMlp, RewardMlpConfig, bradley_terry_loss, dropout_masks};
use activepref_core::EnsemblePrediction;
use crate::{ComputeDevice, ModelError};

/// Optimiser, schedule and early stopping. Defaults are the reference's effective values
/// (specs/balpm.md §2: HF-Trainer defaults plus the script flags).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Peak AdamW learning rate.
    pub lr: f64,
    /// Linear warm-up steps (the learning rate is 0 at step 0, as in HF's linear schedule),
    /// then linear decay to 0 at the last planned step.
    pub warmup_steps: usize,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// AdamW epsilon.
    pub adam_epsilon: f64,
    /// Gradient-norm clipping threshold (burn clips each parameter tensor's norm; torch clips the
    /// global norm). `null` disables clipping.
    pub grad_clip_norm: Option<f64>,
    /// Minibatch size.
    pub batch_size: usize,
    /// Maximum number of epochs over the labelled set.
    pub max_epochs: usize,
    /// Early stopping: stop after this many evaluations without a strictly lower validation loss.
    pub patience: usize,
    /// Evaluate on the validation split every this many optimiser steps, and at every epoch end.
    pub eval_every_steps: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lr: 3e-5,
            warmup_steps: 5,
            weight_decay: 0.0,
            adam_epsilon: 1e-8,
            grad_clip_norm: Some(1.0),
            batch_size: 32,
            max_epochs: 4,
            patience: 3,
            eval_every_steps: 100,
        }
    }
}

impl TrainConfig {
    /// Learning rate at 0-based optimiser step `step` of `total` planned steps.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        if step < self.warmup_steps {
            self.lr * step as f64 / self.warmup_steps as f64
        } else {
            let rest = total.saturating_sub(self.warmup_steps).max(1);
            self.lr * (total.saturating_sub(step) as f64 / rest as f64).max(0.0)
        }
    }
}

/// How members are initialised (specs/balpm.md §2 "Seeding", bug A).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberInit {
    /// Corrected: every member draws its initial weights from its own seed
    /// `(run seed, Model, round, member)`.
    #[default]
    Independent,
    /// Reference quirk: members 2..E share one initial weight vector that is the same in every
    /// round and for every run seed, and member 1 is fixed from round 1 on. Minibatch orders stay
    /// per member. (The reference composes one fixed permutation per member; that detail is not
    /// reproduced.)
    ReferenceShared,
}

/// Where the epistemic uncertainty comes from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum UncertaintyBackend {
    /// A deep ensemble of `members` independently trained MLPs (BAL-PM's default).
    #[default]
    Ensemble,
    /// One MLP trained with dropout on the inputs of the layers after the first; its
    /// `realisations` "members" each freeze one Bernoulli mask over the hidden units for the whole
    /// dataset (specs/balpm.md §4.5). Validation loss is computed without dropout (the reference
    /// leaves dropout on there, §7.3 J).
    McDropout {
        #[serde(default = "default_rate")]
        rate: f64,
        #[serde(default = "default_realisations")]
        realisations: usize,
    },
}

fn default_rate() -> f64 {
    0.1
}

fn default_realisations() -> usize {
    5
}

/// The whole preference model: `members` reward MLPs trained independently.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnsembleConfig {
    /// Ensemble size E (BAL-PM scripts: 5).
    pub members: usize,
    pub mlp: RewardMlpConfig,
    pub train: TrainConfig,
    pub member_init: MemberInit,
    pub device: ComputeDevice,
    /// `{ kind: ensemble }` (default) or `{ kind: mc_dropout, rate: 0.1, realisations: 5 }`.
    pub backend: UncertaintyBackend,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        Self {
            members: 5,
            mlp: RewardMlpConfig::default(),
            train: TrainConfig::default(),
            member_init: MemberInit::Independent,
            device: ComputeDevice::Cpu,
            backend: UncertaintyBackend::Ensemble,
        }
    }
}

/// What happened while one member trained.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    pub steps: usize,
    pub best_step: usize,
    pub best_validation_loss: f64,
    pub stopped_early: bool,
}

/// A trained ensemble, ready for inference.
#[derive(Debug)]
pub struct FittedEnsemble {
    members: Vec<RewardMlp>,
    /// MC dropout: one frozen mask set per realisation, all applied to `members[0]`.
    realisation_masks: Vec<Vec<Tensor<2>>>,
    device: Device,
    pub reports: Vec<TrainReport>,
}

const INFERENCE_CHUNK: usize = 4096;

fn member_rewards(model: &RewardMlp, x: &FeatureMatrix, device: &Device) -> Vec<f32> {
    masked_rewards(model, x, None, &[], device)
}

/// Rewards of `model` on the rows `idx` of `x` (every row if `None`), in chunks of 4,096 rows read
/// in place (never a gathered copy of the whole input). On the CPU backend the chunks go through
/// [`RewardMlp::dense`] (the same GEMM calls as burn, bit-identical rewards, every thread busy);
/// on other devices, and for activations the dense path lacks, through burn's forward.
fn masked_rewards(model: &RewardMlp, x: &FeatureMatrix, idx: Option<&[usize]>, masks: &[Tensor<2>], device: &Device) -> Vec<f32> {
    let (n, d) = (idx.map_or(x.rows(), <[usize]>::len), x.dim());
    let row_masks = masks.iter().all(|m| m.dims()[0] == 1);
    let dense = if *device == Device::flex() && row_masks { model.dense() } else { None };
    let mask_data: Vec<Vec<f32>> = match dense {
        Some(_) => masks.iter().map(|m| m.clone().into_data().try_to_vec::<f32>().expect("f32 masks")).collect(),
        None => Vec::new(),
    };
    let mask_refs: Vec<&[f32]> = mask_data.iter().map(Vec::as_slice).collect();
    let mut out = Vec::with_capacity(n);
    let mut buf = Vec::new();
    for start in (0..n).step_by(INFERENCE_CHUNK) {
        let end = (start + INFERENCE_CHUNK).min(n);
        let rows: &[f32] = match idx {
            None => &x.as_slice()[start * d..end * d],
            Some(idx) => {
                buf.clear();
                for &i in &idx[start..end] {
                    buf.extend_from_slice(x.row(i));
                }
                &buf
            }
        };
        match &dense {
            Some(m) => out.extend(m.forward(rows, end - start, &mask_refs)),
            None => {
                let t = Tensor::from_data(TensorData::new(rows.to_vec(), [end - start, d]), device);
                let r = model.forward_masked(t, masks);
                out.extend_from_slice(r.into_data().as_slice::<f32>().expect("f32 rewards"));
            }
        }
    }
    out
}

/// Mean Bradley–Terry loss of `model` on a labelled split, accumulated in f64.
fn validation_loss(model: &RewardMlp, split: &PoolSplit, device: &Device) -> f64 {
    let ra = member_rewards(model, &split.pair_a, device);
    let rb = member_rewards(model, &split.pair_b, device);
    let pred = EnsemblePrediction::from_rewards(&[ra], &[rb]);
    pred.mean_member_nll(&split.a_preferred)
}

impl EnsembleConfig {
    /// Checks sizes and rates; the error is `(field, message)`.
    pub fn validate(&self) -> Result<(), FieldError> {
        let t = &self.train;
        let bad = |f: &str, m: &str| Err(FieldError::new(f, m));
        if self.members == 0 {
            return bad("members", "must be at least 1");
        }
        if let UncertaintyBackend::McDropout { rate, realisations } = self.backend {
            if !(rate.is_finite() && rate > 0.0 && rate < 1.0) {
                return bad("backend.rate", "must be a number in (0, 1)");
            }
            if realisations < 2 {
                return bad("backend.realisations", "must be at least 2 (uncertainty needs disagreeing realisations)");
            }
            if self.mlp.hidden.is_empty() {
                return bad("mlp.hidden", "mc_dropout needs at least one hidden layer to drop units from");
            }
        }
        if self.mlp.hidden.contains(&0) {
            return bad("mlp.hidden", "every hidden width must be at least 1");
        }
        if !(self.mlp.weight_init_std.is_finite() && self.mlp.weight_init_std >= 0.0) {
            return bad("mlp.weight_init_std", "must be a finite number ≥ 0");
        }
        if !(t.lr.is_finite() && t.lr > 0.0) {
            return bad("train.lr", "must be a finite number > 0");
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            return bad("train.weight_decay", "must be a finite number ≥ 0");
        }
        if !(t.adam_epsilon.is_finite() && t.adam_epsilon > 0.0) {
            return bad("train.adam_epsilon", "must be a finite number > 0");
        }
        if matches!(t.grad_clip_norm, Some(c) if !(c.is_finite() && c > 0.0)) {
            return bad("train.grad_clip_norm", "must be a finite number > 0, or null to disable clipping");
        }
        for (f, v) in [
            ("train.batch_size", t.batch_size),
            ("train.max_epochs", t.max_epochs),
            ("train.patience", t.patience),
            ("train.eval_every_steps", t.eval_every_steps),
        ] {
            if v == 0 {
                return bad(f, "must be at least 1");
            }
        }
        self.device.burn_device().map_err(|e| FieldError::new("device", e.to_string()))?;
        Ok(())
    }

    /// Trains every member from scratch on `train` (round `round` of run `run_seed`), with early
    /// stopping on `validation`. Members train in parallel; each has its own seeded generator, so
    /// the result does not depend on the thread count.
    pub fn fit(&self, train: &PoolSplit, validation: &PoolSplit, run_seed: u64, round: u64) -> Result<FittedEnsemble, ModelError> {
        if train.is_empty() {
            return Err(ModelError::EmptyTrainingSet);
        }
        let device = self.device.burn_device()?;
        if let UncertaintyBackend::McDropout { rate, realisations } = self.backend {
            let (model, report) = self.fit_member(train, validation, run_seed, round, 0, &device, Some(rate))?;
            return Ok(FittedEnsemble::mc_dropout(model, rate, realisations, run_seed, round, device, report));
        }
        let trained: Vec<Result<(RewardMlp, TrainReport), ModelError>> = (0..self.members)
            .into_par_iter()
            .map(|m| self.fit_member(train, validation, run_seed, round, m, &device, None))
            .collect();
        let mut members = Vec::with_capacity(self.members);
        let mut reports = Vec::with_capacity(self.members);
        for r in trained {
            let (model, report) = r?;
            members.push(model);
            reports.push(report);
        }
        Ok(FittedEnsemble { members, realisation_masks: vec![], device, reports })
    }

    /// The ensemble at its initial weights, before any label (the first round of a pair-selection
    /// loop). Members use the same initial-weight streams as [`Self::fit`] would.
    pub fn untrained(&self, input_dim: usize, run_seed: u64, round: u64) -> Result<FittedEnsemble, ModelError> {
        let device = self.device.burn_device()?;
        let init = |m: usize| self.mlp.init(input_dim, &mut rng_for(run_seed, Stream::Model, &[round, m as u64, 0]), &device);
        let report = TrainReport { steps: 0, best_step: 0, best_validation_loss: f64::NAN, stopped_early: false };
        if let UncertaintyBackend::McDropout { rate, realisations } = self.backend {
            let model = init(0);
            return Ok(FittedEnsemble::mc_dropout(model, rate, realisations, run_seed, round, device, report));
        }
        let members = (0..self.members).map(init).collect();
        Ok(FittedEnsemble { members, realisation_masks: vec![], device, reports: vec![report; self.members] })
    }

    fn fit_member(
        &self,
        train: &PoolSplit,
        validation: &PoolSplit,
        run_seed: u64,
        round: u64,
        member: usize,
        device: &Device,
        dropout: Option<f64>,
    ) -> Result<(RewardMlp, TrainReport), ModelError> {
        const SHARED_INIT_SEED: u64 = 42;
        let t = &self.train;
        let mut order_rng = rng_for(run_seed, Stream::Model, &[round, member as u64, 1]);
        let mut init_rng = match self.member_init {
            MemberInit::Independent => rng_for(run_seed, Stream::Model, &[round, member as u64, 0]),
            MemberInit::ReferenceShared if member == 0 && round == 0 => {
                rng_for(run_seed, Stream::Model, &[round, 0, 0])
            }
            MemberInit::ReferenceShared => rng_for(SHARED_INIT_SEED, Stream::Model, &[u64::MAX, member.min(1) as u64]),
        };
        let mut mask_rng = rng_for(run_seed, Stream::Model, &[round, member as u64, 2]);
        let ad = device.clone().autodiff();
        let mut model = self.mlp.init(train.pair_a.dim(), &mut init_rng, &ad);
        let widths = model.hidden_widths();
        let mut optim = AdamWConfig::new()
            .with_epsilon(t.adam_epsilon as f32)
            .with_weight_decay(t.weight_decay as f32)
            .with_grad_clipping(t.grad_clip_norm.map(|c| GradientClippingConfig::Norm(c as f32)))
            .init();

        let n = train.len();
        let batch_size = t.batch_size.min(n);
        let steps_per_epoch = n.div_ceil(batch_size);
        let total_steps = steps_per_epoch * t.max_epochs;

        let mut best = (f64::INFINITY, model.clone(), 0usize);
        let mut bad_evals = 0usize;
        let mut step = 0usize;
        let mut stopped_early = false;
        let mut order: Vec<usize> = (0..n).collect();
        'epochs: for _epoch in 0..t.max_epochs {
            order.shuffle(&mut order_rng);
            for (b, batch) in order.chunks(batch_size).enumerate() {
                let mut c_buf = Vec::with_capacity(batch.len() * train.pair_a.dim());
                let mut r_buf = Vec::with_capacity(batch.len() * train.pair_a.dim());
                for &i in batch {
                    // The label decides which side is "chosen" (the preferred response).
                    let (c, r) = if train.a_preferred[i] { (&train.pair_a, &train.pair_b) } else { (&train.pair_b, &train.pair_a) };
                    c_buf.extend_from_slice(c.row(i));
                    r_buf.extend_from_slice(r.row(i));
                }
                let d = train.pair_a.dim();
                let xc = Tensor::<2>::from_data(TensorData::new(c_buf, [batch.len(), d]), &ad);
                let xr = Tensor::<2>::from_data(TensorData::new(r_buf, [batch.len(), d]), &ad);
                let (rc, rr) = match dropout {
                    // Independent masks for the two passes, as the reference's two F.dropout calls.
                    Some(rate) => (
                        model.forward_masked(xc, &dropout_masks(&widths, batch.len(), rate, &mut mask_rng, &ad)),
                        model.forward_masked(xr, &dropout_masks(&widths, batch.len(), rate, &mut mask_rng, &ad)),
                    ),
                    None => (model.forward(xc), model.forward(xr)),
                };
                let loss = bradley_terry_loss(rc, rr);
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(t.lr_at(step, total_steps), model, grads);
                step += 1;
                let epoch_end = b + 1 == steps_per_epoch;
                if epoch_end || step % t.eval_every_steps == 0 {
                    let inference = model.valid();
                    let loss = validation_loss(&inference, validation, device);
                    if !loss.is_finite() {
                        return Err(ModelError::Diverged { member, round, step, loss });
                    }
                    if loss < best.0 {
                        best = (loss, model.clone(), step);
                        bad_evals = 0;
                    } else {
                        bad_evals += 1;
                        if bad_evals >= t.patience {
                            stopped_early = true;
                            break 'epochs;
                        }
                    }
                }
            }
        }
        let report = TrainReport { steps: step, best_step: best.2, best_validation_loss: best.0, stopped_early };
        Ok((best.1.valid(), report))
    }
}

impl FittedEnsemble {
    /// One MC-dropout model with `realisations` frozen mask sets, seeded by `(run seed, round, r)`.
    fn mc_dropout(model: RewardMlp, rate: f64, realisations: usize, run_seed: u64, round: u64, device: Device, report: TrainReport) -> Self {
        let widths = model.hidden_widths();
        let realisation_masks = (0..realisations)
            .map(|r| dropout_masks(&widths, 1, rate, &mut rng_for(run_seed, Stream::Model, &[round, r as u64, 3]), &device))
            .collect();
        Self { members: vec![model], realisation_masks, device, reports: vec![report] }
    }

    /// Ensemble members, or MC-dropout realisations.
    pub fn members(&self) -> usize {
        if self.realisation_masks.is_empty() { self.members.len() } else { self.realisation_masks.len() }
    }

    /// Per-member (or per-realisation) rewards `[member][row]` of every row of `x`.
    pub fn rewards(&self, x: &FeatureMatrix) -> Vec<Vec<f32>> {
        self.rewards_at(x, None)
    }

    /// Per-member (or per-realisation) rewards `[member][i]` of the rows `idx` of `x` (every row
    /// if `None`), read in place.
    pub fn rewards_at(&self, x: &FeatureMatrix, idx: Option<&[usize]>) -> Vec<Vec<f32>> {
        if self.realisation_masks.is_empty() {
            self.members.iter().map(|m| masked_rewards(m, x, idx, &[], &self.device)).collect()
        } else {
            self.realisation_masks.iter().map(|masks| masked_rewards(&self.members[0], x, idx, masks, &self.device)).collect()
        }
    }

    /// Per-response mean and spread across members (unbiased std, as torch.std; 0 with one member),
    /// with the per-member rewards `[member][response]`.
    pub fn response_stats(&self, x: &FeatureMatrix) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
        let r = self.rewards(x);
        let e = r.len() as f64;
        let (mut mu, mut sd) = (Vec::with_capacity(x.rows()), Vec::with_capacity(x.rows()));
        for i in 0..x.rows() {
            let mean = r.iter().map(|m| m[i] as f64).sum::<f64>() / e;
            let var = if r.len() > 1 { r.iter().map(|m| (m[i] as f64 - mean).powi(2)).sum::<f64>() / (e - 1.0) } else { 0.0 };
            mu.push(mean as f32);
            sd.push(var.sqrt() as f32);
        }
        (mu, sd, r)
    }

    /// The ensemble's prediction on the comparisons at `idx` of `split` (all rows if `None`).
    pub fn predict(&self, split: &PoolSplit, idx: Option<&[usize]>) -> EnsemblePrediction {
        EnsemblePrediction::from_rewards(&self.rewards_at(&split.pair_a, idx), &self.rewards_at(&split.pair_b, idx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activepref_data::synthetic::SyntheticPoolConfig;

    fn tiny_config() -> EnsembleConfig {
        EnsembleConfig {
            members: 3,
            mlp: RewardMlpConfig { hidden: vec![16], weight_init_std: 0.1, ..Default::default() },
            train: TrainConfig { lr: 3e-3, max_epochs: 20, batch_size: 16, eval_every_steps: 1000, ..Default::default() },
            ..Default::default()
        }
    }

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let t = TrainConfig { lr: 1.0, warmup_steps: 4, ..Default::default() };
        let lrs: Vec<f64> = (0..12).map(|s| t.lr_at(s, 12)).collect();
        assert_eq!(&lrs[..5], &[0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(lrs[8], 0.5);
        assert!(lrs[11] > 0.0 && t.lr_at(12, 12) == 0.0);
    }

    #[test]
    fn training_learns_and_is_reproducible() {
        let bench = SyntheticPoolConfig { pool_prompts: 200, ..Default::default() }.generate();
        let cfg = tiny_config();
        let train = bench.pool.subset(&(0..300).collect::<Vec<_>>());
        let a = cfg.fit(&train, &bench.validation, 9, 0).unwrap();
        let b = cfg.fit(&train, &bench.validation, 9, 0).unwrap();
        let pa = a.predict(&bench.test, None);
        let pb = b.predict(&bench.test, None);
        assert_eq!(pa, pb, "same seed, same ensemble");
        let m = pa.metrics(&bench.test.a_preferred);
        // Chance level is ln(1/2) = −0.693 and accuracy 0.5; a trained ensemble must beat both.
        assert!(m.log_likelihood > -0.66 && m.accuracy > 0.6, "{m:?}");
        // Members differ (independent init), so BALD is positive somewhere.
        assert!(pa.bald_all().iter().any(|&u| u > 1e-6));
        let c = cfg.fit(&train, &bench.validation, 10, 0).unwrap();
        assert_ne!(c.predict(&bench.test, None), pa, "another seed, another ensemble");
    }

    #[test]
    fn mc_dropout_gives_disagreeing_reproducible_realisations() {
        let bench = SyntheticPoolConfig { pool_prompts: 100, ..Default::default() }.generate();
        let mut cfg = tiny_config();
        cfg.backend = UncertaintyBackend::McDropout { rate: 0.2, realisations: 4 };
        let fit = cfg.fit(&bench.pool, &bench.validation, 3, 1).unwrap();
        assert_eq!((fit.members(), fit.reports.len()), (4, 1), "one trained model, four realisations");
        let pred = fit.predict(&bench.test, None);
        assert_eq!(pred.members(), 4);
        assert!(pred.bald_all().iter().any(|&u| u > 1e-6), "realisations disagree");
        let again = cfg.fit(&bench.pool, &bench.validation, 3, 1).unwrap();
        assert_eq!(again.predict(&bench.test, None), pred);
        let m = pred.metrics(&bench.test.a_preferred);
        assert!(m.log_likelihood > -0.69 && m.accuracy > 0.55, "{m:?}");
        cfg.backend = UncertaintyBackend::McDropout { rate: 1.0, realisations: 4 };
        assert_eq!(cfg.validate().unwrap_err().field, "backend.rate");
    }

    #[test]
    fn untrained_members_match_fit_initialisation_and_stats_are_unbiased() {
        let bench = SyntheticPoolConfig { pool_prompts: 30, ..Default::default() }.generate();
        let cfg = tiny_config();
        let fresh = cfg.untrained(16, 4, 2).unwrap();
        assert_eq!(fresh.members(), 3);
        let (mu, sd, r) = fresh.response_stats(&bench.test.pair_a);
        // Hand check on row 0: mean and unbiased std of the three members' rewards.
        let v: Vec<f64> = r.iter().map(|m| m[0] as f64).collect();
        let mean = v.iter().sum::<f64>() / 3.0;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((mu[0] as f64 - mean).abs() < 1e-6 && (sd[0] as f64 - std).abs() < 1e-6);
        assert!(sd.iter().any(|&s| s > 0.0));
        // A training run of zero effective steps (lr ≈ 0) starts from the same weights.
        let mut still = cfg.clone();
        still.train.lr = 1e-12;
        still.train.max_epochs = 1;
        let fit = still.fit(&bench.pool, &bench.validation, 4, 2).unwrap();
        let a = fit.rewards(&bench.test.pair_a);
        for (x, y) in a[0].iter().zip(&r[0]) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    #[test]
    fn reference_init_shares_members_two_to_e() {
        let bench = SyntheticPoolConfig { pool_prompts: 40, ..Default::default() }.generate();
        let mut cfg = tiny_config();
        cfg.train.max_epochs = 1;
        cfg.train.lr = 1e-12; // keeps weights at their initial values for the comparison
        cfg.member_init = MemberInit::ReferenceShared;
        let fit = cfg.fit(&bench.pool, &bench.validation, 1, 0).unwrap();
        let r = fit.rewards(&bench.test.pair_a);
        assert_eq!(r[1], r[2]);
        assert_ne!(r[0], r[1]);
        let fit_other_seed = cfg.fit(&bench.pool, &bench.validation, 2, 3).unwrap();
        assert_eq!(fit_other_seed.rewards(&bench.test.pair_a)[1], r[1]);
    }
}
