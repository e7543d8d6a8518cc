//! Bad models and bad inputs: clear one-line errors, never a panic.

use crate::common;

use std::path::Path;

use common::model_dir;

use activepref_encode::{Encoder, TextEncoder};
use burn::tensor::Device;

/// A copy of the model directory (weights linked, not copied) with `config.json` edited, in a
/// scratch directory removed (links, not their targets) when the returned `TempDir` is dropped.
fn variant(name: &str, edit: impl Fn(&mut serde_json::Value)) -> tempfile::TempDir {
    let src = model_dir();
    let tmp = tempfile::Builder::new()
        .prefix(&format!("activepref-model-{name}-"))
        .tempdir()
        .unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("1_Pooling")).unwrap();
    for f in ["model.safetensors", "tokenizer.json"] {
        std::os::unix::fs::symlink(std::fs::canonicalize(src.join(f)).unwrap(), dir.join(f))
            .unwrap();
    }
    for f in [
        "sentence_bert_config.json",
        "modules.json",
        "1_Pooling/config.json",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    edit(&mut cfg);
    std::fs::write(dir.join("config.json"), cfg.to_string()).unwrap();
    tmp
}

fn load_err(dir: &Path) -> String {
    let e = TextEncoder::load(dir, &Device::flex())
        .err()
        .expect("must fail")
        .to_string();
    assert!(!e.contains('\n'), "{e}");
    e
}

#[test]
fn missing_model_says_how_to_get_it() {
    let e = load_err(Path::new("/nonexistent/minilm"));
    assert!(
        e.contains("/nonexistent/minilm: no model.safetensors + tokenizer.json here")
            && e.contains("scripts/fetch-minilm.sh"),
        "{e}"
    );
}

#[test]
fn wrong_hidden_size_names_the_tensor() {
    let dir = variant("hidden", |c| c["hidden_size"] = 768.into());
    let e = load_err(dir.path());
    assert!(e.contains("model.safetensors: tensor `embeddings.word_embeddings.weight` has shape [30522, 384] but config.json implies [30522, 768]"), "{e}");
}

#[test]
fn tokenizer_model_mismatch_is_refused() {
    let dir = variant("vocab", |c| c["vocab_size"] = 1000.into());
    let e = load_err(dir.path());
    assert!(
        e.contains(
            "tokenizer.json: the tokenizer has 30522 tokens but config.json's vocab_size is 1000"
        ),
        "{e}"
    );
}

#[test]
fn unsupported_activation_and_bad_heads_are_refused() {
    let dir = variant("act", |c| c["hidden_act"] = "relu".into());
    let e = load_err(dir.path());
    assert!(e.contains("hidden_act `relu` is not supported"), "{e}");
    let dir = variant("heads", |c| c["num_attention_heads"] = 7.into());
    let e = load_err(dir.path());
    assert!(
        e.contains("hidden_size 384 is not a multiple of num_attention_heads 7"),
        "{e}"
    );
}

#[test]
fn over_long_and_empty_inputs_are_cut_or_encoded_never_panicking() {
    let enc = TextEncoder::load(&model_dir(), &Device::flex()).unwrap();
    let long = "token ".repeat(5000);
    let m = enc.encode(&[long.as_str(), "", " "]).unwrap();
    assert_eq!((m.rows(), m.dim()), (3, 384));
    // Empty and whitespace-only texts are both [CLS] [SEP]: the same vector, unit length.
    assert_eq!(m.row(1), m.row(2));
    let norm: f64 = m
        .row(1)
        .iter()
        .map(|&x| f64::from(x).powi(2))
        .sum::<f64>()
        .sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    // Token-level inputs that break the contract are errors, not panics.
    let e = enc.encode_ids(&[vec![]]).unwrap_err().to_string();
    assert!(
        e.contains("input 0 has 0 tokens; 1..=256 are allowed"),
        "{e}"
    );
    let e = enc
        .encode_ids(&[vec![101, 40000, 102]])
        .unwrap_err()
        .to_string();
    assert!(e.contains("beyond the model's vocab_size 30522"), "{e}");
}
