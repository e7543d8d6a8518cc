//! One ensemble member: a reward MLP (specs/balpm.md §2) and the Bradley–Terry loss.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData, activation};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::dense::DenseLayer;
pub use crate::dense::{DenseRewardMlp, DenseScratch};

/// Hidden-layer non-linearity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    /// `tanh` (BAL-PM's).
    Tanh,
    /// `max(0, x)` (ActiveUltraFeedback's heads).
    Relu,
    /// burn's GELU.
    Gelu,
}

impl Activation {
    fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Tanh => activation::tanh(x),
            Activation::Relu => activation::relu(x),
            Activation::Gelu => activation::gelu(x),
        }
    }
}

/// How the weights of a reward MLP are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightInit {
    /// BAL-PM's: weights `N(0, weight_init_std²)`, biases PyTorch's default
    /// `U(−1/√fan_in, 1/√fan_in)`.
    #[default]
    Normal,
    /// ActiveUltraFeedback's heads (rewarduq utils/models.py, specs/activeuf.md §2.1): weights
    /// Xavier-uniform with gain 1, `U(−a, a)` with `a = √(6 / (fan_in + fan_out))`, biases 0.
    XavierUniform,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_true(v: &bool) -> bool {
    *v
}

fn yes() -> bool {
    true
}

/// Shape and initialisation of one reward MLP. BAL-PM's defaults: `[2048, 256]`, tanh, weights
/// `N(0, 0.01²)`, biases PyTorch's default `U(−1/√fan_in, 1/√fan_in)`. ActiveUltraFeedback's
/// heads: `hidden: [128, 128]`, `activation: relu`, `init: xavier_uniform`, `output_bias: false`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardMlpConfig {
    /// Widths of the hidden layers; the output layer (width 1) is implicit.
    pub hidden: Vec<usize>,
    /// The non-linearity after every hidden layer.
    pub activation: Activation,
    /// Standard deviation of the normal initialisation of every weight matrix (`init: normal`).
    pub weight_init_std: f64,
    /// How weights and biases are drawn.
    #[serde(skip_serializing_if = "is_default")]
    pub init: WeightInit,
    /// Whether the output layer has a bias (ActiveUltraFeedback's heads have none).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub output_bias: bool,
}

impl Default for RewardMlpConfig {
    fn default() -> Self {
        Self {
            hidden: vec![2048, 256],
            activation: Activation::Tanh,
            weight_init_std: 0.01,
            init: WeightInit::Normal,
            output_bias: true,
        }
    }
}

/// The arithmetic of a network's dense forward passes ([`RewardMlp::dense`]). In an ensemble,
/// `model.precision` sets it for training: the optimiser steps and the validation passes that
/// early stopping reads; acquisition scoring and the reported metrics always run in f32.
///
/// That is the reference's split (specs/balpm.md §2): its 5-seed scripts train and evaluate
/// under bf16 autocast (`bf16=True` in the HF Trainer) and score for acquisition and metrics in
/// fp32. `bf16` runs every linear layer as autocast does: bf16-rounded inputs times bf16-rounded
/// weights, the bf16 bias added inside the f32 accumulation, one rounding of each output to bf16
/// (on Intel AMX tiles where the CPU has AMX-BF16, else `gemmkit`, with `vdpbf16ps` where the CPU
/// has AVX512-BF16); tanh's output is rounded to bf16.
/// Training steps run the backward in bf16 as well, on f32 master weights and AdamW state
/// (`ensemble::dense_train`, the dense CPU trainer; MC dropout, which trains on burn, is
/// refused with bf16). bf16 results depend on the
/// CPU family (AMX tiles sum in their own order; without AVX512-BF16 `gemmkit` widens to f32, and
/// a few shapes take its widening paths anyway), not on the thread count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    /// f32 everywhere: bit-identical to burn's forward, on every machine.
    #[default]
    F32,
    /// bf16 autocast: bf16 matmuls with f32 accumulation, bf16 outputs.
    Bf16,
}

/// A reward MLP mapping one joint (prompt, response) feature vector to a scalar reward.
#[derive(Module, Debug)]
pub struct RewardMlp {
    layers: Vec<Linear>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    precision: Precision,
}

impl RewardMlpConfig {
    /// Initialises a member with weights drawn from `rng` (never from burn's global seed, so that
    /// members trained in parallel stay reproducible).
    pub fn init(&self, input_dim: usize, rng: &mut ChaCha8Rng, device: &Device) -> RewardMlp {
        let mut widths = vec![input_dim];
        widths.extend(&self.hidden);
        widths.push(1);
        let last = widths.len() - 2;
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(l, w)| {
                let (fan_in, fan_out) = (w[0], w[1]);
                let weights: Vec<f32> = match self.init {
                    WeightInit::Normal => (0..fan_in * fan_out)
                        .map(|_| {
                            let z: f64 = StandardNormal.sample(rng);
                            (z * self.weight_init_std) as f32
                        })
                        .collect(),
                    WeightInit::XavierUniform => {
                        let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
                        (0..fan_in * fan_out)
                            .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * a) as f32)
                            .collect()
                    }
                };
                let bias: Option<Vec<f32>> = if l == last && !self.output_bias {
                    None
                } else {
                    Some(match self.init {
                        WeightInit::Normal => {
                            let bound = 1.0 / (fan_in as f64).sqrt();
                            (0..fan_out)
                                .map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32)
                                .collect()
                        }
                        WeightInit::XavierUniform => vec![0.0; fan_out],
                    })
                };
                Linear {
                    weight: Param::from_tensor(Tensor::from_data(
                        TensorData::new(weights, [fan_in, fan_out]),
                        device,
                    )),
                    bias: bias.map(|b| {
                        Param::from_tensor(Tensor::from_data(TensorData::new(b, [fan_out]), device))
                    }),
                }
            })
            .collect();
        RewardMlp {
            layers,
            activation: self.activation,
            precision: Precision::F32,
        }
    }
}

impl RewardMlp {
    /// Rewards of a `[rows, d]` batch, shape `[rows]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<1> {
        self.forward_masked(x, &[])
    }

    /// Like [`Self::forward`], with dropout masks on the inputs of the layers after the first:
    /// `masks[l]` (shape `[rows, width]` or `[1, width]`, broadcast) multiplies the input of layer
    /// `l + 1`. Fewer masks than hidden layers leave the rest unmasked.
    pub fn forward_masked(&self, x: Tensor<2>, masks: &[Tensor<2>]) -> Tensor<1> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            if i > 0
                && let Some(mask) = masks.get(i - 1)
            {
                h = h.mul(mask.clone());
            }
            h = layer.forward(h);
            if i < last {
                h = self.activation.apply(h);
            }
        }
        h.squeeze_dim(1)
    }

    /// The same network, whose dense forward passes ([`Self::dense`]) run in `precision` (the
    /// burn forward and training steps are f32 whatever it is).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// The same network as plain arrays for CPU inference (`DenseRewardMlp`), in this network's
    /// [`Precision`]; `None` for an activation the dense path does not implement (only tanh, the
    /// paper's, is), which then stays on burn.
    pub fn dense(&self) -> Option<DenseRewardMlp> {
        if self.activation != Activation::Tanh {
            return None;
        }
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let [fan_in, fan_out] = l.weight.shape().dims::<2>();
                // `try_into_vec` takes the buffer `into_data` made (no second copy).
                let w = l
                    .weight
                    .val()
                    .into_data()
                    .try_into_vec::<f32>()
                    .expect("f32 weights");
                let b = match &l.bias {
                    Some(b) => b.val().into_data().try_into_vec::<f32>().expect("f32 bias"),
                    None => vec![0.0; fan_out],
                };
                DenseLayer {
                    w,
                    b,
                    fan_in,
                    fan_out,
                    has_bias: l.bias.is_some(),
                }
            })
            .collect();
        Some(DenseRewardMlp::new(layers, self.precision))
    }

    /// The arithmetic of this network's dense forward passes.
    pub(crate) fn precision(&self) -> Precision {
        self.precision
    }

    /// The tanh network whose weights are `dense`'s, on `device` (the inverse of [`Self::dense`],
    /// which exists for tanh networks only, in f32; a layer without a bias stays without one).
    pub(crate) fn from_dense(dense: &DenseRewardMlp, device: &Device) -> RewardMlp {
        let layers = dense
            .layers
            .iter()
            .map(|l| Linear {
                weight: Param::from_tensor(Tensor::from_data(
                    TensorData::new(l.w.clone(), [l.fan_in, l.fan_out]),
                    device,
                )),
                bias: l.has_bias.then(|| {
                    Param::from_tensor(Tensor::from_data(
                        TensorData::new(l.b.clone(), [l.fan_out]),
                        device,
                    ))
                }),
            })
            .collect();
        RewardMlp {
            layers,
            activation: Activation::Tanh,
            precision: Precision::F32,
        }
    }

    /// The current weights and biases as constants (no gradient flows into them): the anchor
    /// `θ⁰` of an anchored ensemble (specs/activeuf.md §2.4).
    pub fn snapshot(&self) -> Vec<Tensor<2>> {
        self.layers
            .iter()
            .flat_map(|l| {
                // Rebuilt from the values: a detached leaf would keep `require_grad`.
                let constant = |t: Tensor<2>| Tensor::<2>::from_data(t.to_data(), &t.device());
                let mut t = vec![constant(l.weight.val())];
                if let Some(b) = &l.bias {
                    t.push(constant(b.val().unsqueeze_dim(0)));
                }
                t
            })
            .collect()
    }

    /// Trainable parameters P (weights and biases).
    pub fn parameter_count(&self) -> usize {
        self.layers
            .iter()
            .map(|l| {
                let [i, o] = l.weight.shape().dims::<2>();
                i * o + l.bias.as_ref().map_or(0, |_| o)
            })
            .sum()
    }

    /// `‖θ − θ⁰‖² / P`: the mean squared distance of every parameter from `anchor` (a
    /// [`Self::snapshot`] of the same network), shape `[1]`.
    ///
    /// # Panics
    ///
    /// If `anchor` is empty, or its tensors' shapes differ from this network's (not a snapshot of
    /// it).
    pub fn mean_squared_distance(&self, anchor: &[Tensor<2>]) -> Tensor<1> {
        let current = self.layers.iter().flat_map(|l| {
            let mut t = vec![l.weight.val()];
            if let Some(b) = &l.bias {
                t.push(b.val().unsqueeze_dim(0));
            }
            t
        });
        let sum = current
            .zip(anchor)
            .map(|(c, a)| c.sub(a.clone()).powi_scalar(2).sum())
            .reduce(|x, y| x.add(y))
            .expect("at least one layer");
        sum.div_scalar(self.parameter_count() as f32)
    }

    /// Widths of the hidden layers (the inputs that dropout masks apply to).
    pub fn hidden_widths(&self) -> Vec<usize> {
        self.layers[..self.layers.len() - 1]
            .iter()
            .map(|l| l.weight.shape().dims::<2>()[1])
            .collect()
    }
}

/// Inverted-dropout masks for every hidden layer: entries 0 with probability `rate`, else
/// `1/(1 − rate)`, drawn from `rng` (never burn's global generator).
pub fn dropout_masks(
    widths: &[usize],
    rows: usize,
    rate: f64,
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> Vec<Tensor<2>> {
    let keep = (1.0 / (1.0 - rate)) as f32;
    widths
        .iter()
        .map(|&w| {
            let data: Vec<f32> = (0..rows * w)
                .map(|_| {
                    if rng.random::<f64>() < rate {
                        0.0
                    } else {
                        keep
                    }
                })
                .collect();
            Tensor::from_data(TensorData::new(data, [rows, w]), device)
        })
        .collect()
}

/// Mean Bradley–Terry negative log-likelihood `−mean log σ(r_chosen − r_rejected)`, computed with
/// log-sigmoid for stability.
pub fn bradley_terry_loss(r_chosen: Tensor<1>, r_rejected: Tensor<1>) -> Tensor<1> {
    activation::log_sigmoid(r_chosen.sub(r_rejected))
        .mean()
        .neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_data().as_slice::<f32>().unwrap()[0]
    }

    /// One scratch reused over chunks that shrink and grow (as a pass's last chunk does) must
    /// give what a fresh scratch gives, bit for bit.
    #[test]
    fn dense_scratch_reuse_changes_nothing() {
        use rand::SeedableRng;
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let d = 48;
        let model = RewardMlpConfig {
            hidden: vec![40, 24],
            weight_init_std: 0.3,
            ..Default::default()
        }
        .init(d, &mut rng, &dev);
        let dense = model.dense().unwrap();
        let mut scratch = DenseScratch::default();
        for rows in [4096, 37, 4096, 1, 600] {
            let x: Vec<f32> = (0..rows * d)
                .map(|_| rng.random::<f32>() * 4.0 - 2.0)
                .collect();
            let reused = dense.forward_with(&x, rows, &[], &mut scratch);
            let fresh = dense.forward(&x, rows, &[]);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&reused), bits(&fresh), "rows {rows}");
        }
    }

    /// `bf16` by hand, as autocast computes it: a pre-activation is the bf16 rounding of the
    /// products of bf16-rounded inputs and weights plus the bf16-rounded bias (products of two
    /// bf16 are exact in f32, and 40 of them sum far inside a bf16 step); tanh's output is
    /// rounded to bf16; the final layer likewise. Bit for bit, at one hidden layer.
    #[test]
    fn bf16_forward_matches_a_hand_computation() {
        use half::bf16;
        use rand::SeedableRng;
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let (d, n, rows) = (40, 24, 9);
        let model = RewardMlpConfig {
            hidden: vec![n],
            weight_init_std: 0.2,
            ..Default::default()
        }
        .init(d, &mut rng, &dev);
        let f32_dense = model.dense().unwrap();
        let dense = model.with_precision(Precision::Bf16).dense().unwrap();
        let x: Vec<f32> = (0..rows * d)
            .map(|_| rng.random::<f32>() * 4.0 - 2.0)
            .collect();
        let (hid, out) = (&f32_dense.layers[0], &f32_dense.layers[1]);
        let r16 = |v: f32| bf16::from_f32(v).to_f64();
        let mut h = vec![0f32; rows * n];
        let mut want = vec![0f32; rows];
        for r in 0..rows {
            for j in 0..n {
                let exact: f64 = (0..d)
                    .map(|i| r16(x[r * d + i]) * r16(hid.w[i * n + j]))
                    .sum();
                let pre = bf16::from_f64(exact + r16(hid.b[j])).to_f32();
                h[r * n + j] = bf16::from_f32(pre.tanh()).to_f32();
            }
            let exact: f64 = (0..n).map(|j| h[r * n + j] as f64 * r16(out.w[j])).sum();
            want[r] = bf16::from_f64(exact + r16(out.b[0])).to_f32();
        }
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let got = dense.final_inputs(&x, rows, &[], &mut DenseScratch::default());
        assert_eq!(bits(&got), bits(&h));
        let rewards = dense.forward(&x, rows, &[]);
        assert_eq!(bits(&rewards), bits(&want));
        assert_ne!(bits(&rewards), bits(&f32_dense.forward(&x, rows, &[])));
    }

    /// `bf16` on the paper's two hidden layers, above the parallel threshold: the same rewards on
    /// one thread as on all, and close to f32's (bf16 keeps 8 bits of mantissa).
    #[test]
    fn bf16_rewards_do_not_depend_on_threads_and_stay_near_f32() {
        use rand::SeedableRng;
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (d, rows) = (300, 700);
        let model = RewardMlpConfig {
            hidden: vec![257, 40],
            weight_init_std: 0.1,
            ..Default::default()
        }
        .init(d, &mut rng, &dev);
        let x: Vec<f32> = (0..rows * d)
            .map(|_| rng.random::<f32>() * 2.0 - 1.0)
            .collect();
        let exact = model.dense().unwrap().forward(&x, rows, &[]);
        let dense = model.with_precision(Precision::Bf16).dense().unwrap();
        let all = dense.forward(&x, rows, &[]);
        let serial = crate::on_threads(1, || dense.forward(&x, rows, &[]));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&serial), bits(&all));
        let spread = exact.iter().map(|r| r.abs()).fold(0f32, f32::max);
        for (a, b) in all.iter().zip(&exact) {
            assert!((a - b).abs() <= 0.02 * spread, "{a} against f32 {b}");
        }
    }

    /// The dense CPU path must give burn's rewards bit for bit: small and large layers (either
    /// side of burn's one-thread/all-threads GEMM rule), odd widths, one row and many, masks.
    #[test]
    fn dense_forward_is_bit_identical_to_burn() {
        use rand::SeedableRng;
        let dev = Device::flex();
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for (d, hidden, rows) in [
            (16, vec![64, 32], 37),
            (300, vec![257, 40], 4096),
            (7, vec![], 5),
            (96, vec![33], 1),
        ] {
            let cfg = RewardMlpConfig {
                hidden: hidden.clone(),
                weight_init_std: 0.2,
                ..Default::default()
            };
            let model = cfg.init(d, &mut rng, &dev);
            let x: Vec<f32> = (0..rows * d)
                .map(|_| rng.random::<f32>() * 4.0 - 2.0)
                .collect();
            let burn = model.forward(Tensor::from_data(
                TensorData::new(x.clone(), [rows, d]),
                &dev,
            ));
            let dense = model
                .dense()
                .expect("tanh has a dense path")
                .forward(&x, rows, &[]);
            let burn: Vec<f32> = burn.into_data().try_to_vec().unwrap();
            assert_eq!(dense.len(), rows);
            assert!(
                dense
                    .iter()
                    .zip(&burn)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "d={d} hidden={hidden:?}"
            );
            if let Some(&w) = hidden.first() {
                let masks = dropout_masks(&model.hidden_widths(), 1, 0.3, &mut rng, &dev);
                let burn: Vec<f32> = model
                    .forward_masked(
                        Tensor::from_data(TensorData::new(x.clone(), [rows, d]), &dev),
                        &masks,
                    )
                    .into_data()
                    .try_to_vec()
                    .unwrap();
                let data: Vec<Vec<f32>> = masks
                    .iter()
                    .map(|m| m.clone().into_data().try_to_vec().unwrap())
                    .collect();
                assert_eq!(data[0].len(), w);
                let refs: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
                let dense = model.dense().unwrap().forward(&x, rows, &refs);
                assert!(
                    dense
                        .iter()
                        .zip(&burn)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "masked d={d} hidden={hidden:?}"
                );
            }
        }
        let relu = RewardMlpConfig {
            activation: Activation::Relu,
            ..Default::default()
        }
        .init(4, &mut rng, &dev);
        assert!(relu.dense().is_none(), "only tanh has a dense path");
    }

    #[test]
    fn bt_loss_matches_hand_values() {
        let dev = Device::flex();
        // Margins 0 and ln 3: losses ln 2 and ln(4/3); mean = (ln 2 + ln 4/3) / 2.
        let rc = Tensor::<1>::from_data(TensorData::new(vec![0.5f32, 3f32.ln()], [2]), &dev);
        let rr = Tensor::<1>::from_data(TensorData::new(vec![0.5f32, 0.0], [2]), &dev);
        let expected = (2f64.ln() + (4.0f64 / 3.0).ln()) / 2.0;
        assert!((scalar(bradley_terry_loss(rc, rr)) as f64 - expected).abs() < 1e-6);
    }

    #[test]
    fn bt_gradient_pushes_chosen_up_and_rejected_down() {
        let dev = Device::flex().autodiff();
        let rc =
            Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 1.0], [2]), &dev).require_grad();
        let rr =
            Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 0.0], [2]), &dev).require_grad();
        let loss = bradley_terry_loss(rc.clone(), rr.clone());
        let grads = loss.backward();
        let gc = rc
            .grad(&grads)
            .unwrap()
            .into_data()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        let gr = rr
            .grad(&grads)
            .unwrap()
            .into_data()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        // d/dr_c of −log σ(r_c − r_r) / N = −(1 − σ(Δ)) / N; here N = 2.
        let sig1 = 1.0 / (1.0 + (-1.0f64).exp());
        assert!((gc[0] as f64 + 0.25).abs() < 1e-6, "{gc:?}");
        assert!((gc[1] as f64 + (1.0 - sig1) / 2.0).abs() < 1e-6, "{gc:?}");
        assert!(gc.iter().all(|&g| g < 0.0) && gr.iter().all(|&g| g > 0.0));
        assert!((gr[1] as f64 - (1.0 - sig1) / 2.0).abs() < 1e-6);
    }

    #[test]
    fn masks_zero_units_and_rescale_the_rest() {
        use rand::SeedableRng;
        let dev = Device::flex();
        let masks = dropout_masks(&[1000], 1, 0.1, &mut ChaCha8Rng::seed_from_u64(3), &dev);
        let v = masks[0].to_data().as_slice::<f32>().unwrap().to_vec();
        let zeros = v.iter().filter(|&&x| x == 0.0).count();
        assert!(
            (70..130).contains(&zeros),
            "{zeros} of 1000 dropped at rate 0.1"
        );
        assert!(v.iter().all(|&x| x == 0.0 || (x - 1.0 / 0.9).abs() < 1e-6));
        // A mask of ones changes nothing; a mask of zeros leaves only the biases after the first layer.
        let cfg = RewardMlpConfig {
            hidden: vec![4],
            ..Default::default()
        };
        let m = cfg.init(3, &mut ChaCha8Rng::seed_from_u64(1), &dev);
        assert_eq!(m.hidden_widths(), vec![4]);
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 6], [2, 3]), &dev);
        let ones = Tensor::<2>::from_data(TensorData::new(vec![1.0f32; 4], [1, 4]), &dev);
        assert_eq!(
            m.forward(x.clone()).to_data(),
            m.forward_masked(x.clone(), &[ones]).to_data()
        );
        let zeros = Tensor::<2>::from_data(TensorData::new(vec![0.0f32; 4], [1, 4]), &dev);
        let r = m
            .forward_masked(x, &[zeros])
            .into_data()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        assert_eq!(r[0], r[1]);
    }

    #[test]
    fn init_is_seeded_and_shaped() {
        use rand::SeedableRng;
        let dev = Device::flex();
        let cfg = RewardMlpConfig {
            hidden: vec![4, 3],
            ..Default::default()
        };
        let a = cfg.init(5, &mut ChaCha8Rng::seed_from_u64(1), &dev);
        let b = cfg.init(5, &mut ChaCha8Rng::seed_from_u64(1), &dev);
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.3f32; 10], [2, 5]), &dev);
        let ra = a
            .forward(x.clone())
            .into_data()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        let rb = b.forward(x).into_data().as_slice::<f32>().unwrap().to_vec();
        assert_eq!(ra, rb);
        assert_eq!(ra.len(), 2);
        assert_eq!(a.num_params(), 5 * 4 + 4 + 4 * 3 + 3 + 3 + 1);
    }

    #[test]
    fn activeuf_heads_are_xavier_uniform_with_zero_biases_and_no_output_bias() {
        use rand::SeedableRng;
        let dev = Device::flex();
        // d = 2560 → 128 → 128 → 1 without a last bias: 344,448 parameters (specs/activeuf.md §2.1).
        let cfg = RewardMlpConfig {
            hidden: vec![128, 128],
            activation: Activation::Relu,
            init: WeightInit::XavierUniform,
            output_bias: false,
            ..Default::default()
        };
        let m = cfg.init(2560, &mut ChaCha8Rng::seed_from_u64(3), &dev);
        assert_eq!(m.num_params(), 344_448);
        assert_eq!(m.parameter_count(), 344_448);
        // First layer: every weight within a = √(6 / (2560 + 128)) = 0.04724, spread like U(−a, a)
        // (variance a²/3), biases exactly 0.
        let w = m.layers[0]
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let a = (6.0f64 / 2688.0).sqrt();
        assert!(w.iter().all(|&x| f64::from(x).abs() <= a));
        let var = w.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var / (a * a / 3.0) - 1.0).abs() < 0.01, "{var}");
        let b = m.layers[0]
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(b.iter().all(|&x| x == 0.0));
        assert!(m.layers[2].bias.is_none());
        // The defaults stay BAL-PM's and are not written out (run ids do not change).
        let text = serde_json::to_string(&RewardMlpConfig::default()).unwrap();
        assert!(
            !text.contains("init\"") && !text.contains("output_bias"),
            "{text}"
        );
    }
}
