//! `activepref._native`: the compiled half of the Python package (issue 22).
//!
//! The Python wrapper (`activepref/__init__.py`) checks argument types, dtypes and shapes and
//! hands this module C-contiguous arrays of the right dtype; everything that needs the library's
//! own knowledge (policy parameters, index ranges, NaN, batch sizes) is checked here and comes
//! back as a `ValueError` with a one-line message. Selection runs without the GIL, on a rayon pool
//! of `threads` threads when given. Random streams are derived exactly as the pool loop derives
//! them (`rng_for(seed, Policy, [round])`, scores `[round, 1]`; `rng_for(seed, Policy, [prompt])`
//! for a pair rule), so the same seed gives the same picks as the CLI and the Rust library.

use activepref_acquire::{PairPolicySpec, PolicySpec};
use activepref_core::{FeatureMatrix, PromptFeatures};
use std::collections::HashSet;

use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

fn value_error(message: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(message.to_string())
}

/// Runs `f` on a rayon pool of `threads` threads (the global pool when `None`).
fn on_threads<T: Send>(threads: Option<usize>, f: impl FnOnce() -> T + Send) -> Result<T, String> {
    match threads {
        None => Ok(f()),
        Some(n) if !(1..=1024).contains(&n) => Err(format!(
            "threads: {n} is not between 1 and 1024 (None: all cores)"
        )),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map(|pool| pool.install(f))
            .map_err(|e| format!("threads: could not start {n} threads: {e}")),
    }
}

/// The data of a C-contiguous array, or a one-line error naming it.
fn contiguous<'a, T: numpy::Element, D: numpy::ndarray::Dimension>(
    name: &str,
    x: &'a numpy::PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    x.as_slice()
        .map_err(|_| value_error(format!("{name}: expected a C-contiguous array")))
}

/// `[rows, dim]` float32 data as the library's prompt features (one copy, then bit-identical rows
/// merged; NaN and infinity are errors). Called without the GIL.
fn to_prompt_features(
    name: &str,
    rows: usize,
    dim: usize,
    data: &[f32],
) -> Result<PromptFeatures, String> {
    FeatureMatrix::new(rows, dim, data.to_vec())
        .map(PromptFeatures::from)
        .map_err(|e| format!("{name}: {e}"))
}

/// Pool indices from an int64 array: each in `0..pool`, none twice.
fn indices(name: &str, x: &PyReadonlyArray1<'_, i64>, pool: usize) -> PyResult<Vec<usize>> {
    let mut seen = HashSet::new();
    contiguous(name, x)?
        .iter()
        .map(|&i| {
            if i < 0 || i as usize >= pool {
                Err(value_error(format!(
                    "{name}: index {i} is outside the pool of {pool} comparisons"
                )))
            } else if !seen.insert(i) {
                Err(value_error(format!("{name}: index {i} appears twice")))
            } else {
                Ok(i as usize)
            }
        })
        .collect()
}

mod pair;
mod pool;

use pair::_select_pairs;
use pool::{_scores, _select, KnnIndex};

/// Every pool policy with its default parameters, as JSON (the registry the YAML parser reads).
#[pyfunction]
fn _policies() -> String {
    serde_json::to_string(&PolicySpec::all()).expect("the registry serialises")
}

/// Every pair rule with its default parameters, as JSON.
#[pyfunction]
fn _pair_policies() -> String {
    serde_json::to_string(&PairPolicySpec::all()).expect("the registry serialises")
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<KnnIndex>()?;
    m.add_function(wrap_pyfunction!(_select, m)?)?;
    m.add_function(wrap_pyfunction!(_scores, m)?)?;
    m.add_function(wrap_pyfunction!(_select_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(_policies, m)?)?;
    m.add_function(wrap_pyfunction!(_pair_policies, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
