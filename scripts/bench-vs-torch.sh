#!/usr/bin/env bash
# Side by side on this machine: activepref (`activepref bench-model`) and plain torch
# (`scripts/torch_peer.py`) on the same shapes: ensemble training, scoring, the MiniLM encoder.
# Prints each figure, the ratio, the CPU model and the measured GEMM rate. Never used by tests or CI.
#
#   scripts/bench-vs-torch.sh --setup      # once: a venv with torch + sentence-transformers (PyPI, ~5 GB)
#   scripts/bench-vs-torch.sh              # both sides, default shapes (the paper's MLP, 5 members)
#   scripts/bench-vs-torch.sh --pairs 800 --rows 4096 --skip-encode    # smaller shapes
#
# The venv is .venv-bench (or $ACTIVEPREF_BENCH_VENV). The encoder row needs models/all-MiniLM-L6-v2
# (scripts/fetch-minilm.sh). Both sides use every core (`nproc`) unless THREADS is set.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ACTIVEPREF_BENCH_VENV:-.venv-bench}
THREADS=${THREADS:-$(nproc)}
if [[ "${1:-}" == "--setup" ]]; then
    shift
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet torch sentence-transformers
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    echo "error: no Python venv at $VENV; run scripts/bench-vs-torch.sh --setup first (torch + sentence-transformers from PyPI)" >&2
    exit 2
fi
cargo build --release --workspace --quiet
ours=$(./target/release/activepref --threads "$THREADS" bench-model "$@")
theirs=$("$VENV/bin/python" scripts/torch_peer.py --threads "$THREADS" "$@")
torch_version=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
value() { awk -v k="$1" '$1 == k { print $2 }' <<<"$2"; }
echo "machine: $(value cpu "$ours" | tr _ ' '), $THREADS threads; sgemm 2048³ (gemm crate): $(value sgemm_gflops "$ours") GFLOP/s; torch $torch_version"
line() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' <<<"$2"; }
echo "kernels, activepref: $(line kernels "$ours")"
echo "kernels, torch:      $(line kernels "$theirs")"
printf '%-44s %14s %14s %10s\n' "row" "activepref" "torch" "ratio"
row() { # label, key, unit, higher-is-better (1) or lower-is-better (0)
    local a b
    a=$(value "$2" "$ours"); b=$(value "$2" "$theirs")
    [[ -z "$a" || -z "$b" ]] && return 0
    awk -v l="$1" -v a="$a" -v b="$b" -v u="$3" -v h="$4" 'BEGIN {
        r = (h == 1) ? a / b : b / a;
        printf "%-44s %10.2f %-3s %10.2f %-3s %9.2fx\n", l, a, u, b, u, r }'
}
row "train (members x pairs, 1 epoch, batch 32)" train_secs s 0
row "score (rows x members, forward)" score_gflops GF/s 1
row "encode (64 x 128 tokens, batch 32)" encode_sentences_per_sec s/s 1
echo "ratio > 1: activepref is faster. Scoring at $(value score_gflops "$ours") GFLOP/s is $(awk -v a="$(value score_gflops "$ours")" -v g="$(value sgemm_gflops "$ours")" 'BEGIN{printf "%.0f", 100*a/g}')% of the measured GEMM rate."
