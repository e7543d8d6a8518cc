//! Training steps of a tanh reward MLP on plain buffers: in f32 bit-identical to burn's autodiff
//! step, in bf16 as autocast trains.
//!
//! A training step on burn's CPU backend is memory-bound, not FLOP-bound: for the paper's first
//! layer (4,096 × 2,048 weights, 34 MB) every burn operation allocates, zero-fills and copies a
//! tensor of that size (the weight gradient of the chosen side, of the rejected side, their sum,
//! AdamW's reads and writes through `TensorData`), and burn-flex as this workspace builds it runs
//! each GEMM on one thread. [`DenseTrainer`] runs the same step on buffers it keeps from step to
//! step:
//! - the forward passes are [`DenseRewardMlp::forward_with`] (already bit-identical to burn's
//!   forward), keeping each side's hidden activations;
//! - the loss gradient follows burn's chain for `−mean(log σ(r_c − r_r))` operation by operation
//!   (neg, mean, burn-flex's `log_sigmoid_backward`, sub);
//! - each layer's backward makes the `gemm` calls burn's `linear` backward makes (burn-backend
//!   0.22 `linear_weight_backward`: `xᵀ · g`; `linear_x_backward`: `g · Wᵀ`, both on strided
//!   views, α = 0, β = 1), sums the bias gradient over rows in order from 0 as burn-flex's
//!   `sum_dim` does, and applies tanh's backward as burn's autodiff writes it,
//!   `g · ((−(y · y)) + 1)`;
//! - the two sides' gradients of a parameter are added once, as burn's gradient registry adds
//!   them (an f32 addition, which is commutative for values, so the order of the two sides is
//!   immaterial; only the payload of a NaN, in a run that has diverged anyway, could differ).
//!   For a large layer both sides' products and their sum are computed a block of `W`'s rows at
//!   a time ([`summed_weight_grads`]), so the sum is written once and never read back to add;
//! - the update is [`FusedAdamW`]'s arithmetic on the buffers ([`FusedAdamW::step_slice`]).
//!
//! `gemm` never splits a product's inner sum across threads, so the GEMMs run on the rayon pool
//! above burn-flex's size threshold without changing a bit. Tested step by step against burn's
//! trainer, weights compared bit for bit (`tests` below). Its tanh is the dense forward's
//! (`crate::tanh`), as exact as burn's wherever that start-up sweep switches it on. Used for
//! the deep ensemble's members and the Laplace head's network on the CPU backend with tanh and
//! no dropout; everything else trains on burn's autodiff.
//!
//! Under `model.precision: bf16` the steps run as the reference's bf16 autocast runs them
//! (specs/balpm.md §2, `bf16=True`), with f32 master weights and AdamW state: see
//! [`DenseTrainer::step_bf16`]. No burn trainer does that, so those steps are tested against a
//! hand computation of their roundings instead.

use burn::tensor::Device;
use rayon::prelude::*;

use super::FusedAdamW;
use super::adamw::{Gradient, Rounded, SliceMoments, add_chunks, add_gradients, norm_of};
use super::norm::{CHUNK, deterministic_norm_bf16};
use crate::bf16_slices::fill_bf16;
use crate::dense::{Bf16Weights, Strided, bf16_matmul, strided_matmul};
use crate::mlp::{DenseRewardMlp, DenseScratch, Precision, RewardMlp};
use half::bf16;

/// One member's weights, optimiser state and work buffers, trained step by step.
pub(crate) struct DenseTrainer {
    net: DenseRewardMlp,
    optim: FusedAdamW,
    /// Per layer: the weight's and the bias's AdamW state.
    moments: Vec<[Option<SliceMoments>; 2]>,
    /// Per layer: the weight gradient (`fan_in × fan_out`; in bf16 steps unused, see
    /// `grads16`) and the bias gradient (`fan_out`).
    grads: Vec<(Vec<f32>, Vec<f32>)>,
    /// bf16 steps' weight gradients, per layer, as the bf16 values AdamW widens when it reads
    /// them (empty in f32 steps).
    grads16: Vec<Vec<bf16>>,
    /// Where [`summed_weight_grads`] puts the rejected side's weight gradient before it joins
    /// the chosen side's.
    second: SecondSide,
    /// The starting network's precision, kept by the networks [`Self::model`] returns.
    precision: Precision,
    /// The chosen and the rejected side's hidden activations.
    sides: [DenseScratch; 2],
    /// bf16 steps' operands: a layer's input, the gradient at its output, and a product.
    bf16: [Vec<bf16>; 3],
    /// The minibatch's feature rows, gathered by the caller for each step ([`Self::minibatch`]).
    /// Kept from step to step: a fresh 1 MB buffer a step (the paper's 2 × 32 rows of 4,096)
    /// was mapped and zero-filled by the kernel each time, about 2% of a step's time.
    minibatch: Vec<f32>,
}

impl DenseTrainer {
    /// A trainer starting from `model`'s weights whose steps run in `steps` precision, or `None`
    /// where the dense path does not apply (an activation other than tanh).
    pub(crate) fn new(model: &RewardMlp, optim: FusedAdamW, steps: Precision) -> Option<Self> {
        let precision = model.precision();
        let net = model.clone().with_precision(steps).dense()?;
        let grads = net
            .layers
            .iter()
            .map(|l| (vec![0.0; l.w.len()], vec![0.0; l.b.len()]))
            .collect();
        Some(Self {
            moments: vec![[None, None]; net.layers.len()],
            precision,
            net,
            optim,
            grads,
            grads16: Vec::new(),
            sides: [DenseScratch::default(), DenseScratch::default()],
            second: SecondSide::default(),
            bf16: Default::default(),
            minibatch: Vec::new(),
        })
    }

    /// The buffer the caller gathers a minibatch into before [`Self::step`]: taken out of the
    /// trainer (empty, with the capacity of earlier minibatches), to be given back with
    /// [`Self::keep_minibatch`].
    pub(crate) fn minibatch(&mut self) -> Vec<f32> {
        let mut rows = std::mem::take(&mut self.minibatch);
        rows.clear();
        rows
    }

    /// Gives back the buffer [`Self::minibatch`] lent, so the next step reuses its memory.
    pub(crate) fn keep_minibatch(&mut self, rows: Vec<f32>) {
        self.minibatch = rows;
    }

    /// Whether the steps run in bf16 ([`Self::step_bf16`]).
    #[cfg(test)]
    pub(crate) fn steps_in_bf16(&self) -> bool {
        self.net.is_bf16()
    }

    /// The network being trained, in the precision its steps run in (validation passes read
    /// it in place).
    pub(crate) fn net(&self) -> &DenseRewardMlp {
        &self.net
    }

    /// The current weights as a network on `device` (for checkpoints).
    pub(crate) fn model(&self, device: &Device) -> RewardMlp {
        RewardMlp::from_dense(&self.net, device).with_precision(self.precision)
    }

    /// One optimiser step at learning rate `lr` on a minibatch of `rows` comparisons: `pairs`
    /// holds the chosen sides' rows, then the rejected sides' (`2 · rows × input width`,
    /// row-major).
    ///
    /// Where every layer is row-independent ([`DenseRewardMlp::rows_are_independent`]) and
    /// `rows ≥ 2`, both sides go through each layer in one GEMM call: each row's outputs are the
    /// bits of burn's two calls, and a call of 64 rows fills the AVX-512 microkernel that one of
    /// 32 half-fills. One row a side takes gemm's matrix-vector path, so then the sides go
    /// separately, as in burn.
    ///
    /// In bf16 ([`Precision::Bf16`]) the step is bf16 autocast's: see [`Self::step_bf16`].
    ///
    /// # Panics
    ///
    /// If `pairs` is not `2 · rows × input width`, or `rows` is 0.
    pub(crate) fn step(&mut self, pairs: &[f32], rows: usize, lr: f64) {
        assert!(rows > 0, "an empty minibatch");
        let d = self.net.input_dim();
        assert_eq!(pairs.len(), 2 * rows * d, "2 · rows × input width");
        if self.net.is_bf16() {
            return self.step_bf16(pairs, rows, lr);
        }
        let (chosen, rejected) = pairs.split_at(rows * d);
        let merged = rows >= 2 && self.net.rows_are_independent();
        let (rc, rr) = if merged {
            let mut r = self
                .net
                .forward_with(pairs, 2 * rows, &[], &mut self.sides[0]);
            let rr = r.split_off(rows);
            (r, rr)
        } else {
            let rc = self.net.forward_with(chosen, rows, &[], &mut self.sides[0]);
            let rr = self
                .net
                .forward_with(rejected, rows, &[], &mut self.sides[1]);
            (rc, rr)
        };
        let (gc, gr) = loss_gradient(&rc, &rr);
        // Where both sides share one scratch, the rejected rows follow the chosen ones.
        let rejected_at = if merged { (0, rows) } else { (1, 0) };
        let sides = [((0, 0), chosen), (rejected_at, rejected)];
        let norms = self.backward(sides, rows, [gc, gr]);
        self.update(lr, &norms);
    }

    /// AdamW on every parameter from the gradients in `self.grads` (the weights' in
    /// `self.grads16` in bf16); `norms[l]`, where known, is layer `l`'s weight-gradient clipping
    /// norm. In bf16 the bf16 weights are rewritten from the updated f32 ones in the same pass,
    /// in the layout the forward reads them in ([`Bf16Weights`]).
    fn update(&mut self, lr: f64, norms: &[Option<f64>]) {
        let (layers, mut rounded) = self.net.layers_mut();
        for (l, layer) in layers.iter_mut().enumerate() {
            let (gw, gb) = &mut self.grads[l];
            // Only bf16 steps fill `grads16`.
            let gw = match self.grads16.get(l) {
                Some(g16) => Gradient::Bf16(g16),
                None => Gradient::F32(gw),
            };
            let [mw, mb] = &mut self.moments[l];
            let shape = [layer.fan_in, layer.fan_out];
            let (w16, b16) = match rounded.as_deref_mut() {
                Some(r) => {
                    let (w, b) = &mut r[l];
                    let w = match w {
                        Bf16Weights::RowMajor(w) => Rounded::RowMajor(w),
                        Bf16Weights::Tiles(w) => Rounded::Tiles(w.writer()),
                    };
                    (Some(w), b.as_deref_mut().map(Rounded::RowMajor))
                }
                None => (None, None),
            };
            self.optim
                .step_slice(lr, (&mut layer.w, gw, &shape), mw, (norms[l], w16));
            if layer.has_bias {
                let gb = Gradient::F32(gb);
                self.optim
                    .step_slice(lr, (&mut layer.b, gb, &shape[1..]), mb, (None, b16));
            }
        }
    }

    /// A step as bf16 autocast runs it (the reference's `bf16=True`), on f32 master weights:
    /// - the forward is the bf16 validation pass's ([`DenseRewardMlp::forward_with`] in bf16:
    ///   bf16-rounded inputs and weights, f32 accumulation, each output rounded to bf16, tanh's
    ///   output rounded to bf16), both sides in one call per layer;
    /// - the loss and its gradient are f32 on the bf16 rewards ([`loss_gradient`]);
    /// - each layer's backward rounds the gradient at its output to bf16, then runs two bf16
    ///   GEMMs (f32 accumulation, one rounding to bf16 per output): the weight gradient `xᵀ · g`
    ///   over the rows of both sides at once, and `g · Wᵀ` with the bf16 weights; the bias
    ///   gradient is the f32 sum of `g`'s rows rounded to bf16; tanh's backward
    ///   `g · (1 − y · y)` runs in f32 and is rounded to bf16, as on a bf16 tensor;
    /// - AdamW updates the f32 weights from the gradients, widened to f32 as it reads them
    ///   ([`FusedAdamW::step_slice`]), and writes their bf16 rounding for the next forward in
    ///   the same pass: into the AMX tiles' layout for the first layer where the kernel is AMX's
    ///   ([`Bf16Weights::Tiles`]), so the forward does not pack it again; the clipping norm of a
    ///   large weight gradient is taken on the bf16 values ([`deterministic_norm_bf16`], the
    ///   widened values' norm to the bit).
    ///
    /// One difference from PyTorch: autograd adds the two sides' bf16 weight and bias gradients
    /// in bf16, where here both sides share one f32 accumulation. Results depend on the CPU family (as
    /// bf16 validation passes do), not on the thread count (tested).
    fn step_bf16(&mut self, pairs: &[f32], rows: usize, lr: f64) {
        let norms = self.gradients_bf16(pairs, rows);
        self.update(lr, &norms);
    }

    /// [`Self::step_bf16`]'s forward and backward: every weight's gradient into `self.grads16`,
    /// every bias's into `self.grads`;
    /// returns each weight gradient's clipping norm where it was taken.
    fn gradients_bf16(&mut self, pairs: &[f32], rows: usize) -> Vec<Option<f64>> {
        let mut rc = self
            .net
            .forward_with(pairs, 2 * rows, &[], &mut self.sides[0]);
        let rr = rc.split_off(rows);
        let (mut g, gr) = loss_gradient(&rc, &rr);
        g.extend(gr);
        self.backward_bf16(pairs, 2 * rows, g)
    }

    /// [`Self::step_bf16`]'s backward from `∂loss/∂reward` (`rows` values, both sides) through
    /// every layer into `self.grads16` (weights) and `self.grads` (biases); `x` is the input, the hidden activations are scratch 0's.
    fn backward_bf16(&mut self, x: &[f32], rows: usize, mut g: Vec<f32>) -> Vec<Option<f64>> {
        let [x16, g16, out16] = &mut self.bf16;
        let hidden = &self.sides[0].hidden;
        let mut norms = vec![None; self.net.layers.len()];
        self.grads16.resize_with(self.net.layers.len(), Vec::new);
        for l in (0..self.net.layers.len()).rev() {
            let layer = &self.net.layers[l];
            let (k, n) = (layer.fan_in, layer.fan_out);
            let input = layer_input(x, hidden, l, (0, rows, k));
            let x16 = fill_bf16(x16, input);
            // The gradient at the layer's output as the bf16 values it is rounded to (kept in
            // f32 too, for the bias sum).
            crate::bf16_slices::round_in_place(&mut g);
            let g16 = fill_bf16(g16, &g);
            let gb = &mut self.grads[l].1;
            let gw = &mut self.grads16[l];
            gw.resize(k * n, bf16::ZERO);
            let (xt, g16m) = (Strided::transposed(x16, k), Strided::row_major(g16, n));
            bf16_matmul(gw, (k, n, rows), (xt, g16m), false);
            if self.optim.uses_deterministic_norm(k * n) {
                norms[l] = Some(deterministic_norm_bf16(gw));
            }
            if layer.has_bias {
                // The rows' f32 sum from row 0 (`bias_grad`), rounded to bf16.
                let sum = bias_grad(&g, n);
                gb.iter_mut()
                    .zip(&sum)
                    .for_each(|(d, &v)| *d = bf16::from_f32(v).to_f32());
            }
            if l > 0 {
                let w16 = self
                    .net
                    .bf16_weights(l)
                    .expect("hidden layers' bf16 weights row-major");
                out16.resize(out16.len().max(rows * k), bf16::ZERO);
                let (g16m, wt) = (Strided::row_major(g16, n), Strided::transposed(w16, n));
                bf16_matmul(&mut out16[..rows * k], (rows, k, n), (g16m, wt), false);
                // tanh's backward on bf16 tensors: f32 arithmetic, one rounding.
                g = out16[..rows * k]
                    .par_iter()
                    .zip(input.par_iter())
                    .map(|(d, &y)| bf16::from_f32(d.to_f32() * (-(y * y) + 1.0)).to_f32())
                    .collect();
            }
        }
        norms
    }

    /// Backpropagates both sides from `∂loss/∂reward` (`rows` values each, chosen side first)
    /// through every layer, layer by layer. A side's hidden activations are rows
    /// `offset..offset + rows` of scratch `side`, its input `x`, given as `((side, offset), x)`.
    /// Each parameter's gradient is the chosen side's plus the rejected side's
    /// ([`summed_weight_grads`] for the weights). Returns, per layer, the weight gradient's
    /// clipping norm where the addition took it.
    fn backward(
        &mut self,
        sides: [((usize, usize), &[f32]); 2],
        rows: usize,
        mut g: [Vec<f32>; 2],
    ) -> Vec<Option<f64>> {
        let mut norms = vec![None; self.net.layers.len()];
        for l in (0..self.net.layers.len()).rev() {
            let layer = &self.net.layers[l];
            let (k, n) = (layer.fan_in, layer.fan_out);
            let inputs = sides.map(|((side, offset), x)| {
                layer_input(x, &self.sides[side].hidden, l, (offset, rows, k))
            });
            let (gw, gb) = &mut self.grads[l];
            // The clipping norm of a large gradient is taken in the same pass.
            let norm = self.optim.uses_deterministic_norm(gw.len());
            let grads = [g[0].as_slice(), g[1].as_slice()];
            norms[l] = summed_weight_grads(inputs, grads, (rows, k, n), gw, &mut self.second, norm);
            if layer.has_bias {
                gb.copy_from_slice(&bias_grad(&g[0], n));
                let db = bias_grad(&g[1], n);
                gb.iter_mut().zip(&db).for_each(|(a, b)| *a += *b);
            }
            if l > 0 {
                for (g, input) in g.iter_mut().zip(inputs) {
                    let mut dh = input_grad(g, &layer.w, (rows, k, n));
                    // burn's tanh backward: grad × ((−(y · y)) + 1), y the layer's tanh output.
                    dh.par_chunks_mut(1 << 14)
                        .zip(input.par_chunks(1 << 14))
                        .for_each(|(d, y)| {
                            for (d, &y) in d.iter_mut().zip(y) {
                                *d *= -(y * y) + 1.0;
                            }
                        });
                    *g = dh;
                }
            }
        }
        norms
    }
}

/// The rejected side's weight gradient before [`summed_weight_grads`] adds it to the chosen
/// side's. Both buffers are kept from step to step and never shrink, so they are zero-filled
/// only when they grow.
#[derive(Default)]
struct SecondSide {
    /// A whole layer's, for layers computed in one product (the largest such layer's size).
    whole: Vec<f32>,
    /// One block's, per group of blocks running on the pool (a block is at most
    /// `2 · block_rows(n) − 1` rows of `W`).
    blocks: Vec<Vec<f32>>,
}

/// A layer's weight gradient over both sides, `out = x_cᵀ · g_c + x_rᵀ · g_r` (`x`: `rows × k`,
/// `g`: `rows × n`, `out`: `k × n`), with the L2 norm of `out` where `norm` asks
/// ([`add_gradients`]'s value: the same chunks and f64 lanes).
///
/// Each side's product is [`weight_grad`]'s and the sum one f32 addition per element, as burn's
/// gradient registry adds the two sides' gradients (gemm's β-accumulation into one buffer would
/// round differently: it failed the step-by-step test). Where `n` divides [`CHUNK`] and the layer
/// has at least two blocks of [`block_rows`] rows of `W`, `out` is computed a block at a time:
/// both sides' products of the block, their sum and its chunks' sums of squares, while the block
/// is in cache. The blocks are split into one contiguous group per pool thread, each group
/// reusing one buffer for the rejected side ([`SecondSide::blocks`]). For the paper's first layer
/// (34 MB a gradient) that writes the gradient once instead of writing both sides' products and
/// reading them back to add them, and gemm runs blocks of 256 rows faster than the whole product.
///
/// Every output is still the same sum of `rows` products in the same order, so no bit moves
/// (tested against burn's trainer, step by step): gemm 0.19 splits the inner dimension by a
/// length that depends on `rows` alone, except for products of at most 64 × 64 outputs, which it
/// splits by 512 (`gemm-common` `gemm.rs`, `m <= 64 && n <= 64`), and it takes a matrix-vector
/// path for a single row. So the rows left over after the last whole block join that block:
/// every block has at least `block_rows(n)` ≥ 256 rows, like the whole product burn runs.
/// Elsewhere both products are whole GEMMs, the second into [`SecondSide::whole`].
fn summed_weight_grads(
    x: [&[f32]; 2],
    g: [&[f32]; 2],
    (rows, k, n): (usize, usize, usize),
    out: &mut [f32],
    second: &mut SecondSide,
    norm: bool,
) -> Option<f64> {
    let block = block_rows(n);
    if !in_blocks(k, n) {
        weight_grad(x[0], g[0], (rows, k, n), out);
        let whole = &mut second.whole;
        if whole.len() < k * n {
            whole.resize(k * n, 0.0);
        }
        let whole = &mut whole[..k * n];
        weight_grad(x[1], g[1], (rows, k, n), whole);
        return add_gradients(out, whole, norm);
    }
    let blocks = k / block;
    let per_group = blocks.div_ceil(rayon::current_num_threads().clamp(1, blocks));
    // Rows `first..end` of `W` per group; the last group ends at row `k`.
    let bounds: Vec<(usize, usize)> = (0..blocks)
        .step_by(per_group)
        .map(|b| {
            let end = b + per_group;
            (b * block, if end >= blocks { k } else { end * block })
        })
        .collect();
    let outs = split_rows(out, &bounds, n);
    if second.blocks.len() < bounds.len() {
        second.blocks.resize_with(bounds.len(), Vec::new);
    }
    let partial: Vec<Vec<f64>> = bounds
        .into_par_iter()
        .zip(outs)
        .zip(second.blocks.par_iter_mut())
        .map(|(((first, _), mut out), scratch)| {
            let mut partial = Vec::new();
            let mut row = first;
            while !out.is_empty() {
                // A group's last block takes what would be left short of a whole block.
                let m = if out.len() < 2 * block * n {
                    out.len() / n
                } else {
                    block
                };
                let (this, tail) = std::mem::take(&mut out).split_at_mut(m * n);
                block_weight_grad(x[0], g[0], (rows, k, n), (row, m), this);
                if scratch.len() < this.len() {
                    scratch.resize(this.len(), 0.0);
                }
                let second = &mut scratch[..this.len()];
                block_weight_grad(x[1], g[1], (rows, k, n), (row, m), second);
                add_chunks(this, second, norm.then_some(&mut partial));
                row += m;
                out = tail;
            }
            partial
        })
        .collect();
    norm.then(|| norm_of(partial.iter().flatten()))
}

/// Whether [`summed_weight_grads`] computes a `k × n` weight gradient a block of rows at a time:
/// `n` divides [`CHUNK`] and the layer has at least two blocks of [`block_rows`] rows.
fn in_blocks(k: usize, n: usize) -> bool {
    let block = block_rows(n);
    block > 0 && k >= 2 * block
}

/// `v` (row-major, `n` wide) cut into the row ranges `bounds` (consecutive, from row 0).
fn split_rows<'a>(mut v: &'a mut [f32], bounds: &[(usize, usize)], n: usize) -> Vec<&'a mut [f32]> {
    bounds
        .iter()
        .map(|&(first, end)| {
            let (part, tail) = std::mem::take(&mut v).split_at_mut((end - first) * n);
            v = tail;
            part
        })
        .collect()
}

/// Rows of `W` per block of [`summed_weight_grads`] for a layer `n` wide: whole [`CHUNK`]s (so
/// that the norm's chunks are the blocks' own), at least [`MIN_BLOCK_ROWS`]; 0 where `n` does not
/// divide a chunk.
fn block_rows(n: usize) -> usize {
    if n == 0 || !CHUNK.is_multiple_of(n) {
        return 0;
    }
    let per_chunk = CHUNK / n;
    per_chunk * MIN_BLOCK_ROWS.div_ceil(per_chunk)
}

/// The fewest rows of `W` a block of [`summed_weight_grads`] computes. On the paper's first
/// layer (inner dimension 32, 2,048 outputs a row) the gemm crate's AVX-512 kernel runs blocks
/// of 192–512 rows about a fifth faster than whole-layer products, blocks of 32 rows no faster
/// (AMD Zen 4, one thread, both sides and their sum: 12.2–12.4 ms against 14.8–15.0 ms).
const MIN_BLOCK_ROWS: usize = 256;

/// The input of layer `l` for rows `offset..offset + rows` (`k` wide): the network's input `x`
/// for layer 0, else those rows of the previous layer's activations in `hidden`.
fn layer_input<'a>(
    x: &'a [f32],
    hidden: &'a [Vec<f32>],
    l: usize,
    (offset, rows, k): (usize, usize, usize),
) -> &'a [f32] {
    if l == 0 {
        x
    } else {
        &hidden[l - 1][offset * k..(offset + rows) * k]
    }
}

/// `∂loss/∂r_c` and `∂loss/∂r_r` of `−mean(log σ(r_c − r_r))` as burn's autodiff computes them:
/// the seed 1 negated, times `1/rows` (an f64 rounded to f32, as burn-flex converts scalars),
/// times burn-flex's `sigmoid(−x)` for `x = r_c − r_r`; the rejected side gets the negation.
fn loss_gradient(rc: &[f32], rr: &[f32]) -> (Vec<f32>, Vec<f32>) {
    // `× −1` (the negated seed) is an exact negation.
    let scale = -((1f64 / rc.len() as f64) as f32);
    let gc: Vec<f32> = rc
        .iter()
        .zip(rr)
        .map(|(&c, &r)| scale * sigmoid(-(c - r)))
        .collect();
    let gr = gc.iter().map(|&v| -v).collect();
    (gc, gr)
}

/// burn-flex's f32 sigmoid (`ops/activation.rs`), branch for branch.
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `out = xᵀ · g` (`x`: `rows × k`, `g`: `rows × n`, `out`: `k × n`, row-major): burn's
/// `linear_weight_backward`, the GEMM on the transposed view of `x` (strides 1 and `k`).
fn weight_grad(x: &[f32], g: &[f32], (rows, k, n): (usize, usize, usize), out: &mut [f32]) {
    block_weight_grad(x, g, (rows, k, n), (0, k), out);
}

/// Rows `first..first + m` of [`weight_grad`]'s `out` (`m × n`): the same GEMM on the columns
/// `first..first + m` of `x` (`rows × k`, row-major).
fn block_weight_grad(
    x: &[f32],
    g: &[f32],
    (rows, k, n): (usize, usize, usize),
    (first, m): (usize, usize),
    out: &mut [f32],
) {
    let xt = Strided {
        data: &x[first..],
        row: 1,
        col: k,
    };
    strided_matmul(out, (m, n, rows), xt, Strided::row_major(g, n));
}

/// `g · Wᵀ` (`g`: `rows × n`, `w`: `k × n`; result `rows × k`): burn's `linear_x_backward`, the
/// GEMM on the transposed view of `w` (strides 1 and `n`).
fn input_grad(g: &[f32], w: &[f32], (rows, k, n): (usize, usize, usize)) -> Vec<f32> {
    let mut out = vec![0.0f32; rows * k];
    let (g, wt) = (Strided::row_major(g, n), Strided::transposed(w, n));
    strided_matmul(&mut out, (rows, k, n), g, wt);
    out
}

/// The bias gradient: `g`'s rows (`n` wide) summed in order from 0, as burn-flex's `sum_dim(0)`.
fn bias_grad(g: &[f32], n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n];
    for row in g.chunks_exact(n) {
        out.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ensemble::training::optimiser_step;
    use crate::mlp::{RewardMlpConfig, bradley_terry_loss};
    use activepref_core::seeds::{Stream, rng_for};
    use burn::module::Module;
    use burn::optim::ModuleOptimizer;
    use burn::tensor::{Tensor, TensorData};
    use rand::RngExt;

    fn bits(m: &RewardMlp) -> Vec<Vec<u32>> {
        m.snapshot()
            .into_iter()
            .map(|t| {
                let v = t.into_data().try_to_vec::<f32>().unwrap();
                v.into_iter().map(f32::to_bits).collect()
            })
            .collect()
    }

    /// Trains one network with burn's autodiff and [`FusedAdamW`] (the CPU backend's trainer
    /// before the dense one) and with [`DenseTrainer`], on the same minibatches of `rows`:
    /// every weight must agree bit for bit after every step.
    fn same_as_burn(cfg: RewardMlpConfig, d: usize, batches: &[usize], optim: FusedAdamW) {
        let ad = Device::flex().autodiff();
        let start = cfg.init(d, &mut rng_for(7, Stream::Model, &[0]), &ad);
        let mut dense = DenseTrainer::new(&start, optim.clone(), Precision::F32).expect("tanh");
        let mut burn_optim = ModuleOptimizer::from(optim);
        let mut model = start.clone();
        let mut rng = rng_for(8, Stream::Model, &[1]);
        for (step, &rows) in batches.iter().enumerate() {
            let mut x =
                || -> Vec<f32> { (0..rows * d).map(|_| rng.random::<f32>() - 0.5).collect() };
            let (c, r) = (x(), x());
            let tensor =
                |v: &[f32]| Tensor::<2>::from_data(TensorData::new(v.to_vec(), [rows, d]), &ad);
            let lr = 0.02 * (step + 1) as f64;
            let loss = bradley_terry_loss(model.forward(tensor(&c)), model.forward(tensor(&r)));
            model = optimiser_step(model, loss, &mut burn_optim, lr);
            dense.step(&[c, r].concat(), rows, lr);
            let same = bits(&dense.model(&Device::flex())) == bits(&model.valid());
            assert!(same, "step {step} ({rows} rows): the weights differ");
        }
        let moved = bits(&model.valid()) != bits(&start.valid());
        assert!(moved, "training moved the weights");
    }

    fn adamw(weight_decay: f32, clip_norm: Option<f32>) -> FusedAdamW {
        FusedAdamW {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay,
            clip_norm,
        }
    }

    #[test]
    fn small_network_steps_equal_burns_bit_for_bit() {
        let cfg = RewardMlpConfig {
            hidden: vec![96, 24],
            weight_init_std: 0.5,
            ..Default::default()
        };
        // A lone row (gemm's matrix-vector paths), odd sizes, and full minibatches.
        let batches = [8, 1, 3, 8, 32, 2, 8, 8];
        same_as_burn(cfg.clone(), 40, &batches, adamw(0.1, Some(1.0)));
        same_as_burn(cfg.clone(), 40, &batches, adamw(0.0, None));
        let no_output_bias = RewardMlpConfig {
            output_bias: false,
            hidden: vec![300, 40],
            ..cfg
        };
        same_as_burn(no_output_bias, 600, &[32, 5, 32], adamw(0.01, Some(0.05)));
        // Layers of at most 64 on both sides: gemm's small-matrix branch.
        let small = RewardMlpConfig {
            hidden: vec![48, 16],
            weight_init_std: 0.3,
            ..Default::default()
        };
        same_as_burn(small, 20, &[8, 2, 1, 16, 3], adamw(0.0, Some(1.0)));
        // A layer that is not row-independent (32 outputs, 1,024 inputs): the sides go
        // through it separately.
        let narrow = RewardMlpConfig {
            hidden: vec![32],
            ..Default::default()
        };
        same_as_burn(narrow, 1024, &[8, 3, 1], adamw(0.0, Some(1.0)));
        // No hidden layer: one linear layer to the reward.
        let linear = RewardMlpConfig {
            hidden: vec![],
            weight_init_std: 0.2,
            ..Default::default()
        };
        same_as_burn(linear, 20, &[8, 1, 5], adamw(0.1, Some(1.0)));
    }

    /// A first layer of 4,096 × 1,024 weights (the deterministic clipping norm's size) on the
    /// pool's GEMM paths, clipped at a threshold every gradient exceeds.
    #[test]
    fn paper_sized_first_layer_steps_equal_burns_bit_for_bit() {
        let cfg = RewardMlpConfig {
            hidden: vec![1024, 256],
            ..Default::default()
        };
        same_as_burn(cfg, 4096, &[32, 32, 7], adamw(0.0, Some(1e-3)));
        // The first layer 256 rows at a time ([`summed_weight_grads`]), the 4 rows left over
        // in the last block, the second one in 8 blocks of 256 rows.
        let wide = RewardMlpConfig {
            hidden: vec![2048, 256],
            ..Default::default()
        };
        same_as_burn(wide, 4100, &[32, 5], adamw(0.01, Some(1e-3)));
    }

    /// A layer of 64 outputs in blocks of 1,024 rows of `W` with 36 rows left over, on
    /// minibatches of more than 512 rows a side, where gemm splits the inner sum of a product of
    /// at most 64 × 64 outputs differently from a larger one: the left-over rows must not be a
    /// block of their own ([`summed_weight_grads`]).
    #[test]
    fn left_over_rows_of_a_blocked_layer_equal_burns_bit_for_bit() {
        let cfg = RewardMlpConfig {
            hidden: vec![64],
            ..Default::default()
        };
        same_as_burn(cfg, 2 * 1024 + 36, &[600, 513], adamw(0.0, Some(1e-3)));
    }

    /// [`summed_weight_grads`] against two whole products and [`add_gradients`], bit for bit
    /// with the same norm, on pools of 1, 3 and 64 threads (several blocks a group, one block a
    /// group with the left-over rows, more threads than blocks) and on layers of exactly two
    /// blocks, two and a row, three less a row, and too few rows for blocks; one `SecondSide`
    /// kept across all of them, as a trainer keeps it.
    #[test]
    fn blocked_weight_gradients_equal_whole_products_on_any_pool() {
        let (rows, n) = (40, 256);
        let block = block_rows(n);
        assert_eq!(block, 256);
        let mut rng = rng_for(3, Stream::Model, &[2]);
        let mut draw =
            |len: usize| -> Vec<f32> { (0..len).map(|_| rng.random::<f32>() - 0.5).collect() };
        let g = [draw(rows * n), draw(rows * n)];
        for threads in [1, 3, 64] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut second = SecondSide::default();
            for k in [
                2 * block,
                2 * block + 1,
                3 * block - 1,
                2 * block - 1,
                9 * block + 7,
            ] {
                let x = [draw(rows * k), draw(rows * k)];
                let mut want = vec![0.0f32; k * n];
                let mut other = vec![0.0f32; k * n];
                weight_grad(&x[0], &g[0], (rows, k, n), &mut want);
                weight_grad(&x[1], &g[1], (rows, k, n), &mut other);
                let want_norm = add_gradients(&mut want, &other, true);
                let mut got = vec![f32::NAN; k * n];
                let got_norm = pool.install(|| {
                    summed_weight_grads(
                        [&x[0], &x[1]],
                        [&g[0], &g[1]],
                        (rows, k, n),
                        &mut got,
                        &mut second,
                        true,
                    )
                });
                assert_eq!(in_blocks(k, n), k >= 2 * block);
                let same = got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{threads} threads, k = {k}");
                assert_eq!(got_norm, want_norm, "{threads} threads, k = {k}");
            }
        }
    }

    /// bf16 gradients by hand, as `step_bf16` documents them: each GEMM output is the bf16
    /// rounding of the exact sum of products of bf16 values (products of two bf16 are exact in
    /// f32, and a few of them sum far inside a bf16 step), the bias gradient the bf16 rounding of
    /// a column sum of the bf16 gradient, tanh's backward one f32 expression rounded to bf16.
    /// Bit for bit on a 6 → 5 → 3 → 1 network, 3 comparisons, with the first layer's weights in
    /// this CPU's layout and in the AMX tiles' layout on the emulated kernel.
    #[test]
    fn bf16_gradients_match_a_hand_computation() {
        bf16_gradients_by_hand(None);
        bf16_gradients_by_hand(Some(crate::amx::Kernel::Emulated));
    }

    /// [`bf16_gradients_match_a_hand_computation`], the first layer on `tiles` where given.
    fn bf16_gradients_by_hand(tiles: Option<crate::amx::Kernel>) {
        let cfg = RewardMlpConfig {
            hidden: vec![5, 3],
            weight_init_std: 0.4,
            ..Default::default()
        };
        let (d, rows) = (6, 3);
        let start = cfg.init(d, &mut rng_for(5, Stream::Model, &[0]), &Device::flex());
        let mut t = DenseTrainer::new(&start, adamw(0.0, None), Precision::Bf16).unwrap();
        if tiles.is_some() {
            t.net.first_layer_on(tiles);
        }
        let mut rng = rng_for(6, Stream::Model, &[1]);
        let pairs: Vec<f32> = (0..2 * rows * d)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        t.gradients_bf16(&pairs, rows);
        let r16 = |v: f64| bf16::from_f64(v).to_f64();
        let layers = &t.net.layers;
        // Forward: every row's activations, as bf16 values.
        let mut acts: Vec<Vec<Vec<f64>>> = vec![
            pairs
                .chunks(d)
                .map(|x| x.iter().map(|&v| r16(v as f64)).collect())
                .collect(),
        ];
        for (l, layer) in layers.iter().enumerate() {
            let next = acts[l]
                .iter()
                .map(|x| {
                    (0..layer.fan_out)
                        .map(|j| {
                            let dot: f64 = (0..layer.fan_in)
                                .map(|i| x[i] * r16(layer.w[i * layer.fan_out + j] as f64))
                                .sum();
                            let pre = bf16::from_f64(dot + r16(layer.b[j] as f64)).to_f32();
                            if l + 1 < layers.len() {
                                bf16::from_f32(pre.tanh()).to_f64()
                            } else {
                                pre as f64
                            }
                        })
                        .collect()
                })
                .collect();
            acts.push(next);
        }
        let rewards: Vec<f32> = acts[layers.len()].iter().map(|r| r[0] as f32).collect();
        let (mut g, gr) = loss_gradient(&rewards[..rows], &rewards[rows..]);
        g.extend(gr);
        let mut g: Vec<Vec<f64>> = g.iter().map(|&v| vec![v as f64]).collect();
        for l in (0..layers.len()).rev() {
            let (k, n) = (layers[l].fan_in, layers[l].fan_out);
            let g16: Vec<Vec<f64>> = g
                .iter()
                .map(|r| r.iter().map(|&v| r16(v)).collect())
                .collect();
            let x = &acts[l];
            assert_eq!(t.grads16[l].len(), k * n);
            for (at, &got) in t.grads16[l].iter().enumerate() {
                let (i, j) = (at / n, at % n);
                let want = r16((0..2 * rows).map(|r| x[r][i] * g16[r][j]).sum());
                assert_eq!(got.to_f64(), want, "layer {l} weight ({i}, {j})");
            }
            for (j, &got) in t.grads[l].1.iter().enumerate() {
                let sum = g16.iter().map(|r| r[j] as f32).sum::<f32>();
                assert_eq!(got, bf16::from_f32(sum).to_f32(), "layer {l} bias {j}");
            }
            g = (0..2 * rows)
                .map(|r| {
                    (0..k)
                        .map(|i| {
                            let w = |j: usize| r16(layers[l].w[i * n + j] as f64);
                            let dh =
                                bf16::from_f64((0..n).map(|j| g16[r][j] * w(j)).sum()).to_f32();
                            let y = x[r][i] as f32;
                            bf16::from_f32(dh * (-(y * y) + 1.0)).to_f64()
                        })
                        .collect()
                })
                .collect();
        }
    }

    /// A 4,096 → 1,024 → 256 → 1 network (the paper's first-layer paths) and one minibatch of
    /// 32 comparisons: the network, both sides' rows, and the rows a side.
    fn paper_sized_network_and_minibatch() -> (RewardMlp, Vec<f32>, usize) {
        let cfg = RewardMlpConfig {
            hidden: vec![1024, 256],
            ..Default::default()
        };
        let (d, rows) = (4096, 32);
        let start = cfg.init(d, &mut rng_for(3, Stream::Model, &[0]), &Device::flex());
        let mut rng = rng_for(4, Stream::Model, &[1]);
        let pairs: Vec<f32> = (0..2 * rows * d)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        (start, pairs, rows)
    }

    /// bf16 steps: the bf16 weights follow the f32 master weights (the rounding of the updated
    /// ones), training stays near f32 training, and the thread count changes no bit.
    #[test]
    fn bf16_steps_follow_f32_and_do_not_depend_on_the_thread_count() {
        let (start, pairs, rows) = paper_sized_network_and_minibatch();
        let run = |threads: usize, precision: Precision| {
            crate::on_threads(threads, || {
                let mut t = DenseTrainer::new(&start, adamw(0.01, Some(1.0)), precision).unwrap();
                for step in 0..3 {
                    t.step(&pairs, rows, 1e-3 * (step + 1) as f64);
                }
                if precision == Precision::Bf16 {
                    let (layers, rounded) = t.net.layers_mut();
                    let rounded = rounded.expect("bf16 layers");
                    let round = |v: &[f32]| v.iter().map(|&x| bf16::from_f32(x)).collect();
                    for (l, (w, b)) in layers.iter().zip(rounded.iter()) {
                        assert!(w.row_major() == round(&l.w), "stale bf16 weights");
                        assert!(b.as_ref() == Some(&round(&l.b)), "stale bf16 bias");
                    }
                }
                t.model(&Device::flex())
            })
        };
        let one = run(1, Precision::Bf16);
        assert!(
            bits(&one) == bits(&run(3, Precision::Bf16)),
            "3 threads changed the weights"
        );
        let f32_run = run(2, Precision::F32);
        assert!(bits(&one) != bits(&f32_run), "bf16 steps are not f32 steps");
        // bf16 rounding flips the sign of AdamW's first updates on the smallest gradients, so
        // single weights can differ by a whole step; as a whole the bf16 run stays near the f32
        // one (5% of the distance travelled, measured on AMD Zen 5's `vdpbf16ps` path; bound
        // 10%), and it learns the same: the summed reward margin on the batch moves from about 0
        // to about 165 in both (0.05% apart there; bound 1%, for CPUs on gemmkit's widening
        // path, which rounds its sums differently).
        let first_layer = |m: &RewardMlp| {
            let w = m.snapshot()[0].clone().into_data();
            w.try_to_vec::<f32>().unwrap()
        };
        let (w16, w32, w0) = (
            first_layer(&one),
            first_layer(&f32_run),
            first_layer(&start),
        );
        let l2 = |x: &[f32], y: &[f32]| {
            let squares = x.iter().zip(y).map(|(a, b)| ((a - b) as f64).powi(2));
            squares.sum::<f64>().sqrt()
        };
        assert!(
            l2(&w16, &w32) < 0.1 * l2(&w32, &w0),
            "bf16 drifted from f32"
        );
        let margin = |m: &RewardMlp| {
            let r = m.dense().unwrap().forward(&pairs, 2 * rows, &[]);
            (0..rows).map(|i| (r[i] - r[rows + i]) as f64).sum::<f64>()
        };
        let (m16, m32, m0) = (margin(&one), margin(&f32_run), margin(&start));
        assert!(
            m32 - m0 > 100.0,
            "f32 training raised the margin: {m0} → {m32}"
        );
        assert!((m16 - m32).abs() < 1e-2 * m32, "{m16} against {m32}");
    }

    /// The first layer's bf16 weights kept in the AMX tiles' layout and rewritten there by AdamW
    /// ([`Bf16Weights::Tiles`]): after every step they are the rounding of the f32 master
    /// weights (on the emulated kernel, any CPU; the update's chunks end inside rows and pairs
    /// of rows), and on a CPU with AMX the steps are the bits of packing the row-major weights
    /// at every forward, on the hardware and on the emulation.
    #[test]
    fn first_layer_weights_kept_in_the_tiles_layout_change_no_bit() {
        let cfg = RewardMlpConfig {
            hidden: vec![96, 24],
            ..Default::default()
        };
        let (d, rows) = (1000, 8);
        let start = cfg.init(d, &mut rng_for(11, Stream::Model, &[0]), &Device::flex());
        let mut rng = rng_for(12, Stream::Model, &[1]);
        let pairs: Vec<f32> = (0..2 * rows * d)
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        let run = |first: Option<Option<crate::amx::Kernel>>| {
            let mut t = DenseTrainer::new(&start, adamw(0.01, Some(1.0)), Precision::Bf16).unwrap();
            if let Some(kernel) = first {
                t.net.first_layer_on(kernel);
            }
            for step in 0..3 {
                t.step(&pairs, rows, 1e-2 * (step + 1) as f64);
                let (layers, rounded) = t.net.layers_mut();
                let w16 = rounded.expect("bf16 layers")[0].0.row_major();
                let want: Vec<bf16> = layers[0].w.iter().map(|&x| bf16::from_f32(x)).collect();
                assert!(w16 == want, "step {step}: stale first-layer weights");
            }
            bits(&t.model(&Device::flex()))
        };
        let emulated = run(Some(Some(crate::amx::Kernel::Emulated)));
        assert!(emulated != bits(&start), "training moved the weights");
        match crate::amx::hardware() {
            Some(_) => {
                let row_major = run(Some(None));
                assert!(run(None) == row_major, "kept tiles changed the steps");
                assert!(
                    emulated == row_major,
                    "the emulated tiles changed the steps"
                );
            }
            None => eprintln!("no AMX here: only the emulated tiles' weights were checked"),
        }
    }

    /// The pool's size changes no bit: the GEMMs split rows and columns, never an inner sum; the
    /// additions, norms and updates are per element or over fixed chunks.
    #[test]
    fn steps_do_not_depend_on_the_thread_count() {
        let (start, pairs, rows) = paper_sized_network_and_minibatch();
        let run = |threads: usize| {
            crate::on_threads(threads, || {
                let mut t =
                    DenseTrainer::new(&start, adamw(0.01, Some(1e-3)), Precision::F32).unwrap();
                for step in 0..3 {
                    t.step(&pairs, rows, 1e-3 * (step + 1) as f64);
                }
                bits(&t.model(&Device::flex()))
            })
        };
        let one = run(1);
        assert!(one == run(3), "3 threads changed the weights");
        assert!(one != bits(&start), "training moved the weights");
    }
}
