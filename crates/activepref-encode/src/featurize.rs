//! Datasets → feature stores: the prompt features and the (prompt, response) features the
//! preference model and BAL-PM's entropy term consume, written with
//! [`activepref_data::feature_store`].
//!
//! # Input layout and truncation
//! The encoder sees at most `max_seq_length` tokens (256 for all-MiniLM-L6-v2), `[CLS]` and `[SEP]`
//! included, so the body budget is `B = max_seq_length − 2`.
//! - **Prompt features:** `[CLS] cut(prompt, B) [SEP]`.
//! - **(prompt, response) features:** `[CLS] cut(prompt, p) response[..B − p] [SEP]`, where
//!   `p = min(|prompt|, max(B − max(|A|, |B|), B / 2))` is computed once per comparison, so A and B
//!   see the same prompt tokens. Short responses leave the rest of the budget to the prompt; long
//!   ones still leave the prompt half of it, and are cut at their end. This follows BAL-PM's idea
//!   (specs/balpm.md §1.2: the post is cut so the summary fits) without its quirks (a second BOS,
//!   a post cut to half the remainder even when there is room).
//! - `cut` keeps the prompt's **head** (summarize-from-feedback posts, AlpacaEval instructions,
//!   generic pairs) or its **tail** (HH-RLHF dialogues, whose latest turns matter most).
//!
//! # Re-running
//! `<store>/featurize.json` records the model and layout; a store made with another model or
//! layout is refused. Each table is encoded in chunks (`FeaturizeOptions::chunk` inputs, 1,024 by
//! default); every finished chunk is saved at once to `<table>.parts/<k>.safetensors`, so an
//! interrupted run loses at most the chunk in flight. When all chunks are there the table is
//! written atomically and the parts are removed. A table already present with the same ids is
//! skipped, and parts with the ids of their chunk are reused: re-running picks up where it stopped.

use std::collections::HashMap;
use std::path::Path;

use activepref_data::assemble::candidate_id;
use activepref_data::feature_store::{FeatureTable, TextFingerprint, table_path, text_fingerprint};
use activepref_data::text::{CandidatePool, ComparisonDataset, SplitRole, TextComparison};
use serde::{Deserialize, Serialize};

use crate::{EncodeError, Encoder, TextEncoder};

/// Which end of an over-long prompt to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PromptKeep {
    /// The first tokens (what most datasets need).
    Head,
    /// The last tokens (HH-RLHF: the latest turn sits at the end).
    Tail,
}

/// What a store was made with; a mismatch on re-run is refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreManifest {
    /// The model directory's name (e.g. `all-MiniLM-L6-v2`).
    pub model: String,
    /// Width of the feature vectors.
    pub dim: usize,
    /// Token limit per input, `[CLS]` and `[SEP]` included.
    pub max_seq_length: usize,
    /// Which end of a long prompt was kept.
    pub prompt_keep: PromptKeep,
    /// The input layout (how prompt and response are joined and cut), versioned.
    pub layout: String,
}

impl StoreManifest {
    /// The manifest in a user's words: `all-MiniLM-L6-v2 (384-d, 256 tokens, prompt tail kept)`,
    /// and the layout when it is not this version's.
    fn describe(&self) -> String {
        let keep = match self.prompt_keep {
            PromptKeep::Head => "head",
            PromptKeep::Tail => "tail",
        };
        let layout = if self.layout == LAYOUT {
            String::new()
        } else {
            format!(", layout `{}`", self.layout)
        };
        format!(
            "{} ({}-d, {} tokens, prompt {keep} kept{layout})",
            self.model, self.dim, self.max_seq_length
        )
    }
}

const LAYOUT: &str = "activepref.featurize.v1: prompt = [CLS] cut(prompt, B) [SEP]; pair = [CLS] cut(prompt, p) response [SEP]";

/// How to featurize.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeaturizeOptions {
    /// Which end of a long prompt to keep.
    pub keep: PromptKeep,
    /// Inputs per checkpointed chunk.
    pub chunk: usize,
}

impl FeaturizeOptions {
    /// Options that keep `keep` and checkpoint every 1,024 inputs.
    pub fn new(keep: PromptKeep) -> Self {
        Self { keep, chunk: 1024 }
    }
}

/// One table written or skipped.
#[derive(Clone, Debug, PartialEq)]
pub struct TableDone {
    /// The table file.
    pub path: std::path::PathBuf,
    /// Rows (ids) in the table.
    pub rows: usize,
    /// `true` when a complete table with the same ids was already there (nothing encoded).
    pub skipped: bool,
    /// Rows taken from chunks an earlier, interrupted run had saved.
    pub resumed: usize,
    /// Inputs whose text was cut to fit.
    pub truncated: usize,
}

fn cut(ids: &[u32], keep: usize, side: PromptKeep) -> &[u32] {
    let keep = keep.min(ids.len());
    match side {
        PromptKeep::Head => &ids[..keep],
        PromptKeep::Tail => &ids[ids.len() - keep..],
    }
}

/// The prompt's share `p` of the body budget for responses of lengths `ra`, `rb`.
pub fn prompt_share(prompt: usize, ra: usize, rb: usize, budget: usize) -> usize {
    prompt.min((budget.saturating_sub(ra.max(rb))).max(budget / 2))
}

/// `[CLS] prompt_cut response[..] [SEP]` and whether anything of the prompt (full length
/// `prompt_len`) or the response was left out.
fn pair_input(
    enc: &TextEncoder,
    prompt_cut: &[u32],
    prompt_len: usize,
    response: &[u32],
) -> (Vec<u32>, bool) {
    let room = enc.body_budget() - prompt_cut.len();
    let mut body = prompt_cut.to_vec();
    body.extend_from_slice(&response[..response.len().min(room)]);
    (enc.wrap(&body), prompt_len + response.len() > body.len())
}

fn manifest_check(enc: &TextEncoder, store: &Path, keep: PromptKeep) -> Result<(), EncodeError> {
    let m = StoreManifest {
        model: enc
            .files()
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
        dim: enc.dim(),
        max_seq_length: enc.files().max_seq_length,
        prompt_keep: keep,
        layout: LAYOUT.into(),
    };
    if store.exists() && !store.is_dir() {
        return Err(EncodeError::file(
            store,
            "is a file; --out names the feature store's directory",
        ));
    }
    let path = store.join("featurize.json");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| EncodeError::file(&path, format!("cannot read: {e}")))?;
        let old: StoreManifest = serde_json::from_str(&text)
            .map_err(|e| EncodeError::file(&path, format!("not a featurize manifest: {e}")))?;
        if old != m {
            return Err(EncodeError::file(
                &path,
                format!(
                    "this store was made with {}, not {}",
                    old.describe(),
                    m.describe()
                ),
            )
            .with_hint("choose another --out, or delete the store"));
        }
        return Ok(());
    }
    std::fs::create_dir_all(store)
        .map_err(|e| EncodeError::file(store, format!("cannot create: {e}")))?;
    let json = serde_json::to_string_pretty(&m).expect("serialise");
    activepref_core::io::write_atomic_bytes(&path, json.as_bytes())
        .map_err(|e| EncodeError::file(&path, format!("cannot write: {e}")))
}

/// Whether the table at `path` already holds exactly `ids` at width `dim`, from `texts` (a table
/// without fingerprints, from before them, is taken as it is).
///
/// # Errors
/// With `refuse_other_texts`, a finished table of the same ids made from other texts: the store
/// holds another dataset's features (ids that are row numbers repeat across files), which a run
/// of that dataset still needs.
fn finished_table(
    path: &Path,
    (ids, dim, texts): (&[String], usize, &[u64]),
    refuse_other_texts: bool,
) -> Result<Option<FeatureTable>, EncodeError> {
    let Some(t) = FeatureTable::load(path)
        .ok()
        .filter(|t| t.ids() == ids && t.dim() == dim)
    else {
        return Ok(None);
    };
    match t.texts() {
        Some(old) if old != texts && refuse_other_texts => Err(EncodeError::file(
            path,
            "holds features of other texts under the same ids: this store was made from another dataset file",
        )
        .with_hint("featurize into another --out, or delete the store")),
        Some(old) if old != texts => Ok(None),
        _ => Ok(Some(t)),
    }
}

/// What a progress callback of [`featurize_comparisons`] and [`featurize_candidates`] is told:
/// `inputs` more inputs are done, encoded now or (`saved`) found already saved: a finished table,
/// or a chunk an interrupted run saved. Saved inputs take no encoding time, so a rate or an ETA
/// should not count them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// How many more inputs are done.
    pub inputs: usize,
    /// True when they were read back from disk instead of encoded.
    pub saved: bool,
}

impl Progress {
    fn encoded(inputs: usize) -> Self {
        Self {
            inputs,
            saved: false,
        }
    }

    fn saved(inputs: usize) -> Self {
        Self {
            inputs,
            saved: true,
        }
    }
}

/// Encodes `inputs` (token ids with specials) in chunks, reporting progress, and saves the table.
fn write_table(
    enc: &TextEncoder,
    path: &Path,
    (ids, texts): (Vec<String>, Vec<u64>),
    inputs: Vec<Vec<u32>>,
    truncated: usize,
    opts: &FeaturizeOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<TableDone, EncodeError> {
    let rows = ids.len();
    let err = |p: &Path, e: activepref_data::DataError| EncodeError::file(p, e.to_string());
    if finished_table(path, (&ids, enc.dim(), &texts), true)?.is_some() {
        progress(Progress::saved(rows));
        return Ok(TableDone {
            path: path.to_path_buf(),
            rows,
            skipped: true,
            resumed: 0,
            truncated,
        });
    }
    let parts = path.with_extension("parts");
    let chunk = opts.chunk.max(1);
    let mut data = Vec::with_capacity(rows * enc.dim());
    let mut resumed = 0;
    for (k, (chunk_inputs, chunk_ids)) in inputs.chunks(chunk).zip(ids.chunks(chunk)).enumerate() {
        let part = parts.join(format!("{k:06}.safetensors"));
        let chunk_texts = &texts[k * chunk..(k * chunk + chunk_ids.len())];
        if let Some(t) = finished_table(&part, (chunk_ids, enc.dim(), chunk_texts), false)? {
            data.extend_from_slice(t.matrix().as_slice());
            resumed += chunk_ids.len();
            progress(Progress::saved(chunk_ids.len()));
        } else {
            let m = enc.encode_ids(chunk_inputs)?;
            data.extend_from_slice(m.as_slice());
            FeatureTable::new(chunk_ids.to_vec(), m, &part)
                .and_then(|t| t.with_texts(chunk_texts.to_vec()).save(&part))
                .map_err(|e| err(&part, e))?;
            progress(Progress::encoded(chunk_ids.len()));
        }
    }
    let m = activepref_core::FeatureMatrix::new(rows, enc.dim(), data)
        .map_err(|e| EncodeError::file(path, e.to_string()))?;
    let table = FeatureTable::new(ids, m, path)
        .map_err(|e| err(path, e))?
        .with_texts(texts);
    table.save(path).map_err(|e| err(path, e))?;
    std::fs::remove_dir_all(&parts)
        .map_err(|e| EncodeError::file(&parts, format!("cannot remove the finished parts: {e}")))?;
    Ok(TableDone {
        path: path.to_path_buf(),
        rows,
        skipped: false,
        resumed,
        truncated,
    })
}

/// How many inputs [`featurize_comparisons`] encodes (for a progress bar).
pub fn comparison_inputs(ds: &ComparisonDataset) -> usize {
    ds.splits.values().map(|v| v.len() * 3).sum()
}

/// Writes `pair_a`, `pair_b` and `prompt` for every split of `ds` under `store`.
///
/// # Errors
///
/// An [`EncodeError`] when the store's `featurize.json` was made with another model, width,
/// sequence length, prompt side or layout, a text cannot be tokenised or encoded, or a table or
/// checkpoint chunk cannot be read or written.
pub fn featurize_comparisons(
    enc: &TextEncoder,
    ds: &ComparisonDataset,
    store: &Path,
    opts: &FeaturizeOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<TableDone>, EncodeError> {
    let keep = opts.keep;
    manifest_check(enc, store, keep)?;
    let budget = enc.body_budget();
    let mut out = Vec::new();
    let mut cache: HashMap<&str, Vec<u32>> = HashMap::new();
    for &role in SplitRole::ALL {
        let rows = ds.split(role);
        if rows.is_empty() {
            continue;
        }
        let ids: Vec<String> = rows.iter().map(|c| c.id.clone()).collect();
        let fingerprints = |texts: &dyn Fn(&TextComparison) -> Vec<&str>| -> Vec<u64> {
            rows.iter().map(|c| text_fingerprint(&texts(c))).collect()
        };
        let texts = [
            fingerprints(&|c| vec![&c.prompt, &c.response_a]),
            fingerprints(&|c| vec![&c.prompt, &c.response_b]),
            fingerprints(&|c| vec![&c.prompt]),
        ];
        let (mut pa, mut pb, mut pr) = (Vec::new(), Vec::new(), Vec::new());
        let (mut cut_pairs, mut cut_prompts) = (0, 0);
        for c in rows {
            if !cache.contains_key(c.prompt.as_str()) {
                cache.insert(&c.prompt, enc.plain_ids(&c.prompt)?);
            }
            let p = &cache[c.prompt.as_str()];
            let (ra, rb) = (enc.plain_ids(&c.response_a)?, enc.plain_ids(&c.response_b)?);
            let share = prompt_share(p.len(), ra.len(), rb.len(), budget);
            let pc = cut(p, share, keep);
            for (r, list) in [(&ra, &mut pa), (&rb, &mut pb)] {
                let (input, was_cut) = pair_input(enc, pc, p.len(), r);
                cut_pairs += usize::from(was_cut);
                list.push(input);
            }
            cut_prompts += usize::from(p.len() > budget);
            pr.push(enc.wrap(cut(p, budget, keep)));
        }
        for ((table, inputs, truncated), texts) in [
            ("pair_a", pa, cut_pairs),
            ("pair_b", pb, cut_pairs),
            ("prompt", pr, cut_prompts),
        ]
        .into_iter()
        .zip(texts)
        {
            out.push(write_table(
                enc,
                &table_path(store, role.name(), table),
                (ids.clone(), texts),
                inputs,
                truncated,
                opts,
                progress,
            )?);
        }
    }
    Ok(out)
}

/// Writes `candidates/responses` (ids `<prompt>/<model>`) and `candidates/prompts` (ids `<prompt>`).
///
/// # Errors
///
/// As [`featurize_comparisons`].
pub fn featurize_candidates(
    enc: &TextEncoder,
    pool: &CandidatePool,
    store: &Path,
    opts: &FeaturizeOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<Vec<TableDone>, EncodeError> {
    let keep = opts.keep;
    manifest_check(enc, store, keep)?;
    let budget = enc.body_budget();
    let (mut ids, mut inputs, mut cut_n) = (Vec::new(), Vec::new(), 0);
    let (mut pids, mut pinputs, mut pcut) = (Vec::new(), Vec::new(), 0);
    let (mut texts, mut ptexts) = (Vec::new(), Vec::new());
    for (i, (prompt, cands)) in pool.prompts.iter().zip(&pool.candidates).enumerate() {
        let p = enc.plain_ids(prompt)?;
        let prompt_state = TextFingerprint::default().then(prompt);
        let rs: Vec<Vec<u32>> = cands
            .iter()
            .map(|c| enc.plain_ids(&c.response))
            .collect::<Result<_, _>>()?;
        let longest = rs.iter().map(Vec::len).max().unwrap_or(0);
        let pc = cut(&p, prompt_share(p.len(), longest, 0, budget), keep);
        for (c, r) in cands.iter().zip(&rs) {
            let (input, was_cut) = pair_input(enc, pc, p.len(), r);
            cut_n += usize::from(was_cut);
            ids.push(candidate_id(pool.prompt_ids[i], &pool.models[c.model]));
            texts.push(prompt_state.then(&c.response).value());
            inputs.push(input);
        }
        pcut += usize::from(p.len() > budget);
        pids.push(pool.prompt_ids[i].to_string());
        ptexts.push(prompt_state.value());
        pinputs.push(enc.wrap(cut(&p, budget, keep)));
    }
    Ok(vec![
        write_table(
            enc,
            &table_path(store, "candidates", "responses"),
            (ids, texts),
            inputs,
            cut_n,
            opts,
            progress,
        )?,
        write_table(
            enc,
            &table_path(store, "candidates", "prompts"),
            (pids, ptexts),
            pinputs,
            pcut,
            opts,
            progress,
        )?,
    ])
}

/// How many inputs [`featurize_candidates`] encodes.
pub fn candidate_inputs(pool: &CandidatePool) -> usize {
    pool.candidates.iter().map(Vec::len).sum::<usize>() + pool.prompts.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_share_leaves_room_for_responses() {
        // Short responses: the prompt gets the rest of the budget (or all of itself).
        assert_eq!(prompt_share(100, 20, 30, 254), 100);
        assert_eq!(prompt_share(500, 20, 30, 254), 224);
        // Long responses: the prompt still keeps half the budget.
        assert_eq!(prompt_share(500, 300, 10, 254), 127);
        assert_eq!(prompt_share(50, 300, 10, 254), 50);
    }

    #[test]
    fn cut_keeps_the_requested_end() {
        let ids = [1, 2, 3, 4, 5];
        assert_eq!(cut(&ids, 2, PromptKeep::Head), &[1, 2]);
        assert_eq!(cut(&ids, 2, PromptKeep::Tail), &[4, 5]);
        assert_eq!(cut(&ids, 9, PromptKeep::Tail), &ids);
    }
}
