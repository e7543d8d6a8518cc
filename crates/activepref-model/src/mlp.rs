//! One ensemble member: a reward MLP (specs/balpm.md §2) and the Bradley–Terry loss.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData, activation};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Hidden-layer non-linearity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    #[default]
    Tanh,
    Relu,
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

/// Shape and initialisation of one reward MLP. BAL-PM's defaults: `[2048, 256]`, tanh, weights
/// `N(0, 0.01²)`, biases PyTorch's default `U(−1/√fan_in, 1/√fan_in)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RewardMlpConfig {
    /// Widths of the hidden layers; the output layer (width 1) is implicit.
    pub hidden: Vec<usize>,
    pub activation: Activation,
    /// Standard deviation of the normal initialisation of every weight matrix.
    pub weight_init_std: f64,
}

impl Default for RewardMlpConfig {
    fn default() -> Self {
        Self { hidden: vec![2048, 256], activation: Activation::Tanh, weight_init_std: 0.01 }
    }
}

/// A reward MLP mapping one joint (prompt, response) feature vector to a scalar reward.
#[derive(Module, Debug)]
pub struct RewardMlp {
    layers: Vec<Linear>,
    #[module(skip)]
    activation: Activation,
}

impl RewardMlpConfig {
    /// Initialises a member with weights drawn from `rng` (never from burn's global seed, so that
    /// members trained in parallel stay reproducible).
    pub fn init(&self, input_dim: usize, rng: &mut ChaCha8Rng, device: &Device) -> RewardMlp {
        let mut widths = vec![input_dim];
        widths.extend(&self.hidden);
        widths.push(1);
        let layers = widths
            .windows(2)
            .map(|w| {
                let (fan_in, fan_out) = (w[0], w[1]);
                let weights: Vec<f32> = (0..fan_in * fan_out)
                    .map(|_| {
                        let z: f64 = StandardNormal.sample(rng);
                        (z * self.weight_init_std) as f32
                    })
                    .collect();
                let bound = 1.0 / (fan_in as f64).sqrt();
                let bias: Vec<f32> =
                    (0..fan_out).map(|_| ((rng.random::<f64>() * 2.0 - 1.0) * bound) as f32).collect();
                Linear {
                    weight: Param::from_tensor(Tensor::from_data(TensorData::new(weights, [fan_in, fan_out]), device)),
                    bias: Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [fan_out]), device))),
                }
            })
            .collect();
        RewardMlp { layers, activation: self.activation }
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
            if i > 0 {
                if let Some(mask) = masks.get(i - 1) {
                    h = h.mul(mask.clone());
                }
            }
            h = layer.forward(h);
            if i < last {
                h = self.activation.apply(h);
            }
        }
        h.squeeze_dim(1)
    }

    /// Widths of the hidden layers (the inputs that dropout masks apply to).
    pub fn hidden_widths(&self) -> Vec<usize> {
        self.layers[..self.layers.len() - 1].iter().map(|l| l.weight.shape().dims::<2>()[1]).collect()
    }
}

/// Inverted-dropout masks for every hidden layer: entries 0 with probability `rate`, else
/// `1/(1 − rate)`, drawn from `rng` (never burn's global generator).
pub fn dropout_masks(widths: &[usize], rows: usize, rate: f64, rng: &mut ChaCha8Rng, device: &Device) -> Vec<Tensor<2>> {
    let keep = (1.0 / (1.0 - rate)) as f32;
    widths
        .iter()
        .map(|&w| {
            let data: Vec<f32> = (0..rows * w).map(|_| if rng.random::<f64>() < rate { 0.0 } else { keep }).collect();
            Tensor::from_data(TensorData::new(data, [rows, w]), device)
        })
        .collect()
}

/// Mean Bradley–Terry negative log-likelihood `−mean log σ(r_chosen − r_rejected)`, computed with
/// log-sigmoid for stability.
pub fn bradley_terry_loss(r_chosen: Tensor<1>, r_rejected: Tensor<1>) -> Tensor<1> {
    activation::log_sigmoid(r_chosen.sub(r_rejected)).mean().neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_data().as_slice::<f32>().unwrap()[0]
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
        let rc = Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 1.0], [2]), &dev).require_grad();
        let rr = Tensor::<1>::from_data(TensorData::new(vec![0.0f32, 0.0], [2]), &dev).require_grad();
        let loss = bradley_terry_loss(rc.clone(), rr.clone());
        let grads = loss.backward();
        let gc = rc.grad(&grads).unwrap().into_data().as_slice::<f32>().unwrap().to_vec();
        let gr = rr.grad(&grads).unwrap().into_data().as_slice::<f32>().unwrap().to_vec();
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
        assert!((70..130).contains(&zeros), "{zeros} of 1000 dropped at rate 0.1");
        assert!(v.iter().all(|&x| x == 0.0 || (x - 1.0 / 0.9).abs() < 1e-6));
        // A mask of ones changes nothing; a mask of zeros leaves only the biases after the first layer.
        let cfg = RewardMlpConfig { hidden: vec![4], ..Default::default() };
        let m = cfg.init(3, &mut ChaCha8Rng::seed_from_u64(1), &dev);
        assert_eq!(m.hidden_widths(), vec![4]);
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 6], [2, 3]), &dev);
        let ones = Tensor::<2>::from_data(TensorData::new(vec![1.0f32; 4], [1, 4]), &dev);
        assert_eq!(m.forward(x.clone()).to_data(), m.forward_masked(x.clone(), &[ones]).to_data());
        let zeros = Tensor::<2>::from_data(TensorData::new(vec![0.0f32; 4], [1, 4]), &dev);
        let r = m.forward_masked(x, &[zeros]).into_data().as_slice::<f32>().unwrap().to_vec();
        assert_eq!(r[0], r[1]);
    }

    #[test]
    fn init_is_seeded_and_shaped() {
        use rand::SeedableRng;
        let dev = Device::flex();
        let cfg = RewardMlpConfig { hidden: vec![4, 3], ..Default::default() };
        let a = cfg.init(5, &mut ChaCha8Rng::seed_from_u64(1), &dev);
        let b = cfg.init(5, &mut ChaCha8Rng::seed_from_u64(1), &dev);
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.3f32; 10], [2, 5]), &dev);
        let ra = a.forward(x.clone()).into_data().as_slice::<f32>().unwrap().to_vec();
        let rb = b.forward(x).into_data().as_slice::<f32>().unwrap().to_vec();
        assert_eq!(ra, rb);
        assert_eq!(ra.len(), 2);
        assert_eq!(a.num_params(), 5 * 4 + 4 + 4 * 3 + 3 + 3 + 1);
    }
}
