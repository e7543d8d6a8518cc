//! A BERT-family encoder on burn (Devlin et al. 2019): embeddings, post-norm self-attention
//! blocks, GELU feed-forward. One `Config` + `Module` per part, as in burn's examples; weights come
//! from a Hugging Face `model.safetensors` (see [`crate::weights`]).

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{Device, Int, Tensor, TensorData, activation};
use rayon::prelude::*;

/// Shape of one encoder (from `config.json`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BertShape {
    /// Width of the token states (`hidden_size`, 384 for MiniLM-L6).
    pub hidden: usize,
    /// Attention heads (`hidden` must be a multiple of it).
    pub heads: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Width of the feed-forward layer (`intermediate_size`).
    pub intermediate: usize,
}

/// Token, position and segment embeddings, summed and layer-normalised.
#[derive(Module, Debug)]
pub struct BertEmbeddings {
    /// Token embeddings, `vocab_size × hidden`.
    pub word: Embedding,
    /// Position embeddings, `max_position_embeddings × hidden`.
    pub position: Embedding,
    /// Segment (token type) embeddings, `type_vocab_size × hidden` (segment 0 only is used).
    pub token_type: Embedding,
    /// Layer norm after the sum.
    pub norm: LayerNorm,
}

/// Multi-head self-attention with its output projection and residual layer norm.
#[derive(Module, Debug)]
pub struct BertAttention {
    /// Query projection, `hidden → hidden`.
    pub query: Linear,
    /// Key projection, `hidden → hidden`.
    pub key: Linear,
    /// Value projection, `hidden → hidden`.
    pub value: Linear,
    /// Output projection of the concatenated heads, `hidden → hidden`.
    pub output: Linear,
    /// Layer norm after the residual sum.
    pub norm: LayerNorm,
    #[module(skip)]
    /// Number of heads; each has `hidden / heads` dimensions.
    pub heads: usize,
}

/// One transformer block: attention, then GELU feed-forward with a residual layer norm.
#[derive(Module, Debug)]
pub struct BertLayer {
    /// The block's self-attention.
    pub attention: BertAttention,
    /// Feed-forward up-projection, `hidden → intermediate`.
    pub intermediate: Linear,
    /// Feed-forward down-projection, `intermediate → hidden`.
    pub output: Linear,
    /// Layer norm after the feed-forward residual sum.
    pub norm: LayerNorm,
}

/// The encoder stack (no pooler: sentence embeddings pool token states instead).
#[derive(Module, Debug)]
pub struct BertModel {
    /// The embedding layer.
    pub embeddings: BertEmbeddings,
    /// The transformer blocks, in order.
    pub layers: Vec<BertLayer>,
}

impl BertAttention {
    /// `x`: `[batch, tokens, hidden]`; `key_bias`: `[batch, 1, 1, tokens]`, 0 for real tokens and a
    /// large negative number for padding, added to the attention logits.
    pub fn forward(&self, x: Tensor<3>, key_bias: Tensor<4>) -> Tensor<3> {
        let [b, t, h] = x.dims();
        let dh = h / self.heads;
        let split = |y: Tensor<3>| y.reshape([b, t, self.heads, dh]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x.clone()));
        let logits = q.matmul(k.swap_dims(2, 3)).div_scalar((dh as f64).sqrt()) + key_bias;
        let probs = activation::softmax(logits, 3);
        let ctx = probs.matmul(v).swap_dims(1, 2).reshape([b, t, h]);
        self.norm.forward(self.output.forward(ctx) + x)
    }
}

impl BertLayer {
    /// `x`: `[batch, tokens, hidden]`; `key_bias` as in [`BertAttention::forward`]. Returns
    /// `[batch, tokens, hidden]`.
    pub fn forward(&self, x: Tensor<3>, key_bias: Tensor<4>) -> Tensor<3> {
        let a = self.attention.forward(x, key_bias);
        let f = self
            .output
            .forward(gelu(self.intermediate.forward(a.clone())));
        self.norm.forward(f + a)
    }
}

/// Elements per parallel task of [`gelu`].
const GELU_CHUNK: usize = 16_384;

/// GELU, `0.5 · x · (1 + erf(x / √2))`, element-wise on a tensor of any shape.
///
/// On the CPU backend (`Device::flex()`, f32) this is burn's own formula with the same `erff`
/// (the `libm` crate's), so the values are bit-identical to `activation::gelu`; burn applies it
/// on one thread, which made it about a sixth of an encoder pass on 2 cores, and this spreads it
/// over rayon's pool in fixed chunks (an element-wise map, so the thread count cannot change a
/// value). Other devices and dtypes use `activation::gelu`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if device != Device::flex() || x.dtype() != burn::tensor::DType::F32 {
        return activation::gelu(x);
    }
    let shape = x.shape();
    let mut values = x
        .into_data()
        .into_vec::<f32>()
        .expect("an f32 tensor holds f32 values");
    let sqrt2 = core::f32::consts::SQRT_2;
    values.par_chunks_mut(GELU_CHUNK).for_each(|chunk| {
        for v in chunk {
            *v = 0.5 * *v * (1.0 + libm::erff(*v / sqrt2));
        }
    });
    Tensor::from_data(TensorData::new(values, shape), &device)
}

impl BertModel {
    /// Token states `[batch, tokens, hidden]` for `ids` (`[batch, tokens]`, padded) and the
    /// attention `mask` (1 real, 0 padding). Segment ids are all 0 (single texts).
    ///
    /// # Panics
    ///
    /// If `ids` or `mask` does not hold `batch × tokens` entries, or `tokens` exceeds the
    /// position table (`max_position_embeddings`).
    pub fn forward(
        &self,
        ids: &[i64],
        mask: &[f32],
        batch: usize,
        tokens: usize,
        device: &Device,
    ) -> Tensor<3> {
        let ids =
            Tensor::<2, Int>::from_data(TensorData::new(ids.to_vec(), [batch, tokens]), device);
        let words = self.embeddings.word.forward(ids);
        let [_, hidden] = self.embeddings.position.weight.dims();
        let positions = self
            .embeddings
            .position
            .weight
            .val()
            .slice(0..tokens)
            .reshape([1, tokens, hidden]);
        let segment = self
            .embeddings
            .token_type
            .weight
            .val()
            .slice(0..1)
            .reshape([1, 1, hidden]);
        let mut x = self.embeddings.norm.forward(words + positions + segment);
        let bias: Vec<f32> = mask
            .iter()
            .map(|&m| if m > 0.0 { 0.0 } else { -1.0e9 })
            .collect();
        let key_bias = Tensor::<4>::from_data(TensorData::new(bias, [batch, 1, 1, tokens]), device);
        for layer in &self.layers {
            x = layer.forward(x, key_bias.clone());
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values over GELU's whole range, edge cases first: zeros of both signs, the erf branch
    /// points of fdlibm (|x|/√2 around 0.84375, 1.25, 2.857 and 4), tiny and large magnitudes.
    fn inputs(n: usize) -> Vec<f32> {
        let mut v = vec![
            0.0, -0.0, 1e-30, -1e-30, 1.19, -1.19, 1.77, -1.77, 4.04, -4.04, 5.66, -5.66, 12.0,
            -12.0, 1e30, -1e30,
        ];
        let mut s = 0x2545_f491_u32;
        while v.len() < n {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            v.push((s as f32 / u32::MAX as f32 - 0.5) * 16.0);
        }
        v
    }

    #[test]
    fn parallel_gelu_is_bit_identical_to_burns_whatever_the_thread_count() {
        let device = Device::flex();
        // Several chunks and a ragged last one.
        let n = 7 * (GELU_CHUNK / 2 + 11);
        let x = Tensor::<2>::from_data(TensorData::new(inputs(n), [n / 7, 7]), &device);
        let bits = |t: Tensor<2>| -> Vec<u32> {
            let v = t.into_data().into_vec::<f32>().unwrap();
            v.iter().map(|f| f.to_bits()).collect()
        };
        let burns = bits(activation::gelu(x.clone()));
        for threads in [1, 2, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let ours = bits(pool.install(|| gelu(x.clone())));
            assert!(ours == burns, "{threads} threads: GELU differs from burn's");
        }
        // A value that could fail: GELU(1) = 0.5·(1 + erf(1/√2)) ≈ 0.841345.
        let one = Tensor::<1>::from_data(TensorData::new(vec![1.0f32], [1]), &device);
        let g = gelu(one).into_data().into_vec::<f32>().unwrap()[0];
        assert!((g - 0.841_344_7).abs() < 1e-6, "GELU(1) = {g}");
    }
}
