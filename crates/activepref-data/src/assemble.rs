//! Joining text records with stored features into the benchmarks the loops run on.
//!
//! A [`ComparisonDataset`] plus a feature store directory (see [`crate::feature_store`]) becomes a
//! [`PoolBenchmark`]; a [`CandidatePool`] plus its `responses` table becomes a [`PairBenchmark`].
//! Datasets that come as one file (HH-RLHF, generic pairs without a split column) are split by
//! prompt with [`Resplit`], after the features are joined, so the features stay keyed by file row.

use activepref_core::FieldError;
use std::collections::BTreeMap;
use std::path::Path;

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, DataResult, Remedy};
use crate::feature_store::{FeatureTable, TextFingerprint, table_path};
use crate::text::{CandidatePool, ComparisonDataset, SplitRole, TextComparison};
use activepref_core::seeds::{Stream, data_draw, rng_for};
use activepref_core::{
    CandidateTexts, ComparisonLength, FeatureMatrix, PoolBenchmark, PoolSplit, PromptFeatures,
};
use activepref_core::{PairBenchmark, PromptCandidates};

/// Moves whole prompts from the pool into validation / test / OOD, by fractions of the distinct
/// pool prompts, with a seeded shuffle (stream `[seed, Data, data_draw::RESPLIT]`, see
/// [`activepref_core::seeds`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Resplit {
    /// Fraction of distinct pool prompts moved to validation, in `[0, 1)` (default 0.15).
    pub validation: f64,
    /// Fraction moved to test, in `[0, 1)` (default 0.25).
    pub test: f64,
    /// Fraction moved to OOD, in `[0, 1)` (default 0).
    pub ood: f64,
    /// Seed of the shuffle of distinct prompts (default 0).
    pub seed: u64,
}

impl Default for Resplit {
    fn default() -> Self {
        Self {
            validation: 0.15,
            test: 0.25,
            ood: 0.0,
            seed: 0,
        }
    }
}

impl Resplit {
    /// Checks the fractions.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on a fraction outside `[0, 1)`, or on `validation` when the three fractions
    /// sum to 1 or more (no prompt would stay in the pool).
    pub fn validate(&self) -> Result<(), FieldError> {
        for (f, v) in [
            ("validation", self.validation),
            ("test", self.test),
            ("ood", self.ood),
        ] {
            FieldError::check_real(f, v, 0.0..1.0, "a fraction of the prompts")?;
        }
        if self.validation + self.test + self.ood >= 1.0 {
            return Err(FieldError::new(
                "validation",
                "validation + test + ood must leave some prompts for the pool (sum < 1)",
            ));
        }
        Ok(())
    }

    /// Splits `pool` by prompt id into (pool, validation, test, ood).
    pub fn apply(&self, pool: &PoolSplit) -> [PoolSplit; 4] {
        let mut prompts: Vec<u32> = pool.prompt_id.clone();
        prompts.sort_unstable();
        prompts.dedup();
        prompts.shuffle(&mut rng_for(self.seed, Stream::Data, &[data_draw::RESPLIT]));
        let n = prompts.len() as f64;
        let n_val = (n * self.validation).round() as usize;
        let n_test = (n * self.test).round() as usize;
        let n_ood = (n * self.ood).round() as usize;
        let mut role: BTreeMap<u32, usize> = BTreeMap::new();
        for (i, p) in prompts.iter().enumerate() {
            let r = if i < n_val {
                1
            } else if i < n_val + n_test {
                2
            } else if i < n_val + n_test + n_ood {
                3
            } else {
                0
            };
            role.insert(*p, r);
        }
        let mut idx: [Vec<usize>; 4] = Default::default();
        for (row, p) in pool.prompt_id.iter().enumerate() {
            idx[role[p]].push(row);
        }
        idx.map(|rows| pool.subset(&rows))
    }
}

/// What to do with records that have no stored features.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingFeatures {
    /// Refuse (the default: a mismatch between dataset and features is usually a mistake).
    #[default]
    Error,
    /// Leave those records out and say how many (BAL-PM's features skip sequences over 512 tokens).
    Drop,
}

fn load_table(
    store: &Path,
    role: SplitRole,
    table: &str,
) -> DataResult<Option<(FeatureTable, std::path::PathBuf)>> {
    let path = table_path(store, role.name(), table);
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some((FeatureTable::load(&path)?, path)))
}

fn require(
    store: &Path,
    role: SplitRole,
    table: &str,
) -> DataResult<(FeatureTable, std::path::PathBuf)> {
    load_table(store, role, table)?.ok_or_else(|| {
        DataError::file(
            table_path(store, role.name(), table),
            "feature table not found",
        )
        .with_remedy(Remedy::Featurize, true)
    })
}

/// An imported per-comparison score (one column, `score` table) of the comparisons `ids`, for the
/// perplexity baselines; `None` when the store has none.
fn load_score(store: &Path, role: SplitRole, ids: &[String]) -> DataResult<Option<Vec<f64>>> {
    let Some((t, path)) = load_table(store, role, "score")? else {
        return Ok(None);
    };
    if t.dim() != 1 {
        return Err(DataError::file(
            &path,
            format!("has {} columns; a score table has one", t.dim()),
        ));
    }
    let aligned = t.aligned(ids, &path)?;
    Ok(Some(
        aligned.as_slice().iter().map(|&v| f64::from(v)).collect(),
    ))
}

/// Builds the comparisons of one split with their features. Returns the split and how many
/// records were dropped for lack of features.
fn split_with_features(
    store: &Path,
    role: SplitRole,
    rows: &[TextComparison],
    prompt_ids: &[u32],
    missing: MissingFeatures,
) -> DataResult<(PoolSplit, usize)> {
    let (a, a_path) = require(store, role, "pair_a")?;
    let (b, b_path) = require(store, role, "pair_b")?;
    if a.dim() != b.dim() {
        return Err(DataError::file(
            &b_path,
            format!("dimension {} differs from pair_a's {}", b.dim(), a.dim()),
        ));
    }
    // Prompt features feed only BAL-PM's entropy term over the pool; other splits may lack them.
    let prompt = match load_table(store, role, "prompt")? {
        Some(t) => Some(t),
        None if role == SplitRole::Pool => {
            return Err(require(store, role, "prompt").expect_err("missing"));
        }
        None => None,
    };
    let keep: Vec<usize> = match missing {
        MissingFeatures::Error => (0..rows.len()).collect(),
        MissingFeatures::Drop => (0..rows.len())
            .filter(|&i| {
                let id = rows[i].id.as_str();
                a.row_of(id).is_some()
                    && b.row_of(id).is_some()
                    && prompt.as_ref().is_none_or(|(p, _)| p.row_of(id).is_some())
            })
            .collect(),
    };
    let ids: Vec<String> = keep.iter().map(|&i| rows[i].id.clone()).collect();
    // Features of other texts under the same ids (a store made from another file whose ids are
    // row numbers) are refused, not trained on.
    for &i in &keep {
        let r = &rows[i];
        a.check_texts(&r.id, &[&r.prompt, &r.response_a], &a_path)?;
        b.check_texts(&r.id, &[&r.prompt, &r.response_b], &b_path)?;
        if let Some((p, path)) = &prompt {
            p.check_texts(&r.id, &[&r.prompt], path)?;
        }
    }
    let pair_a = a.aligned(&ids, &a_path)?;
    let pair_b = b.aligned(&ids, &b_path)?;
    let prompt = match &prompt {
        Some((p, path)) => {
            let rows: Vec<u32> = p
                .aligned_rows(&ids, path)?
                .into_iter()
                .map(|r| r as u32)
                .collect();
            PromptFeatures::from_table(p.matrix(), &rows)
                .map_err(|e| DataError::file(path, e.to_string()))?
        }
        None => PromptFeatures::from_matrix(
            &FeatureMatrix::new(ids.len(), 0, Vec::new()).expect("empty rows"),
        ),
    };
    let score = load_score(store, role, &ids)?;
    let split = PoolSplit {
        pair_a,
        pair_b,
        prompt,
        prompt_id: keep.iter().map(|&i| prompt_ids[i]).collect(),
        a_preferred: keep.iter().map(|&i| rows[i].a_preferred).collect(),
        score,
        latent_gap: None,
        lengths: Some(
            keep.iter()
                .map(|&i| {
                    let r = &rows[i];
                    ComparisonLength::of_text(&r.prompt, &r.response_a, &r.response_b)
                })
                .collect(),
        ),
    };
    Ok((split, rows.len() - keep.len()))
}

/// The result of [`pool_benchmark`]: the benchmark and how many records each split dropped.
pub struct Assembled {
    /// The joined benchmark.
    pub benchmark: PoolBenchmark,
    /// Records each split dropped for lack of features (`missing_features: drop`).
    pub dropped: Vec<(SplitRole, usize)>,
}

/// Joins `ds` with the feature store at `store`. Splits the dataset lacks stay empty unless
/// `resplit` carves them from the pool.
///
/// # Errors
///
/// A [`DataError`] when a split's `pair_a`, `pair_b` (or the pool's `prompt`) table is missing
/// or malformed, a record has no features under `missing_features: error`, splits differ in
/// pair dimension, a `score` table has more than one column, the dataset has no comparisons, or
/// `resplit` would move prompts into a split the dataset already has.
pub fn pool_benchmark(
    name: &str,
    ds: &ComparisonDataset,
    store: &Path,
    missing: MissingFeatures,
    resplit: Option<&Resplit>,
) -> DataResult<Assembled> {
    let prompt_ids = ds.prompt_ids();
    let mut splits: BTreeMap<SplitRole, PoolSplit> = BTreeMap::new();
    let mut dropped = Vec::new();
    let mut dims = None;
    for &role in SplitRole::ALL {
        let rows = ds.split(role);
        if rows.is_empty() {
            continue;
        }
        let (split, gone) = split_with_features(store, role, rows, &prompt_ids[&role], missing)?;
        let d = (split.pair_a.dim(), role);
        match dims {
            None => dims = Some(d),
            Some((d0, r0)) if d0 != d.0 => {
                return Err(DataError::file(
                    table_path(store, role.name(), "pair_a"),
                    format!("dimension {} differs from the {r0} split's {d0}", d.0),
                ));
            }
            _ => {}
        }
        if gone > 0 {
            dropped.push((role, gone));
        }
        splits.insert(role, split);
    }
    let Some((dim, _)) = dims else {
        return Err(DataError::file(store, "the dataset has no comparisons"));
    };
    // Splits the dataset lacks are empty (a missing pool too; `validate` then refuses it).
    let empty = || PoolSplit {
        pair_a: FeatureMatrix::new(0, dim, Vec::new()).expect("empty"),
        pair_b: FeatureMatrix::new(0, dim, Vec::new()).expect("empty"),
        prompt: PromptFeatures::empty(0),
        prompt_id: Vec::new(),
        a_preferred: Vec::new(),
        score: None,
        latent_gap: None,
        lengths: None,
    };
    let mut take = |role: SplitRole| splits.remove(&role).unwrap_or_else(empty);
    let mut pool = take(SplitRole::Pool);
    let mut validation = take(SplitRole::Validation);
    let mut test = take(SplitRole::Test);
    let mut ood = take(SplitRole::Ood);
    if let Some(r) = resplit {
        let [p, v, t, o] = r.apply(&pool);
        pool = p;
        for (target, carved) in [(&mut validation, v), (&mut test, t), (&mut ood, o)] {
            if target.is_empty() {
                *target = carved;
            } else if !carved.is_empty() {
                return Err(DataError::file(
                    store,
                    "resplit would move pool prompts into a split the dataset already has",
                )
                .with_hint("set that fraction to 0 or remove `resplit`"));
            }
        }
    }
    let benchmark = PoolBenchmark {
        name: name.to_string(),
        pool,
        validation,
        test,
        ood,
    };
    Ok(Assembled { benchmark, dropped })
}

/// How the prompts of a candidate pool are divided for the pair-selection loop.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptSplit {
    /// Prompts held out for the validation set of from-scratch refits (default 80).
    pub validation_prompts: usize,
    /// Prompts held out for the per-round evaluation (default 160).
    pub heldout_prompts: usize,
    /// Seed of the prompt shuffle (default 0).
    pub seed: u64,
}

impl Default for PromptSplit {
    fn default() -> Self {
        Self {
            validation_prompts: 80,
            heldout_prompts: 160,
            seed: 0,
        }
    }
}

/// The id of the stored features of candidate `model` for prompt `prompt`.
pub fn candidate_id(prompt: usize, model: &str) -> String {
    format!("{prompt}/{model}")
}

/// The stored-feature ids of every prompt's candidates ([`candidate_id`]), prompt by prompt.
pub fn candidate_ids(pool: &CandidatePool) -> Vec<Vec<String>> {
    pool.candidates
        .iter()
        .zip(&pool.prompt_ids)
        .map(|(cands, &id)| {
            cands
                .iter()
                .map(|c| candidate_id(id, &pool.models[c.model]))
                .collect()
        })
        .collect()
}

/// Every candidate of `ids_of` ([`candidate_ids`]) has a row in `table` (read from `path`).
/// Coverage is counted over the whole pool, so that the error says what a re-featurize must add.
fn check_covers(table: &FeatureTable, ids_of: &[Vec<String>], path: &Path) -> DataResult<()> {
    let (covered, total) = table.coverage(ids_of.iter().flatten());
    let Some(first) = ids_of.iter().flatten().find(|i| table.row_of(i).is_none()) else {
        return Ok(());
    };
    Err(DataError::file(
        path,
        format!("no features for candidate {first:?}: the table covers {covered} of the pool's {total} candidate responses"),
    )
    .with_remedy(Remedy::Refeaturize, false))
}

/// Joins a candidate pool with `<store>/candidates/responses.safetensors` and splits its prompts
/// (seeded shuffle, stream `[seed, Data, data_draw::PAIR_SPLIT]`) into stream / validation /
/// held-out.
///
/// # Errors
///
/// A [`DataError`] when the feature table is missing or malformed or lacks a candidate, a prompt
/// has fewer than 2 candidates, or `validation_prompts + heldout_prompts` leaves no stream prompt.
pub fn pair_benchmark(
    name: &str,
    pool: &CandidatePool,
    store: &Path,
    split: &PromptSplit,
) -> DataResult<PairBenchmark> {
    let path = table_path(store, "candidates", "responses");
    let table = FeatureTable::load(&path)?;
    let ids_of = candidate_ids(pool);
    check_covers(&table, &ids_of, &path)?;
    let mut all = Vec::with_capacity(pool.prompts.len());
    for ((p, cands), ids) in pool.candidates.iter().enumerate().zip(ids_of) {
        if cands.len() < 2 {
            return Err(DataError::file(
                &pool.sources[0],
                format!(
                    "prompt {p} has {}; a pair needs 2",
                    activepref_core::error::counted(
                        cands.len(),
                        "candidate response",
                        "candidate responses"
                    )
                ),
            ));
        }
        let id = pool.prompt_ids[p];
        let prompt_state = TextFingerprint::default().then(&pool.prompts[p]);
        for (c, cid) in cands.iter().zip(&ids) {
            table.check_fingerprint(cid, prompt_state.then(&c.response).value(), &path)?;
        }
        all.push(PromptCandidates {
            prompt_id: id as u32,
            features: table.aligned(&ids, &path)?,
            judge: cands.iter().map(|c| c.score).collect(),
            latent: None,
            text: Some(CandidateTexts {
                prompt: pool.prompts[p].clone(),
                responses: cands.iter().map(|c| c.response.clone()).collect(),
                models: cands.iter().map(|c| pool.models[c.model].clone()).collect(),
            }),
        });
    }
    let n = all.len();
    // Saturating: the counts are checked against 10⁷ only in an experiment file.
    let held = split
        .validation_prompts
        .saturating_add(split.heldout_prompts);
    if held >= n {
        let unset = PromptSplit::default();
        return Err(DataError::file(
            &pool.sources[0],
            format!(
                "benchmark.split: validation_prompts + heldout_prompts = {held} leaves no stream prompts out of the pool's {n} (unset, they are {} and {}); set smaller ones under `split:`",
                unset.validation_prompts, unset.heldout_prompts,
            ),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng_for(
        split.seed,
        Stream::Data,
        &[data_draw::PAIR_SPLIT],
    ));
    let mut slots: Vec<Option<PromptCandidates>> = all.into_iter().map(Some).collect();
    let mut take = |range: std::ops::Range<usize>| -> Vec<PromptCandidates> {
        order[range]
            .iter()
            .map(|&i| slots[i].take().expect("once"))
            .collect()
    };
    let validation = take(0..split.validation_prompts);
    let heldout = take(split.validation_prompts..split.validation_prompts + split.heldout_prompts);
    let stream = take(split.validation_prompts + split.heldout_prompts..n);
    Ok(PairBenchmark {
        name: name.to_string(),
        stream,
        validation,
        heldout,
    })
}
