//! Training steps of a tanh reward MLP on plain buffers, bit-identical to burn's autodiff step.
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
//!   immaterial; only the payload of a NaN, in a run that has diverged anyway, could differ);
//! - the update is [`FusedAdamW`]'s arithmetic on the buffers ([`FusedAdamW::step_slice`]).
//!
//! `gemm` never splits a product's inner sum across threads, so the GEMMs run on the rayon pool
//! above burn-flex's size threshold without changing a bit. Tested step by step against burn's
//! trainer, weights compared bit for bit (`tests` below). Its tanh is the dense forward's
//! (`crate::tanh`), as exact as burn's wherever that start-up sweep switches it on. Used for the deep ensemble's members
//! and the Laplace head's network on the CPU backend with tanh and no dropout; everything else
//! trains on burn's autodiff.

use burn::tensor::Device;
use rayon::prelude::*;

use super::FusedAdamW;
use super::adamw::{SliceMoments, add_gradients};
use crate::dense::{Strided, strided_matmul};
use crate::mlp::{DenseRewardMlp, DenseScratch, Precision, RewardMlp};

/// One member's weights, optimiser state and work buffers, trained step by step.
pub(crate) struct DenseTrainer {
    net: DenseRewardMlp,
    optim: FusedAdamW,
    /// Per layer: the weight's and the bias's AdamW state.
    moments: Vec<[Option<SliceMoments>; 2]>,
    /// Per layer: the weight gradient (`fan_in × fan_out`) and the bias gradient (`fan_out`).
    grads: Vec<(Vec<f32>, Vec<f32>)>,
    /// The rejected side's weight gradient before it joins the chosen side's (the largest
    /// layer's size; it never shrinks, so it is zero-filled only when it grows).
    second: Vec<f32>,
    /// The starting network's precision, kept by the networks [`Self::model`] returns.
    precision: Precision,
    /// The chosen and the rejected side's hidden activations.
    sides: [DenseScratch; 2],
}

impl DenseTrainer {
    /// A trainer starting from `model`'s weights, or `None` where the dense path does not apply
    /// (an activation other than tanh).
    pub(crate) fn new(model: &RewardMlp, optim: FusedAdamW) -> Option<Self> {
        let precision = model.precision();
        let net = model.clone().with_precision(Precision::F32).dense()?;
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
            sides: [DenseScratch::default(), DenseScratch::default()],
            second: Vec::new(),
        })
    }

    /// The current weights as a network on `device` (for validation passes and checkpoints).
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
    /// # Panics
    ///
    /// If `pairs` is not `2 · rows × input width`, or `rows` is 0.
    pub(crate) fn step(&mut self, pairs: &[f32], rows: usize, lr: f64) {
        assert!(rows > 0, "an empty minibatch");
        let d = self.net.input_dim();
        assert_eq!(pairs.len(), 2 * rows * d, "2 · rows × input width");
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
        let (side_r, offset_r) = if merged { (0, rows) } else { (1, 0) };
        self.backward((0, 0), chosen, rows, gc);
        let norms = self.backward((side_r, offset_r), rejected, rows, gr);
        for (l, layer) in self.net.layers.iter_mut().enumerate() {
            let (gw, gb) = &mut self.grads[l];
            let [mw, mb] = &mut self.moments[l];
            let shape = [layer.fan_in, layer.fan_out];
            let norm = norms[l];
            self.optim
                .step_slice(lr, (&mut layer.w, gw, &shape), mw, norm);
            if layer.has_bias {
                self.optim
                    .step_slice(lr, (&mut layer.b, gb, &shape[1..]), mb, None);
            }
        }
    }

    /// Backpropagates one side from `∂loss/∂reward` (`rows` values) through every layer; its
    /// hidden activations are rows `offset..offset + rows` of scratch `side`, its input `x`. The
    /// chosen side (`offset` 0 of scratch 0, first) writes each parameter's gradient, the
    /// rejected side adds its own. Returns, per layer, the weight gradient's clipping norm where
    /// the addition took it ([`add_gradients`]).
    fn backward(
        &mut self,
        (side, offset): (usize, usize),
        x: &[f32],
        rows: usize,
        mut g: Vec<f32>,
    ) -> Vec<Option<f64>> {
        let first = side == 0 && offset == 0;
        let hidden = &self.sides[side].hidden;
        let mut norms = vec![None; self.net.layers.len()];
        for l in (0..self.net.layers.len()).rev() {
            let layer = &self.net.layers[l];
            let (k, n) = (layer.fan_in, layer.fan_out);
            let input: &[f32] = if l == 0 {
                x
            } else {
                &hidden[l - 1][offset * k..(offset + rows) * k]
            };
            let (gw, gb) = &mut self.grads[l];
            if first {
                weight_grad(input, &g, (rows, k, n), gw);
            } else {
                // gemm's β-accumulation into `gw` rounds differently from burn's separate
                // addition (it fails the step-by-step test), so the second side's product goes
                // to its own buffer.
                if self.second.len() < k * n {
                    self.second.resize(k * n, 0.0);
                }
                let second = &mut self.second[..k * n];
                weight_grad(input, &g, (rows, k, n), second);
                // The clipping norm of a large gradient is taken in the same pass.
                let norm = self.optim.uses_deterministic_norm(gw.len());
                norms[l] = add_gradients(gw, second, norm);
            }
            if layer.has_bias {
                let db = bias_grad(&g, n);
                if first {
                    gb.copy_from_slice(&db);
                } else {
                    gb.iter_mut().zip(&db).for_each(|(a, b)| *a += *b);
                }
            }
            if l > 0 {
                let mut dh = input_grad(&g, &layer.w, (rows, k, n));
                // burn's tanh backward: grad × ((−(y · y)) + 1), y the layer's tanh output.
                dh.par_chunks_mut(1 << 14)
                    .zip(input.par_chunks(1 << 14))
                    .for_each(|(d, y)| {
                        for (d, &y) in d.iter_mut().zip(y) {
                            *d *= -(y * y) + 1.0;
                        }
                    });
                g = dh;
            }
        }
        norms
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
    let (xt, g) = (Strided::transposed(x, k), Strided::row_major(g, n));
    strided_matmul(out, (k, n, rows), xt, g);
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
        let mut dense = DenseTrainer::new(&start, optim.clone()).expect("tanh");
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
    }

    /// The pool's size changes no bit: the GEMMs split rows and columns, never an inner sum; the
    /// additions, norms and updates are per element or over fixed chunks.
    #[test]
    fn steps_do_not_depend_on_the_thread_count() {
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
        let run = |threads: usize| {
            crate::on_threads(threads, || {
                let mut t = DenseTrainer::new(&start, adamw(0.01, Some(1e-3))).unwrap();
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
