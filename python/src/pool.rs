//! Pool selection (`activepref.select`), scores (`activepref.scores`) and the reusable
//! `KnnIndex`: the BAL-PM side of the package.

use std::collections::HashSet;
use std::sync::Arc;

use activepref_acquire::{PolicySpec, PoolState, PromptKnnIndex, UncertaintyScore};
use activepref_core::seeds::{Stream, policy_draw, rng_for};
use activepref_core::{EnsemblePrediction, FeatureMatrix, PromptFeatures};
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::{contiguous, indices, on_threads, to_prompt_features, value_error};

/// An exact kNN index over the prompt features of a pool, built once and reused by every
/// `select(..., index=...)` call on that pool (BAL-PM's entropy term without an all-pairs pass).
#[pyclass(frozen, module = "activepref._native")]
pub(crate) struct KnnIndex {
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
                let mut rng = rng_for(
                    self.seed,
                    Stream::Policy,
                    &[self.round as u64, policy_draw::SCORE],
                );
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
                let mut rng = rng_for(
                    self.seed,
                    Stream::Policy,
                    &[self.round as u64, policy_draw::SCORE],
                );
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
pub(crate) fn _select<'py>(
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
    let (labelled, unlabelled) = checked_sets(&spec, batch, pool, &labelled, &unlabelled)?;
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
    check_prompt_source(&spec, pool, index.as_deref(), features_data)?;
    let prompt_ids = prompt_ids
        .map(|ids| checked_prompt_ids(&ids, pool))
        .transpose()?;
    let uncertainty = uncertainty
        .map(|u| gathered_uncertainty(&u, pool, &unlabelled))
        .transpose()?;
    let logits = logits
        .map(|l| gathered_logits(&l, pool, &unlabelled))
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

/// The labelled and unlabelled sets as pool positions, checked: in range, disjoint, some left
/// unlabelled, `batch` within 1..=|unlabelled|, and the policy's parameters against the pool.
fn checked_sets(
    spec: &PolicySpec,
    batch: usize,
    pool: usize,
    labelled: &PyReadonlyArray1<'_, i64>,
    unlabelled: &PyReadonlyArray1<'_, i64>,
) -> PyResult<(Vec<usize>, Vec<usize>)> {
    let labelled = indices("labelled", labelled, pool)?;
    let unlabelled = indices("unlabelled", unlabelled, pool)?;
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
    Ok((labelled, unlabelled))
}

/// The prompts come from an index of the pool's size, or from `prompt_features` (rows, dim,
/// data) of the pool's size, or are not needed by the policy.
fn check_prompt_source(
    spec: &PolicySpec,
    pool: usize,
    index: Option<&KnnIndex>,
    features: Option<(usize, usize, &[f32])>,
) -> PyResult<()> {
    match (index, features) {
        (Some(ix), _) if ix.features.rows() != pool => Err(value_error(format!(
            "index: built on {} rows, but the pool has {pool}",
            ix.features.rows()
        ))),
        (None, Some((rows, _, _))) if rows != pool => Err(value_error(format!(
            "prompt_features: {rows} rows for a pool of {pool}"
        ))),
        (None, None) if matches!(spec, PolicySpec::Balpm(_)) => Err(value_error(format!(
            "policy `{}` needs the prompts: pass prompt_features= [pool, d] or index=",
            spec.name()
        ))),
        _ => Ok(()),
    }
}

/// One prompt id per pool row, each in `0..2^32`.
fn checked_prompt_ids(ids: &PyReadonlyArray1<'_, i64>, pool: usize) -> PyResult<Vec<u32>> {
    let ids = contiguous("prompt_ids", ids)?;
    if ids.len() != pool {
        return Err(value_error(format!(
            "prompt_ids: {} ids for a pool of {pool}",
            ids.len()
        )));
    }
    ids.iter()
        .map(|&i| {
            u32::try_from(i)
                .map_err(|_| value_error(format!("prompt_ids: {i} is not an id in 0..2^32")))
        })
        .collect()
}

/// The uncertainty of every unlabelled comparison, from one value per pool row.
fn gathered_uncertainty(
    u: &PyReadonlyArray1<'_, f64>,
    pool: usize,
    unlabelled: &[usize],
) -> PyResult<Vec<f64>> {
    let u = contiguous("uncertainty", u)?;
    if u.len() != pool {
        return Err(value_error(format!(
            "uncertainty: {} values for a pool of {pool}",
            u.len()
        )));
    }
    Ok(unlabelled.iter().map(|&i| u[i]).collect())
}

/// Member-major logits `[members, pool]` gathered to the unlabelled comparisons
/// (`[members][unlabelled]`, flat), all finite; with the member count.
fn gathered_logits(
    l: &PyReadonlyArray2<'_, f64>,
    pool: usize,
    unlabelled: &[usize],
) -> PyResult<(usize, Vec<f64>)> {
    let (members, cols) = (l.shape()[0], l.shape()[1]);
    if cols != pool || members == 0 {
        return Err(value_error(format!(
            "predictions: shape [{members}, {cols}], expected [members >= 1, {pool}]"
        )));
    }
    let l = contiguous("predictions", l)?;
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
}

/// The checked form of `activepref.scores`: every row's BALD, predictive entropy, expected
/// (aleatoric) entropy and variance from member-major logits `[members, rows]`, in nats.
#[pyfunction]
pub(crate) fn _scores<'py>(
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
