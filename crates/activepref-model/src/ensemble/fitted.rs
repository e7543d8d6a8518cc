//! A trained ensemble: per-member rewards, response statistics and predictions.

use activepref_core::seeds::{Stream, model_draw, rng_for};
use activepref_core::{EnsemblePrediction, FeatureMatrix, PoolSplit};
use burn::tensor::{Device, Tensor, TensorData};

use super::TrainReport;
use crate::mlp::{DenseScratch, RewardMlp, dropout_masks};

/// A trained ensemble, ready for inference.
#[derive(Debug)]
pub struct FittedEnsemble {
    pub(super) members: Vec<RewardMlp>,
    /// MC dropout: one frozen mask set per realisation, all applied to `members[0]`.
    pub(super) realisation_masks: Vec<Vec<Tensor<2>>>,
    pub(super) device: Device,
    /// One report per member (a single one for MC dropout, which trains one model).
    pub reports: Vec<TrainReport>,
}

const INFERENCE_CHUNK: usize = 4096;

pub(super) fn member_rewards(model: &RewardMlp, x: &FeatureMatrix, device: &Device) -> Vec<f32> {
    masked_rewards(model, x, None, &[], device)
}

/// Rewards of `model` on the rows `idx` of `x` (every row if `None`), in chunks of 4,096 rows read
/// in place (never a gathered copy of the whole input). On the CPU backend the chunks go through
/// [`RewardMlp::dense`] (the same GEMM calls as burn, bit-identical rewards, every thread busy);
/// on other devices, and for activations the dense path lacks, through burn's forward.
fn masked_rewards(
    model: &RewardMlp,
    x: &FeatureMatrix,
    idx: Option<&[usize]>,
    masks: &[Tensor<2>],
    device: &Device,
) -> Vec<f32> {
    let (n, d) = (idx.map_or(x.rows(), <[usize]>::len), x.dim());
    let row_masks = masks.iter().all(|m| m.dims()[0] == 1);
    let dense = if *device == Device::flex() && row_masks {
        model.dense()
    } else {
        None
    };
    let mask_data: Vec<Vec<f32>> = match dense {
        Some(_) => masks
            .iter()
            .map(|m| {
                m.clone()
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32 masks")
            })
            .collect(),
        None => Vec::new(),
    };
    let mask_refs: Vec<&[f32]> = mask_data.iter().map(Vec::as_slice).collect();
    let mut out = Vec::with_capacity(n);
    let mut buf = Vec::new();
    let mut scratch = DenseScratch::default();
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
            Some(m) => out.extend(m.forward_with(rows, end - start, &mask_refs, &mut scratch)),
            None => {
                let t = Tensor::from_data(TensorData::new(rows.to_vec(), [end - start, d]), device);
                let r = model.forward_masked(t, masks);
                out.extend_from_slice(r.into_data().as_slice::<f32>().expect("f32 rewards"));
            }
        }
    }
    out
}

impl FittedEnsemble {
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
            realisation_masks,
            device,
            reports: vec![report],
        }
    }

    /// Ensemble members, or MC-dropout realisations.
    pub fn members(&self) -> usize {
        if self.realisation_masks.is_empty() {
            self.members.len()
        } else {
            self.realisation_masks.len()
        }
    }

    /// Per-member (or per-realisation) rewards `[member][row]` of every row of `x`.
    pub fn rewards(&self, x: &FeatureMatrix) -> Vec<Vec<f32>> {
        self.rewards_at(x, None)
    }

    /// Per-member (or per-realisation) rewards `[member][i]` of the rows `idx` of `x` (every row
    /// if `None`), read in place.
    pub fn rewards_at(&self, x: &FeatureMatrix, idx: Option<&[usize]>) -> Vec<Vec<f32>> {
        if self.realisation_masks.is_empty() {
            self.members
                .iter()
                .map(|m| masked_rewards(m, x, idx, &[], &self.device))
                .collect()
        } else {
            self.realisation_masks
                .iter()
                .map(|masks| masked_rewards(&self.members[0], x, idx, masks, &self.device))
                .collect()
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

    /// The ensemble's prediction on the comparisons at `idx` of `split` (all rows if `None`).
    pub fn predict(&self, split: &PoolSplit, idx: Option<&[usize]>) -> EnsemblePrediction {
        EnsemblePrediction::from_rewards(
            &self.rewards_at(&split.pair_a, idx),
            &self.rewards_at(&split.pair_b, idx),
        )
    }
}
