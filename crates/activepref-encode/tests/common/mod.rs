//! Shared by the encoder's integration tests.

use std::path::{Path, PathBuf};

/// The MiniLM model directory (`ACTIVEPREF_MINILM`, else `models/all-MiniLM-L6-v2` at the
/// repository root). A missing model FAILS the calling test: it must never pass without running.
pub fn model_dir() -> PathBuf {
    let dir = std::env::var_os("ACTIVEPREF_MINILM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2")
        });
    assert!(
        dir.join("model.safetensors").exists(),
        "COULD NOT RUN: the MiniLM model is not at {} (run scripts/fetch-minilm.sh, or set ACTIVEPREF_MINILM)",
        dir.display()
    );
    dir
}
