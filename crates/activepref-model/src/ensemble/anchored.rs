//! The anchored, warm-started refit of ActiveUltraFeedback's reward ensemble
//! (specs/activeuf.md §2.4): the ensemble is built once, and after every outer batch each head
//! trains one epoch on a sample of the replay buffer, with
//!
//! ```text
//! L = 1/K Σ_k [ −mean_b log σ(r_k(c_b) − r_k(r_b))      Bradley–Terry, every head on the same batch
//!             + λ_t · ‖θ_k − θ_k⁰‖² / P                  anchor to the head's initial weights
//!             + c₀ · mean_b (r_k(c_b) + r_k(r_b))² ]     reward centring
//! ```
//!
//! AdamW keeps its moments across refits (the reference creates its optimiser once); the learning
//! rate follows a cosine from `lr` to 0 within each refit (the reference's scheduler is re-created
//! on every `train()` call); no validation set is read. The heads train in parallel, each with its
//! own optimiser: the loss is a sum of per-head terms, so this is the joint model's gradient step
//! except for clipping, which burn applies per parameter tensor where torch clips the global norm.

use activepref_core::seeds::{Stream, model_draw, rng_for};
use activepref_core::{FieldError, PoolSplit};
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::ops::Bound::{Excluded, Included};

use super::fitted::Draws;
use super::training::optimiser_step;
use super::{EnsembleConfig, FittedEnsemble, TrainReport, UncertaintyBackend};
use crate::ModelError;
use crate::mlp::{RewardMlp, bradley_terry_loss};

/// How the anchor's strength λ decays as labels come in.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AnchorDecay {
    /// Corrected: `λ = λ₀ · base^(n / labels_per_decay)` after `n` labels, the same decay per
    /// label on a stream of any size. The default, 14.2 labels, is the reference's rate on
    /// UltraFeedback's ≈61k prompts (61,000 / 4,308).
    PerLabel {
        /// Labels per factor `base` of decay (14.2 by default).
        labels_per_decay: f64,
    },
    /// Reference form: `λ = λ₀ · base^(scaler · n / N)` on a stream of `N` prompts, so that the
    /// decay per label depends on the stream's size (specs/activeuf.md §7, item 14).
    Reference {
        /// The reference's `scaler` (4,308 by default): decay exponent per full stream.
        scaler: f64,
    },
}

impl AnchorDecay {
    /// The corrected default: one factor of `decay_base` per 14.2 labels.
    pub const PER_LABEL: AnchorDecay = AnchorDecay::PerLabel {
        labels_per_decay: 14.2,
    };
    /// The reference's default: exponent `4308 · n / N` on a stream of `N` prompts.
    pub const REFERENCE: AnchorDecay = AnchorDecay::Reference { scaler: 4308.0 };
}

/// The knobs of the anchored refit; defaults are the reference's (configs/loop.yaml).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnchoredRefitConfig {
    /// Peak learning rate of each refit's cosine schedule.
    pub lr: f64,
    /// Pairs per optimiser step.
    pub batch_size: usize,
    /// Pairs drawn (uniformly, without replacement) from the replay buffer for each refit's one
    /// epoch: the reference's `effective_batch_size × max_steps` = 64 × 100.
    pub max_samples: usize,
    /// Reward-centring coefficient c₀.
    pub center_rewards: f64,
    /// Anchor strength λ₀ before any label.
    pub lambda0: f64,
    /// Base of the exponential decay of λ.
    pub decay_base: f64,
    /// How the exponent counts labels; absent: per label in corrected mode, the reference's form
    /// in reference mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<AnchorDecay>,
}

impl Default for AnchoredRefitConfig {
    fn default() -> Self {
        Self {
            lr: 5e-5,
            batch_size: 64,
            max_samples: 6400,
            center_rewards: 0.01,
            lambda0: 1.0,
            decay_base: 0.9,
            decay: None,
        }
    }
}

impl AnchoredRefitConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] naming the first bad field: `lr` outside `(0, 1]`, `batch_size` outside
    /// `1..=2²⁰`, `max_samples` outside `1..=2³⁰`, `center_rewards` or `lambda0` outside
    /// `[0, 10⁶]`, `decay_base` outside `(0, 1]`, `decay.labels_per_decay` outside `(0, 10⁹]` or
    /// `decay.scaler` outside `[0, 10⁹]`.
    pub fn validate(&self) -> Result<(), FieldError> {
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= crate::ensemble::config::MAX_LR) {
            return Err(FieldError::new(
                "lr",
                format!(
                    "is {:?}; must be a number in (0, 1]; AdamW diverges long before 1 (the reference uses 5e-5)",
                    self.lr
                ),
            ));
        }
        FieldError::check_count("batch_size", self.batch_size, 1, 1 << 20)?;
        FieldError::check_count("max_samples", self.max_samples, 1, 1 << 30)?;
        for (f, v) in [
            ("center_rewards", self.center_rewards),
            ("lambda0", self.lambda0),
        ] {
            FieldError::check_real(f, v, 0.0..=1e6, "")?;
        }
        FieldError::check_real(
            "decay_base",
            self.decay_base,
            (Excluded(0.0), Included(1.0)),
            "the factor of the anchor's decay (1 = no decay)",
        )?;
        match self.decay {
            Some(AnchorDecay::PerLabel { labels_per_decay }) => FieldError::check_real(
                "decay.labels_per_decay",
                labels_per_decay,
                (Excluded(0.0), Included(1e9)),
                "labels per factor decay_base (for no decay, set decay_base: 1)",
            ),
            Some(AnchorDecay::Reference { scaler }) => FieldError::check_real(
                "decay.scaler",
                scaler,
                0.0..=1e9,
                "the decay exponent over the whole stream (the reference uses 4308)",
            ),
            None => Ok(()),
        }
    }

    /// λ after `labels` labels on a stream of `stream` prompts, with `decay` (this config's, or
    /// the mode's default when it has none).
    pub fn anchor_strength(&self, decay: AnchorDecay, labels: usize, stream: usize) -> f64 {
        let exponent = match decay {
            AnchorDecay::PerLabel { labels_per_decay } => labels as f64 / labels_per_decay,
            AnchorDecay::Reference { scaler } => {
                scaler * labels.min(stream) as f64 / stream.max(1) as f64
            }
        };
        self.lambda0 * self.decay_base.powf(exponent)
    }

    /// Learning rate at step `step` of a refit of `total` steps: HF's cosine without warm-up.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        let progress = step as f64 / total.max(1) as f64;
        self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

struct AnchoredHead {
    /// Trainable, on the autodiff device.
    model: RewardMlp,
    anchor: Vec<Tensor<2>>,
    optim: ModuleOptimizer,
    steps: usize,
}

/// An ensemble that is refitted in place (warm start), anchored to its initial weights.
pub struct AnchoredEnsemble {
    heads: Vec<AnchoredHead>,
    device: Device,
    /// Refits done so far.
    pub refits: usize,
}

/// What one refit did.
#[derive(Clone, Debug, PartialEq)]
pub struct RefitReport {
    /// Optimiser steps taken (minibatches of the one epoch), per head.
    pub steps: usize,
    /// The anchor strength λ the refit used.
    pub lambda: f64,
    /// Mean training loss (all three terms) over the refit's steps and heads.
    pub mean_loss: f64,
}

impl EnsembleConfig {
    /// The ensemble at its initial weights, ready for anchored refits. Heads draw their weights
    /// from the same streams as [`Self::untrained`] in round 0, so before any refit the two
    /// predict the same.
    ///
    /// # Errors
    ///
    /// [`ModelError::Unsupported`] unless the backend is the deep ensemble in f32; the errors of
    /// [`crate::ComputeDevice::burn_device`].
    pub fn anchored(
        &self,
        input_dim: usize,
        run_seed: u64,
    ) -> Result<AnchoredEnsemble, ModelError> {
        if self.backend != UncertaintyBackend::Ensemble {
            return Err(ModelError::Unsupported {
                what: "the anchored refit needs `backend: { kind: ensemble }` (MC dropout and the Laplace last layer train one model)",
            });
        }
        if self.precision == crate::Precision::Bf16 {
            return Err(ModelError::Unsupported {
                what: "the anchored refit trains in f32 on burn's autodiff; use model.precision: f32 (bf16 training covers the from-scratch fit)",
            });
        }
        let device = self.device.burn_device()?;
        let ad = device.clone().autodiff();
        let t = &self.train;
        let heads = (0..self.members)
            .map(|m| {
                let model = self.mlp.init(
                    input_dim,
                    &mut rng_for(run_seed, Stream::Model, &[0, m as u64, model_draw::INIT]),
                    &ad,
                );
                let anchor = model.snapshot();
                let optim = t.optimizer(&device);
                AnchoredHead {
                    model,
                    anchor,
                    optim,
                    steps: 0,
                }
            })
            .collect();
        Ok(AnchoredEnsemble {
            heads,
            device,
            refits: 0,
        })
    }
}

impl AnchoredEnsemble {
    /// One epoch over `sample` (every label "A preferred": A is the chosen response), in its row
    /// order, in minibatches of `cfg.batch_size`, at anchor strength `lambda`.
    ///
    /// # Errors
    ///
    /// [`ModelError::EmptyTrainingSet`] when `sample` is empty; [`ModelError::Diverged`] when a
    /// head's training loss is NaN or infinite (the heads that ran are updated all the same).
    pub fn refit(
        &mut self,
        sample: &PoolSplit,
        lambda: f64,
        cfg: &AnchoredRefitConfig,
    ) -> Result<RefitReport, ModelError> {
        if sample.is_empty() {
            return Err(ModelError::EmptyTrainingSet);
        }
        let round = self.refits as u64;
        let k = self.heads.len() as f32;
        let n = sample.len();
        let d = sample.pair_a.dim();
        let batch = cfg.batch_size.min(n);
        let total = n.div_ceil(batch);
        let ad = self.device.clone().autodiff();
        let losses: Vec<Result<f64, ModelError>> = self
            .heads
            .par_iter_mut()
            .enumerate()
            .map(|(member, head)| {
                let mut sum = 0.0f64;
                for (step, start) in (0..n).step_by(batch).enumerate() {
                    let end = (start + batch).min(n);
                    let rows = |m: &activepref_core::FeatureMatrix| {
                        Tensor::<2>::from_data(
                            TensorData::new(
                                m.as_slice()[start * d..end * d].to_vec(),
                                [end - start, d],
                            ),
                            &ad,
                        )
                    };
                    let rc = head.model.forward(rows(&sample.pair_a));
                    let rr = head.model.forward(rows(&sample.pair_b));
                    let centring = rc.clone().add(rr.clone()).powi_scalar(2).mean();
                    let loss = bradley_terry_loss(rc, rr)
                        .add(
                            head.model
                                .mean_squared_distance(&head.anchor)
                                .mul_scalar(lambda as f32),
                        )
                        .add(centring.mul_scalar(cfg.center_rewards as f32))
                        .div_scalar(k);
                    let value = f64::from(
                        loss.clone()
                            .into_data()
                            .convert::<f32>()
                            .as_slice::<f32>()
                            .expect("f32 loss")[0],
                    ) * f64::from(k);
                    if !value.is_finite() {
                        return Err(ModelError::Diverged {
                            member,
                            round,
                            step: head.steps,
                            loss: value,
                        });
                    }
                    sum += value;
                    let model = head.model.clone();
                    head.model =
                        optimiser_step(model, loss, &mut head.optim, cfg.lr_at(step, total));
                    head.steps += 1;
                }
                Ok(sum / total as f64)
            })
            .collect();
        let mut mean_loss = 0.0;
        for l in losses {
            mean_loss += l?;
        }
        self.refits += 1;
        Ok(RefitReport {
            steps: total,
            lambda,
            mean_loss: mean_loss / self.heads.len() as f64,
        })
    }

    /// The heads as they are now, for inference.
    pub fn fitted(&self) -> FittedEnsemble {
        FittedEnsemble {
            members: self.heads.iter().map(|h| h.model.valid()).collect(),
            draws: Draws::Members,
            device: self.device.clone(),
            reports: self
                .heads
                .iter()
                .map(|h| TrainReport {
                    steps: h.steps,
                    evaluations: 0,
                    best_step: h.steps,
                    best_validation_loss: f64::NAN,
                    stopped_early: false,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::RewardMlpConfig;
    use activepref_core::FeatureMatrix;

    #[test]
    fn anchor_strength_at_given_labels() {
        let cfg = AnchoredRefitConfig::default();
        // Reference form on a 61,000-prompt stream: after one batch of 64, 0.9^(4308·64/61000).
        let r = cfg.anchor_strength(AnchorDecay::REFERENCE, 64, 61_000);
        assert!((r - 0.9f64.powf(4308.0 * 64.0 / 61_000.0)).abs() < 1e-15);
        assert!((r - 0.6211).abs() < 1e-4, "{r}");
        // The whole stream: 0.9^4308 underflows to about 0, as the spec says.
        assert!(cfg.anchor_strength(AnchorDecay::REFERENCE, 61_000, 61_000) < 1e-190);
        // On a 640-prompt stream the reference decays 95× faster per label.
        let small = cfg.anchor_strength(AnchorDecay::REFERENCE, 64, 640);
        assert!((small - 0.9f64.powf(430.8)).abs() < 1e-25);
        // Per label: the same λ after 142 labels on any stream: 0.9^10.
        let p = cfg.anchor_strength(AnchorDecay::PER_LABEL, 142, 640);
        assert!((p - 0.9f64.powi(10)).abs() < 1e-12);
        assert_eq!(cfg.anchor_strength(AnchorDecay::PER_LABEL, 0, 10), 1.0);
        let ten = AnchoredRefitConfig {
            lambda0: 10.0,
            ..cfg
        };
        assert!(
            (ten.anchor_strength(AnchorDecay::PER_LABEL, 142, 1) - 10.0 * 0.9f64.powi(10)).abs()
                < 1e-12
        );
    }

    #[test]
    fn cosine_runs_from_lr_to_zero_within_a_refit() {
        let cfg = AnchoredRefitConfig {
            lr: 1.0,
            ..Default::default()
        };
        assert_eq!(cfg.lr_at(0, 4), 1.0);
        assert!((cfg.lr_at(2, 4) - 0.5).abs() < 1e-15);
        assert!(
            (cfg.lr_at(1, 4) - 0.5 * (1.0 + (std::f64::consts::FRAC_PI_4).cos())).abs() < 1e-15
        );
        assert!(cfg.lr_at(4, 4).abs() < 1e-15);
    }

    fn split(n: usize, d: usize, seed: u64) -> PoolSplit {
        use rand::RngExt;
        let mut rng = rng_for(seed, Stream::Data, &[]);
        let mut m = || {
            FeatureMatrix::new(
                n,
                d,
                (0..n * d).map(|_| rng.random::<f32>() - 0.5).collect(),
            )
            .unwrap()
        };
        let (a, b) = (m(), m());
        PoolSplit {
            pair_a: a,
            pair_b: b,
            prompt: FeatureMatrix::new(n, 0, vec![]).unwrap().into(),
            prompt_id: vec![0; n],
            a_preferred: vec![true; n],
            score: None,
            latent_gap: None,
            lengths: None,
        }
    }

    fn config() -> EnsembleConfig {
        EnsembleConfig {
            members: 3,
            mlp: RewardMlpConfig {
                hidden: vec![8],
                weight_init_std: 0.3,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// The anchored refit trains on burn's autodiff in f32: bf16 is refused, not ignored.
    #[test]
    fn bf16_is_refused_not_ignored() {
        let cfg = EnsembleConfig {
            precision: crate::Precision::Bf16,
            ..config()
        };
        let err = cfg.anchored(6, 5).err().expect("bf16 refused");
        assert!(err.to_string().contains("model.precision: f32"), "{err}");
    }

    #[test]
    fn starts_as_the_untrained_ensemble_and_is_reproducible() {
        let cfg = config();
        let x = split(20, 6, 1);
        let a = cfg.anchored(6, 5).unwrap();
        let u = cfg.untrained(6, 5, 0).unwrap();
        assert_eq!(a.fitted().rewards(&x.pair_a), u.rewards(&x.pair_a));
        let refit = AnchoredRefitConfig {
            lr: 1e-2,
            batch_size: 8,
            ..Default::default()
        };
        let run = || {
            let mut e = cfg.anchored(6, 5).unwrap();
            let r1 = e.refit(&x, 1.0, &refit).unwrap();
            let r2 = e.refit(&x, 0.5, &refit).unwrap();
            (e.fitted().rewards(&x.pair_b), r1, r2)
        };
        let (ra, r1, r2) = run();
        assert_eq!(r1.steps, 3, "20 pairs in batches of 8");
        assert_eq!(
            e_steps(&cfg, &x, &refit),
            vec![6, 6, 6],
            "Adam steps accumulate per head"
        );
        // Warm start: the second refit starts where the first ended, so its loss is lower.
        assert!(r2.mean_loss < r1.mean_loss, "{r1:?} {r2:?}");
        let (rb, _, _) = crate::on_threads(1, run);
        assert_eq!(ra, rb, "thread count does not change the result");
    }

    fn e_steps(cfg: &EnsembleConfig, x: &PoolSplit, refit: &AnchoredRefitConfig) -> Vec<usize> {
        let mut e = cfg.anchored(6, 5).unwrap();
        e.refit(x, 1.0, refit).unwrap();
        e.refit(x, 1.0, refit).unwrap();
        e.fitted().reports.iter().map(|r| r.steps).collect()
    }

    #[test]
    fn a_strong_anchor_holds_the_heads_at_their_initial_weights() {
        let cfg = config();
        let x = split(32, 6, 2);
        let refit = AnchoredRefitConfig {
            lr: 1e-2,
            batch_size: 8,
            center_rewards: 0.0,
            ..Default::default()
        };
        let init = cfg.anchored(6, 3).unwrap().fitted().rewards(&x.pair_a);
        let moved = |lambda: f64| {
            let mut e = cfg.anchored(6, 3).unwrap();
            for _ in 0..5 {
                e.refit(&x, lambda, &refit).unwrap();
            }
            let r = e.fitted().rewards(&x.pair_a);
            r.iter()
                .zip(&init)
                .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())))
                .sum::<f64>()
        };
        let free = moved(0.0);
        let held = moved(1e6);
        assert!(held < 0.2 * free, "anchored {held} vs free {free}");
    }
}
