#!/usr/bin/env bash
# The GPU builds that need only the package registries, compiled so they cannot rot (issue 18;
# README "Backends"). The test command (scripts/test.sh) runs it; CI has no GPU.
#
# Route 1: burn's wgpu backend pinned to Vulkan (the `vulkan` feature of activepref-model, device
# `vulkan`): pure Rust from crates.io, SPIR-V kernels; running needs only the Vulkan loader and the
# GPU driver's ICD. Measured on an H200 (docs/performance.md, "On a GPU").
#
# Route 2: burn-tch (the `tch` feature of activepref-model, device `libtorch_cuda`) over libtorch
# 2.9.0 as PyPI's `torch==2.9.0` wheel ships it, the CUDA 12.8 build. burn's own `cuda` feature is
# not buildable here: cubecl-cuda always depends on cubecl-llvm, whose build script downloads
# LLVM 23 from GitHub (tracel-llvm-bundler).
#
# What it does: downloads the wheel (900 MB, no dependencies) once into target/torch-2.9.0-cuda,
# checks that it is the CUDA build, unpacks its C++ headers (36 MB), then runs one `cargo check` of
# the CLI with both features, `vulkan` and `tch`. For route 2 that compiles torch-sys's C++ wrapper against those headers and
# type-checks every line of Rust behind the feature. It does not link, so nothing CUDA-specific is
# compiled: linking and running need the CUDA libraries (`pip install torch==2.9.0`, about 6.7 GB;
# the recipe is in the README).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/torch-2.9.0-cuda
# The headers are unpacked into a scratch directory and moved into place whole, so an interrupted
# run leaves nothing that a later run would take for a finished one. They live under target/:
# `cargo clean` (or a CI that keeps no target/) downloads the wheel again.
if [ ! -d "$dir/torch/include" ]; then
  rm -rf "$dir" "$dir.partial"
  mkdir -p "$dir.partial/wheel"
  python3 -m pip download --quiet --no-cache-dir --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp \
    -d "$dir.partial/wheel" torch==2.9.0
  wheel=$(ls "$dir.partial"/wheel/torch-2.9.0-*.whl)
  python3 - "$wheel" "$dir.partial" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    if "torch/lib/libtorch_cuda.so" not in names:
        sys.exit(f"{wheel}: not the CUDA build of torch (no torch/lib/libtorch_cuda.so)")
    z.extractall(out, [n for n in names if n.startswith("torch/include/")])
PY
  rm -rf "$dir.partial/wheel"
  mv "$dir.partial" "$dir"
fi
# torch-sys reads these first when they are set; the check must use the wheel's headers.
env -u LIBTORCH_USE_PYTORCH -u LIBTORCH_INCLUDE -u LIBTORCH_LIB -u LIBTORCH_STATIC \
  LIBTORCH="$PWD/$dir/torch" LIBTORCH_CXX11_ABI=1 \
  cargo check --release -p activepref-cli --features activepref-model/tch,activepref-model/vulkan
echo "scripts/check-gpu-build.sh: the vulkan build (device vulkan) and the tch build (device libtorch_cuda) type-check, and torch-sys's C++ wrapper compiles against the CUDA wheel's torch 2.9.0 headers"
