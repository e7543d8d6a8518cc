#!/usr/bin/env bash
# GPU figures for issue 18 (docs/performance.md, "On a GPU: the vulkan device"), side by side with
# plain torch on the same GPU. Never used by tests or CI.
#
# Usage: scripts/bench-gpu.sh [BINARY]
#   BINARY   an activepref built with `--features activepref-model/vulkan`
#            (default target/release/activepref)
# Environment:
#   REAL_ROUNDS=N   also run N rounds of the paper-scale probe (BAL-PM, seed 9) with
#                   `model.device: vulkan`, to check bench-round's model against a real run
#                   (0, the default, skips it)
#   RUN_TIMEOUT=S   seconds the real run may take (default 900)
#   SKIP_BENCH=1    the real run alone (any other value, or unset, runs the benches)
#   OUT             where the logs go (default /tmp/bench-gpu): gpu.txt, bench-round.txt,
#                   bench-model.txt, torch.txt, run.txt, timings.csv
#
# Needs: the Vulkan loader (libvulkan.so.1) and the driver's Vulkan ICD; python3 with a CUDA torch
# for the peer row (skipped when it is missing).
set -uo pipefail
# Paths given relative to where the script was called from.
bin=$(realpath -m "${1:-$(dirname "$0")/../target/release/activepref}")
out=$(realpath -m "${OUT:-/tmp/bench-gpu}")
cd "$(dirname "$0")/.."
if [ ! -x "$bin" ]; then
  echo "scripts/bench-gpu.sh: $bin is not an executable; build it with --features activepref-model/vulkan" >&2
  exit 1
fi
mkdir -p "$out"
# NVIDIA's ICD where a container mounts the driver under /usr/local/nvidia (loaders from 1.3.207
# read VK_DRIVER_FILES, older ones VK_ICD_FILENAMES); a choice already made is kept.
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] && [ -f "$icd" ]; then
  export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd
fi

if [ "${SKIP_BENCH:-}" != 1 ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$out/gpu.txt"
  lscpu | grep -m1 "Model name" | tee -a "$out/gpu.txt"

  echo "## activepref bench-round --device vulkan"
  timeout 200 "$bin" bench-round --device vulkan 2>&1 | tee "$out/bench-round.txt"
  echo "## activepref bench-model --device vulkan --skip-encode"
  timeout 100 "$bin" bench-model --device vulkan --skip-encode 2>&1 | tee "$out/bench-model.txt"
  echo "## plain torch on the same GPU (scripts/torch_peer.py --device cuda --skip-encode)"
  if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    timeout 100 python3 scripts/torch_peer.py --device cuda --skip-encode 2>&1 | tee "$out/torch.txt"
  else
    echo "no CUDA torch in python3: peer row skipped" | tee "$out/torch.txt"
  fi
fi

rounds=${REAL_ROUNDS:-0}
if [ "$rounds" -gt 0 ]; then
  echo "## real run: paper-scale probe, BAL-PM seed 9, $rounds round(s), model.device: vulkan"
  # The run's results (5.9 GB of features are generated in memory; the kNN index is cached) go to
  # a scratch directory; its log and timings are copied to $out.
  run=$(mktemp -d)
  trap 'rm -rf "$run"' EXIT
  exp="$run/balpm-paperscale-vulkan.yaml"
  sed -e 's/^name: balpm-paperscale-synthetic$/name: balpm-paperscale-vulkan/' \
      -e 's/^model:$/model:\n  device: vulkan/' experiments/balpm-paperscale-synthetic.yaml > "$exp"
  id=$("$bin" sweep plan "$exp" | awk '$3 == "balpm" && $4 == 9 { print $1 }')
  if [ -z "$id" ]; then
    echo "scripts/bench-gpu.sh: no BAL-PM seed-9 run in $exp" >&2
    exit 1
  fi
  timeout "${RUN_TIMEOUT:-900}" "$bin" run "$exp" --out "$run/results" --only "$id" --max-rounds "$rounds" -q 2>&1 | tee "$out/run.txt"
  # A paused run keeps its rows and timings in its checkpoint (runs/<stem>.state.json).
  shopt -s nullglob
  python3 - "$run"/results/runs/*.state.json <<'PY' | tee "$out/timings.csv"
import json, sys
for path in sys.argv[1:]:
    state = json.load(open(path))
    timings, records = state["timings"], state["records"]
    keys = list(timings[0]) if timings else []
    print(",".join(keys + ["test_log_likelihood"]))
    for t, r in zip(timings, records):
        print(",".join(str(t[k]) for k in keys) + f",{r.get('test_log_likelihood', '')}")
PY
fi
