//! The dense CPU forward pass of a trained reward MLP ([`DenseRewardMlp`]): plain arrays, the
//! `gemm` crate's calls as burn-flex makes them, bias and tanh on every thread. Scoring and
//! validation passes on burn's CPU backend go through it, and so does the forward of the CPU
//! backend's training steps (`ensemble::dense_train`).

use crate::bf16_slices::{fill_bf16, round_into, widen_into};
use crate::mlp::Precision;

/// Below this many multiply-adds burn-flex runs a matmul on one thread; the dense path makes the
/// same choice so that its GEMM calls are burn's, argument for argument.
const GEMM_PARALLEL_OPS: usize = 192 * 192 * 192;

/// Whether an `m × k` by `k × n` product reaches [`GEMM_PARALLEL_OPS`] and runs on the rayon pool.
fn gemm_is_parallel(m: usize, n: usize, k: usize) -> bool {
    m.saturating_mul(n).saturating_mul(k) >= GEMM_PARALLEL_OPS
}

pub(crate) struct DenseLayer {
    /// `fan_in × fan_out`, row-major (burn's `Linear` layout).
    pub(crate) w: Vec<f32>,
    pub(crate) b: Vec<f32>,
    pub(crate) fan_in: usize,
    pub(crate) fan_out: usize,
    pub(crate) has_bias: bool,
}

/// A trained member's weights as plain arrays, for scoring on the CPU: no autodiff graph and no
/// tensor per operation. Each layer makes the GEMM call burn-flex's `linear` makes (the `gemm`
/// crate, same shapes, strides and threading rule), then adds the bias and applies tanh with the
/// same f32 operations, so the rewards are bit-identical to [`RewardMlp::forward`] (tested); the
/// difference is that the bias add and tanh run on every thread, where burn applies tanh on one.
pub struct DenseRewardMlp {
    pub(crate) layers: Vec<DenseLayer>,
    /// With [`Precision::Bf16`]: every layer's weights ([`Bf16Weights`]) and bias (`fan_out`;
    /// `None` without one) rounded to bf16.
    bf16_layers: Option<Vec<Bf16Layer>>,
}

/// One layer's weights and bias rounded to bf16, as bf16 autocast casts them.
pub(crate) type Bf16Layer = (Bf16Weights, Option<Vec<half::bf16>>);

/// A layer's weights (`fan_in × fan_out`) rounded to bf16, in the layout their GEMMs read.
#[derive(Clone, Debug)]
pub(crate) enum Bf16Weights {
    /// Row-major: the hidden layers (the backward multiplies by their transpose), and every
    /// layer where the bf16 GEMM is `gemmkit`'s.
    RowMajor(Vec<half::bf16>),
    /// The first layer where the bf16 GEMM runs on AMX tiles: packed once for its kernel
    /// ([`crate::amx::PackedRhs`]) instead of at every forward, and rewritten in that layout by
    /// each training step's AdamW pass. The products are the same bits.
    Tiles(crate::amx::PackedRhs),
}

impl std::fmt::Debug for DenseRewardMlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let widths: Vec<usize> = self.layers.iter().map(|l| l.fan_out).collect();
        f.debug_struct("DenseRewardMlp")
            .field("widths", &widths)
            .finish()
    }
}

impl DenseRewardMlp {
    pub(crate) fn new(layers: Vec<DenseLayer>, precision: Precision) -> Self {
        let round = |v: &[f32]| {
            let mut r = vec![half::bf16::ZERO; v.len()];
            round_into(v, &mut r);
            r
        };
        let tiles = crate::amx::hardware();
        let bf16_layers = (precision == Precision::Bf16).then(|| {
            layers
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let w = Bf16Weights::rounded(l, tiles.filter(|_| i == 0));
                    (w, l.has_bias.then(|| round(&l.b)))
                })
                .collect()
        });
        Self {
            layers,
            bf16_layers,
        }
    }

    /// Input width.
    pub fn input_dim(&self) -> usize {
        self.layers[0].fan_in
    }

    /// Rewards of the `rows` rows stored row-major in `x`. `masks[l]`, when given, multiplies
    /// every row of the input of layer `l + 1` (a `[1, width]` dropout mask, as MC dropout's
    /// realisations use).
    pub fn forward(&self, x: &[f32], rows: usize, masks: &[&[f32]]) -> Vec<f32> {
        self.forward_with(x, rows, masks, &mut DenseScratch::default())
    }

    /// [`Self::forward`] with the hidden activations in `scratch`, which keeps its buffers for
    /// the next call: scoring a split chunk by chunk then allocates (and page-faults) each
    /// `[rows, width]` buffer once instead of once per chunk. The rewards are the same.
    pub fn forward_with(
        &self,
        x: &[f32],
        rows: usize,
        masks: &[&[f32]],
        scratch: &mut DenseScratch,
    ) -> Vec<f32> {
        assert_eq!(x.len(), rows * self.input_dim(), "rows × input width");
        self.forward_layers(0, x, rows, masks, scratch)
    }

    /// The layers from `start` on, for `input` (`rows × ` layer `start`'s input width): the rest
    /// of [`Self::forward_with`] after its first `start` layers, with the same GEMM calls.
    pub(crate) fn forward_layers(
        &self,
        start: usize,
        input: &[f32],
        rows: usize,
        masks: &[&[f32]],
        scratch: &mut DenseScratch,
    ) -> Vec<f32> {
        use rayon::prelude::*;
        let last = self.layers.len() - 1;
        scratch.hidden.resize_with(last, Vec::new);
        let mut output = Vec::new();
        for (i, layer) in self.layers.iter().enumerate().skip(start) {
            let (k, n) = (layer.fan_in, layer.fan_out);
            let (before, rest) = scratch.hidden.split_at_mut(i.min(last));
            let mut input: &[f32] = if i == start {
                &input[..rows * k]
            } else {
                &before[i - 1][..rows * k]
            };
            let masked: Vec<f32>;
            if let Some(mask) = masks.get(i.wrapping_sub(1)).filter(|_| i > 0) {
                assert_eq!(mask.len(), k, "a [1, width] mask");
                masked = input
                    .par_chunks(k)
                    .flat_map_iter(|row| row.iter().zip(mask.iter()).map(|(a, m)| a * m))
                    .collect();
                input = &masked;
            }
            // Every element is written by the GEMM, so a reused buffer needs no clearing;
            // `resize` only fills the part that grows.
            let out: &mut Vec<f32> = if i == last { &mut output } else { &mut rest[0] };
            out.resize(rows * n, 0.0);
            let out = &mut out[..rows * n];
            self.linear(i, input, rows, out, &mut scratch.bf16);
        }
        output
    }

    /// Layer `i` on `rows` rows of `input` into `out` (`rows × fan_out`): the GEMM (f32, or bf16
    /// under [`Precision::Bf16`]), the bias and, for a hidden layer, tanh.
    fn linear(
        &self,
        i: usize,
        input: &[f32],
        rows: usize,
        out: &mut [f32],
        bf16_scratch: &mut (Vec<half::bf16>, Vec<half::bf16>),
    ) {
        let layer = &self.layers[i];
        let (k, n) = (layer.fan_in, layer.fan_out);
        let bf16_layer = self.bf16_layers.as_ref().map(|l| &l[i]);
        if rows > 0 && n > 0 {
            match bf16_layer {
                Some((w, b)) => {
                    bf16_linear(input, (w, b.as_deref()), (rows, k, n), out, bf16_scratch);
                }
                None => f32_matmul(input, &layer.w, (rows, k, n), out),
            }
        }
        let hidden = i + 1 < self.layers.len();
        finish_layer(out, layer, hidden, bf16_layer.is_some());
    }

    /// Whether the first hidden layer's output for a row is the same bits whichever other rows
    /// share its GEMM call (at least 2): f32 precision and a hidden layer, and either more than
    /// 64 outputs or at most 512 inputs. Then the `gemm` crate blocks the inner dimension by
    /// `k` alone (`gemm-common` 0.19, `kernel_params`; its small-matrix branch for m, n ≤ 64
    /// blocks by `min(k, 512)`, the same when k ≤ 512), and each output sums its products in
    /// the same order. One row alone takes the matrix-vector path, so callers never pass 1.
    pub(crate) fn first_layer_is_row_independent(&self) -> bool {
        let first = &self.layers[0];
        self.bf16_layers.is_none()
            && self.layers.len() > 1
            && (first.fan_out > 64 || first.fan_in <= 512)
    }

    /// Whether every layer's output for a row is the same bits whichever other rows (at least 2)
    /// share its GEMM call: the condition of [`Self::first_layer_is_row_independent`] on every
    /// layer, in f32.
    pub(crate) fn rows_are_independent(&self) -> bool {
        self.bf16_layers.is_none()
            && self
                .layers
                .iter()
                .all(|l| l.fan_out > 64 || l.fan_in <= 512)
    }

    /// Width of the first hidden layer (the input of layer 1).
    pub(crate) fn first_width(&self) -> usize {
        self.layers[0].fan_out
    }

    /// The first layer (GEMM, bias, tanh) on `rows ≥ 2` rows of `x`, into `out`
    /// (`rows × first_width`): the input of layer 1, as [`Self::forward_with`] computes it.
    pub(crate) fn first_hidden(
        &self,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
        scratch: &mut DenseScratch,
    ) {
        assert!(rows >= 2, "one row takes gemm's matrix-vector path");
        assert_eq!(x.len(), rows * self.input_dim(), "rows × input width");
        self.linear(0, x, rows, out, &mut scratch.bf16);
    }
}

impl Bf16Weights {
    /// `layer`'s weights rounded to bf16: kept in the tiles' layout for `tiles`, else row-major.
    fn rounded(layer: &DenseLayer, tiles: Option<crate::amx::Kernel>) -> Self {
        match tiles {
            Some(kernel) => {
                let shape = (layer.fan_in, layer.fan_out);
                Bf16Weights::Tiles(crate::amx::PackedRhs::rounded(kernel, &layer.w, shape))
            }
            None => {
                let mut w = vec![half::bf16::ZERO; layer.w.len()];
                round_into(&layer.w, &mut w);
                Bf16Weights::RowMajor(w)
            }
        }
    }

    /// The weights row-major, whichever layout holds them.
    #[cfg(test)]
    pub(crate) fn row_major(&self) -> Vec<half::bf16> {
        match self {
            Bf16Weights::RowMajor(w) => w.clone(),
            Bf16Weights::Tiles(w) => w.unpacked(),
        }
    }
}

impl DenseRewardMlp {
    /// Whether the layers multiply in bf16 ([`Precision::Bf16`]).
    pub(crate) fn is_bf16(&self) -> bool {
        self.bf16_layers.is_some()
    }

    /// Layer `i`'s bf16 weights (`fan_in × fan_out`, row-major) under [`Precision::Bf16`];
    /// `None` in f32 and where they are kept in the tiles' layout ([`Bf16Weights::Tiles`]).
    pub(crate) fn bf16_weights(&self, i: usize) -> Option<&[half::bf16]> {
        match self.bf16_layers.as_ref().map(|l| &l[i].0) {
            Some(Bf16Weights::RowMajor(w)) => Some(w),
            _ => None,
        }
    }

    /// Keeps the first layer's bf16 weights in the tiles' layout for `kernel` (tests: the
    /// emulated kernel on any CPU, or the row-major layout back on an AMX CPU with `None`).
    #[cfg(test)]
    pub(crate) fn first_layer_on(&mut self, kernel: Option<crate::amx::Kernel>) {
        let w = Bf16Weights::rounded(&self.layers[0], kernel);
        self.bf16_layers.as_mut().expect("bf16 layers")[0].0 = w;
    }

    /// The f32 layers and, under [`Precision::Bf16`], their bf16 roundings, for a training step
    /// that updates both (autocast casts the f32 master weights at every forward).
    pub(crate) fn layers_mut(&mut self) -> (&mut [DenseLayer], Option<&mut [Bf16Layer]>) {
        (&mut self.layers, self.bf16_layers.as_deref_mut())
    }

    /// The final (width → 1) layer's weights, `width` entries.
    pub fn final_weights(&self) -> &[f32] {
        &self.layers[self.layers.len() - 1].w
    }

    /// The final layer's bias (0 without one).
    pub fn final_bias(&self) -> f32 {
        self.layers[self.layers.len() - 1]
            .b
            .first()
            .copied()
            .unwrap_or(0.0)
    }

    /// The inputs of the final layer for the `rows` rows of `x` (`rows × width`, row-major): the
    /// last hidden activations times the last mask when `masks` has one (the input itself for a
    /// network without hidden layers). The same forward pass as [`Self::forward_with`].
    pub fn final_inputs(
        &self,
        x: &[f32],
        rows: usize,
        masks: &[&[f32]],
        scratch: &mut DenseScratch,
    ) -> Vec<f32> {
        let last = self.layers.len() - 1;
        if last == 0 {
            return x.to_vec();
        }
        self.forward_with(x, rows, masks, scratch);
        let width = self.layers[last].fan_in;
        let mut h = scratch.hidden[last - 1][..rows * width].to_vec();
        if let Some(mask) = masks.get(last - 1) {
            for row in h.chunks_mut(width) {
                row.iter_mut().zip(mask.iter()).for_each(|(a, m)| *a *= m);
            }
        }
        h
    }
}

/// Reusable hidden-activation buffers of [`DenseRewardMlp::forward_with`].
#[derive(Debug, Default)]
pub struct DenseScratch {
    pub(crate) hidden: Vec<Vec<f32>>,
    /// The bf16 input (`rows × fan_in`) and output (`rows × fan_out`) of a [`Precision::Bf16`]
    /// layer.
    bf16: (Vec<half::bf16>, Vec<half::bf16>),
}

/// `out = x · w` (`x`: `rows × k`, `w`: `k × n`, `out`: `rows × n`, row-major, f32), the GEMM call
/// burn-flex's `linear` makes. Every element of `out` is written, so a reused buffer needs no
/// clearing.
fn f32_matmul(x: &[f32], w: &[f32], (rows, k, n): (usize, usize, usize), out: &mut [f32]) {
    strided_matmul(
        out,
        (rows, n, k),
        Strided::row_major(x, k),
        Strided::row_major(w, n),
    );
}

/// An f32 matrix operand addressed by strides (in elements): row `i`, column `j` is
/// `data[i · row + j · col]`, as burn-flex addresses a tensor view.
pub(crate) struct Strided<'a, T = f32> {
    pub(crate) data: &'a [T],
    pub(crate) row: usize,
    pub(crate) col: usize,
}

impl<'a, T> Strided<'a, T> {
    /// A row-major matrix `width` columns wide.
    pub(crate) fn row_major(data: &'a [T], width: usize) -> Self {
        Self {
            data,
            row: width,
            col: 1,
        }
    }

    /// The transposed view of a row-major matrix `width` columns wide (burn's `swap_dims`).
    pub(crate) fn transposed(data: &'a [T], width: usize) -> Self {
        Self {
            data,
            row: 1,
            col: width,
        }
    }

    /// Panics unless every element of a `rows × cols` matrix lies inside `data`.
    pub(crate) fn check(&self, rows: usize, cols: usize) {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * self.row + (cols - 1) * self.col;
            assert!(last < self.data.len(), "a strided operand out of bounds");
        }
    }
}

/// `out = lhs · rhs` (`lhs`: `m × k`, `rhs`: `k × n`, `out`: `m × n` row-major, every element
/// written) as burn-flex's `matmul_2d_strided` calls `gemm`: the operands' strides, α = 0, β = 1.
/// From burn-flex's size threshold ([`GEMM_PARALLEL_OPS`] multiply-adds) it runs on the rayon
/// pool, as burn-flex's `rayon` build does; gemm splits rows and columns, never an inner sum, so
/// no bit depends on that.
pub(crate) fn strided_matmul(
    out: &mut [f32],
    (m, n, k): (usize, usize, usize),
    lhs: Strided,
    rhs: Strided,
) {
    assert_eq!(out.len(), m * n, "an m × n output");
    lhs.check(m, k);
    rhs.check(k, n);
    let parallelism = if gemm_is_parallel(m, n, k) {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: `check` and the assertion keep every addressed element in bounds; `out` is not
    // aliased by the operands (a unique borrow).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            lhs.data.as_ptr(),
            lhs.col as isize,
            lhs.row as isize,
            rhs.data.as_ptr(),
            rhs.col as isize,
            rhs.row as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// The rest of a layer after its GEMM, on every thread: the f32 bias add, then tanh for a hidden
/// layer (`activate`). Under bf16 (`bf16`) the bias is already inside the GEMM's single rounding,
/// and tanh's output is rounded to bf16 as a bf16 tensor's tanh returns it.
fn finish_layer(out: &mut [f32], layer: &DenseLayer, activate: bool, bf16: bool) {
    use rayon::prelude::*;
    let n = layer.fan_out.max(1);
    let has_bias = layer.has_bias && !bf16;
    out.par_chunks_mut(n * 64).for_each(|block| {
        if has_bias {
            for row in block.chunks_mut(n) {
                row.iter_mut().zip(&layer.b).for_each(|(v, b)| *v += *b);
            }
        }
        if activate {
            crate::tanh::tanh_in_place(block);
            if bf16 {
                crate::bf16_slices::round_in_place(block);
            }
        }
    });
}

/// A linear layer as bf16 autocast runs it: `out = round_bf16(bf16(x) · w + b)` as f32, for `x`:
/// `rows × k` (f32, rounded to bf16 here), `w`: `k × n` ([`Bf16Weights`]) and `b`: `n` (bf16).
/// The products accumulate in f32 inside [`bf16_matmul`]'s kernel (AMX tiles where the CPU has
/// them, on weights kept in the tiles' layout or packed at the call, else `gemmkit`'s,
/// `vdpbf16ps` where the CPU has AVX512-BF16), the bias joins the f32 sum, and each output is
/// rounded to bf16 once. Results do not depend on the thread count (both kernels split rows and
/// columns only; tested).
fn bf16_linear(
    x: &[f32],
    (w, b): (&Bf16Weights, Option<&[half::bf16]>),
    (rows, k, n): (usize, usize, usize),
    out: &mut [f32],
    (x16, out16): &mut (Vec<half::bf16>, Vec<half::bf16>),
) {
    use rayon::prelude::*;
    let x16 = fill_bf16(x16, &x[..rows * k]);
    out16.resize(rows * n, half::bf16::ZERO);
    let out16 = &mut out16[..rows * n];
    // `C = A·B + C` with the bias in every row of C (`C = A·B` without a bias).
    if let Some(b) = b {
        out16
            .par_chunks_mut(n)
            .for_each(|row| row.copy_from_slice(b));
    }
    let x16 = Strided::row_major(x16, k);
    match w {
        Bf16Weights::RowMajor(w) => {
            let w = Strided::row_major(w, n);
            bf16_matmul(out16, (rows, n, k), (x16, w), b.is_some());
        }
        Bf16Weights::Tiles(w) => {
            let parallel = gemm_is_parallel(rows, n, k);
            w.matmul(out16, rows, &x16, (b.is_some(), parallel));
        }
    }
    widen_into(out16, out);
}

/// `out = lhs · rhs (+ out)` in bf16 (`lhs`: `m × k`, `rhs`: `k × n`, any strides; `out`:
/// `m × n` row-major; the bracketed term when `accumulate`, else every element is written and
/// none read): the products and the initial `out` accumulate in f32 and each output is rounded to
/// bf16 once, as a bf16 matmul under autocast. The kernel is AMX's `tdpbf16ps` where the CPU has
/// it ([`crate::amx`]), else `gemmkit`'s (`vdpbf16ps` where the CPU has AVX512-BF16). From
/// [`GEMM_PARALLEL_OPS`] multiply-adds on the rayon pool; both kernels split rows and columns
/// only, so no bit depends on the thread count (tested in `amx` and `ensemble::dense_train`).
pub(crate) fn bf16_matmul(
    out: &mut [half::bf16],
    (m, n, k): (usize, usize, usize),
    (lhs, rhs): (Strided<'_, half::bf16>, Strided<'_, half::bf16>),
    accumulate: bool,
) {
    let parallel = gemm_is_parallel(m, n, k);
    if let Some(kernel) = crate::amx::hardware() {
        crate::amx::matmul(kernel, out, (m, n, k), (&lhs, &rhs), accumulate, parallel);
        return;
    }
    fn view<'a>(
        s: &Strided<'a, half::bf16>,
        rows: usize,
        cols: usize,
    ) -> gemmkit::MatRef<'a, half::bf16> {
        gemmkit::MatRef::new(s.data, rows, cols, s.row as isize, s.col as isize)
    }
    let beta = if accumulate {
        half::bf16::ONE
    } else {
        half::bf16::ZERO
    };
    gemmkit::gemm(
        half::bf16::ONE,
        view(&lhs, m, k),
        view(&rhs, k, n),
        beta,
        gemmkit::MatMut::from_row_major(out, m, n),
        if parallel {
            gemmkit::Parallelism::Rayon(rayon::current_num_threads())
        } else {
            gemmkit::Parallelism::Serial
        },
    );
}
