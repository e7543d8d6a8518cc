//! A BERT-family encoder on burn (Devlin et al. 2019): embeddings, post-norm self-attention
//! blocks, GELU feed-forward. One `Config` + `Module` per part, as in burn's examples; weights come
//! from a Hugging Face `model.safetensors` (see [`crate::weights`]).

use crate::dense::{DenseBert, blocks_forward};
use crate::gelu::gelu;
use crate::softmax::attention_probs;
use burn::module::Module;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

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
    #[module(skip)]
    /// The ε every layer norm of the model was made with (`layer_norm_eps` in `config.json`).
    pub layer_norm_eps: f64,
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
        let probs = attention_probs(q.matmul(k.swap_dims(2, 3)), (dh as f64).sqrt(), key_bias);
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

/// A padded batch of token-id sequences as [`BertModel::forward`] takes it: returns the ids
/// (`[batch, tokens]`, row-major, 0 after each sequence's end), the attention mask (1 for a real
/// token, 0 for padding) and `tokens`, the longest sequence's length.
pub fn padded_batch<S: AsRef<[u32]>>(ids: &[S]) -> (Vec<i64>, Vec<f32>, usize) {
    let b = ids.len();
    let t = ids.iter().map(|v| v.as_ref().len()).max().unwrap_or(0);
    let mut flat = vec![0i64; b * t];
    let mut mask = vec![0f32; b * t];
    for (r, v) in ids.iter().enumerate() {
        for (c, &id) in v.as_ref().iter().enumerate() {
            flat[r * t + c] = i64::from(id);
            mask[r * t + c] = 1.0;
        }
    }
    (flat, mask, t)
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
        self.forward_with(None, ids, mask, batch, tokens, device)
    }

    /// [`Self::forward`], with the blocks run on `dense` where the tensors allow it (f32 on
    /// `Device::flex()` without autodiff, at least one token): the same values bit for bit, with
    /// fewer buffers (see [`crate::dense`]). `dense` must have been made from this model
    /// ([`DenseBert::new`]); `None`, or one with another block count or width, runs burn's
    /// operations.
    ///
    /// # Panics
    ///
    /// As [`Self::forward`]; and if `dense` was made from a model whose blocks have other shapes
    /// (a projection of the wrong size).
    pub fn forward_with(
        &self,
        dense: Option<&DenseBert>,
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
        // burn's device equality ignores autodiff; a tracked tensor stays on burn's operations.
        let dense = dense.filter(|d| {
            d.len() == self.layers.len()
                && d.hidden() == hidden
                && *device == Device::flex()
                && !device.is_autodiff()
                && x.dtype() == DType::F32
                && batch * tokens > 0
        });
        if let Some(dense) = dense {
            return blocks_forward(dense, x, &bias);
        }
        let key_bias = Tensor::<4>::from_data(TensorData::new(bias, [batch, 1, 1, tokens]), device);
        for layer in &self.layers {
            x = layer.forward(x, key_bias.clone());
        }
        x
    }
}
