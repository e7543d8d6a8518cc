#!/usr/bin/env bash
# The Python package's checks (issue 22), run by scripts/test.sh after the Rust suite:
#  1. a venv in .venv-py with numpy, pytest, polars and pandas from PyPI (once);
#  2. `pip install ./python`: maturin (from PyPI, in pip's isolated build env) builds the abi3
#     wheel of python/ (its own cargo workspace: activepref-core + activepref-acquire + pyo3) and
#     installs it;
#  3. pytest on python/tests: the reference vectors of ../shared/vectors, the Rust library's golden
#     picks (python/tests/golden), hand-computed scores and every bad-input error;
#  4. `cargo fmt --check` and clippy with warnings as errors on the python crate.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv-py/bin/python ]; then
  "$python" -m venv .venv-py
fi
.venv-py/bin/python -m pip install --quiet --upgrade pip
.venv-py/bin/python -m pip install --quiet numpy pytest polars pandas
.venv-py/bin/python -m pip install --quiet --force-reinstall --no-deps ./python
.venv-py/bin/python -m pytest -q python/tests
cargo fmt --manifest-path python/Cargo.toml --check
cargo clippy --manifest-path python/Cargo.toml --release -- -D warnings
echo "scripts/test-python.sh: the wheel built and its tests, fmt and clippy passed"
