//! # activepref-encode
//!
//! Owns the **features** arrow: text in, frozen-encoder feature vectors out. A BERT-family
//! transformer on burn ([`bert`]) loaded from a Hugging Face `model.safetensors` + `config.json`
//! ([`weights`], [`config`]), tokenised with the HF `tokenizers` crate from `tokenizer.json`, and
//! pooled as sentence-transformers does (mean / CLS / last token, optional L2 normalisation).
//! The target model is sentence-transformers' all-MiniLM-L6-v2 (384-d); its golden vectors from
//! sentence-transformers are in `tests/golden/`. [`featurize`] turns a dataset into a feature store.

#![warn(missing_docs)]

pub mod bert;
pub mod config;
pub mod dense;
pub mod featurize;
pub mod gelu;
pub mod softmax;
pub mod weights;

use std::path::{Path, PathBuf};

use activepref_core::FeatureMatrix;
use activepref_data::error::{hint_part, one_line};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;
use tokenizers::{Tokenizer, TruncationParams};

pub use config::{BertConfig, ModelFiles, Pooling};

/// An encoding error, one line: `file: what (how to fix)`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {}{}", .file.display(), one_line(.message), hint_part(.hint))]
pub struct EncodeError {
    /// The file (or model directory) the error is about.
    pub file: PathBuf,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is a known fix.
    pub hint: Option<String>,
}

impl EncodeError {
    /// An error about `file`, without a hint.
    pub fn file(file: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Self {
            file: file.as_ref().to_path_buf(),
            message: message.into(),
            hint: None,
        }
    }

    /// Adds the "how to fix it" part.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Text → one feature vector per text (DESIGN.md's `Encoder` seam).
pub trait Encoder: Send + Sync {
    /// Width of the vectors.
    fn dim(&self) -> usize;
    /// One row per text, in order: a `texts.len() × dim` matrix.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] when a text cannot be tokenised or maps to a token the model does not
    /// know, or the model produces a NaN or infinite value.
    fn encode(&self, texts: &[&str]) -> Result<FeatureMatrix, EncodeError>;
}

/// A BERT-family sentence encoder loaded from a model directory.
pub struct TextEncoder {
    files: ModelFiles,
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation, to report how long a text really is.
    untruncated: Tokenizer,
    cls: u32,
    sep: u32,
    model: bert::BertModel,
    /// The model's block weights as plain arrays, on the CPU backend (see [`dense`]).
    dense: Option<dense::DenseBert>,
    device: Device,
    /// Texts per forward pass.
    pub batch_size: usize,
}

impl TextEncoder {
    /// Loads `dir` (`config.json`, `model.safetensors`, `tokenizer.json`, and the
    /// sentence-transformers files when present) onto `device`.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] naming the file when a file is missing or malformed, the tokenizer has
    /// more tokens than `vocab_size` or no `[CLS]`/`[SEP]` token, or the weights do not match
    /// `config.json`.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, EncodeError> {
        let files = ModelFiles::read(dir)?;
        let tok_path = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| EncodeError::file(&tok_path, format!("not a valid tokenizer: {e}")))?;
        let mut untruncated = tokenizer.clone();
        untruncated
            .with_truncation(None)
            .map_err(|e| EncodeError::file(&tok_path, format!("cannot unset truncation: {e}")))?;
        untruncated.with_padding(None);
        // Our own truncation and padding: the file's (128 tokens, fixed padding for MiniLM) is for
        // other uses; sentence-transformers truncates at max_seq_length and pads per batch.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: files.max_seq_length,
                ..Default::default()
            }))
            .map_err(|e| EncodeError::file(&tok_path, format!("cannot set truncation: {e}")))?;
        tokenizer.with_padding(None);
        let vocab = tokenizer.get_vocab_size(true);
        if vocab > files.bert.vocab_size {
            return Err(EncodeError::file(
                &tok_path,
                format!(
                    "the tokenizer has {vocab} tokens but config.json's vocab_size is {}",
                    files.bert.vocab_size
                ),
            )
            .with_hint("tokenizer.json and the model come from different checkpoints"));
        }
        let special = |t: &str| {
            tokenizer.token_to_id(t).ok_or_else(|| {
                EncodeError::file(&tok_path, format!("no `{t}` token"))
                    .with_hint("only BERT-style tokenizers ([CLS] ... [SEP]) are supported")
            })
        };
        let (cls, sep) = (special("[CLS]")?, special("[SEP]")?);
        let model = weights::load_bert(&dir.join("model.safetensors"), &files.bert, device)?;
        let dense = (*device == Device::flex() && !device.is_autodiff())
            .then(|| dense::DenseBert::new(&model))
            .flatten();
        Ok(Self {
            files,
            tokenizer,
            untruncated,
            cls,
            sep,
            model,
            dense,
            device: device.clone(),
            batch_size: 32,
        })
    }

    /// The model directory's files and settings (BERT config, pooling, normalisation, sequence length).
    pub fn files(&self) -> &ModelFiles {
        &self.files
    }

    fn tokenize(
        &self,
        tokenizer: &Tokenizer,
        text: &str,
        special_tokens: bool,
    ) -> Result<tokenizers::Encoding, EncodeError> {
        tokenizer.encode(text, special_tokens).map_err(|e| {
            EncodeError::file(
                self.files.dir.join("tokenizer.json"),
                format!("cannot tokenise: {e}"),
            )
        })
    }

    /// Token ids of `text` after truncation (`[CLS]` … `[SEP]` included).
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] when the tokenizer fails on `text`.
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, EncodeError> {
        Ok(self
            .tokenize(&self.tokenizer, text, true)?
            .get_ids()
            .to_vec())
    }

    /// Token ids of `text` without special tokens and without truncation.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] when the tokenizer fails on `text`.
    pub fn plain_ids(&self, text: &str) -> Result<Vec<u32>, EncodeError> {
        Ok(self
            .tokenize(&self.untruncated, text, false)?
            .get_ids()
            .to_vec())
    }

    /// `[CLS]` + `body` + `[SEP]`, with `body` cut to fit `max_seq_length`.
    pub fn wrap(&self, body: &[u32]) -> Vec<u32> {
        let keep = body.len().min(self.files.max_seq_length - 2);
        let mut v = Vec::with_capacity(keep + 2);
        v.push(self.cls);
        v.extend_from_slice(&body[..keep]);
        v.push(self.sep);
        v
    }

    /// Tokens available between `[CLS]` and `[SEP]`.
    pub fn body_budget(&self) -> usize {
        self.files.max_seq_length - 2
    }

    /// How many tokens `text` has before truncation.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] when the tokenizer fails on `text`.
    pub fn untruncated_len(&self, text: &str) -> Result<usize, EncodeError> {
        Ok(self.tokenize(&self.untruncated, text, true)?.len())
    }

    fn encode_batch(&self, ids: &[&Vec<u32>]) -> Vec<Vec<f32>> {
        let b = ids.len();
        let (flat, mask, t) = bert::padded_batch(ids);
        let states = self
            .model
            .forward_with(self.dense.as_ref(), &flat, &mask, b, t, &self.device);
        let h = self.files.bert.hidden_size;
        let pooled: Tensor<2> = match self.files.pooling {
            Pooling::Mean => {
                let m =
                    Tensor::<3>::from_data(TensorData::new(mask.clone(), [b, t, 1]), &self.device);
                let sum = (states * m.clone()).sum_dim(1).reshape([b, h]);
                let count = m.sum_dim(1).reshape([b, 1]).clamp_min(1e-9);
                sum / count
            }
            Pooling::Cls => states.slice([0..b, 0..1, 0..h]).reshape([b, h]),
            Pooling::LastToken => {
                let rows: Vec<Tensor<2>> = ids
                    .iter()
                    .enumerate()
                    .map(|(r, v)| {
                        states
                            .clone()
                            .slice([r..r + 1, v.len() - 1..v.len(), 0..h])
                            .reshape([1, h])
                    })
                    .collect();
                Tensor::cat(rows, 0)
            }
        };
        let data = pooled.into_data();
        let flat: &[f32] = data.as_slice::<f32>().expect("f32 states");
        flat.chunks(h)
            .map(|row| {
                let mut row = row.to_vec();
                if self.files.normalize {
                    // sentence-transformers' Normalize: x / max(‖x‖₂, 1e-12), the norm accumulated in f64.
                    let norm = row
                        .iter()
                        .map(|&x| f64::from(x) * f64::from(x))
                        .sum::<f64>()
                        .sqrt()
                        .max(1e-12);
                    row.iter_mut()
                        .for_each(|x| *x = (f64::from(*x) / norm) as f32);
                }
                row
            })
            .collect()
    }
}

impl Encoder for TextEncoder {
    fn dim(&self) -> usize {
        self.files.bert.hidden_size
    }

    /// Tokenises every text, sorts by length so batches carry little padding, runs the batches in
    /// parallel (rayon), and returns rows in input order. Texts longer than `max_seq_length` tokens
    /// are truncated at the end, as sentence-transformers does.
    fn encode(&self, texts: &[&str]) -> Result<FeatureMatrix, EncodeError> {
        let ids: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|t| self.token_ids(t))
            .collect::<Result<_, _>>()?;
        self.encode_ids(&ids)
    }
}

impl TextEncoder {
    /// Encodes already tokenised inputs (special tokens included, at most `max_seq_length` each)
    /// into an `ids.len() × dim` matrix, in input order.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] when an input is empty or longer than `max_seq_length`, holds a token id
    /// `≥ vocab_size`, or the model produces a NaN or infinite value.
    pub fn encode_ids(&self, ids: &[Vec<u32>]) -> Result<FeatureMatrix, EncodeError> {
        if let Some(i) = ids
            .iter()
            .position(|v| v.is_empty() || v.len() > self.files.max_seq_length)
        {
            return Err(EncodeError::file(
                &self.files.dir,
                format!(
                    "input {i} has {} tokens; 1..={} are allowed",
                    ids[i].len(),
                    self.files.max_seq_length
                ),
            ));
        }
        let vocab = self.files.bert.vocab_size as u32;
        if let Some((i, _)) = ids
            .iter()
            .enumerate()
            .find(|(_, v)| v.iter().any(|&id| id >= vocab))
        {
            return Err(EncodeError::file(
                self.files.dir.join("tokenizer.json"),
                format!("text {i} maps to a token id beyond the model's vocab_size {vocab}"),
            )
            .with_hint("tokenizer.json and the model come from different checkpoints"));
        }
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| (ids[i].len(), i));
        let batches: Vec<&[usize]> = order.chunks(self.batch_size.max(1)).collect();
        let outputs: Vec<Vec<Vec<f32>>> = batches
            .par_iter()
            .map(|chunk| self.encode_batch(&chunk.iter().map(|&i| &ids[i]).collect::<Vec<_>>()))
            .collect();
        let h = self.dim();
        let mut data = vec![0f32; ids.len() * h];
        for (chunk, rows) in batches.iter().zip(outputs) {
            for (&i, row) in chunk.iter().zip(rows) {
                data[i * h..(i + 1) * h].copy_from_slice(&row);
            }
        }
        FeatureMatrix::new(ids.len(), h, data)
            .map_err(|e| EncodeError::file(&self.files.dir, format!("the encoder produced {e}")))
    }
}
