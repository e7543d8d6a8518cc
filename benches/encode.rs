//! Sentences per second of the MiniLM encoder for 128-token inputs (CPU backend). Needs the model
//! (scripts/fetch-minilm.sh, or ACTIVEPREF_MINILM). Target on 2 cores: ≥ 100 sentences/s.

use std::path::{Path, PathBuf};

use activepref_encode::TextEncoder;
use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn model_dir() -> PathBuf {
    std::env::var_os("ACTIVEPREF_MINILM")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2"))
}

fn encode(c: &mut Criterion) {
    let mut enc = TextEncoder::load(&model_dir(), &Device::flex())
        .expect("model: run scripts/fetch-minilm.sh");
    // 64 distinct inputs of exactly 128 tokens ([CLS] + 126 word pieces + [SEP]).
    let vocab_words: Vec<u32> = (2000..2000 + 64 * 126)
        .map(|i| 1000 + (i * 7919 % 28000) as u32)
        .collect();
    let inputs: Vec<Vec<u32>> = vocab_words.chunks(126).map(|w| enc.wrap(w)).collect();
    assert!(inputs.iter().all(|v| v.len() == 128));
    let mut g = c.benchmark_group("minilm_128_tokens");
    g.sample_size(10);
    g.throughput(Throughput::Elements(inputs.len() as u64));
    for batch in [16, 32, 64] {
        enc.batch_size = batch;
        g.bench_function(format!("batch{batch}"), |b| {
            b.iter(|| enc.encode_ids(&inputs).unwrap().rows())
        });
    }
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
