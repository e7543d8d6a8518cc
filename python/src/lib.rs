//! `activepref._native`: the compiled half of the Python package (issue 22).
//!
//! The Python wrapper (`activepref/__init__.py`) checks argument types, dtypes and shapes and
//! hands this module C-contiguous arrays of the right dtype; everything that needs the library's
//! own knowledge (policy parameters, index ranges, NaN, batch sizes) is checked here and comes
//! back as a `ValueError` with a one-line message. Selection runs without the GIL, on a rayon pool
//! of `threads` threads when given. Random streams are derived exactly as the pool loop derives
//! them (`rng_for(seed, Policy, [round])`, scores `[round, 1]`; `rng_for(seed, Policy, [prompt])`
//! for a pair rule), so the same seed gives the same picks as the CLI and the Rust library.

use std::collections::HashSet;
use std::sync::Arc;

use activepref_acquire::{
    CandidateScores, PairMode, PairPolicySpec, PolicySpec, PoolState, PromptKnnIndex,
    UncertaintyScore,
};
use activepref_core::seeds::{Stream, rng_for};
use activepref_core::{EnsemblePrediction, FeatureMatrix, PromptFeatures};
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
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

/// An exact kNN index over the prompt features of a pool, built once and reused by every
/// `select(..., index=...)` call on that pool (BAL-PM's entropy term without an all-pairs pass).
#[pyclass(frozen, module = "activepref._native")]
struct KnnIndex {
    features: PromptFeatures,
    index: Arc<PromptKnnIndex>,
}

#[pymethods]
impl KnnIndex {
    /// `prompt_features`: float32 `[pool, d]`; `k`: the largest BAL-PM `k` it will serve.
    #[new]
    fn new(py: Python<'_>, prompt_features: PyReadonlyArray2<'_, f32>, k: usize) -> PyResult<Self> {
        if k == 0 {
            return Err(value_error("k: must be at least 1"));
        }
        let (rows, dim) = (prompt_features.shape()[0], prompt_features.shape()[1]);
        if rows == 0 || dim == 0 {
            return Err(value_error(format!(
                "prompt_features: shape [{rows}, {dim}]; an index needs at least one row and one dimension"
            )));
        }
        let data = contiguous("prompt_features", &prompt_features)?;
        py.detach(|| -> Result<Self, String> {
            let features = to_prompt_features("prompt_features", rows, dim, data)?;
            let index = PromptKnnIndex::build(
                features.table(),
                activepref_acquire::index_k_for(k),
                &|_| {},
            );
            Ok(Self {
                features,
                index: Arc::new(index),
            })
        })
        .map_err(value_error)
    }

    /// Pool rows the index covers.
    #[getter]
    fn rows(&self) -> usize {
        self.features.rows()
    }

    /// Feature dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.features.dim()
    }
}

/// Everything `select` needs, owned, so that selection can run without the GIL.
struct PoolInputs {
    spec: PolicySpec,
    batch: usize,
    features: PromptFeatures,
    index: Option<Arc<PromptKnnIndex>>,
    prompt_ids: Option<Vec<u32>>,
    labelled: Vec<usize>,
    unlabelled: Vec<usize>,
    uncertainty: Option<Vec<f64>>,
    /// Member-major logits of the unlabelled candidates, `[members][unlabelled]`.
    logits: Option<(usize, Vec<f64>)>,
    seed: u64,
    round: usize,
}

impl PoolInputs {
    fn select(self) -> Result<Vec<usize>, String> {
        let n = self.unlabelled.len();
        let prediction = self
            .logits
            .map(|(members, l)| EnsemblePrediction::from_logits(members, n, l));
        let policy = self.spec.build();
        let score = policy.score();
        let uncertainty = match (self.uncertainty, &prediction) {
            (Some(u), _) => u,
            (None, _) if score == UncertaintyScore::Random => {
                let mut rng = rng_for(self.seed, Stream::Policy, &[self.round as u64, 1]);
                let empty = EnsemblePrediction::from_logits(0, n, vec![]);
                score.compute(&empty, &mut rng).map_err(|e| e.to_string())?
            }
            (None, Some(pred)) => {
                if score.needs_imported() || score.needs_rewards() {
                    return Err(format!(
                        "policy `{}` ranks by score `{}`, which cannot be computed from member predictions: pass uncertainty=",
                        self.spec.name(),
                        score.name()
                    ));
                }
                let mut rng = rng_for(self.seed, Stream::Policy, &[self.round as u64, 1]);
                score.compute(pred, &mut rng).map_err(|e| e.to_string())?
            }
            (None, None) if matches!(self.spec, PolicySpec::Random {}) => vec![0.0; n],
            (None, None) => {
                return Err(format!(
                    "policy `{}` needs an uncertainty: pass uncertainty= [pool], or member predictions (probs=, logits= or rewards_a= and rewards_b=)",
                    self.spec.name()
                ));
            }
        };
        let state = PoolState {
            prompt_ids: self.prompt_ids.as_deref(),
            prediction: prediction.as_ref(),
            round: self.round,
            prompt_index: self.index.as_deref(),
            ..PoolState::new(
                &self.unlabelled,
                &uncertainty,
                &self.labelled,
                &self.features,
            )
        };
        let mut rng = rng_for(self.seed, Stream::Policy, &[self.round as u64]);
        policy
            .select(&state, self.batch, &mut rng)
            .map_err(|e| e.to_string())
    }
}

/// The checked form of `activepref.select` (see its docstring): arrays arrive contiguous, in the
/// dtypes named here; `uncertainty` and `logits` cover the whole pool and are gathered here.
#[pyfunction]
#[pyo3(signature = (policy_json, batch, pool, labelled, unlabelled, prompt_features, prompt_ids, uncertainty, logits, index, seed, round, threads))]
#[allow(clippy::too_many_arguments)]
fn _select<'py>(
    py: Python<'py>,
    policy_json: &str,
    batch: usize,
    pool: usize,
    labelled: PyReadonlyArray1<'py, i64>,
    unlabelled: PyReadonlyArray1<'py, i64>,
    prompt_features: Option<PyReadonlyArray2<'py, f32>>,
    prompt_ids: Option<PyReadonlyArray1<'py, i64>>,
    uncertainty: Option<PyReadonlyArray1<'py, f64>>,
    logits: Option<PyReadonlyArray2<'py, f64>>,
    index: Option<PyRef<'py, KnnIndex>>,
    seed: u64,
    round: usize,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let spec: PolicySpec = serde_json::from_str(policy_json)
        .map_err(|e| value_error(format!("policy: {e} (see activepref.policies())")))?;
    let labelled = indices("labelled", &labelled, pool)?;
    let unlabelled = indices("unlabelled", &unlabelled, pool)?;
    let is_labelled: HashSet<usize> = labelled.iter().copied().collect();
    if let Some(i) = unlabelled.iter().find(|i| is_labelled.contains(i)) {
        return Err(value_error(format!(
            "unlabelled: index {i} is also labelled"
        )));
    }
    if unlabelled.is_empty() {
        return Err(value_error(
            "unlabelled: the pool has no unlabelled comparison left",
        ));
    }
    if batch == 0 || batch > unlabelled.len() {
        return Err(value_error(format!(
            "batch: {batch} is not between 1 and the {} unlabelled comparisons",
            unlabelled.len()
        )));
    }
    spec.validate(unlabelled.len())
        .map_err(|e| value_error(format!("policy.{}: {}", e.field, e.message)))?;
    let needs_features = matches!(spec, PolicySpec::Balpm(_));
    let features_data = prompt_features
        .as_ref()
        .map(|f| -> PyResult<(usize, usize, &[f32])> {
            Ok((
                f.shape()[0],
                f.shape()[1],
                contiguous("prompt_features", f)?,
            ))
        })
        .transpose()?;
    match (&index, features_data) {
        (Some(ix), _) if ix.features.rows() != pool => {
            return Err(value_error(format!(
                "index: built on {} rows, but the pool has {pool}",
                ix.features.rows()
            )));
        }
        (None, Some((rows, _, _))) if rows != pool => {
            return Err(value_error(format!(
                "prompt_features: {rows} rows for a pool of {pool}"
            )));
        }
        (None, None) if needs_features => {
            return Err(value_error(format!(
                "policy `{}` needs the prompts: pass prompt_features= [pool, d] or index=",
                spec.name()
            )));
        }
        _ => {}
    }
    let prompt_ids = prompt_ids
        .map(|ids| -> PyResult<Vec<u32>> {
            let ids = contiguous("prompt_ids", &ids)?;
            if ids.len() != pool {
                return Err(value_error(format!(
                    "prompt_ids: {} ids for a pool of {pool}",
                    ids.len()
                )));
            }
            ids.iter()
                .map(|&i| {
                    u32::try_from(i).map_err(|_| {
                        value_error(format!("prompt_ids: {i} is not an id in 0..2^32"))
                    })
                })
                .collect()
        })
        .transpose()?;
    let uncertainty = uncertainty
        .map(|u| -> PyResult<Vec<f64>> {
            let u = contiguous("uncertainty", &u)?;
            if u.len() != pool {
                return Err(value_error(format!(
                    "uncertainty: {} values for a pool of {pool}",
                    u.len()
                )));
            }
            Ok(unlabelled.iter().map(|&i| u[i]).collect())
        })
        .transpose()?;
    let logits = logits
        .map(|l| -> PyResult<(usize, Vec<f64>)> {
            let (members, cols) = (l.shape()[0], l.shape()[1]);
            if cols != pool || members == 0 {
                return Err(value_error(format!(
                    "predictions: shape [{members}, {cols}], expected [members >= 1, {pool}]"
                )));
            }
            let l = contiguous("predictions", &l)?;
            let mut out = Vec::with_capacity(members * unlabelled.len());
            for row in l.chunks(pool) {
                out.extend(unlabelled.iter().map(|&i| row[i]));
            }
            if let Some(v) = out.iter().find(|v| !v.is_finite()) {
                return Err(value_error(format!(
                    "predictions: a logit of an unlabelled comparison is {v} (NaN and infinity are not allowed; probabilities must be strictly between 0 and 1)"
                )));
            }
            Ok((members, out))
        })
        .transpose()?;
    let index_parts = index
        .as_ref()
        .map(|ix| (ix.features.clone(), ix.index.clone()));
    let picks = py
        .detach(|| -> Result<Vec<usize>, String> {
            // The feature copy and the merge of identical prompts run without the GIL too.
            let (features, index) = match (index_parts, features_data) {
                (Some((f, ix)), _) => (f, Some(ix)),
                (None, Some((rows, dim, data))) => (
                    to_prompt_features("prompt_features", rows, dim, data)?,
                    None,
                ),
                (None, None) => (
                    PromptFeatures::from(
                        FeatureMatrix::new(pool, 0, vec![]).map_err(|e| e.to_string())?,
                    ),
                    None,
                ),
            };
            let inputs = PoolInputs {
                spec,
                batch,
                features,
                index,
                prompt_ids,
                labelled,
                unlabelled,
                uncertainty,
                logits,
                seed,
                round,
            };
            on_threads(threads, || inputs.select())?
        })
        .map_err(value_error)?;
    Ok(PyArray1::from_vec(
        py,
        picks.into_iter().map(|i| i as i64).collect(),
    ))
}

/// The checked form of `activepref.scores`: every row's BALD, predictive entropy, expected
/// (aleatoric) entropy and variance from member-major logits `[members, rows]`, in nats.
#[pyfunction]
fn _scores<'py>(
    py: Python<'py>,
    logits: PyReadonlyArray2<'py, f64>,
    kind: &str,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (members, rows) = (logits.shape()[0], logits.shape()[1]);
    if members == 0 {
        return Err(value_error(
            "predictions: no member (expected shape [members >= 1, rows])",
        ));
    }
    let l = logits
        .as_slice()
        .map_err(|_| value_error("logits: not contiguous"))?
        .to_vec();
    if let Some(v) = l.iter().find(|v| !v.is_finite()) {
        return Err(value_error(format!(
            "predictions: a logit is {v} (NaN and infinity are not allowed; probabilities must be strictly between 0 and 1)"
        )));
    }
    let score = match kind {
        "bald" => UncertaintyScore::Bald,
        "predictive" => UncertaintyScore::Predictive,
        "aleatoric" => UncertaintyScore::Aleatoric,
        "variance" => UncertaintyScore::Variance,
        other => {
            return Err(value_error(format!(
                "kind: `{other}` is not one of bald, predictive, aleatoric, variance"
            )));
        }
    };
    let out = py.detach(|| {
        let pred = EnsemblePrediction::from_logits(members, rows, l);
        score.compute(&pred, &mut rng_for(0, Stream::Policy, &[]))
    });
    Ok(PyArray1::from_vec(py, out.map_err(value_error)?))
}

/// The checked form of `activepref.select_pairs`: one pair per prompt. `mu` and `sd` are the
/// concatenated per-response means and spreads of every prompt, `offsets[p]..offsets[p + 1]` the
/// responses of prompt `p`; `members` (optional) is `[members, responses]` likewise concatenated;
/// prompt `p` draws from `rng_for(seed, Policy, [round, keys[p]])`, the pair loop's stream for
/// the `keys[p]`-th prompt of batch `round`.
#[pyfunction]
#[pyo3(signature = (rule_json, mode, mu, sd, offsets, prompt_keys, members, oracle, seed, round, threads))]
#[allow(clippy::too_many_arguments)]
fn _select_pairs<'py>(
    py: Python<'py>,
    rule_json: &str,
    mode: &str,
    mu: PyReadonlyArray1<'py, f32>,
    sd: PyReadonlyArray1<'py, f32>,
    offsets: PyReadonlyArray1<'py, i64>,
    prompt_keys: PyReadonlyArray1<'py, u64>,
    members: Option<PyReadonlyArray2<'py, f32>>,
    oracle: Option<PyReadonlyArray1<'py, f32>>,
    seed: u64,
    round: u64,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    use rayon::prelude::*;
    let rule: PairPolicySpec = serde_json::from_str(rule_json)
        .map_err(|e| value_error(format!("rule: {e} (see activepref.pair_policies())")))?;
    rule.validate()
        .map_err(|e| value_error(format!("rule.{}: {}", e.field, e.message)))?;
    let mode = match mode {
        "reference" => PairMode::Reference,
        "corrected" => PairMode::Corrected,
        other => {
            return Err(value_error(format!(
                "mode: `{other}` is not reference or corrected"
            )));
        }
    };
    let mu = contiguous("mean", &mu)?;
    let sd = contiguous("std", &sd)?;
    let offsets = contiguous("offsets", &offsets)?;
    let keys = contiguous("prompts", &prompt_keys)?;
    let n = mu.len();
    if sd.len() != n {
        return Err(value_error(format!(
            "std: {} spreads for {n} responses",
            sd.len()
        )));
    }
    if offsets.len() != keys.len() + 1
        || offsets.first() != Some(&0)
        || offsets.last() != Some(&(n as i64))
        || offsets.windows(2).any(|w| w[1] < w[0])
    {
        return Err(value_error(
            "offsets: expected 0 = offsets[0] <= ... <= offsets[prompts] = responses",
        ));
    }
    let oracle: Option<Vec<f32>> = match &oracle {
        Some(o) => {
            let o = contiguous("oracle", o)?;
            if o.len() != n {
                return Err(value_error(format!(
                    "oracle: {} scores for {n} responses",
                    o.len()
                )));
            }
            Some(o.to_vec())
        }
        None => None,
    };
    let members: Option<Vec<Vec<f32>>> = members
        .map(|m| -> PyResult<Vec<Vec<f32>>> {
            let (rows, cols) = (m.shape()[0], m.shape()[1]);
            if cols != n || rows == 0 {
                return Err(value_error(format!(
                    "rewards: shape [{rows}, {cols}], expected [members >= 1, {n}]"
                )));
            }
            let data = contiguous("rewards", &m)?;
            if let Some(v) = data.iter().find(|v| !v.is_finite()) {
                return Err(value_error(format!(
                    "rewards: a member reward is {v} (NaN and infinity are not allowed)"
                )));
            }
            Ok(data.chunks(n).map(<[f32]>::to_vec).collect())
        })
        .transpose()?;
    type PerPrompt = Vec<Result<(usize, usize), String>>;
    let picks: Result<PerPrompt, String> = py.detach(|| {
        on_threads(threads, || {
            (0..keys.len())
                .into_par_iter()
                .map(|p| {
                    let (lo, hi) = (offsets[p] as usize, offsets[p + 1] as usize);
                    let own: Option<Vec<Vec<f32>>> = members
                        .as_ref()
                        .map(|m| m.iter().map(|r| r[lo..hi].to_vec()).collect());
                    let c = CandidateScores {
                        mu: &mu[lo..hi],
                        sd: &sd[lo..hi],
                        members: own.as_deref(),
                        oracle: oracle.as_ref().map(|o| &o[lo..hi]),
                    };
                    let mut rng = rng_for(seed, Stream::Policy, &[round, keys[p]]);
                    rule.select(&c, mode, &mut rng)
                        .map_err(|e| format!("prompt {p}: {e}"))
                })
                .collect()
        })
    });
    // The first failing prompt in order, whatever the thread count.
    let picks: Vec<(usize, usize)> = picks
        .map_err(value_error)?
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(value_error)?;
    let flat = picks
        .into_iter()
        .flat_map(|(a, b)| [a as i64, b as i64])
        .collect();
    Ok(PyArray1::from_vec(py, flat))
}

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
