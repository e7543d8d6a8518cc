//! Loading a Hugging Face BERT checkpoint (`model.safetensors`) into [`BertModel`].
//!
//! PyTorch stores a linear layer's weight as `[out, in]`; burn's `Linear` holds `[in, out]`, so
//! weights are transposed on load. Every tensor's shape is checked against `config.json`, so a
//! checkpoint of another size is a clear error, never a panic inside a matmul.

use std::path::Path;

use activepref_data::feature_store::decode_floats;
use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;

use crate::EncodeError;
use crate::bert::{BertAttention, BertEmbeddings, BertLayer, BertModel};
use crate::config::BertConfig;

struct Checkpoint<'a> {
    st: SafeTensors<'a>,
    prefix: &'static str,
    path: &'a Path,
}

impl Checkpoint<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, EncodeError> {
        let full = format!("{}{name}", self.prefix);
        let view = self.st.tensor(&full).map_err(|_| {
            EncodeError::file(self.path, format!("no tensor `{full}`"))
                .with_hint("this is not a BERT-family checkpoint matching config.json")
        })?;
        if view.shape() != shape {
            return Err(EncodeError::file(
                self.path,
                format!("tensor `{full}` has shape {:?} but config.json implies {shape:?}", view.shape()),
            )
            .with_hint("config.json and model.safetensors come from different models (hidden_size, intermediate_size or vocab_size differ)"));
        }
        let v = decode_floats(view.dtype(), view.data())
            .map_err(|m| EncodeError::file(self.path, format!("tensor `{full}`: {m}")))?;
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(EncodeError::file(
                self.path,
                format!("tensor `{full}` holds a non-finite value at {i}"),
            ));
        }
        Ok(v)
    }

    fn linear(
        &self,
        name: &str,
        d_in: usize,
        d_out: usize,
        device: &Device,
    ) -> Result<Linear, EncodeError> {
        let w = self.get(&format!("{name}.weight"), &[d_out, d_in])?;
        let mut t = vec![0f32; w.len()];
        for o in 0..d_out {
            for i in 0..d_in {
                t[i * d_out + o] = w[o * d_in + i];
            }
        }
        let b = self.get(&format!("{name}.bias"), &[d_out])?;
        Ok(Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(t, [d_in, d_out]),
                device,
            )),
            bias: Some(Param::from_tensor(Tensor::from_data(
                TensorData::new(b, [d_out]),
                device,
            ))),
        })
    }

    fn norm(
        &self,
        name: &str,
        d: usize,
        eps: f64,
        device: &Device,
    ) -> Result<LayerNorm, EncodeError> {
        let mut n = LayerNormConfig::new(d).with_epsilon(eps).init(device);
        n.gamma = Param::from_tensor(Tensor::from_data(
            TensorData::new(self.get(&format!("{name}.weight"), &[d])?, [d]),
            device,
        ));
        n.beta = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(self.get(&format!("{name}.bias"), &[d])?, [d]),
            device,
        )));
        Ok(n)
    }

    fn embedding(
        &self,
        name: &str,
        rows: usize,
        d: usize,
        device: &Device,
    ) -> Result<Embedding, EncodeError> {
        let w = self.get(&format!("{name}.weight"), &[rows, d])?;
        Ok(Embedding {
            weight: Param::from_tensor(Tensor::from_data(TensorData::new(w, [rows, d]), device)),
        })
    }
}

/// Reads `model.safetensors` into a [`BertModel`] shaped by `cfg`.
///
/// # Errors
///
/// An [`EncodeError`] naming the file when it cannot be read, is not safetensors, or lacks a
/// tensor `cfg` needs or holds one of another shape or dtype.
pub fn load_bert(path: &Path, cfg: &BertConfig, device: &Device) -> Result<BertModel, EncodeError> {
    let bytes =
        std::fs::read(path).map_err(|e| EncodeError::file(path, format!("cannot read: {e}")))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        EncodeError::file(path, format!("not a valid safetensors file: {e}"))
            .with_hint("download the model again")
    })?;
    let prefix = if st.names().iter().any(|n| n.starts_with("bert.embeddings.")) {
        "bert."
    } else {
        ""
    };
    let ck = Checkpoint { st, prefix, path };
    let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
    let embeddings = BertEmbeddings {
        word: ck.embedding("embeddings.word_embeddings", cfg.vocab_size, h, device)?,
        position: ck.embedding(
            "embeddings.position_embeddings",
            cfg.max_position_embeddings,
            h,
            device,
        )?,
        token_type: ck.embedding(
            "embeddings.token_type_embeddings",
            cfg.type_vocab_size,
            h,
            device,
        )?,
        norm: ck.norm("embeddings.LayerNorm", h, eps, device)?,
    };
    let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
    for l in 0..cfg.num_hidden_layers {
        let p = format!("encoder.layer.{l}");
        layers.push(BertLayer {
            attention: BertAttention {
                query: ck.linear(&format!("{p}.attention.self.query"), h, h, device)?,
                key: ck.linear(&format!("{p}.attention.self.key"), h, h, device)?,
                value: ck.linear(&format!("{p}.attention.self.value"), h, h, device)?,
                output: ck.linear(&format!("{p}.attention.output.dense"), h, h, device)?,
                norm: ck.norm(&format!("{p}.attention.output.LayerNorm"), h, eps, device)?,
                heads: cfg.num_attention_heads,
            },
            intermediate: ck.linear(
                &format!("{p}.intermediate.dense"),
                h,
                cfg.intermediate_size,
                device,
            )?,
            output: ck.linear(
                &format!("{p}.output.dense"),
                cfg.intermediate_size,
                h,
                device,
            )?,
            norm: ck.norm(&format!("{p}.output.LayerNorm"), h, eps, device)?,
        });
    }
    Ok(BertModel {
        embeddings,
        layers,
        layer_norm_eps: eps,
    })
}
