//! AdamW as one fused, multi-threaded pass over each parameter tensor, bit-identical to burn's.
//!
//! burn's `AdamW` (burn-optim 0.22, `optim/adamw.rs`) updates a parameter with about fifteen
//! element-wise tensor operations, many allocating a tensor of the parameter's size, most on one
//! thread. For the paper's first layer (4,096 × 2,048 weights) that is most of an optimiser
//! step's time: a profile of `activepref bench-model` put burn-flex's element-wise kernels and
//! the page faults of their fresh buffers at about two thirds of training time, the GEMMs at a
//! quarter. [`FusedAdamW`] computes the same f32 operations, in the same order, per element, in one
//! pass over parameter, gradient and both moments, spread over the rayon pool. Every element is
//! computed independently, so the result is bit-identical to burn's (tested over warm-up, decay and
//! many steps) and does not depend on the thread count. It runs on burn's CPU backend only; other
//! devices keep burn's optimiser ([`TrainConfig::optimizer`]).
//!
//! Gradient clipping by norm ([`FusedAdamW::clip_norm`]) happens inside the same step, per
//! parameter tensor as burn's `GradientClipping::Norm` does (torch's trainer clips the global norm
//! instead; README, "Reference behaviour vs corrected behaviour"):
//! - below 4,194,304 elements it calls burn's clipping itself, so results are bit-identical to
//!   burn's clipped AdamW;
//! - from 4,194,304 elements up (the paper's first layer, 4,096 × 2,048), burn sums the squares
//!   with a rayon reduction whose tree depends on scheduling, so the clipped gradient could differ
//!   in its last bits between runs and thread counts. There the norm is computed here instead:
//!   squares summed in f64 over fixed 65,536-element chunks, the chunk sums added in order, so
//!   the result does not depend on the thread count; the coefficient
//!   `min(1, threshold / (norm + f32::MIN_POSITIVE))` scales each gradient element (an f32
//!   multiply) inside the update pass, which saves burn's three passes (square, sum, scale) and
//!   their two tensor-sized allocations. Below the threshold the coefficient is exactly 1 and
//!   nothing changes.
//!
//! [`TrainConfig::optimizer`]: super::TrainConfig::optimizer

use super::norm::{CHUNK, chunk_sum_squares, deterministic_norm, deterministic_norm_bf16};
use activepref_core::simd::VectorIsa;
use burn::optim::grad_clipping::GradientClipping;
use burn::optim::{AdamWState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

/// burn's AdamW (no AMSGrad, no cautious weight decay) fused into one pass per parameter.
#[derive(Clone, Debug)]
pub struct FusedAdamW {
    /// First-moment decay β₁.
    pub beta_1: f32,
    /// Second-moment decay β₂.
    pub beta_2: f32,
    /// ε added to the square root of the corrected second moment.
    pub epsilon: f32,
    /// Decoupled weight decay (multiplied by the learning rate at each step).
    pub weight_decay: f32,
    /// Clip each parameter tensor's gradient to this L2 norm before the update (`None`: no
    /// clipping). See the module docs for how the norm is computed.
    pub clip_norm: Option<f32>,
}

/// burn-flex sums f32 tensors of this many elements or more in parallel
/// (`ops/reduce.rs`, `sum_f32_contiguous`), with a scheduling-dependent reduction tree.
const BURN_PARALLEL_SUM: usize = 4 * 1024 * 1024;

/// `acc += other`, element by element in [`CHUNK`]-element tasks on the pool. With `norm`, also
/// the L2 norm of the sum: the value [`deterministic_norm`] gives for `acc` afterwards (the same
/// chunks and f64 lanes), taken while each chunk is still in cache instead of in a second pass
/// over memory.
pub(crate) fn add_gradients(acc: &mut [f32], other: &[f32], norm: bool) -> Option<f64> {
    write_chunks_with_norm(acc, other, norm, add)
}

/// `acc += other`, element by element.
fn add(acc: &mut [f32], other: &[f32]) {
    acc.iter_mut().zip(other).for_each(|(a, &b)| *a += b)
}

/// `acc += other` on this thread, [`CHUNK`] elements at a time; where `partial` is given, each
/// chunk's sum of squares is pushed to it while the chunk is in cache. `acc` must start on a
/// chunk boundary of the whole gradient for the partial sums to be [`deterministic_norm`]'s
/// (then [`norm_of`] all of them, in order, is its value).
pub(crate) fn add_chunks(acc: &mut [f32], other: &[f32], mut partial: Option<&mut Vec<f64>>) {
    assert_eq!(acc.len(), other.len(), "equally long gradients");
    for (a, b) in acc.chunks_mut(CHUNK).zip(other.chunks(CHUNK)) {
        add(a, b);
        if let Some(partial) = partial.as_deref_mut() {
            partial.push(chunk_sum_squares(a));
        }
    }
}

/// The L2 norm from the chunks' sums of squares, added in chunk order.
pub(crate) fn norm_of<'a>(partial: impl IntoIterator<Item = &'a f64>) -> f64 {
    partial.into_iter().sum::<f64>().sqrt()
}

/// A parameter's gradient as [`FusedAdamW::step_slice`] reads it.
pub(crate) enum Gradient<'a> {
    /// f32 values (burn's clipping may scale them in place).
    F32(&'a mut [f32]),
    /// bf16 values (bf16 training's weight gradients), widened to f32 (exact) as they are read.
    Bf16(&'a [half::bf16]),
}

impl Gradient<'_> {
    fn len(&self) -> usize {
        match self {
            Gradient::F32(g) => g.len(),
            Gradient::Bf16(g) => g.len(),
        }
    }
}

/// Where [`FusedAdamW::step_slice`] writes the bf16 rounding of the updated parameter.
pub(crate) enum Rounded<'a> {
    /// Row-major, like the parameter.
    RowMajor(&'a mut [half::bf16]),
    /// Into the AMX tiles' layout of the first layer's weights ([`crate::amx::PackedRhs`]).
    Tiles(crate::amx::PackedWriter<'a>),
}

impl Rounded<'_> {
    /// Elements it receives.
    fn len(&self) -> usize {
        match self {
            Rounded::RowMajor(r) => r.len(),
            Rounded::Tiles(w) => w.len(),
        }
    }
}

/// `write(dst chunk, src chunk)` over [`CHUNK`]-element tasks on the pool; with `norm`, also the
/// L2 norm of the written `dst` as [`deterministic_norm`] takes it (the same chunks and f64
/// lanes, added in chunk order), while each chunk is still in cache.
fn write_chunks_with_norm<T: Sync>(
    dst: &mut [f32],
    src: &[T],
    norm: bool,
    write: impl Fn(&mut [f32], &[T]) + Sync,
) -> Option<f64> {
    assert_eq!(dst.len(), src.len(), "equally long gradients");
    let partial: Vec<f64> = dst
        .par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .map(|(d, s)| {
            write(d, s);
            if norm { chunk_sum_squares(d) } else { 0.0 }
        })
        .collect();
    norm.then(|| norm_of(&partial))
}

/// The factor a gradient of norm `norm` is scaled by under clipping at `threshold`: exactly 1 when
/// `norm ≤ threshold`, as in burn's `clip_by_norm`.
fn clip_coefficient(norm: f64, threshold: f32) -> f32 {
    let coef = f64::from(threshold) / (norm + f64::from(f32::MIN_POSITIVE));
    if coef >= 1.0 { 1.0 } else { coef as f32 }
}

/// The per-step constants, converted exactly as burn converts them (f64 scalars become f32 with
/// `as f32` inside burn-flex's `scalar_op`).
#[derive(Clone, Copy)]
struct StepConstants {
    beta_1: f32,
    beta_2: f32,
    factor_1: f32,
    factor_2: f32,
    correction_1: f32,
    correction_2: f32,
    epsilon: f32,
    /// `1 − lr × weight_decay` as burn rounds it; 1 when burn skips the decay (`lr × weight_decay
    /// == 0`).
    keep: f32,
    lr: f32,
    /// The gradient's clipping coefficient (1 when not clipped here).
    clip: f32,
}

impl StepConstants {
    /// One element: returns the new parameter and updates both moments. `FIRST` is burn's
    /// "no state yet" branch (the moments start from the gradient alone).
    #[inline(always)]
    fn update<const FIRST: bool>(&self, p: f32, g: f32, m1: &mut f32, m2: &mut f32) -> f32 {
        // `g × 1` is `g` bit for bit, so an unclipped gradient needs no branch per element.
        let g = g * self.clip;
        if FIRST {
            *m1 = g * self.factor_1;
            *m2 = (g * g) * self.factor_2;
        } else {
            *m1 = *m1 * self.beta_1 + g * self.factor_1;
            *m2 = *m2 * self.beta_2 + (g * g) * self.factor_2;
        }
        let m1c = *m1 / self.correction_1;
        let m2c = *m2 / self.correction_2;
        let delta = m1c / (m2c.sqrt() + self.epsilon);
        // `p × 1` is `p` bit for bit, so the no-decay case needs no branch per element.
        p * self.keep - delta * self.lr
    }

    /// The update over equally long slices, written as one zipped loop so that it vectorises,
    /// in the widest vector copy the CPU runs ([`VectorIsa::run`]: the same IEEE operations at
    /// any width, so the same bits; the three divisions and the square root per element keep
    /// the CPU's divider busy, and a wider copy issues them in fewer instructions).
    fn apply<const FIRST: bool>(&self, p: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32]) {
        VectorIsa::widest().run(
            #[inline(always)]
            || {
                for (((p, &g), m1), m2) in p.iter_mut().zip(g).zip(m1).zip(m2) {
                    *p = self.update::<FIRST>(*p, g, m1, m2);
                }
            },
        );
    }
}

/// The values of an f32 tensor. The CPU backend's parameters, gradients and moments are f32;
/// anything else is a programming error, not an input error.
fn f32_data(t: TensorData) -> TensorData {
    assert_eq!(
        t.dtype(),
        burn::tensor::DType::F32,
        "FusedAdamW updates f32 tensors only"
    );
    t
}

impl FusedAdamW {
    /// The gradient's values and the coefficient the update scales them by: burn's clipping (and
    /// 1) below [`BURN_PARALLEL_SUM`] elements, 1 and the deterministic coefficient from there up.
    fn clipped<const D: usize>(&self, grad: Tensor<D>) -> (TensorData, f32) {
        match self.clip_norm {
            Some(t) if self.uses_deterministic_norm(grad.shape().num_elements()) => {
                let g = f32_data(grad.into_data());
                let norm = deterministic_norm(g.as_slice::<f32>().expect("f32 gradient"));
                (g, clip_coefficient(norm, t))
            }
            Some(t) => (
                f32_data(GradientClipping::Norm(t).clip_gradient(grad).into_data()),
                1.0,
            ),
            None => (f32_data(grad.into_data()), 1.0),
        }
    }
}

impl FusedAdamW {
    /// The per-step constants at learning rate `lr`, step `time` (1-based) and clipping
    /// coefficient `clip`, converted as burn converts them.
    fn constants(&self, lr: LearningRate, time: usize, clip: f32) -> StepConstants {
        let decay_rate = lr * (self.weight_decay as f64);
        StepConstants {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            factor_1: 1.0 - self.beta_1,
            factor_2: 1.0 - self.beta_2,
            correction_1: 1f32 - self.beta_1.powi(time as i32),
            correction_2: 1f32 - self.beta_2.powi(time as i32),
            epsilon: self.epsilon,
            keep: if decay_rate == 0.0 {
                1.0
            } else {
                (1.0 - decay_rate) as f32
            },
            lr: lr as f32,
            clip,
        }
    }

    /// Whether clipping a gradient of `elements` values takes its [`deterministic_norm`].
    pub(crate) fn uses_deterministic_norm(&self, elements: usize) -> bool {
        self.clip_norm.is_some() && elements >= BURN_PARALLEL_SUM
    }

    /// One step of a parameter held as a plain buffer (the dense trainer's): the same arithmetic
    /// as [`Optimizer::step`] on a tensor of shape `shape` holding `p` with gradient `g` (as f32
    /// values), bit for bit (clipping included). `state` is `None` before the first step.
    /// `norm`, when known, is `deterministic_norm(g)` (from [`add_gradients`] or
    /// [`deterministic_norm_bf16`]); it is used only where that norm is
    /// ([`Self::uses_deterministic_norm`]). `rounded`, when given, receives the bf16 rounding of
    /// the updated `p` (bf16 training's weights for the next forward), written while each chunk
    /// is in cache.
    ///
    /// # Panics
    ///
    /// If `p`, `g`, `rounded` and `shape` disagree in size, or `shape` has other than 1 or 2
    /// dimensions.
    pub(crate) fn step_slice(
        &self,
        lr: LearningRate,
        (p, g, shape): (&mut [f32], Gradient<'_>, &[usize]),
        state: &mut Option<SliceMoments>,
        (norm, rounded): (Option<f64>, Option<Rounded<'_>>),
    ) {
        let n = p.len();
        assert!(
            g.len() == n && shape.iter().product::<usize>() == n,
            "{shape:?}"
        );
        assert!(rounded.as_ref().is_none_or(|r| r.len() == n), "{shape:?}");
        let burn_clips = self.clip_norm.is_some() && !self.uses_deterministic_norm(n);
        let mut widened = Vec::new();
        let g = match g {
            // burn's clipping scales an f32 gradient in place.
            Gradient::Bf16(g) if burn_clips => {
                widened.extend(g.iter().map(|v| v.to_f32()));
                Gradient::F32(&mut widened)
            }
            g => g,
        };
        let clip = match (self.clip_norm, g) {
            (Some(t), g) if self.uses_deterministic_norm(n) => {
                let norm = norm.unwrap_or_else(|| match &g {
                    Gradient::F32(g) => deterministic_norm(g),
                    Gradient::Bf16(g) => deterministic_norm_bf16(g),
                });
                (clip_coefficient(norm, t), g)
            }
            (Some(t), Gradient::F32(g)) => {
                let clipping = GradientClipping::Norm(t);
                let data = |v: &[f32]| TensorData::new(v.to_vec(), shape.to_vec());
                let device = Device::flex();
                let clipped = match *shape {
                    [_] => clipping.clip_gradient(Tensor::<1>::from_data(data(g), &device)),
                    [_, _] => {
                        let t = Tensor::<2>::from_data(data(g), &device);
                        clipping.clip_gradient(t).flatten::<1>(0, 1)
                    }
                    _ => panic!("parameters have 1 or 2 dimensions, not {shape:?}"),
                };
                let clipped = f32_data(clipped.into_data());
                g.copy_from_slice(clipped.as_slice::<f32>().expect("f32 gradient"));
                (1.0, Gradient::F32(g))
            }
            // Unclipped (a bf16 gradient under burn's clipping was widened above).
            (_, g) => (1.0, g),
        };
        let (clip, g) = clip;
        let first = state.is_none();
        let s = state.get_or_insert_with(|| SliceMoments {
            time: 0,
            m1: vec![0.0; n],
            m2: vec![0.0; n],
        });
        s.time += 1;
        let c = self.constants(lr, s.time, clip);
        c.apply_parallel(first, (p, rounded), &g, &mut s.m1, &mut s.m2);
    }
}

/// The AdamW state of one parameter held as plain buffers: the step count and both moments.
#[derive(Clone, Debug)]
pub(crate) struct SliceMoments {
    time: usize,
    m1: Vec<f32>,
    m2: Vec<f32>,
}

impl StepConstants {
    /// The update over whole buffers, in [`CHUNK`]-element tasks on the rayon pool (a bf16
    /// gradient widened on the way, in blocks that stay in L1). With `rounded`, each updated
    /// chunk of `p` is also rounded to bf16 into it.
    fn apply_parallel(
        &self,
        first: bool,
        (p, rounded): (&mut [f32], Option<Rounded<'_>>),
        g: &Gradient<'_>,
        m1: &mut [f32],
        m2: &mut [f32],
    ) {
        /// Gradient values widened at a time.
        const WIDEN: usize = 1024;
        let step = |p: &mut [f32], g: &[f32], m1: &mut [f32], m2: &mut [f32]| {
            if first {
                self.apply::<true>(p, g, m1, m2);
            } else {
                self.apply::<false>(p, g, m1, m2);
            }
        };
        let update = |i: usize, p: &mut [f32], m1: &mut [f32], m2: &mut [f32]| match g {
            Gradient::F32(g) => step(p, &g[i * CHUNK..][..p.len()], m1, m2),
            Gradient::Bf16(g) => {
                let mut wide = [0f32; WIDEN];
                let g = &g[i * CHUNK..][..p.len()];
                let blocks = p.chunks_mut(WIDEN).zip(g.chunks(WIDEN));
                for ((p, g), (m1, m2)) in blocks.zip(m1.chunks_mut(WIDEN).zip(m2.chunks_mut(WIDEN)))
                {
                    let wide = &mut wide[..g.len()];
                    crate::bf16_slices::widen_slice(g, wide);
                    step(p, wide, m1, m2);
                }
            }
        };
        let chunks = p
            .par_chunks_mut(CHUNK)
            .zip(m1.par_chunks_mut(CHUNK))
            .zip(m2.par_chunks_mut(CHUNK))
            .enumerate();
        match rounded {
            None => chunks.for_each(|(i, ((p, m1), m2))| update(i, p, m1, m2)),
            Some(Rounded::RowMajor(r)) => {
                chunks
                    .zip(r.par_chunks_mut(CHUNK))
                    .for_each(|((i, ((p, m1), m2)), r)| {
                        update(i, p, m1, m2);
                        crate::bf16_slices::round_slice(p, r);
                    })
            }
            Some(Rounded::Tiles(w)) => chunks.for_each(|(i, ((p, m1), m2))| {
                update(i, p, m1, m2);
                // SAFETY: each chunk is its own range of elements.
                unsafe { w.write_rounded(i * CHUNK, p) };
            }),
        }
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let device = tensor.device();
        let shape = tensor.shape();
        let n = shape.num_elements();
        let mut p = f32_data(tensor.into_data());
        let (mut g, clip) = self.clipped(grad);
        let (mut m1, mut m2, time, first) = match state {
            Some(s) => (
                f32_data(s.momentum.moment_1.into_data()),
                f32_data(s.momentum.moment_2.into_data()),
                s.momentum.time + 1,
                false,
            ),
            None => (
                TensorData::new(vec![0f32; n], shape.clone()),
                TensorData::new(vec![0f32; n], shape.clone()),
                1,
                true,
            ),
        };
        let c = self.constants(lr, time, clip);
        c.apply_parallel(
            first,
            (p.as_mut_slice::<f32>().expect("f32 parameter"), None),
            &Gradient::F32(g.as_mut_slice::<f32>().expect("f32 gradient")),
            m1.as_mut_slice::<f32>().expect("f32 moment"),
            m2.as_mut_slice::<f32>().expect("f32 moment"),
        );
        let state = AdamWState::new(AdaptiveMomentumState {
            time,
            moment_1: Tensor::from_data(m1, &device),
            moment_2: Tensor::from_data(m2, &device),
            max_moment_2: None,
        });
        (Tensor::from_data(p, &device), Some(state))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::optim::grad_clipping::GradientClippingConfig;
    use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};

    use crate::mlp::{RewardMlp, RewardMlpConfig, bradley_terry_loss};
    use activepref_core::seeds::{Stream, rng_for};
    use rand::RngExt;

    fn weights(m: &RewardMlp) -> Vec<Vec<u32>> {
        m.snapshot()
            .into_iter()
            .map(|t| {
                t.into_data()
                    .try_to_vec::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(f32::to_bits)
                    .collect()
            })
            .collect()
    }

    /// Trains the same network from the same batches with burn's AdamW and with the fused one:
    /// every weight must agree bit for bit after every step (warm-up from lr 0, weight decay,
    /// clipping, and enough steps for the bias corrections to move).
    #[test]
    fn fused_adamw_is_bit_identical_to_burns() {
        let device = Device::flex().autodiff();
        let cfg = RewardMlpConfig {
            hidden: vec![96, 24],
            weight_init_std: 0.5,
            ..Default::default()
        };
        let d = 40;
        let model = cfg.init(d, &mut rng_for(1, Stream::Model, &[0]), &device);
        for weight_decay in [0.0f32, 0.1] {
            let make = |fused: bool| -> ModuleOptimizer {
                if fused {
                    ModuleOptimizer::from(FusedAdamW {
                        beta_1: 0.9,
                        beta_2: 0.999,
                        epsilon: 1e-8,
                        weight_decay,
                        clip_norm: Some(1.0),
                    })
                } else {
                    AdamWConfig::new()
                        .with_epsilon(1e-8)
                        .with_weight_decay(weight_decay)
                        .with_grad_clipping(Some(GradientClippingConfig::Norm(1.0)))
                        .init()
                }
            };
            let (mut ours, mut theirs) = (make(true), make(false));
            let (mut a, mut b) = (model.clone(), model.clone());
            let mut rng = rng_for(2, Stream::Model, &[1]);
            for step in 0..12 {
                let rows = 8;
                let x = |rng: &mut rand_chacha::ChaCha8Rng| {
                    let v: Vec<f32> = (0..rows * d).map(|_| rng.random::<f32>() - 0.5).collect();
                    Tensor::<2>::from_data(TensorData::new(v, [rows, d]), &device)
                };
                let (xc, xr) = (x(&mut rng), x(&mut rng));
                let lr = 0.05 * step as f64 / 3.0;
                let ga = GradientsParams::from_grads(
                    bradley_terry_loss(a.forward(xc.clone()), a.forward(xr.clone())).backward(),
                    &a,
                );
                let gb = GradientsParams::from_grads(
                    bradley_terry_loss(b.forward(xc), b.forward(xr)).backward(),
                    &b,
                );
                a = ours.step(lr, a, ga);
                b = theirs.step(lr, b, gb);
                assert_eq!(
                    weights(&a.valid()),
                    weights(&b.valid()),
                    "step {step}, weight decay {weight_decay}"
                );
            }
            assert_ne!(
                weights(&a.valid()),
                weights(&model.valid()),
                "training moved the weights"
            );
        }
    }

    /// The norm taken during the addition is the one a separate pass takes afterwards, to the
    /// bit, and the sum is the element-wise f32 sum.
    #[test]
    fn add_gradients_norm_equals_adding_then_the_deterministic_norm() {
        let n = 3 * CHUNK + 1_234;
        let a: Vec<f32> = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 1e-3)
            .collect();
        let b: Vec<f32> = (0..n)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) * 7e-4)
            .collect();
        let mut fused = a.clone();
        let norm = add_gradients(&mut fused, &b, true).unwrap();
        let summed: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        assert_eq!(fused, summed);
        assert_eq!(norm.to_bits(), deterministic_norm(&summed).to_bits());
    }

    /// bf16 training's gradients: the norm of the bf16 values is the widened values' to the bit;
    /// a step from a bf16 gradient is the step from its widening (clipped by burn's small-tensor
    /// clipping or not); and the bf16 weights `step_slice` writes, row-major or into the tiles'
    /// layout, are the rounding of the f32 weights it updates.
    #[test]
    fn bf16_gradients_and_rounded_weights_match_separate_passes() {
        // Chunks of the update end inside rows, and inside pairs of rows.
        let (rows, cols) = (2 * CHUNK / 48 + 13, 48);
        let n = rows * cols;
        let g16: Vec<half::bf16> = (0..n)
            .map(|i| half::bf16::from_f32(((i * 29 % 89) as f32 - 44.0) * 3e-3))
            .collect();
        let g: Vec<f32> = g16.iter().map(|v| v.to_f32()).collect();
        let norm = deterministic_norm_bf16(&g16);
        assert_eq!(norm.to_bits(), deterministic_norm(&g).to_bits());
        let start: Vec<f32> = (0..n).map(|i| (i % 13) as f32 * 0.01 - 0.06).collect();
        for clip_norm in [Some(0.5), None] {
            let optim = FusedAdamW {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-8,
                weight_decay: 0.01,
                clip_norm,
            };
            let (mut p, mut q, mut t) = (start.clone(), start.clone(), start.clone());
            let mut rounded = vec![half::bf16::ZERO; n];
            let kernel = crate::amx::Kernel::Emulated;
            let mut tiles = crate::amx::PackedRhs::rounded(kernel, &vec![0.0; n], (rows, cols));
            let (mut sp, mut sq, mut st) = (None, None, None);
            let shape = [rows, cols];
            for _ in 0..2 {
                let mut gp = g.clone();
                let gp = Gradient::F32(&mut gp);
                optim.step_slice(1e-2, (&mut p, gp, &shape), &mut sp, (Some(norm), None));
                let with = (Some(norm), Some(Rounded::RowMajor(rounded.as_mut_slice())));
                let gq = Gradient::Bf16(&g16);
                optim.step_slice(1e-2, (&mut q, gq, &shape), &mut sq, with);
                let with = (None, Some(Rounded::Tiles(tiles.writer())));
                optim.step_slice(1e-2, (&mut t, Gradient::Bf16(&g16), &shape), &mut st, with);
            }
            assert!(p != start, "the steps moved the weights");
            assert_eq!(
                p, q,
                "a bf16 gradient or the rounding changed the f32 update"
            );
            assert_eq!(p, t, "the tiles' rounding changed the f32 update");
            let want: Vec<half::bf16> = p.iter().map(|v| half::bf16::from_f32(*v)).collect();
            assert!(rounded == want, "row-major rounding");
            assert!(tiles.unpacked() == want, "the tiles' rounding");
        }
    }

    /// From 4,194,304 elements up the fused step clips with its own f64 norm: the clipped
    /// gradient (read back from the first moment, `g × coef × (1 − β₁)`) matches a hand
    /// computation of the norm, and the step is bit-identical for 1, 2 and 3 threads.
    #[test]
    fn large_tensors_clip_with_a_thread_count_independent_norm() {
        let n = BURN_PARALLEL_SUM + 1_000;
        let grad_at = |i: usize| ((i % 7) as f32 - 3.0) * 0.01;
        // Σ g² by hand: each residue class k of i mod 7 holds ⌈(n − k) / 7⌉ indices.
        let sum_sq: f64 = (0..7)
            .map(|k| {
                let count = (n - k).div_ceil(7) as f64;
                let g = f64::from(grad_at(k));
                count * g * g
            })
            .sum();
        let coef = (1.0 / (sum_sq.sqrt() + f64::from(f32::MIN_POSITIVE))) as f32;
        assert!(
            coef < 0.1,
            "the gradient's norm is well above the threshold"
        );
        let opt = FusedAdamW {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            clip_norm: Some(1.0),
        };
        let step = |threads: usize| {
            crate::on_threads(threads, || {
                let device = Device::flex();
                let p: Vec<f32> = (0..n).map(|i| (i % 11) as f32 * 0.1).collect();
                let g: Vec<f32> = (0..n).map(grad_at).collect();
                let (p, state) = opt.step(
                    1e-3,
                    Tensor::<1>::from_data(TensorData::new(p, [n]), &device),
                    Tensor::<1>::from_data(TensorData::new(g, [n]), &device),
                    None,
                );
                let m1 = state.unwrap().momentum.moment_1.into_data();
                (
                    p.into_data().try_to_vec::<f32>().unwrap(),
                    m1.try_to_vec::<f32>().unwrap(),
                )
            })
        };
        let (p1, m1) = step(1);
        for i in [0, 1, 5, 6, n - 1] {
            assert_eq!(m1[i], (grad_at(i) * coef) * (1.0 - 0.9f32), "moment at {i}");
        }
        for threads in [2, 3] {
            let (p, m) = step(threads);
            assert!(p == p1 && m == m1, "{threads} threads changed the step");
        }
    }
}
