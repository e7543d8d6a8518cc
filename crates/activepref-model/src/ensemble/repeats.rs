//! Each distinct (prompt, response) row through the first layer once, when rows repeat (issue
//! 18).
//!
//! In TL;DR one post has several summaries and one summary is in several comparisons, so the
//! same (prompt, response) feature row is scored many times per pass, in `pair_a` and in
//! `pair_b`. The first layer (4,096 → 2,048 in the paper's MLP) is about 94% of a pass's work.
//! [`RowGroups`] finds bit-identical rows (a hash, then an exact comparison) across the sources
//! of one pass; [`grouped_rewards`] runs the first layer on the distinct rows only and the rest
//! of the network on the original chunks of 4,096 rows, as before.
//!
//! The rewards are **bit-identical** to the ungrouped pass (tested): the `gemm` crate sums a
//! first-layer output in an order that does not depend on the other rows of its call
//! ([`DenseRewardMlp::first_layer_is_row_independent`] says when), bias and tanh are per
//! element, and layers 2 on see the same rows in the same chunks as before. Grouping is used
//! only when at least 10% of the rows repeat; otherwise a pass is exactly what it was.

use std::collections::HashMap;

use activepref_core::FeatureMatrix;
use activepref_core::features::row_hash;
use rayon::prelude::*;

use crate::mlp::{DenseRewardMlp, DenseScratch};

/// Rows scored per GEMM call (the chunks of an ungrouped pass).
pub(super) const INFERENCE_CHUNK: usize = 4096;

/// Rows of one pass: a matrix and the rows of it to score (every row if `None`).
pub(super) type Source<'a> = (&'a FeatureMatrix, Option<&'a [usize]>);

/// The rows a source scores, in order.
fn selected(source: Source<'_>) -> Vec<usize> {
    match source.1 {
        Some(idx) => idx.to_vec(),
        None => (0..source.0.rows()).collect(),
    }
}

/// The bit-identical rows among the selected rows of several matrices of one width.
#[derive(Debug)]
pub(super) struct RowGroups {
    /// `(source, row)` of each distinct row, in order of first appearance.
    distinct: Vec<(usize, usize)>,
    /// For each source, for each selected row in order: its distinct row's position.
    slots: Vec<Vec<u32>>,
}

impl RowGroups {
    /// The groups of `sources`, or `None` when fewer than 10% of the selected rows repeat an
    /// earlier one (grouping would not pay for its gathers) or the widths differ.
    pub(super) fn find(sources: &[Source<'_>]) -> Option<Self> {
        let dim = sources.first()?.0.dim();
        if sources.iter().any(|s| s.0.dim() != dim) {
            return None;
        }
        let rows: Vec<Vec<usize>> = sources.iter().map(|&s| selected(s)).collect();
        let total: usize = rows.iter().map(Vec::len).sum();
        let hashes: Vec<Vec<u64>> = sources
            .iter()
            .zip(&rows)
            .map(|(s, r)| r.par_iter().map(|&i| row_hash(s.0.row(i))).collect())
            .collect();
        let mut first: HashMap<u64, Vec<u32>> = HashMap::with_capacity(total);
        let mut distinct: Vec<(usize, usize)> = Vec::new();
        let mut slots = Vec::with_capacity(sources.len());
        for (s, (r, h)) in rows.iter().zip(&hashes).enumerate() {
            let mut source_slots = Vec::with_capacity(r.len());
            for (&i, &hash) in r.iter().zip(h) {
                let row = sources[s].0.row(i);
                let bucket = first.entry(hash).or_default();
                let same = |&d: &u32| {
                    let (ds, di) = distinct[d as usize];
                    let other = sources[ds].0.row(di);
                    other
                        .iter()
                        .zip(row)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                };
                let slot = match bucket.iter().copied().find(same) {
                    Some(d) => d,
                    None => {
                        distinct.push((s, i));
                        let d = (distinct.len() - 1) as u32;
                        bucket.push(d);
                        d
                    }
                };
                source_slots.push(slot);
            }
            slots.push(source_slots);
        }
        (distinct.len() * 10 <= total * 9).then_some(Self { distinct, slots })
    }

    /// Distinct rows.
    #[cfg(test)]
    pub(super) fn distinct(&self) -> usize {
        self.distinct.len()
    }
}

/// Chunk bounds over `n` rows of at most [`INFERENCE_CHUNK`], none of exactly one row unless
/// `n` is 1 (the last two chunks share their rows instead).
fn chunk_bounds(n: usize) -> Vec<(usize, usize)> {
    let mut bounds: Vec<(usize, usize)> = (0..n)
        .step_by(INFERENCE_CHUNK)
        .map(|s| (s, (s + INFERENCE_CHUNK).min(n)))
        .collect();
    if let [.., a, b] = bounds.as_mut_slice()
        && b.1 - b.0 == 1
    {
        a.1 -= 1;
        b.0 -= 1;
    }
    bounds
}

/// The first hidden layer's output (`distinct × width`) for each distinct row of `groups`.
fn distinct_hidden(
    dense: &DenseRewardMlp,
    sources: &[Source<'_>],
    groups: &RowGroups,
    scratch: &mut DenseScratch,
) -> Vec<f32> {
    let (d, width) = (dense.input_dim(), dense.first_width());
    let mut hidden = vec![0f32; groups.distinct.len() * width];
    let mut buf = Vec::new();
    for (start, end) in chunk_bounds(groups.distinct.len()) {
        buf.clear();
        for &(s, i) in &groups.distinct[start..end] {
            buf.extend_from_slice(sources[s].0.row(i));
        }
        let mut rows = end - start;
        if rows == 1 {
            // A single distinct row: a second copy keeps the GEMM off the matrix-vector path.
            buf.extend_from_within(..d);
            rows = 2;
            let mut two = vec![0f32; 2 * width];
            dense.first_hidden(&buf, rows, &mut two, scratch);
            hidden[start * width..end * width].copy_from_slice(&two[..width]);
        } else {
            dense.first_hidden(&buf, rows, &mut hidden[start * width..end * width], scratch);
        }
    }
    hidden
}

/// Rewards `[source][row]` of `dense` on every source, with the first layer run once per
/// distinct row of `groups` (found on these `sources`). Bit-identical to scoring each source in
/// chunks of 4,096 rows with [`DenseRewardMlp::forward_with`] when
/// [`DenseRewardMlp::first_layer_is_row_independent`] holds (the caller checks).
pub(super) fn grouped_rewards(
    dense: &DenseRewardMlp,
    sources: &[Source<'_>],
    groups: &RowGroups,
    masks: &[&[f32]],
) -> Vec<Vec<f32>> {
    let mut scratch = DenseScratch::default();
    let hidden = distinct_hidden(dense, sources, groups, &mut scratch);
    let width = dense.first_width();
    let mut gathered = Vec::new();
    let mut rewards = Vec::with_capacity(sources.len());
    for (s, slots) in groups.slots.iter().enumerate() {
        let mut out = Vec::with_capacity(slots.len());
        for start in (0..slots.len()).step_by(INFERENCE_CHUNK) {
            let end = (start + INFERENCE_CHUNK).min(slots.len());
            if end - start == 1 {
                // The ungrouped pass ran this lone row through gemm's matrix-vector path.
                let row = selected_row(sources[s], start);
                out.extend(dense.forward_with(row, 1, masks, &mut scratch));
                continue;
            }
            gathered.clear();
            for &slot in &slots[start..end] {
                let slot = slot as usize;
                gathered.extend_from_slice(&hidden[slot * width..(slot + 1) * width]);
            }
            out.extend(dense.forward_layers(1, &gathered, end - start, masks, &mut scratch));
        }
        rewards.push(out);
    }
    rewards
}

/// The `k`-th selected row of a source.
fn selected_row(source: Source<'_>, k: usize) -> &[f32] {
    match source.1 {
        Some(idx) => source.0.row(idx[k]),
        None => source.0.row(k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::RewardMlpConfig;
    use burn::tensor::Device;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Each source scored alone in chunks of 4,096 rows, as `masked_rewards` does.
    fn ungrouped(
        dense: &DenseRewardMlp,
        sources: &[Source<'_>],
        masks: &[&[f32]],
    ) -> Vec<Vec<f32>> {
        let mut scratch = DenseScratch::default();
        sources
            .iter()
            .map(|&s| {
                let rows = selected(s);
                let mut out = Vec::new();
                for chunk in rows.chunks(INFERENCE_CHUNK) {
                    let x: Vec<f32> = chunk.iter().flat_map(|&i| s.0.row(i).to_vec()).collect();
                    out.extend(dense.forward_with(&x, chunk.len(), masks, &mut scratch));
                }
                out
            })
            .collect()
    }

    fn bits(v: &[Vec<f32>]) -> Vec<Vec<u32>> {
        v.iter()
            .map(|r| r.iter().map(|x| x.to_bits()).collect())
            .collect()
    }

    /// `rows` rows drawn with repetition from `distinct` random rows of width `d`.
    fn repeated(rng: &mut ChaCha8Rng, distinct: &[Vec<f32>], rows: usize) -> FeatureMatrix {
        let picked: Vec<Vec<f32>> = (0..rows)
            .map(|_| distinct[rng.random_range(0..distinct.len())].clone())
            .collect();
        FeatureMatrix::from_rows(&picked).unwrap()
    }

    /// Grouped rewards equal the ungrouped pass bit for bit: both shapes of first layer the
    /// `gemm` crate blocks by `k` alone (k ≤ 512 with n ≤ 64, as the quickstart's 16 → 64; and
    /// k > 512 with n > 64), repeats within and across `pair_a` and `pair_b`, a lone last chunk
    /// (4,097 rows), a row subset, dropout masks, distinct chunks on both sides of the GEMM's
    /// threading threshold, and a single distinct row.
    #[test]
    fn grouped_rewards_are_bit_identical_to_the_ungrouped_pass() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (d, hidden, distinct_rows) in [(16, vec![64, 32], 3_000), (600, vec![300, 40], 4_500)] {
            let model = RewardMlpConfig {
                hidden: hidden.clone(),
                weight_init_std: 0.2,
                ..Default::default()
            }
            .init(d, &mut rng, &dev);
            let dense = model.dense().unwrap();
            assert!(dense.first_layer_is_row_independent());
            let distinct: Vec<Vec<f32>> = (0..distinct_rows)
                .map(|_| (0..d).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect())
                .collect();
            let a = repeated(&mut rng, &distinct, 5_000);
            let b = repeated(&mut rng, &distinct, 4_097);
            let subset: Vec<usize> = (0..4_100).map(|i| (i * 3) % 5_000).collect();
            let masks: Vec<Vec<f32>> = hidden
                .iter()
                .map(|&w| {
                    (0..w)
                        .map(|_| f32::from(rng.random::<bool>()) * 2.0)
                        .collect()
                })
                .collect();
            let mask_refs: Vec<&[f32]> = masks.iter().map(Vec::as_slice).collect();
            for sources in [
                vec![(&a, None), (&b, None)],
                vec![(&a, Some(subset.as_slice())), (&b, None)],
            ] {
                let groups = RowGroups::find(&sources).expect("most rows repeat");
                assert!(groups.distinct() <= distinct_rows);
                for m in [&[][..], &mask_refs[..]] {
                    assert_eq!(
                        bits(&grouped_rewards(&dense, &sources, &groups, m)),
                        bits(&ungrouped(&dense, &sources, m)),
                        "d {d}, masks {}",
                        m.len()
                    );
                }
            }
            let one = FeatureMatrix::from_rows(&vec![distinct[0].clone(); 9]).unwrap();
            let sources = [(&one, None), (&one, Some(&[3usize][..]))];
            let groups = RowGroups::find(&sources).unwrap();
            assert_eq!(groups.distinct(), 1);
            assert_eq!(
                bits(&grouped_rewards(&dense, &sources, &groups, &[])),
                bits(&ungrouped(&dense, &sources, &[]))
            );
        }
    }

    /// A first layer with at most 64 outputs and more than 512 inputs is blocked by
    /// `min(k, 512)` for small calls, so it is not treated as row-independent.
    #[test]
    fn narrow_wide_first_layers_are_not_grouped() {
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let model = RewardMlpConfig {
            hidden: vec![48, 8],
            ..Default::default()
        }
        .init(700, &mut rng, &dev);
        assert!(!model.dense().unwrap().first_layer_is_row_independent());
    }

    /// Groups are found only when at least 10% of the rows repeat, and count exact bit
    /// patterns (−0.0 and 0.0 are different rows).
    #[test]
    fn groups_need_ten_percent_repeats_and_exact_bits() {
        let rows = |n: usize| -> Vec<Vec<f32>> { (0..n).map(|i| vec![i as f32, 1.0]).collect() };
        let ten = FeatureMatrix::from_rows(&rows(10)).unwrap();
        let nine_plus_one = {
            let mut r = rows(9);
            r.push(r[0].clone());
            FeatureMatrix::from_rows(&r).unwrap()
        };
        assert!(RowGroups::find(&[(&ten, None)]).is_none());
        assert_eq!(
            RowGroups::find(&[(&nine_plus_one, None)])
                .unwrap()
                .distinct(),
            9
        );
        let signed = FeatureMatrix::from_rows(&[vec![0.0, 1.0], vec![-0.0, 1.0]]).unwrap();
        assert!(RowGroups::find(&[(&signed, None)]).is_none());
        assert_eq!(
            RowGroups::find(&[(&signed, None), (&signed, None)])
                .unwrap()
                .distinct(),
            2
        );
    }

    #[test]
    fn chunks_never_hold_one_row_alone() {
        for n in [1, 2, 4_095, 4_096, 4_097, 8_193, 10_000] {
            let b = chunk_bounds(n);
            assert_eq!((b[0].0, b[b.len() - 1].1), (0, n));
            assert!(b.windows(2).all(|w| w[0].1 == w[1].0));
            assert!(
                b.iter()
                    .all(|&(s, e)| e - s <= INFERENCE_CHUNK && (e - s >= 2 || n == 1))
            );
        }
    }
}
