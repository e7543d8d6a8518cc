//! What an ensemble is and how it trains: the `model:` section of an experiment file.

use activepref_core::FieldError;
use burn::optim::grad_clipping::GradientClippingConfig;
use burn::optim::{AdamWConfig, ModuleOptimizer};
use burn::tensor::Device;
use std::ops::Bound::{Excluded, Included};

use super::adamw::FusedAdamW;
use serde::{Deserialize, Serialize};

use crate::ComputeDevice;
use crate::mlp::{Precision, RewardMlpConfig};

/// The largest learning rate a config may set: AdamW steps of this size already wreck a reward
/// MLP, and far larger ones (`1e30`) give finite but meaningless losses instead of an error.
pub const MAX_LR: f64 = 1.0;

/// AdamW's (β₁, β₂): the defaults of torch, HF's Trainer and burn, which the reference keeps.
pub const ADAM_BETAS: (f32, f32) = (0.9, 0.999);

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
    /// Whether every round retrains each member from scratch (the default, the paper's
    /// `full_retrain`) or continues from the previous round's weights (`warm_start`).
    #[serde(skip_serializing_if = "is_default")]
    pub strategy: TrainingStrategy,
}

/// How a member is trained from one acquisition round to the next (specs/balpm.md §2, "Re-init vs
/// warm start"; the reference's `training_strategy`, `active_learning.py:160-203`).
///
/// ```
/// use activepref_model::{TrainConfig, TrainingStrategy};
/// // `model: { train: { strategy: { kind: warm_start } } }` in an experiment file.
/// let t: TrainConfig = serde_json::from_str(r#"{"strategy": {"kind": "warm_start"}}"#).unwrap();
/// assert_eq!(t.strategy, TrainingStrategy::WarmStart { epochs: 1 });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TrainingStrategy {
    /// Every round re-initialises every member (from the round's own seed) and trains it on the
    /// whole labelled set for up to `max_epochs`, evaluating on the validation split at every
    /// epoch end and every `eval_every_steps` steps, with early stopping and the best checkpoint
    /// restored. What every BAL-PM script runs.
    #[default]
    FullRetrain,
    /// Round 0 initialises every member as `full_retrain` does; every later round continues each
    /// member from its weights at the end of the previous round. Each round trains `epochs`
    /// epochs on the whole labelled set (freshly shuffled), with the usual warm-up and linear
    /// decay over the round's own steps and a fresh AdamW state, and no early stopping: the
    /// validation split is evaluated once, after the last step, for the run file. The reference's
    /// alternative, which no script of it uses; it resumes Hugging Face's optimiser and scheduler
    /// state from its checkpoint, which is not reproduced. A resumed run replays the finished
    /// rounds' training (not their scoring) to rebuild the weights, so it gives the same numbers.
    WarmStart {
        /// Epochs over the labelled set per round (the reference: 1).
        #[serde(default = "one")]
        epochs: usize,
    },
}

fn one() -> usize {
    1
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
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
            strategy: TrainingStrategy::FullRetrain,
        }
    }
}

impl TrainConfig {
    /// AdamW with this config's epsilon, weight decay and gradient clipping (the learning rate is
    /// passed at each step). On burn's CPU backend the update is [`FusedAdamW`], one
    /// multi-threaded pass per parameter, bit-identical to burn's clipped AdamW for tensors under
    /// 4,194,304 elements and thread-count independent for larger ones (see [`FusedAdamW`]); on
    /// other devices, burn's own.
    pub fn optimizer(&self, device: &Device) -> ModuleOptimizer {
        let fused = self.fused_adamw();
        if *device != Device::flex() {
            return AdamWConfig::new()
                .with_beta_1(fused.beta_1)
                .with_beta_2(fused.beta_2)
                .with_epsilon(fused.epsilon)
                .with_weight_decay(fused.weight_decay)
                .with_grad_clipping(fused.clip_norm.map(GradientClippingConfig::Norm))
                .init();
        }
        ModuleOptimizer::from(fused)
    }

    /// The CPU backend's optimiser: burn's AdamW with this config's settings, fused
    /// ([`FusedAdamW`]).
    pub fn fused_adamw(&self) -> FusedAdamW {
        FusedAdamW {
            beta_1: ADAM_BETAS.0,
            beta_2: ADAM_BETAS.1,
            epsilon: self.adam_epsilon as f32,
            weight_decay: self.weight_decay as f32,
            clip_norm: self.grad_clip_norm.map(|c| c as f32),
        }
    }

    /// Whether a member evaluates on the validation split after its `step`-th optimiser step
    /// (1-based, counted across epochs): at every epoch end and every `eval_every_steps` steps.
    ///
    /// Under [`TrainingStrategy::WarmStart`] a member evaluates once, after its last step.
    pub fn evaluates_after(&self, step: usize, steps_per_epoch: usize) -> bool {
        match self.strategy {
            TrainingStrategy::FullRetrain => {
                step.is_multiple_of(steps_per_epoch.max(1))
                    || step.is_multiple_of(self.eval_every_steps)
            }
            TrainingStrategy::WarmStart { .. } => step == steps_per_epoch * self.epochs(),
        }
    }

    /// Epochs a member trains each round: at most `max_epochs` from scratch, exactly `epochs`
    /// when warm-started.
    pub fn epochs(&self) -> usize {
        match self.strategy {
            TrainingStrategy::FullRetrain => self.max_epochs,
            TrainingStrategy::WarmStart { epochs } => epochs,
        }
    }

    /// One member's optimiser steps and validation passes in a round on `labels` pairs: for
    /// `full_retrain` all `max_epochs` (an upper bound: early stopping only ends sooner), for
    /// `warm_start` its `epochs` and one evaluation.
    ///
    /// ```
    /// use activepref_model::{TrainConfig, TrainingStrategy};
    /// // The reference's schedule: batch 32, 4 epochs, an evaluation every 100 steps and at
    /// // every epoch end. 320 pairs: 10 steps an epoch, evaluations at steps 10, 20, 30, 40.
    /// let t = TrainConfig::default();
    /// assert_eq!(t.schedule(320), (40, 4));
    /// // 8,000 pairs: 250 steps an epoch; steps 100, 200, ..., 1,000 and 250 and 750.
    /// assert_eq!(t.schedule(8_000), (1_000, 12));
    /// // Warm-started: one epoch of 250 steps, one evaluation after the last.
    /// let warm = TrainConfig { strategy: TrainingStrategy::WarmStart { epochs: 1 }, ..t };
    /// assert_eq!(warm.schedule(8_000), (250, 1));
    /// ```
    pub fn schedule(&self, labels: usize) -> (usize, usize) {
        let steps_per_epoch = labels.div_ceil(self.batch_size.min(labels).max(1));
        let steps = steps_per_epoch * self.epochs();
        let evaluations = (1..=steps)
            .filter(|&s| self.evaluates_after(s, steps_per_epoch))
            .count();
        (steps, evaluations)
    }

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
        /// Probability of dropping each hidden unit, in `(0, 1)` (default 0.1).
        #[serde(default = "default_rate")]
        rate: f64,
        /// Number of frozen masks (the "members"), at least 2 (default 5).
        #[serde(default = "default_realisations")]
        realisations: usize,
    },
    /// One MLP whose final linear weights get a Laplace (Gaussian) posterior at the trained
    /// weights (MacKay 1992; Daxberger et al. 2021); `samples` weight samples from it are the
    /// "members" (see `laplace.rs`). CPU backend, tanh activations.
    LaplaceLastLayer {
        /// Weight samples (the "members"), in `2..=1000` (default 5); `members` is ignored.
        #[serde(default = "default_realisations")]
        samples: usize,
        /// Prior precision `λ` of the final weights, finite and > 0 (default 1).
        #[serde(default = "default_prior_precision")]
        prior_precision: f64,
    },
}

fn default_prior_precision() -> f64 {
    1.0
}

impl UncertaintyBackend {
    /// Every back-end with its defaults, for listings. The match is exhaustive, so a new
    /// variant cannot be left out.
    pub fn all() -> [UncertaintyBackend; 3] {
        let with_defaults = |b: UncertaintyBackend| match b {
            UncertaintyBackend::Ensemble => UncertaintyBackend::Ensemble,
            UncertaintyBackend::McDropout { .. } => UncertaintyBackend::McDropout {
                rate: default_rate(),
                realisations: default_realisations(),
            },
            UncertaintyBackend::LaplaceLastLayer { .. } => UncertaintyBackend::LaplaceLastLayer {
                samples: default_realisations(),
                prior_precision: default_prior_precision(),
            },
        };
        [
            UncertaintyBackend::Ensemble,
            UncertaintyBackend::McDropout {
                rate: 0.0,
                realisations: 0,
            },
            UncertaintyBackend::LaplaceLastLayer {
                samples: 0,
                prior_precision: 0.0,
            },
        ]
        .map(with_defaults)
    }

    /// One line on what the back-end does.
    pub fn summary(&self) -> &'static str {
        match self {
            UncertaintyBackend::Ensemble => {
                "a deep ensemble: `members` MLPs trained independently (both papers)"
            }
            UncertaintyBackend::McDropout { .. } => {
                "MC dropout: one MLP trained with dropout; each realisation freezes one mask (BAL-PM §4.5)"
            }
            UncertaintyBackend::LaplaceLastLayer { .. } => {
                "Laplace last layer: one MLP, a Gaussian posterior over its final weights, `samples` weight samples (Daxberger et al. 2021)"
            }
        }
    }

    /// True when the backend trains one network (MC dropout, the Laplace last layer), whatever
    /// `members` says.
    pub fn trains_one_network(&self) -> bool {
        !matches!(self, UncertaintyBackend::Ensemble)
    }
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
    /// Shape and initialisation of each member's MLP.
    pub mlp: RewardMlpConfig,
    /// Optimiser, schedule and early stopping of each member.
    pub train: TrainConfig,
    /// How members draw their initial weights (corrected or the reference's shared init).
    pub member_init: MemberInit,
    /// Where the members train and predict.
    pub device: ComputeDevice,
    /// `{ kind: ensemble }` (default), `{ kind: mc_dropout, rate: 0.1, realisations: 5 }` or
    /// `{ kind: laplace_last_layer, samples: 5, prior_precision: 1.0 }`.
    pub backend: UncertaintyBackend,
    /// Arithmetic of training: `f32` (default, bit-reproducible) or `bf16` as the reference's
    /// Trainer trains and evaluates under autocast (optimiser steps and the validation passes
    /// early stopping reads; see [`Precision`]); scoring and metrics are f32 either way.
    #[serde(skip_serializing_if = "is_default")]
    pub precision: Precision,
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
            precision: Precision::F32,
        }
    }
}

impl EnsembleConfig {
    /// Checks sizes and rates.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the first bad field: `members`, `mlp.hidden`, `mlp.weight_init_std`,
    /// `train.*` (learning rate, weight decay, Adam ε, gradient clipping, counts out of range),
    /// `backend.*` (MC-dropout rate outside `(0, 1)`, fewer than 2 realisations, no hidden layer;
    /// Laplace samples outside `2..=1000`, prior precision not finite and `> 0`, an activation
    /// other than tanh),
    /// `precision` (`bf16` off the CPU backend or without tanh), or `device` when this build has
    /// no backend for it.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.members == 0 {
            return Err(FieldError::new("members", "must be at least 1"));
        }
        self.validate_backend()?;
        self.validate_mlp_and_optimiser()?;
        let t = &self.train;
        for (f, v, min, max) in [
            ("members", self.members, 1, 1_000),
            ("train.batch_size", t.batch_size, 1, 1 << 20),
            ("train.max_epochs", t.max_epochs, 1, 100_000),
            ("train.patience", t.patience, 1, 100_000),
            ("train.eval_every_steps", t.eval_every_steps, 1, 1 << 30),
            ("train.warmup_steps", t.warmup_steps, 0, 1 << 30),
            ("train.strategy.epochs", t.epochs(), 1, 100_000),
        ] {
            FieldError::check_count(f, v, min, max)?;
        }
        for &w in &self.mlp.hidden {
            FieldError::check_count("mlp.hidden", w, 1, 1 << 16)?;
        }
        if let UncertaintyBackend::McDropout { realisations, .. } = self.backend {
            FieldError::check_count("backend.realisations", realisations, 2, 1_000)?;
        }
        self.device
            .burn_device()
            .map_err(|e| FieldError::new("device", e.to_string()))?;
        Ok(())
    }

    /// The checks of `backend.*` and `precision` (see [`Self::validate`]).
    fn validate_backend(&self) -> Result<(), FieldError> {
        let bad = |f: &str, m: &str| Err(FieldError::new(f, m));
        if let UncertaintyBackend::McDropout { rate, realisations } = self.backend {
            FieldError::check_real(
                "backend.rate",
                rate,
                (Excluded(0.0), Excluded(1.0)),
                "the probability of dropping a unit",
            )?;
            if realisations < 2 {
                return bad(
                    "backend.realisations",
                    "must be at least 2 (uncertainty needs disagreeing realisations)",
                );
            }
            if self.mlp.hidden.is_empty() {
                return bad(
                    "mlp.hidden",
                    "mc_dropout needs at least one hidden layer to drop units from",
                );
            }
        }
        if let UncertaintyBackend::LaplaceLastLayer {
            samples,
            prior_precision,
        } = self.backend
        {
            FieldError::check_count("backend.samples", samples, 2, 1_000)?;
            FieldError::check_real(
                "backend.prior_precision",
                prior_precision,
                (Excluded(0.0), Included(1e6)),
                "the precision of the Gaussian prior on the last layer's weights",
            )?;
            if self.device != ComputeDevice::Cpu {
                return bad(
                    "backend.kind",
                    "laplace_last_layer runs on the CPU backend only (device: cpu)",
                );
            }
            if self.mlp.activation != crate::Activation::Tanh {
                return bad(
                    "mlp.activation",
                    "laplace_last_layer reads the last layer through the dense CPU path, which runs tanh only",
                );
            }
        }
        if self.precision == Precision::Bf16 {
            if self.device != ComputeDevice::Cpu {
                return bad(
                    "precision",
                    "bf16 runs on the CPU backend only (device: cpu); use precision: f32",
                );
            }
            if self.mlp.activation != crate::Activation::Tanh {
                return bad(
                    "precision",
                    "bf16 runs through the dense CPU path, which runs tanh only; use precision: f32",
                );
            }
            if matches!(self.backend, UncertaintyBackend::McDropout { .. }) {
                return bad(
                    "precision",
                    "bf16 trains on the dense CPU path, which has no dropout; use precision: f32 with mc_dropout",
                );
            }
        }
        Ok(())
    }

    /// The checks of `mlp.*` and `train.*` values (see [`Self::validate`]); counts are checked
    /// there.
    fn validate_mlp_and_optimiser(&self) -> Result<(), FieldError> {
        let t = &self.train;
        let bad = |f: &str, m: &str| Err(FieldError::new(f, m));
        if self.mlp.hidden.contains(&0) {
            return bad("mlp.hidden", "every hidden width must be at least 1");
        }
        FieldError::check_real(
            "mlp.weight_init_std",
            self.mlp.weight_init_std,
            0.0..=10.0,
            "the standard deviation of the initial weights",
        )?;
        if !(t.lr.is_finite() && t.lr > 0.0 && t.lr <= MAX_LR) {
            return Err(FieldError::new(
                "train.lr",
                format!(
                    "is {:?}; must be a number in (0, 1]; AdamW diverges long before 1 (the papers use 1e-5 to 1e-3)",
                    t.lr
                ),
            ));
        }
        FieldError::check_real(
            "train.weight_decay",
            t.weight_decay,
            0.0..=10.0,
            "AdamW's decoupled decay, lr · weight_decay per step (the reference uses 0)",
        )?;
        FieldError::check_real(
            "train.adam_epsilon",
            t.adam_epsilon,
            (Excluded(0.0), Included(1.0)),
            "Adam's denominator guard (default 1e-8)",
        )?;
        if let Some(c) = t.grad_clip_norm {
            FieldError::check_real(
                "train.grad_clip_norm",
                c,
                (Excluded(0.0), Included(1e6)),
                "or null to disable clipping",
            )?;
        }
        Ok(())
    }
}
