//! A trained preference model: per-draw rewards, response statistics and predictions, behind the
//! [`PreferenceModel`] seam that the deep ensemble, MC dropout and the Laplace last layer
//! implement.

use activepref_core::seeds::{Stream, model_draw, rng_for};
use activepref_core::{EnsemblePrediction, FeatureMatrix, PoolSplit};
use burn::tensor::{Device, Tensor, TensorData};

use super::TrainReport;
use super::laplace::LaplaceHead;
use super::passes::{
    final_layer, for_each_chunk, groups_for, masked_rewards, members_rewards, sources_rewards, two,
};
use crate::ModelError;
use crate::mlp::{DenseScratch, RewardMlp, dropout_masks};

/// What every uncertainty model gives the rest of activepref (the design's `PreferenceModel`
/// seam): `M` draws of the reward function, whose disagreement is the epistemic uncertainty. A
/// deep ensemble's draws are its members, MC dropout's its frozen masks, the Laplace last
/// layer's its posterior weight samples. A new uncertainty model implements this trait and
/// becomes a [`crate::UncertaintyBackend`].
pub trait PreferenceModel {
    /// Draws `M` (members, realisations or samples).
    fn draws(&self) -> usize;

    /// Per-draw rewards `[draw][i]` of the rows `idx` of `x` (every row if `None`).
    fn rewards_at(&self, x: &FeatureMatrix, idx: Option<&[usize]>) -> Vec<Vec<f32>>;

    /// Per-draw rewards of both responses of the comparisons `idx` of `split` (every one if
    /// `None`): `([draw][i]` of response A, `[draw][i]` of response B`)`. The same values as
    /// [`Self::rewards_at`] on `pair_a` and `pair_b`; the deep ensemble and MC dropout run the
    /// first layer once per distinct row when rows repeat (bit-identical, see `repeats.rs`).
    fn pair_rewards(
        &self,
        split: &PoolSplit,
        idx: Option<&[usize]>,
    ) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        (
            self.rewards_at(&split.pair_a, idx),
            self.rewards_at(&split.pair_b, idx),
        )
    }

    /// Per-draw view through the final linear layer of the rows `idx` of `x`: its inputs
    /// `[draw]` (`rows × width`) and weights `[draw]` (`width`).
    ///
    /// # Errors
    ///
    /// [`ModelError::Unsupported`] off the CPU backend, for an activation other than tanh, or
    /// when an activation is not finite.
    fn last_layer(
        &self,
        x: &FeatureMatrix,
        idx: Option<&[usize]>,
    ) -> Result<(Vec<FeatureMatrix>, Vec<Vec<f32>>), ModelError>;
}

/// How a fitted model's draws are made from its trained networks.
#[derive(Debug)]
pub(super) enum Draws {
    /// Every trained network is a draw (the deep ensemble).
    Members,
    /// MC dropout: one frozen mask set per realisation, all applied to `members[0]`.
    Realisations(Vec<Vec<Tensor<2>>>),
    /// Laplace last layer: posterior weight samples of `members[0]`'s final layer.
    Laplace(LaplaceHead),
}

/// A trained preference model, ready for inference.
#[derive(Debug)]
pub struct FittedEnsemble {
    pub(super) members: Vec<RewardMlp>,
    pub(super) draws: Draws,
    pub(super) device: Device,
    /// One report per trained network (a single one for MC dropout and the Laplace last layer,
    /// which train one model).
    pub reports: Vec<TrainReport>,
}

/// The deep ensemble's draws: its members.
struct DeepEnsemble<'a> {
    members: &'a [RewardMlp],
    device: &'a Device,
}

/// MC dropout's draws: one network under frozen masks.
struct McDropout<'a> {
    model: &'a RewardMlp,
    masks: &'a [Vec<Tensor<2>>],
    device: &'a Device,
}

/// The Laplace last layer's draws: posterior samples of one network's final weights.
struct LaplaceLastLayer<'a> {
    head: &'a LaplaceHead,
}

/// One draw off the CPU backend: a network and its dropout masks (none for a deep ensemble's
/// member).
type DeviceDraw<'a> = (&'a RewardMlp, &'a [Tensor<2>]);

impl DeepEnsemble<'_> {
    /// Every member, unmasked.
    fn draws_on_device(&self) -> Vec<DeviceDraw<'_>> {
        self.members.iter().map(|m| (m, &[][..])).collect()
    }
}

impl McDropout<'_> {
    /// The one network under each realisation's masks.
    fn draws_on_device(&self) -> Vec<DeviceDraw<'_>> {
        self.masks
            .iter()
            .map(|m| (self.model, m.as_slice()))
            .collect()
    }
}

/// Rewards `[draw][row]` of the rows `idx` of `x` (every row if `None`) off the CPU backend:
/// each chunk of [`INFERENCE_CHUNK`](super::repeats::INFERENCE_CHUNK) rows is uploaded once and
/// every draw runs on it (on a GPU the upload, not the GEMMs, is most of a pass;
/// docs/performance.md, "On a GPU"). The values are those of [`masked_rewards`] draw by draw.
fn device_rewards(
    draws: &[DeviceDraw<'_>],
    x: &FeatureMatrix,
    idx: Option<&[usize]>,
    device: &Device,
) -> Vec<Vec<f32>> {
    let n = idx.map_or(x.rows(), <[usize]>::len);
    let mut out: Vec<Vec<f32>> = draws.iter().map(|_| Vec::with_capacity(n)).collect();
    for_each_chunk(x, idx, |rows, count| {
        let t = Tensor::from_data(TensorData::new(rows.to_vec(), [count, x.dim()]), device);
        for (o, &(model, masks)) in out.iter_mut().zip(draws) {
            o.extend_from_slice(&rewards_of(model.forward_masked(t.clone(), masks)));
        }
    });
    out
}

/// A `[rows]` reward tensor as plain values.
fn rewards_of(r: Tensor<1>) -> Vec<f32> {
    r.into_data().try_into_vec::<f32>().expect("f32 rewards")
}

/// The rows of one source uploaded to the device once, in chunks of
/// [`INFERENCE_CHUNK`](super::repeats::INFERENCE_CHUNK) rows: training's validation split off the
/// CPU backend, read by every pass of every member of a fit instead of uploaded again each time
/// (1.1 GB for TL;DR's 33,083 comparisons at 4,096-d).
#[derive(Clone, Debug)]
pub(super) struct DeviceRows(Vec<Tensor<2>>);

impl DeviceRows {
    /// Both responses of `split` on `device`; `None` on the CPU backend, whose dense path reads
    /// the host rows in place.
    pub(super) fn pair(split: &PoolSplit, device: &Device) -> Option<[DeviceRows; 2]> {
        (*device != Device::flex()).then(|| {
            [
                Self::upload(&split.pair_a, device),
                Self::upload(&split.pair_b, device),
            ]
        })
    }

    /// Every row of `x` on `device`.
    pub(super) fn upload(x: &FeatureMatrix, device: &Device) -> DeviceRows {
        let mut chunks = Vec::new();
        for_each_chunk(x, None, |rows, count| {
            let data = TensorData::new(rows.to_vec(), [count, x.dim()]);
            chunks.push(Tensor::from_data(data, device));
        });
        DeviceRows(chunks)
    }

    /// `model`'s rewards on these rows, in row order.
    pub(super) fn rewards(&self, model: &RewardMlp) -> Vec<f32> {
        self.0
            .iter()
            .flat_map(|t| rewards_of(model.forward(t.clone())))
            .collect()
    }
}

/// The error of [`final_layer`]'s results, per draw.
fn collect_views(
    views: Option<Vec<Result<LastLayerView, String>>>,
) -> Result<(Vec<FeatureMatrix>, Vec<Vec<f32>>), ModelError> {
    let views = views
        .ok_or(ModelError::Unsupported {
            what: "last-layer embeddings (badge, fisher) need the CPU backend and tanh activations",
        })?
        .into_iter()
        .collect::<Result<Vec<LastLayerView>, String>>()
        .map_err(|_| ModelError::Unsupported {
            what: "last-layer embeddings (badge, fisher): a member's last-layer activation is NaN or infinite, so the model diverged; lower model.train.lr",
        })?;
    Ok(views.into_iter().unzip())
}

impl PreferenceModel for DeepEnsemble<'_> {
    fn draws(&self) -> usize {
        self.members.len()
    }

    fn rewards_at(&self, x: &FeatureMatrix, idx: Option<&[usize]>) -> Vec<Vec<f32>> {
        if *self.device != Device::flex() {
            return device_rewards(&self.draws_on_device(), x, idx, self.device);
        }
        members_rewards(self.members, x, idx, self.device)
    }

    fn pair_rewards(
        &self,
        split: &PoolSplit,
        idx: Option<&[usize]>,
    ) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        if *self.device != Device::flex() {
            let draws = self.draws_on_device();
            return (
                device_rewards(&draws, &split.pair_a, idx, self.device),
                device_rewards(&draws, &split.pair_b, idx, self.device),
            );
        }
        let sources = [(&split.pair_a, idx), (&split.pair_b, idx)];
        let Some(groups) = groups_for(self.device, &sources) else {
            return (
                members_rewards(self.members, &split.pair_a, idx, self.device),
                members_rewards(self.members, &split.pair_b, idx, self.device),
            );
        };
        self.members
            .iter()
            .map(|m| {
                two(sources_rewards(
                    m,
                    &sources,
                    Some(&groups),
                    &[],
                    self.device,
                ))
            })
            .unzip()
    }

    fn last_layer(
        &self,
        x: &FeatureMatrix,
        idx: Option<&[usize]>,
    ) -> Result<(Vec<FeatureMatrix>, Vec<Vec<f32>>), ModelError> {
        collect_views(
            self.members
                .iter()
                .map(|m| final_layer(m, x, idx, &[], self.device))
                .collect(),
        )
    }
}

impl PreferenceModel for McDropout<'_> {
    fn draws(&self) -> usize {
        self.masks.len()
    }

    fn rewards_at(&self, x: &FeatureMatrix, idx: Option<&[usize]>) -> Vec<Vec<f32>> {
        if *self.device != Device::flex() {
            return device_rewards(&self.draws_on_device(), x, idx, self.device);
        }
        self.masks
            .iter()
            .map(|masks| masked_rewards(self.model, x, idx, masks, self.device))
            .collect()
    }

    fn pair_rewards(
        &self,
        split: &PoolSplit,
        idx: Option<&[usize]>,
    ) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        if *self.device != Device::flex() {
            let draws = self.draws_on_device();
            return (
                device_rewards(&draws, &split.pair_a, idx, self.device),
                device_rewards(&draws, &split.pair_b, idx, self.device),
            );
        }
        let sources = [(&split.pair_a, idx), (&split.pair_b, idx)];
        let groups = groups_for(self.device, &sources);
        self.masks
            .iter()
            .map(|masks| {
                two(sources_rewards(
                    self.model,
                    &sources,
                    groups.as_ref(),
                    masks,
                    self.device,
                ))
            })
            .unzip()
    }

    fn last_layer(
        &self,
        x: &FeatureMatrix,
        idx: Option<&[usize]>,
    ) -> Result<(Vec<FeatureMatrix>, Vec<Vec<f32>>), ModelError> {
        collect_views(
            self.masks
                .iter()
                .map(|masks| final_layer(self.model, x, idx, masks, self.device))
                .collect(),
        )
    }
}

impl LaplaceLastLayer<'_> {
    /// The final-layer inputs of the rows `idx` of `x`.
    fn features(
        &self,
        x: &FeatureMatrix,
        idx: Option<&[usize]>,
    ) -> Result<FeatureMatrix, ModelError> {
        let n = idx.map_or(x.rows(), <[usize]>::len);
        let width = self.head.dense.final_weights().len();
        let mut out = Vec::with_capacity(n * width);
        let mut scratch = DenseScratch::default();
        for_each_chunk(x, idx, |rows, count| {
            out.extend(self.head.features(rows, count, &mut scratch));
        });
        FeatureMatrix::new(n, width, out).map_err(|_| ModelError::Unsupported {
            what: "laplace_last_layer: a last-layer activation is NaN or infinite, so the model diverged; lower model.train.lr",
        })
    }
}

impl PreferenceModel for LaplaceLastLayer<'_> {
    fn draws(&self) -> usize {
        self.head.samples.len()
    }

    fn rewards_at(&self, x: &FeatureMatrix, idx: Option<&[usize]>) -> Vec<Vec<f32>> {
        match self.features(x, idx) {
            Ok(phi) => (0..self.draws())
                .map(|s| self.head.rewards(s, &phi))
                .collect(),
            // A diverged network: NaN rewards, which every score refuses with its own error.
            Err(_) => {
                let n = idx.map_or(x.rows(), <[usize]>::len);
                vec![vec![f32::NAN; n]; self.draws()]
            }
        }
    }

    fn last_layer(
        &self,
        x: &FeatureMatrix,
        idx: Option<&[usize]>,
    ) -> Result<(Vec<FeatureMatrix>, Vec<Vec<f32>>), ModelError> {
        let phi = self.features(x, idx)?;
        Ok((vec![phi; self.draws()], self.head.samples.clone()))
    }
}

/// One member's view through its final linear layer: the layer's inputs (`rows × width`) and its
/// weights (`width`).
pub type LastLayerView = (FeatureMatrix, Vec<f32>);

impl FittedEnsemble {
    /// The same ensemble, whose members' forward passes run in `precision` (deep ensembles and
    /// MC dropout; the Laplace head keeps its own). Runs score in f32 and apply
    /// `model.precision` to training's validation passes only; `bench-round` times a validation
    /// pass with this.
    pub fn with_precision(mut self, precision: crate::Precision) -> Self {
        self.members = self
            .members
            .into_iter()
            .map(|m| m.with_precision(precision))
            .collect();
        self
    }

    /// The trained networks' mean best validation loss (nats; NaN for networks trained without
    /// validation, such as anchored refits).
    pub fn mean_validation_loss(&self) -> f64 {
        self.reports
            .iter()
            .map(|r| r.best_validation_loss)
            .sum::<f64>()
            / self.reports.len() as f64
    }

    /// One MC-dropout model with `realisations` frozen mask sets, seeded by `(run seed, round, r)`.
    pub(super) fn mc_dropout(
        model: RewardMlp,
        rate: f64,
        realisations: usize,
        run_seed: u64,
        round: u64,
        device: Device,
        report: TrainReport,
    ) -> Self {
        let widths = model.hidden_widths();
        let realisation_masks = (0..realisations)
            .map(|r| {
                dropout_masks(
                    &widths,
                    1,
                    rate,
                    &mut rng_for(run_seed, Stream::Model, &[round, r as u64, model_draw::MC]),
                    &device,
                )
            })
            .collect();
        Self {
            members: vec![model],
            draws: Draws::Realisations(realisation_masks),
            device,
            reports: vec![report],
        }
    }

    /// The fitted model through the seam: its draws, whichever uncertainty model made them.
    pub fn model(&self) -> Box<dyn PreferenceModel + '_> {
        match &self.draws {
            Draws::Members => Box::new(DeepEnsemble {
                members: &self.members,
                device: &self.device,
            }),
            Draws::Realisations(masks) => Box::new(McDropout {
                model: &self.members[0],
                masks,
                device: &self.device,
            }),
            Draws::Laplace(head) => Box::new(LaplaceLastLayer { head }),
        }
    }

    /// Draws: ensemble members, MC-dropout realisations or Laplace weight samples.
    pub fn members(&self) -> usize {
        self.model().draws()
    }

    /// Per-draw rewards `[draw][row]` of every row of `x` (members, realisations or samples).
    pub fn rewards(&self, x: &FeatureMatrix) -> Vec<Vec<f32>> {
        self.rewards_at(x, None)
    }

    /// Per-draw rewards `[draw][i]` of the rows `idx` of `x` (every row if `None`), read in
    /// place.
    pub fn rewards_at(&self, x: &FeatureMatrix, idx: Option<&[usize]>) -> Vec<Vec<f32>> {
        self.model().rewards_at(x, idx)
    }

    /// Per-response mean and spread across members (unbiased std, as torch.std; 0 with one member),
    /// with the per-member rewards `[member][response]`.
    pub fn response_stats(&self, x: &FeatureMatrix) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
        let r = self.rewards(x);
        let e = r.len() as f64;
        let (mut mu, mut sd) = (Vec::with_capacity(x.rows()), Vec::with_capacity(x.rows()));
        for i in 0..x.rows() {
            let mean = r.iter().map(|m| m[i] as f64).sum::<f64>() / e;
            let var = if r.len() > 1 {
                r.iter().map(|m| (m[i] as f64 - mean).powi(2)).sum::<f64>() / (e - 1.0)
            } else {
                0.0
            };
            mu.push(mean as f32);
            sd.push(var.sqrt() as f32);
        }
        (mu, sd, r)
    }

    /// Each draw's view of the rows `idx` of `x` (every row if `None`) through its final linear
    /// layer: the layer's inputs `[draw]` (`rows × width`, the last hidden activations, masked for
    /// an MC-dropout realisation) and its weights `[draw]` (`width` entries; a Laplace sample's
    /// own). BADGE and Fisher selection read them (issue 23).
    ///
    /// # Errors
    ///
    /// [`ModelError::Unsupported`] off the CPU backend, for an activation other than tanh, or
    /// when an activation is not finite.
    pub fn last_layer(
        &self,
        x: &FeatureMatrix,
        idx: Option<&[usize]>,
    ) -> Result<(Vec<FeatureMatrix>, Vec<Vec<f32>>), ModelError> {
        self.model().last_layer(x, idx)
    }

    /// The ensemble's prediction on the comparisons at `idx` of `split` (all rows if `None`).
    pub fn predict(&self, split: &PoolSplit, idx: Option<&[usize]>) -> EnsemblePrediction {
        let (a, b) = self.model().pair_rewards(split, idx);
        EnsemblePrediction::from_rewards(&a, &b)
    }
}

#[cfg(test)]
mod tests {
    use super::super::repeats::INFERENCE_CHUNK;
    use super::*;
    use crate::{EnsembleConfig, RewardMlpConfig};

    /// The GPU paths (each chunk uploaded once for every draw; the validation rows uploaded once
    /// per fit) give the CPU's rewards: run on the CPU backend, where burn's forward and the
    /// dense path are the same GEMM calls, they agree bit for bit, across a chunk boundary
    /// (4,096 rows) and on gathered rows.
    #[test]
    fn device_paths_give_the_cpu_rewards() {
        let cfg = EnsembleConfig {
            members: 3,
            mlp: RewardMlpConfig {
                hidden: vec![8, 4],
                weight_init_std: 0.3,
                ..Default::default()
            },
            ..Default::default()
        };
        let fitted = cfg.untrained(5, 11, 0).unwrap();
        let rows = 2 * INFERENCE_CHUNK + 37;
        let values = (0..rows * 5).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0);
        let x = FeatureMatrix::new(rows, 5, values.collect()).unwrap();
        // More than one chunk gathered: 4,115 rows, backwards.
        let idx: Vec<usize> = (0..rows).rev().step_by(2).collect();
        assert!(idx.len() > INFERENCE_CHUNK);
        let bits = |r: &[Vec<f32>]| -> Vec<Vec<u32>> {
            r.iter()
                .map(|m| m.iter().map(|v| v.to_bits()).collect())
                .collect()
        };
        let device = Device::flex();
        let draws: Vec<DeviceDraw<'_>> = fitted.members.iter().map(|m| (m, &[][..])).collect();
        for idx in [None, Some(idx.as_slice())] {
            let cpu = fitted.rewards_at(&x, idx);
            assert_eq!(cpu.len(), 3);
            assert_eq!(cpu[0].len(), idx.map_or(rows, <[usize]>::len));
            let uploaded_once = device_rewards(&draws, &x, idx, &device);
            assert_eq!(bits(&uploaded_once), bits(&cpu));
            // Every member on each gathered chunk in turn: each member's own pass, in order.
            let alone: Vec<Vec<f32>> = (fitted.members.iter())
                .map(|m| masked_rewards(m, &x, idx, &[], &device))
                .collect();
            assert_ne!(bits(&alone[..1]), bits(&alone[1..2]), "the members differ");
            assert_eq!(bits(&alone), bits(&cpu));
        }
        let resident = DeviceRows::upload(&x, &device);
        assert_eq!(resident.0.len(), 3, "three chunks");
        let per_member: Vec<Vec<f32>> =
            fitted.members.iter().map(|m| resident.rewards(m)).collect();
        assert_eq!(bits(&per_member), bits(&fitted.rewards(&x)));
        // MC dropout: one network under each realisation's masks, in realisation order.
        let mc = EnsembleConfig {
            backend: crate::UncertaintyBackend::McDropout {
                rate: 0.3,
                realisations: 4,
            },
            ..cfg
        }
        .untrained(5, 11, 0)
        .unwrap();
        let Draws::Realisations(masks) = &mc.draws else {
            panic!("MC dropout draws are realisations")
        };
        let dropout = McDropout {
            model: &mc.members[0],
            masks,
            device: &device,
        };
        for idx in [None, Some(idx.as_slice())] {
            let cpu = mc.rewards_at(&x, idx);
            assert_eq!(cpu.len(), 4);
            assert_ne!(bits(&cpu[..1]), bits(&cpu[1..2]), "the masks differ");
            let uploaded_once = device_rewards(&dropout.draws_on_device(), &x, idx, &device);
            assert_eq!(bits(&uploaded_once), bits(&cpu));
        }
    }
}
