#!/usr/bin/env bash
# The GPU build that needs only the package registries, compiled so it cannot rot (issue 18;
# README "Backends"). The test command (scripts/test.sh) runs it; CI has no GPU.
#
# Route: burn-tch (the `tch` feature of activepref-model, device `libtorch_cuda`) over libtorch
# 2.9.0 as PyPI's `torch==2.9.0` wheel ships it, the CUDA 12.8 build. burn's own `cuda` feature is
# not buildable here: cubecl-cuda always depends on cubecl-llvm, whose build script downloads
# LLVM 23 from GitHub (tracel-llvm-bundler).
#
# What it does: downloads the wheel (900 MB, no dependencies) once into target/torch-2.9.0-cuda,
# checks that it is the CUDA build, unpacks its C++ headers (36 MB), then runs `cargo check` of the CLI
# with the `tch` feature. That compiles torch-sys's C++ wrapper against the CUDA build's headers
# and type-checks every line of Rust behind the feature. It does not link: linking and running
# need the CUDA libraries (`pip install torch==2.9.0`, about 6.7 GB; the recipe is in the README).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/torch-2.9.0-cuda
if [ ! -f "$dir/torch/include/torch/csrc/api/include/torch/torch.h" ]; then
  rm -rf "$dir"
  mkdir -p "$dir/wheel"
  python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
    -d "$dir/wheel" torch==2.9.0
  wheel=$(ls "$dir"/wheel/torch-2.9.0-*.whl)
  python3 - "$wheel" "$dir" <<'EOF'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    if "torch/lib/libtorch_cuda.so" not in names:
        sys.exit(f"{wheel}: not the CUDA build of torch (no torch/lib/libtorch_cuda.so)")
    z.extractall(out, [n for n in names if n.startswith("torch/include/")])
EOF
  rm -rf "$dir/wheel"
fi
LIBTORCH="$PWD/$dir/torch" LIBTORCH_CXX11_ABI=1 \
  cargo check --release -p activepref-cli --features activepref-model/tch
echo "scripts/check-gpu-build.sh: the libtorch (CUDA) build compiles"
