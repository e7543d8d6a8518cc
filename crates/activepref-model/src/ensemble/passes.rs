//! The CPU's passes over a split's rows: chunks of 4,096 rows ([`INFERENCE_CHUNK`]), read in
//! place or gathered once per chunk, through each network's dense path (burn's forward where the
//! dense path does not apply); repeated rows through the first layer once ([`grouped_rewards`]).

use activepref_core::FeatureMatrix;
use burn::tensor::{Device, Tensor, TensorData};

use super::fitted::LastLayerView;
use super::repeats::{INFERENCE_CHUNK, RowGroups, Source, grouped_rewards};
use crate::mlp::{DenseRewardMlp, DenseScratch, RewardMlp};

/// Calls `f(rows, count)` on consecutive chunks of at most 4,096 of the rows `idx` of `x` (every
/// row if `None`), `rows` holding `count × dim` values: in place when `idx` is `None`, else
/// gathered into one reused buffer.
pub(super) fn for_each_chunk(
    x: &FeatureMatrix,
    idx: Option<&[usize]>,
    mut f: impl FnMut(&[f32], usize),
) {
    let (n, d) = (idx.map_or(x.rows(), <[usize]>::len), x.dim());
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
        f(rows, end - start);
    }
}

/// A `[1, width]` mask tensor as plain values.
fn mask_values(m: &Tensor<2>) -> Vec<f32> {
    m.clone()
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 masks")
}

/// The repeated rows of `sources` when the CPU's dense path will score them (`None` elsewhere,
/// or when fewer than 10% of the rows repeat).
pub(super) fn groups_for(device: &Device, sources: &[Source<'_>]) -> Option<RowGroups> {
    (*device == Device::flex())
        .then(|| RowGroups::find(sources))
        .flatten()
}

/// The two results of a two-source pass.
pub(super) fn two(mut r: Vec<Vec<f32>>) -> (Vec<f32>, Vec<f32>) {
    let b = r.pop().expect("two sources");
    let a = r.pop().expect("two sources");
    (a, b)
}

/// `model`'s dense network and its row masks as plain values, where the CPU's dense path
/// applies (the CPU backend, masks of one row each, an activation it has); `None` elsewhere.
fn dense_path(
    model: &RewardMlp,
    masks: &[Tensor<2>],
    device: &Device,
) -> Option<(DenseRewardMlp, Vec<Vec<f32>>)> {
    let row_masks = masks.iter().all(|m| m.dims()[0] == 1);
    let dense = (*device == Device::flex() && row_masks).then(|| model.dense())??;
    Some((dense, masks.iter().map(mask_values).collect()))
}

/// Rewards `[source][row]` of `model` under `masks` on every source: on the CPU's dense path
/// (row masks only) through [`dense_sources_rewards`], with the network built once for every
/// source; elsewhere source by source through burn's forward.
pub(super) fn sources_rewards(
    model: &RewardMlp,
    sources: &[Source<'_>],
    groups: Option<&RowGroups>,
    masks: &[Tensor<2>],
    device: &Device,
) -> Vec<Vec<f32>> {
    match dense_path(model, masks, device) {
        Some((dense, mask_data)) => {
            let mask_refs: Vec<&[f32]> = mask_data.iter().map(Vec::as_slice).collect();
            dense_sources_rewards(&dense, sources, groups, &mask_refs)
        }
        None => sources
            .iter()
            .map(|&(x, idx)| masked_rewards(model, x, idx, masks, device))
            .collect(),
    }
}

/// Rewards `[source][row]` of the dense network `dense` under the row masks `masks` on every
/// source: through [`grouped_rewards`] when `groups` (of these sources) is given and the first
/// layer is row-independent, else each source in chunks of 4,096 rows ([`for_each_chunk`]). The
/// values are the same either way, and the same as [`masked_rewards`]'.
pub(super) fn dense_sources_rewards(
    dense: &DenseRewardMlp,
    sources: &[Source<'_>],
    groups: Option<&RowGroups>,
    masks: &[&[f32]],
) -> Vec<Vec<f32>> {
    if let Some(g) = groups.filter(|_| dense.first_layer_is_row_independent()) {
        return grouped_rewards(dense, sources, g, masks);
    }
    let mut scratch = DenseScratch::default();
    sources
        .iter()
        .map(|&(x, idx)| chunked_rewards(dense, x, idx, masks, &mut scratch))
        .collect()
}

/// Rewards of `dense` under the row masks `masks` on the rows `idx` of `x` (every row if
/// `None`), chunk by chunk ([`for_each_chunk`]).
fn chunked_rewards(
    dense: &DenseRewardMlp,
    x: &FeatureMatrix,
    idx: Option<&[usize]>,
    masks: &[&[f32]],
    scratch: &mut DenseScratch,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.map_or(x.rows(), <[usize]>::len));
    for_each_chunk(x, idx, |rows, count| {
        out.extend(dense.forward_with(rows, count, masks, scratch));
    });
    out
}

/// Rewards `[member][i]` of every member on the rows `idx` of `x` (every row if `None`): on the
/// CPU's dense path each chunk of 4,096 rows is gathered once and goes through every member
/// before the next (a member-by-member pass gathered every chunk once per member: 8% of a
/// gathered scoring pass on the paper's shapes). Each member sees the same chunks as in
/// [`masked_rewards`], so the rewards are the same bits.
pub(super) fn members_rewards(
    members: &[RewardMlp],
    x: &FeatureMatrix,
    idx: Option<&[usize]>,
    device: &Device,
) -> Vec<Vec<f32>> {
    let dense: Option<Vec<_>> = (*device == Device::flex())
        .then(|| members.iter().map(RewardMlp::dense).collect())
        .flatten();
    let Some(dense) = dense else {
        return members
            .iter()
            .map(|m| masked_rewards(m, x, idx, &[], device))
            .collect();
    };
    let n = idx.map_or(x.rows(), <[usize]>::len);
    let mut out: Vec<Vec<f32>> = members.iter().map(|_| Vec::with_capacity(n)).collect();
    let mut scratch = DenseScratch::default();
    for_each_chunk(x, idx, |rows, count| {
        for (m, out) in dense.iter().zip(&mut out) {
            out.extend(m.forward_with(rows, count, &[], &mut scratch));
        }
    });
    out
}

/// Rewards of `model` on the rows `idx` of `x` (every row if `None`), in chunks of 4,096 rows read
/// in place (never a gathered copy of the whole input). On the CPU backend the chunks go through
/// [`RewardMlp::dense`] (the same GEMM calls as burn, bit-identical rewards, every thread busy);
/// on other devices, and for activations the dense path lacks, through burn's forward.
pub(super) fn masked_rewards(
    model: &RewardMlp,
    x: &FeatureMatrix,
    idx: Option<&[usize]>,
    masks: &[Tensor<2>],
    device: &Device,
) -> Vec<f32> {
    if let Some((dense, mask_data)) = dense_path(model, masks, device) {
        let mask_refs: Vec<&[f32]> = mask_data.iter().map(Vec::as_slice).collect();
        return chunked_rewards(&dense, x, idx, &mask_refs, &mut DenseScratch::default());
    }
    let (n, d) = (idx.map_or(x.rows(), <[usize]>::len), x.dim());
    let mut out = Vec::with_capacity(n);
    for_each_chunk(x, idx, |rows, count| {
        let t = Tensor::from_data(TensorData::new(rows.to_vec(), [count, d]), device);
        let r = model.forward_masked(t, masks);
        out.extend_from_slice(r.into_data().as_slice::<f32>().expect("f32 rewards"));
    });
    out
}

/// The final-layer inputs of `model` on the rows `idx` of `x` (`[rows, width]`) and its final
/// weights, under the row masks `masks`; `None` off the CPU backend or for an activation the
/// dense path lacks, an error for non-finite activations.
pub(super) fn final_layer(
    model: &RewardMlp,
    x: &FeatureMatrix,
    idx: Option<&[usize]>,
    masks: &[Tensor<2>],
    device: &Device,
) -> Option<Result<LastLayerView, String>> {
    let dense = model.dense().filter(|_| *device == Device::flex())?;
    let mask_data: Vec<Vec<f32>> = masks.iter().map(mask_values).collect();
    let mask_refs: Vec<&[f32]> = mask_data.iter().map(Vec::as_slice).collect();
    let weights = dense.final_weights().to_vec();
    let (n, width) = (idx.map_or(x.rows(), <[usize]>::len), weights.len());
    let mut out = Vec::with_capacity(n * width);
    let mut scratch = DenseScratch::default();
    for_each_chunk(x, idx, |rows, count| {
        out.extend(dense.final_inputs(rows, count, &mask_refs, &mut scratch));
    });
    // Tanh activations of finite weights are finite; a diverged member's are not.
    Some(
        FeatureMatrix::new(n, width, out)
            .map(|m| (m, weights))
            .map_err(|e| e.to_string()),
    )
}
