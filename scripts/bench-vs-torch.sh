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
#
# The two sides run alternately ROUNDS times (default 3: ours, torch, ours, torch, ...) and each
# row compares the best figure of each side, with the range of the per-round ratios beside it: a
# VM's speed can drift by a third within the hour, and one run of each side back to back would
# measure that drift as much as the code.
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
ROUNDS=${ROUNDS:-3}
if [[ ! "$ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
    echo "error: ROUNDS=$ROUNDS; set it to a whole number of rounds, 1 or more (default 3)" >&2
    exit 2
fi
ours_runs=(); theirs_runs=()
for ((r = 1; r <= ROUNDS; r++)); do
    echo "round $r of $ROUNDS: activepref, then torch" >&2
    ours_runs+=("$(./target/release/activepref --threads "$THREADS" bench-model "$@")")
    theirs_runs+=("$("$VENV/bin/python" scripts/torch_peer.py --threads "$THREADS" "$@")")
done
ours=${ours_runs[0]}; theirs=${theirs_runs[0]}
torch_version=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
# a key's value in one run's output; an empty line where the run has no such key
value() { awk -v k="$1" '$1 == k && !f { print $2; f = 1 } END { if (!f) print "" }' <<<"$2"; }
# every round's value of a key, one line per round (empty where that round has no such key)
values() { local k=$1; shift; local run; for run in "$@"; do value "$k" "$run"; done; }
best() { # key, higher-is-better (1) or lower-is-better (0), runs...
    local k=$1 h=$2; shift 2
    values "$k" "$@" | awk -v h="$h" 'NF { if (n == 0 || (h == 1 ? $1 > b : $1 < b)) b = $1; n++ } END { if (n) print b }'
}
line() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' <<<"$2"; }
sgemm=$(best sgemm_gflops 1 "${ours_runs[@]}")
echo "machine: $(value cpu "$ours" | tr _ ' '), $THREADS threads; sgemm 2048³ (gemm crate, best of $ROUNDS): $sgemm GFLOP/s ($(values sgemm_gflops "${ours_runs[@]}" | paste -sd' ')); torch $torch_version"
echo "kernels, activepref: $(line kernels "$ours")"
echo "kernels, torch:      $(line kernels "$theirs")"
printf '%-44s %14s %14s %10s  %s\n' "row (best of $ROUNDS rounds each)" "activepref" "torch" "ratio" "per-round ratios"
row() { # label, key, unit, higher-is-better (1) or lower-is-better (0)
    local a b per
    a=$(best "$2" "$4" "${ours_runs[@]}"); b=$(best "$2" "$4" "${theirs_runs[@]}")
    [[ -z "$a" || -z "$b" ]] && return 0
    per=$(paste <(values "$2" "${ours_runs[@]}") <(values "$2" "${theirs_runs[@]}") |
        awk -v h="$4" 'NF == 2 { printf "%s%.2fx", (n++ ? " " : ""), (h == 1) ? $1 / $2 : $2 / $1 }')
    awk -v l="$1" -v a="$a" -v b="$b" -v u="$3" -v h="$4" -v p="$per" 'BEGIN {
        r = (h == 1) ? a / b : b / a;
        printf "%-44s %10.2f %-3s %10.2f %-3s %9.2fx  %s\n", l, a, u, b, u, r, p }'
}
row "train (members x pairs, 1 epoch, batch 32)" train_secs s 0
row "score (rows x members, forward)" score_gflops GF/s 1
row "encode (64 x 128 tokens, batch 32)" encode_sentences_per_sec s/s 1
score=$(best score_gflops 1 "${ours_runs[@]}")
echo "ratio > 1: activepref is faster."
if [[ -n "$score" && -n "$sgemm" ]]; then
    echo "Scoring at $score GFLOP/s is $(awk -v a="$score" -v g="$sgemm" 'BEGIN{ if (g > 0) printf "%.0f", 100*a/g; else printf "?" }')% of the best measured GEMM rate."
fi
