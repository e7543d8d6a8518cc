//! The encoder's transformer blocks on the CPU backend, on plain f32 buffers, bit-identical to
//! [`BertLayer::forward`](crate::bert::BertLayer::forward) on burn.
//!
//! burn-flex allocates every matmul output as a zeroed byte vector and then copies it into a
//! buffer of `u128` alignment (`FlexTensor::empty`, then `Bytes::from_bytes_vec`), so each of a
//! block's eight products costs a memset, a copy and the page faults of two fresh buffers; and as
//! this workspace builds it (burn's `rayon` and `simd` features off) it runs every GEMM and layer
//! norm on one thread. Here each product is the `gemm` call burn-flex makes (same shapes, strides,
//! α, β and `read_dst`, so the same sums in the same order), written into a buffer this module
//! owns and spread over rayon's pool by burn-flex's own rule for its `rayon` build (the `gemm`
//! crate splits rows and columns, never the inner sum, so the threading changes no value; tested
//! with 1 and 3 threads against burn's one-thread calls). The element-wise steps that follow each
//! product run in one parallel pass over its buffer with the same f32 operations in the same
//! order:
//! - a linear layer: `x · W` as one GEMM over all rows where the `gemm` crate's blocking makes
//!   every output the same bits whichever rows share the call (`DenseLinear::merge_rule`; burn
//!   itself runs one GEMM per sequence when there is one sequence, when sequences are a multiple
//!   of 32 tokens long, or when merging would not make the output squarer), else as burn's
//!   `linear` runs it (`burn_std::MatmulTransformPolicy`), then `+ b`;
//! - attention: `q · kᵀ` per (sequence, head) on strided views, then `softmax_rows` in place,
//!   then `probs · v` written straight into `[batch, tokens, hidden]` order (burn writes
//!   `[batch, heads, tokens, head]` and then copies it);
//! - the feed-forward up-projection applies GELU ([`gelu_on`]) in the same pass as its bias;
//! - the two output projections add the residual, `(x · W + b) + residual`, and then layer-norm
//!   each row with burn-flex's scalar Welford kernel transcribed (`DenseNorm`), 8 rows
//!   interleaved. That kernel is burn-flex's only without its `simd` feature, so
//!   [`DenseBert::new`] checks every norm against burn's on a probe and declines (the encoder
//!   then runs burn's operations) if they differ.
//!
//! Tested bit for bit against [`BertLayer::forward`](crate::bert::BertLayer::forward): the real MiniLM on the golden texts as one
//! padded batch (`tests/golden.rs`), and small random blocks whose shapes take each of burn's GEMM
//! strategies, with padding, with 1 and 3 threads.

use crate::bert::BertModel;
use crate::gelu::gelu_on;
use crate::softmax::softmax_rows;
use activepref_core::simd::VectorIsa;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{DType, Tensor, TensorData};
use burn_std::{MatmulTransformAction, MatmulTransformAnalysis, MatmulTransformPolicy, Shape};
use rayon::prelude::*;

/// burn-flex's `PARALLEL_THRESHOLD` (`ops/matmul.rs`): one GEMM of at least this many
/// multiply-adds runs on rayon's pool.
const GEMM_PARALLEL_OPS: usize = 192 * 192 * 192;
/// burn-flex's `BATCH_PARALLEL_THRESHOLD`: a batch of GEMMs of at least this many multiply-adds
/// in all runs one GEMM per task.
const BATCH_PARALLEL_OPS: usize = 128 * 128 * 128;
/// Rows per task of the element-wise passes.
const ROWS_PER_TASK: usize = 32;

/// One linear layer's weights as plain arrays.
#[derive(Clone, Debug)]
struct DenseLinear {
    /// `fan_in × fan_out`, row-major (burn's `Linear` layout).
    w: Vec<f32>,
    /// `fan_out`, when the layer has a bias.
    b: Option<Vec<f32>>,
    fan_in: usize,
    fan_out: usize,
}

/// One transformer block's linear layers as plain arrays.
#[derive(Clone, Debug)]
struct DenseBlock {
    /// Attention heads (`hidden / heads ≥ 2` values each).
    heads: usize,
    query: DenseLinear,
    key: DenseLinear,
    value: DenseLinear,
    attention_output: DenseLinear,
    intermediate: DenseLinear,
    output: DenseLinear,
    attention_norm: DenseNorm,
    output_norm: DenseNorm,
}

/// One layer norm's parameters as plain arrays.
#[derive(Clone, Debug)]
struct DenseNorm {
    /// `hidden` scales.
    gamma: Vec<f32>,
    /// `hidden` shifts, when the norm has them.
    beta: Option<Vec<f32>>,
    /// ε as burn-flex uses it (`epsilon as f32`).
    epsilon: f32,
}

/// The linear layers and layer norms of a [`BertModel`]'s blocks as plain f32 arrays, for
/// [`BertModel::forward_with`]. Built once per model (a copy of its block weights: 42 MB for
/// MiniLM-L6).
#[derive(Clone, Debug)]
pub struct DenseBert {
    /// Width of the token states.
    hidden: usize,
    blocks: Vec<DenseBlock>,
    /// The block buffers of earlier passes, for the next ones.
    spare: SpareBuffers,
}

/// [`BlockBuffers`] kept from one pass to the next: a pass takes a set (or starts an empty one)
/// and gives it back when done, so concurrent passes (batches encoded in parallel) each hold
/// their own. Without it every batch allocated its buffers anew (about 80 MB for 32 × 128
/// MiniLM tokens, the attention scores the largest), and the allocator returned them to the
/// OS between batches: each batch paid page faults and the kernel's zeroing of those pages
/// (1.1 of 15 CPU seconds in `bench-model`'s encoder row, as system time). Holds at most one
/// set per pass that ran at once, each as large as the largest batch it served; a clone starts
/// empty.
#[derive(Default)]
struct SpareBuffers(std::sync::Mutex<Vec<BlockBuffers>>);

impl SpareBuffers {
    fn take(&self) -> BlockBuffers {
        self.0
            .lock()
            .map(|mut v| v.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn give_back(&self, buf: BlockBuffers) {
        // A poisoned lock (a pass panicked) only loses the buffers for reuse.
        if let Ok(mut v) = self.0.lock() {
            v.push(buf);
        }
    }
}

impl Clone for SpareBuffers {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for SpareBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sets = self.0.lock().map(|v| v.len()).unwrap_or(0);
        write!(f, "SpareBuffers({sets} sets)")
    }
}

/// An f32 tensor's values, row-major (no copy when the tensor is not shared).
fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("an f32 tensor holds f32 values")
}

/// Whether `l` is an f32 `fan_in × fan_out` layer with, if any, an f32 bias of `fan_out`.
fn linear_is(l: &Linear, fan_in: usize, fan_out: usize) -> bool {
    l.weight.dims() == [fan_in, fan_out]
        && l.weight.val().dtype() == DType::F32
        && l.bias
            .as_ref()
            .is_none_or(|b| b.dims() == [fan_out] && b.val().dtype() == DType::F32)
}

/// Whether `n` normalises f32 rows of `d` values (γ and, if any, β of `d`).
fn norm_is(n: &LayerNorm, d: usize) -> bool {
    n.gamma.dims() == [d]
        && n.gamma.val().dtype() == DType::F32
        && n.beta
            .as_ref()
            .is_none_or(|b| b.dims() == [d] && b.val().dtype() == DType::F32)
}

/// Whether every block of `model` has the shapes the dense path assumes: f32 throughout,
/// `hidden > 0` split into heads of at least 2 values (burn's `probs · v` output then has row
/// stride > column stride, as the dense path's does), q, k, v and the attention output
/// `hidden × hidden`, the feed-forward `hidden × inter × hidden` with `inter > 0`.
fn shapes_supported(model: &BertModel, hidden: usize) -> bool {
    hidden > 0
        && model.layers.iter().all(|l| {
            let heads = l.attention.heads;
            let [_, inter] = l.intermediate.weight.dims();
            let a = &l.attention;
            heads > 0
                && hidden.is_multiple_of(heads)
                && hidden / heads >= 2
                && inter > 0
                && [&a.query, &a.key, &a.value, &a.output]
                    .iter()
                    .all(|q| linear_is(q, hidden, hidden))
                && linear_is(&l.intermediate, hidden, inter)
                && linear_is(&l.output, inter, hidden)
                && norm_is(&a.norm, hidden)
                && norm_is(&l.norm, hidden)
        })
}

impl DenseLinear {
    fn new(l: &Linear) -> Self {
        let [fan_in, fan_out] = l.weight.dims();
        Self {
            w: values(l.weight.val()),
            b: l.bias.as_ref().map(|b| values(b.val())),
            fan_in,
            fan_out,
        }
    }

    /// One merged GEMM over all `batches · tokens` rows where that gives every output the same
    /// bits as burn's choice, whatever it is: the `gemm` crate blocks the inner dimension by `k`
    /// alone when `fan_out > 64` or `fan_in ≤ 512` (`gemm-common` 0.19, `kernel_params` and its
    /// small-matrix branch, which blocks by `min(k, 512)`), so each output sums its products in
    /// the same order whichever rows share the call, as long as no call takes the
    /// matrix-vector path (one row or one column), the `k ≤ 2` one or the horizontal one for
    /// outputs of at most 256 values (gemm transposes these row-major calls, and `fan_out ≥ 2`
    /// then rules it out). These are `gemm-common` 0.19.0's internals, hence the pinned
    /// version. One GEMM call instead of one per sequence also packs `W` fewer times.
    /// `None`: follow burn's policy.
    fn merge_rule(&self, batches: usize, tokens: usize) -> Option<MatmulTransformAction> {
        let (k, n) = (self.fan_in, self.fan_out);
        let row_independent = n > 64 || k <= 512;
        (row_independent && tokens >= 2 && n >= 2 && k >= 3).then_some(
            MatmulTransformAction::MergeBatches {
                rows: batches * tokens,
            },
        )
    }

    /// `x · W` for `x` = `[batches, tokens, fan_in]` (row-major), with the values burn's
    /// `linear` gives: returns `[batches, tokens, fan_out]`, without the bias.
    fn product(&self, x: &[f32], batches: usize, tokens: usize, out: &mut Vec<f32>) {
        let (k, n) = (self.fan_in, self.fan_out);
        assert_eq!(x.len(), batches * tokens * k, "input of the wrong size");
        // A buffer of the right size from an earlier block is overwritten as it is: the GEMM
        // writes every element (`read_dst` false).
        out.resize(batches * tokens * n, 0.0);
        let analysis = MatmulTransformAnalysis::from_shapes(
            &Shape::new([batches, tokens, k]),
            &Shape::new([k, n]),
        );
        let out_ptr = SendPtr(out.as_mut_ptr());
        match self
            .merge_rule(batches, tokens)
            .unwrap_or_else(|| MatmulTransformPolicy::default().action(&analysis))
        {
            // burn-flex's `matmul_2d_strided` on `[rows, k] · [k, n]`.
            MatmulTransformAction::MergeBatches { rows } => {
                let parallel = rows.saturating_mul(n).saturating_mul(k) >= GEMM_PARALLEL_OPS;
                // SAFETY: x is rows × k, w k × n and out rows × n, row-major (asserted and
                // resized above); out is not aliased.
                unsafe {
                    gemm_call(
                        (rows, n, k),
                        (out_ptr.ptr(), n),
                        (x.as_ptr(), k, 1),
                        (self.w.as_ptr(), n, 1),
                        parallel,
                    )
                }
            }
            // burn-flex's `matmul_batched_gemm` on `[batches, tokens, k] · [1, k, n]`.
            MatmulTransformAction::Keep => {
                let w = SendPtr(self.w.as_ptr().cast_mut());
                let x = SendPtr(x.as_ptr().cast_mut());
                run_batches((batches, tokens, n, k), |i, parallel| {
                    // SAFETY: batch i reads rows i·tokens.. of x (tokens × k) and writes the same
                    // rows of out (tokens × n), in bounds by the sizes above; batches write
                    // disjoint rows.
                    unsafe {
                        gemm_call(
                            (tokens, n, k),
                            (out_ptr.ptr().add(i * tokens * n), n),
                            (x.ptr().add(i * tokens * k).cast_const(), k, 1),
                            (w.ptr().cast_const(), n, 1),
                            parallel,
                        )
                    }
                });
            }
        }
    }
}

/// A raw pointer rayon's tasks may share; every use states which elements it touches.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
impl SendPtr {
    /// The pointer (a method, so that closures capture the whole `SendPtr`).
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: the tasks that share one touch disjoint elements (or only read).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// `out = lhs · rhs` (`m × k` by `k × n`) with α = 0, β = 1 and `read_dst` false: the call of
/// burn-flex's `gemm_call`. Each operand is `(pointer, row stride, column stride)`; the output is
/// `(pointer, row stride)` with column stride 1.
///
/// # Safety
/// Every element `lhs[r·rs + c·cs]` (`r < m`, `c < k`), `rhs[…]` (`r < k`, `c < n`) and
/// `out[r·rs + c]` (`r < m`, `c < n`) is in bounds, and `out` overlaps neither input nor any
/// output another thread writes at the same time.
unsafe fn gemm_call(
    (m, n, k): (usize, usize, usize),
    (out, out_rs): (*mut f32, usize),
    (lhs, lhs_rs, lhs_cs): (*const f32, usize, usize),
    (rhs, rhs_rs, rhs_cs): (*const f32, usize, usize),
    parallel: bool,
) {
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            out_rs as isize,
            false,
            lhs,
            lhs_cs as isize,
            lhs_rs as isize,
            rhs,
            rhs_cs as isize,
            rhs_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// burn-flex's threading rule for `batches` GEMMs of `m × k` by `k × n` (`matmul_batched_gemm`):
/// large ones one after another, each on the pool; many smaller ones one per task; few small ones
/// in turn on this thread. `one(i, parallel)` runs batch `i`.
fn run_batches((batches, m, n, k): (usize, usize, usize, usize), one: impl Fn(usize, bool) + Sync) {
    let per_matrix = m.saturating_mul(n).saturating_mul(k);
    let total = batches.saturating_mul(per_matrix);
    let prefer_batch_parallel = batches >= 4 && total >= BATCH_PARALLEL_OPS;
    if per_matrix >= GEMM_PARALLEL_OPS && !prefer_batch_parallel {
        (0..batches).for_each(|i| one(i, true));
    } else if total >= BATCH_PARALLEL_OPS && batches > 1 {
        (0..batches).into_par_iter().for_each(|i| one(i, false));
    } else {
        (0..batches).for_each(|i| one(i, false));
    }
}

/// What follows a linear layer's product in its element-wise pass.
enum Epilogue<'a> {
    /// `+ b`.
    Bias,
    /// `(+ b) + residual` (the residual `[rows, fan_out]`), then the layer norm of each row.
    ResidualNorm(&'a [f32], &'a DenseNorm),
    /// `gelu(+ b)`.
    Gelu(VectorIsa),
}

impl DenseLinear {
    /// [`Self::product`] into `out`, then `epilogue`, over rows in parallel.
    fn forward(
        &self,
        x: &[f32],
        (batches, tokens): (usize, usize),
        epilogue: Epilogue,
        out: &mut Vec<f32>,
    ) {
        self.product(x, batches, tokens, out);
        let n = self.fan_out;
        let chunk = ROWS_PER_TASK * n;
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(task, block)| {
                if let Some(b) = &self.b {
                    for row in block.chunks_mut(n) {
                        row.iter_mut().zip(b).for_each(|(v, b)| *v += *b);
                    }
                }
                match &epilogue {
                    Epilogue::Bias => {}
                    Epilogue::ResidualNorm(r, norm) => {
                        let r = &r[task * chunk..task * chunk + block.len()];
                        block.iter_mut().zip(r).for_each(|(v, r)| *v += *r);
                        norm.apply(block);
                    }
                    Epilogue::Gelu(isa) => gelu_on(*isa, block),
                }
            });
    }
}

/// Rows layer-normalised together by [`DenseNorm::rows`]: independent Welford chains, which
/// would otherwise wait on one another's division latency.
const NORM_GROUP: usize = 8;

impl DenseNorm {
    fn new(norm: &LayerNorm, epsilon: f64) -> Self {
        Self {
            gamma: values(norm.gamma.val()),
            beta: norm.beta.as_ref().map(|b| values(b.val())),
            // burn-flex's `layer_norm` passes `epsilon as f32` to its f32 kernel.
            epsilon: epsilon as f32,
        }
    }

    /// Whether [`Self::apply`] equals burn's `norm.forward` bit for bit on a fixed probe of 8
    /// rows: row `r` is `100·r + u·scale[r]`, `u` spread over −13..14, scales from 10⁻⁵ (a
    /// variance near ε's size) to 10³.
    fn matches(&self, norm: &LayerNorm) -> bool {
        const SCALES: [f32; 8] = [1.0, 1e-5, 1e3, 1e-2, 3.7, 1e-4, 0.5, 2e2];
        let d = self.gamma.len();
        let probe: Vec<f32> = (0..8 * d)
            .map(|i| {
                let u = ((i as u64 * 2_654_435_761) % 1000) as f32 / 37.0 - 13.0;
                (i / d) as f32 * 100.0 + u * SCALES[i / d]
            })
            .collect();
        let device = norm.gamma.val().device();
        let burn = norm.forward(Tensor::<2>::from_data(
            TensorData::new(probe.clone(), [8, d]),
            (&device, DType::F32),
        ));
        let mut ours = probe;
        self.apply(&mut ours);
        let burn = values(burn);
        burn.iter()
            .map(|v| v.to_bits())
            .eq(ours.iter().map(|v| v.to_bits()))
    }

    /// Each `hidden`-wide row of `block` layer-normalised in place, `G` rows at a time.
    fn apply(&self, block: &mut [f32]) {
        let d = self.gamma.len();
        let mut groups = block.chunks_exact_mut(NORM_GROUP * d);
        groups.by_ref().for_each(|g| self.rows::<NORM_GROUP>(g));
        groups
            .into_remainder()
            .chunks_mut(d)
            .for_each(|row| self.rows::<1>(row));
    }

    /// burn-flex's f32 layer norm of `G` rows in place (`layer_norm_row_f32_scalar`, its kernel
    /// without the `simd` feature, as this workspace builds burn): Welford's running mean and
    /// sum of squared deviations in order, `1 / √(m2 / d + ε)`, then
    /// `(x − mean) · (inv_std · γ) + β`. The rows' steps are interleaved; each row's operations and
    /// their order are those of a row alone.
    #[inline(always)]
    fn rows<const G: usize>(&self, rows: &mut [f32]) {
        let d = self.gamma.len();
        let (mut mean, mut m2) = ([0f32; G], [0f32; G]);
        for k in 0..d {
            let n_k = (k + 1) as f32;
            for g in 0..G {
                let x = rows[g * d + k];
                let delta = x - mean[g];
                mean[g] += delta / n_k;
                let delta2 = x - mean[g];
                m2[g] += delta * delta2;
            }
        }
        for (g, row) in rows.chunks_mut(d).enumerate() {
            let var = m2[g] / d as f32;
            let inv_std = 1.0f32 / (var + self.epsilon).sqrt();
            for (i, x) in row.iter_mut().enumerate() {
                let normed = (*x - mean[g]) * (inv_std * self.gamma[i]);
                *x = match &self.beta {
                    Some(b) => normed + b[i],
                    None => normed,
                };
            }
        }
    }
}

impl DenseBert {
    /// A copy of `model`'s block weights, or `None` when the dense path would not be burn's:
    /// a shape or dtype it does not handle (see `shapes_supported`: f32 throughout, heads of at
    /// least 2 values, no zero width), or a layer norm that is not the kernel `DenseNorm::rows`
    /// transcribes (a build of burn-flex with its `simd` feature sums in lanes): each norm is
    /// checked against burn's on a fixed probe of 8 rows, bit for bit.
    pub fn new(model: &BertModel) -> Option<Self> {
        let hidden = model.embeddings.norm.gamma.dims()[0];
        if !shapes_supported(model, hidden) {
            return None;
        }
        let blocks: Vec<DenseBlock> = model
            .layers
            .iter()
            .map(|l| DenseBlock {
                heads: l.attention.heads,
                query: DenseLinear::new(&l.attention.query),
                key: DenseLinear::new(&l.attention.key),
                value: DenseLinear::new(&l.attention.value),
                attention_output: DenseLinear::new(&l.attention.output),
                intermediate: DenseLinear::new(&l.intermediate),
                output: DenseLinear::new(&l.output),
                attention_norm: DenseNorm::new(&l.attention.norm, model.layer_norm_eps),
                output_norm: DenseNorm::new(&l.norm, model.layer_norm_eps),
            })
            .collect();
        let norms_match = model.layers.iter().zip(&blocks).all(|(l, w)| {
            w.attention_norm.matches(&l.attention.norm) && w.output_norm.matches(&l.norm)
        });
        norms_match.then(|| Self {
            hidden,
            blocks,
            spare: SpareBuffers::default(),
        })
    }

    /// Width of the token states it takes.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Blocks held (the model's layer count).
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// Attention of block `w` on its projections `q`, `k`, `v` (each `[b, t, h]` with the bias):
/// `softmax(q · kᵀ / √dh + key_bias) · v` per (sequence, head), as burn's `BertAttention` makes
/// it, written into `ctx` as `[b, t, h]` (the heads side by side); `scores` holds the
/// `[b, heads, t, t]` probabilities on the way.
fn attention(
    w: &DenseBlock,
    (q, k, v): (&[f32], &[f32], &[f32]),
    (b, t, h): (usize, usize, usize),
    key_bias: &[f32],
    (scores, ctx): (&mut Vec<f32>, &mut Vec<f32>),
) {
    let heads = w.heads;
    let dh = h / heads;
    for m in [q, k, v] {
        assert_eq!(m.len(), b * t * h, "a projection of the wrong size");
    }
    // Head j of sequence i starts at element i·t·h + j·dh of q, k and v, rows h apart.
    let head = |bh: usize| (bh / heads) * t * h + (bh % heads) * dh;
    // Every element of both buffers is written by the GEMMs (`read_dst` false).
    scores.resize(b * heads * t * t, 0.0);
    ctx.resize(b * t * h, 0.0);
    let (out, q, k) = (
        SendPtr(scores.as_mut_ptr()),
        SendPtr(q.as_ptr().cast_mut()),
        SendPtr(k.as_ptr().cast_mut()),
    );
    // burn's `q.matmul(k.swap_dims(2, 3))` on `[b, heads, t, dh]` views: kᵀ has row stride 1
    // and column stride h.
    run_batches((b * heads, t, t, dh), |bh, parallel| {
        // SAFETY: head bh reads t rows of dh values, h apart, from q and k (the last one ends at
        // (i+1)·t·h ≤ b·t·h, asserted above), and writes its own t × t block of scores.
        unsafe {
            gemm_call(
                (t, t, dh),
                (out.ptr().add(bh * t * t), t),
                (q.ptr().add(head(bh)).cast_const(), h, 1),
                (k.ptr().add(head(bh)).cast_const(), 1, h),
                parallel,
            )
        }
    });
    // burn-flex converts the f64 scalar `√dh` with `as f32`.
    let scale = (dh as f64).sqrt() as f32;
    softmax_rows(scores, key_bias, heads * t, t, scale);
    let (out, p, v) = (
        SendPtr(ctx.as_mut_ptr()),
        SendPtr(scores.as_ptr().cast_mut()),
        SendPtr(v.as_ptr().cast_mut()),
    );
    // burn's `probs.matmul(v)`, written where `.swap_dims(1, 2).reshape([b, t, h])` puts it: row
    // stride h where burn's output has dh, both above the column stride 1 (dh ≥ 2).
    run_batches((b * heads, t, dh, t), |bh, parallel| {
        // SAFETY: head bh reads its t × t probabilities and t rows of dh values of v, and writes
        // columns j·dh..(j+1)·dh of sequence i's t rows of ctx: disjoint across heads.
        unsafe {
            gemm_call(
                (t, dh, t),
                (out.ptr().add(head(bh)), h),
                (p.ptr().add(bh * t * t).cast_const(), t, 1),
                (v.ptr().add(head(bh)).cast_const(), h, 1),
                parallel,
            )
        }
    });
}

/// The buffers of one block's steps, kept from block to block and from pass to pass (see
/// [`SpareBuffers`]; resized, never cleared: every element is written before it is read).
#[derive(Default)]
struct BlockBuffers {
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    scores: Vec<f32>,
    ctx: Vec<f32>,
    a: Vec<f32>,
    inter: Vec<f32>,
}

/// Block `w` on the token states `x` (`[b, t, h]`, row-major), with `key_bias` (`[b · t]`):
/// returns the block's output, in `x`'s buffer.
fn block_forward(
    w: &DenseBlock,
    mut x: Vec<f32>,
    (b, t, h): (usize, usize, usize),
    key_bias: &[f32],
    buf: &mut BlockBuffers,
) -> Vec<f32> {
    w.query.forward(&x, (b, t), Epilogue::Bias, &mut buf.q);
    w.key.forward(&x, (b, t), Epilogue::Bias, &mut buf.k);
    w.value.forward(&x, (b, t), Epilogue::Bias, &mut buf.v);
    let qkv = (&buf.q[..], &buf.k[..], &buf.v[..]);
    attention(w, qkv, (b, t, h), key_bias, (&mut buf.scores, &mut buf.ctx));
    let residual = Epilogue::ResidualNorm(&x, &w.attention_norm);
    w.attention_output
        .forward(&buf.ctx, (b, t), residual, &mut buf.a);
    let gelu = Epilogue::Gelu(VectorIsa::widest());
    w.intermediate.forward(&buf.a, (b, t), gelu, &mut buf.inter);
    // x is not needed after the attention's residual: the block's output overwrites it.
    let residual = Epilogue::ResidualNorm(&buf.a, &w.output_norm);
    w.output.forward(&buf.inter, (b, t), residual, &mut x);
    x
}

/// Every block of `dense` on `x` (`[batch, tokens, hidden]`, f32 on `Device::flex()`), with
/// `key_bias` (`[batch · tokens]`: 0 for a real token, a large negative number for padding):
/// bit-identical to running `layer.forward(x, key_bias)` for each block of the model `dense` was
/// made from, in order.
///
/// # Panics
/// If `x` is not `dense.hidden()` wide or `key_bias` does not hold one value per token.
pub(crate) fn blocks_forward(dense: &DenseBert, x: Tensor<3>, key_bias: &[f32]) -> Tensor<3> {
    let [b, t, h] = x.dims();
    assert_eq!(h, dense.hidden, "token states of the wrong width");
    assert_eq!(key_bias.len(), b * t, "one key bias per token");
    let device = x.device();
    let mut buf = dense.spare.take();
    let out = dense.blocks.iter().fold(values(x), |x, w| {
        block_forward(w, x, (b, t, h), key_bias, &mut buf)
    });
    dense.spare.give_back(buf);
    Tensor::from_data(TensorData::new(out, [b, t, h]), (&device, DType::F32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bert::{BertAttention, BertEmbeddings, BertLayer};
    use burn::module::Param;
    use burn::nn::{Embedding, LayerNormConfig};
    use burn::tensor::Device;

    /// `n` values `offset ± scale`, from a splitmix64 stream seeded by `seed`.
    fn fill(n: usize, seed: u64, scale: f32, offset: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (0..n)
            .map(|_| {
                s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = s;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                let u = (z >> 40) as f32 / (1u64 << 24) as f32;
                offset + scale * (2.0 * u - 1.0)
            })
            .collect()
    }

    fn param<const D: usize>(v: Vec<f32>, dims: [usize; D]) -> Param<Tensor<D>> {
        Param::from_tensor(Tensor::from_data(TensorData::new(v, dims), &Device::flex()))
    }

    fn linear(d_in: usize, d_out: usize, seed: u64, bias: bool) -> Linear {
        let scale = 1.0 / (d_in as f32).sqrt();
        Linear {
            weight: param(fill(d_in * d_out, seed, scale, 0.0), [d_in, d_out]),
            bias: bias.then(|| param(fill(d_out, seed + 1, 0.1, 0.0), [d_out])),
        }
    }

    fn norm(d: usize, seed: u64) -> LayerNorm {
        let mut n = LayerNormConfig::new(d)
            .with_epsilon(1e-12)
            .init(&Device::flex());
        n.gamma = param(fill(d, seed, 0.1, 1.0), [d]);
        n.beta = Some(param(fill(d, seed + 1, 0.1, 0.0), [d]));
        n
    }

    /// A random BERT: `hidden` wide, `heads` heads, feed-forward `inter`, `layers` blocks, 50
    /// tokens, 256 positions; with `plain`, the query projection has no bias and the attention's
    /// layer norm no β.
    fn model(hidden: usize, heads: usize, inter: usize, layers: usize, plain: bool) -> BertModel {
        let embedding = |rows: usize, seed: u64| Embedding {
            weight: param(fill(rows * hidden, seed, 1.0, 0.0), [rows, hidden]),
        };
        let blocks = (0..layers as u64)
            .map(|l| {
                let s = 100 * (l + 1);
                BertLayer {
                    attention: BertAttention {
                        query: linear(hidden, hidden, s, !plain),
                        key: linear(hidden, hidden, s + 10, true),
                        value: linear(hidden, hidden, s + 20, true),
                        output: linear(hidden, hidden, s + 30, true),
                        norm: {
                            let mut n = norm(hidden, s + 40);
                            if plain {
                                n.beta = None;
                            }
                            n
                        },
                        heads,
                    },
                    intermediate: linear(hidden, inter, s + 50, true),
                    output: linear(inter, hidden, s + 60, true),
                    norm: norm(hidden, s + 70),
                }
            })
            .collect();
        BertModel {
            embeddings: BertEmbeddings {
                word: embedding(50, 1),
                position: embedding(256, 2),
                token_type: embedding(2, 3),
                norm: norm(hidden, 4),
            },
            layers: blocks,
            layer_norm_eps: 1e-12,
        }
    }

    fn bits(x: Tensor<3>) -> Vec<u32> {
        values(x).iter().map(|v| v.to_bits()).collect()
    }

    /// burn's blocks and the dense blocks on `batch` sequences of `tokens`, sequence `i`
    /// padded after `tokens - i` tokens, with 1 and 3 threads.
    fn same_bits(m: &BertModel, batch: usize, tokens: usize) {
        let dense = DenseBert::new(m).expect("burn's layer norm is the transcribed kernel");
        same_bits_with(m, &dense, batch, tokens);
    }

    /// As [`same_bits`], on `dense` (made from `m`) with whatever buffers it kept.
    fn same_bits_with(m: &BertModel, dense: &DenseBert, batch: usize, tokens: usize) {
        let ids: Vec<i64> = (0..batch * tokens).map(|i| (i * 7 % 50) as i64).collect();
        let mask: Vec<f32> = (0..batch * tokens)
            .map(|i| f32::from(u8::from(i % tokens < tokens - (i / tokens).min(tokens - 1))))
            .collect();
        let device = Device::flex();
        let want = bits(m.forward(&ids, &mask, batch, tokens, &device));
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool
                .install(|| bits(m.forward_with(Some(dense), &ids, &mask, batch, tokens, &device)));
            let diff = want.iter().zip(&got).filter(|(a, b)| a != b).count();
            assert_eq!(
                diff, 0,
                "{batch} × {tokens} tokens, {threads} threads: {diff} values differ"
            );
        }
    }

    #[test]
    fn buffers_kept_from_earlier_passes_change_no_value() {
        let m = model(64, 2, 128, 2, false);
        let dense = DenseBert::new(&m).unwrap();
        // Larger, smaller, larger again and tiny: every pass runs on the buffers the earlier
        // ones left (stale values included) and must equal burn's.
        for (batch, tokens) in [(4, 19), (1, 5), (3, 40), (2, 2)] {
            same_bits_with(&m, &dense, batch, tokens);
        }
        let kept = dense.spare.0.lock().unwrap();
        assert_eq!(kept.len(), 1, "one set of buffers kept for the next pass");
        // The largest pass (3 × 40 tokens, 2 heads) sized the scores; later passes reused them.
        assert!(
            kept[0].scores.capacity() >= 3 * 2 * 40 * 40,
            "the set the passes shared"
        );
        drop(kept);
        assert_eq!(
            dense.clone().spare.0.lock().unwrap().len(),
            0,
            "a clone starts empty"
        );
    }

    #[test]
    fn dense_blocks_match_burn_bit_for_bit() {
        // 3 sequences of 32 tokens: burn keeps one GEMM per sequence, run in turn on this thread.
        same_bits(&model(48, 4, 96, 2, false), 3, 32);
        // 7 tokens: burn merges the sequences into one GEMM, on this thread; no query bias, no β
        // in the attention's layer norm.
        same_bits(&model(48, 4, 96, 2, true), 5, 7);
        // One token per sequence (merged: 3 rows, where one GEMM per sequence would take gemm's
        // matrix-vector path), one sequence of one token, two of two.
        same_bits(&model(48, 4, 96, 1, false), 3, 1);
        same_bits(&model(48, 4, 96, 1, false), 1, 1);
        same_bits(&model(48, 4, 96, 1, false), 2, 2);
        // One sequence of 128: one GEMM per product, the feed-forward ones on the pool; the 4
        // heads one per task.
        same_bits(&model(128, 4, 512, 1, false), 1, 128);
        // 3 × 40 tokens merged into 120 rows: the feed-forward GEMMs on the pool.
        same_bits(&model(128, 4, 512, 1, false), 3, 40);
        // 6 sequences of 64: one GEMM per sequence, one per task; heads one per task.
        same_bits(&model(128, 4, 256, 1, false), 6, 64);
        // Odd shapes, padding in every sequence but the first.
        same_bits(&model(64, 2, 128, 2, false), 4, 19);
        // A feed-forward output of 600 inputs and 48 outputs: not row-independent, so one GEMM
        // per sequence as burn; 640 inputs and 128 outputs: merged through gemm's own blocking.
        same_bits(&model(48, 4, 600, 1, false), 3, 32);
        same_bits(&model(128, 4, 640, 1, false), 3, 32);
    }

    #[test]
    fn shapes_the_dense_path_does_not_take_are_declined() {
        // Heads of one value each.
        assert!(DenseBert::new(&model(4, 4, 8, 1, false)).is_none());
        // A query projection narrower than the token states.
        let mut m = model(48, 4, 96, 1, false);
        m.layers[0].attention.query = linear(48, 24, 9, true);
        assert!(DenseBert::new(&m).is_none());
        // forward_with then runs burn's operations (a DenseBert of another width is ignored).
        let other = DenseBert::new(&model(64, 4, 96, 1, false)).unwrap();
        let device = Device::flex();
        let m = model(48, 4, 96, 1, false);
        let (ids, mask) = (vec![1i64, 2, 3, 4], vec![1f32; 4]);
        let want = bits(m.forward(&ids, &mask, 2, 2, &device));
        assert_eq!(
            bits(m.forward_with(Some(&other), &ids, &mask, 2, 2, &device)),
            want
        );
    }

    #[test]
    fn the_layer_norm_probe_tells_burns_kernel_from_another() {
        let n = norm(48, 7);
        assert!(DenseNorm::new(&n, 1e-12).matches(&n));
        // Another ε changes the last bits of some outputs: refused.
        assert!(!DenseNorm::new(&n, 1e-6).matches(&n));
        let mut reordered = DenseNorm::new(&n, 1e-12);
        reordered.gamma.reverse();
        assert!(!reordered.matches(&n));
    }

    #[test]
    fn matmul_policies_cover_both_strategies() {
        let action = |b: usize, t: usize, n: usize| {
            MatmulTransformPolicy::default().action(&MatmulTransformAnalysis::from_shapes(
                &Shape::new([b, t, n]),
                &Shape::new([n, n]),
            ))
        };
        assert_eq!(action(3, 32, 48), MatmulTransformAction::Keep);
        assert_eq!(
            action(5, 7, 48),
            MatmulTransformAction::MergeBatches { rows: 35 }
        );
    }
}
