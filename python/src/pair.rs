//! Pair selection (`activepref.select_pair(s)`): every ActiveUltraFeedback rule, in both modes.

use activepref_acquire::{CandidateScores, PairMode, PairPolicySpec};
use activepref_core::seeds::{Stream, rng_for};
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::{contiguous, on_threads, value_error};

/// `reference` or `corrected`.
fn pair_mode(mode: &str) -> PyResult<PairMode> {
    match mode {
        "reference" => Ok(PairMode::Reference),
        "corrected" => Ok(PairMode::Corrected),
        other => Err(value_error(format!(
            "mode: `{other}` is not reference or corrected"
        ))),
    }
}

/// `n` responses with `spreads` spreads, cut into `prompts` prompts by `offsets`
/// (`0 = offsets[0] <= ... <= offsets[prompts] = n`).
fn check_pair_layout(n: usize, spreads: usize, offsets: &[i64], prompts: usize) -> PyResult<()> {
    if spreads != n {
        return Err(value_error(format!(
            "std: {spreads} spreads for {n} responses"
        )));
    }
    if offsets.len() != prompts + 1
        || offsets.first() != Some(&0)
        || offsets.last() != Some(&(n as i64))
        || offsets.windows(2).any(|w| w[1] < w[0])
    {
        return Err(value_error(
            "offsets: expected 0 = offsets[0] <= ... <= offsets[prompts] = responses",
        ));
    }
    Ok(())
}

/// Member rewards `[members, n]` as one row per member, all finite.
fn member_rewards(m: &PyReadonlyArray2<'_, f32>, n: usize) -> PyResult<Vec<Vec<f32>>> {
    let (rows, cols) = (m.shape()[0], m.shape()[1]);
    if cols != n || rows == 0 {
        return Err(value_error(format!(
            "rewards: shape [{rows}, {cols}], expected [members >= 1, {n}]"
        )));
    }
    let data = contiguous("rewards", m)?;
    if let Some(v) = data.iter().find(|v| !v.is_finite()) {
        return Err(value_error(format!(
            "rewards: a member reward is {v} (NaN and infinity are not allowed)"
        )));
    }
    Ok(data.chunks(n).map(<[f32]>::to_vec).collect())
}

/// The checked form of `activepref.select_pairs`: one pair per prompt. `mu` and `sd` are the
/// concatenated per-response means and spreads of every prompt, `offsets[p]..offsets[p + 1]` the
/// responses of prompt `p`; `members` (optional) is `[members, responses]` likewise concatenated;
/// prompt `p` draws from `rng_for(seed, Policy, [round, keys[p]])`, the pair loop's stream for
/// the `keys[p]`-th prompt of batch `round`.
#[pyfunction]
#[pyo3(signature = (rule_json, mode, mu, sd, offsets, prompt_keys, members, oracle, seed, round, threads))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn _select_pairs<'py>(
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
    let mode = pair_mode(mode)?;
    let mu = contiguous("mean", &mu)?;
    let sd = contiguous("std", &sd)?;
    let offsets = contiguous("offsets", &offsets)?;
    let keys = contiguous("prompts", &prompt_keys)?;
    let n = mu.len();
    check_pair_layout(n, sd.len(), offsets, keys.len())?;
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
    let members = members.map(|m| member_rewards(&m, n)).transpose()?;
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
                        design: None,
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
