//! ActiveUltraFeedback's own layout (specs/activeuf.md §4, stage 5 `4_merged_annotations`): one row
//! per prompt, `{prompt_id, prompt, completions: [{model, response_text, overall_score,
//! annotations, ...}, ...]}`, as UltraFeedback ships and as the reference writes it. Other fields
//! are ignored.
//!
//! - **Files**: JSON lines, Parquet, an Arrow IPC file, or a directory saved by HF `datasets`
//!   (`save_to_disk`: `data-*.arrow` IPC streams, in the order `state.json` lists them, else by
//!   name); a directory of any of these files is read in name order. Gzip is undone transparently.
//! - **`prompt`**: text, or a list of chat messages `{role, content}` (the loop accepts both); a list
//!   becomes its user messages' contents, joined by a blank line.
//! - **Judge score**: `overall_score`, a number or text holding one (the schema types it `str`, the
//!   pipeline stores a float; spec §7 item 25). Where it is missing, null or empty, it is computed
//!   from `annotations` as the reference does (combine_annotated_completions.py:8-14): the mean over
//!   aspects of the expected rating `Σ_k k·p_a(k)`, k = 1..5, a digit without a probability counting
//!   0 (an aspect with no probability at all, e.g. a null annotation, is left out of the mean). A
//!   completion with neither is an error naming the row and model; so is a non-finite score (the
//!   reference's NaN scores, spec §7 item 19).
//! - **One scale per prompt**: `overall_score` is UltraFeedback's 1–10 critique score and the
//!   annotation aggregate lies on the aspects' 1–5 scale, so a prompt never mixes them. When every
//!   completion of a prompt has an `overall_score`, those are its scores; when any lacks one, every
//!   completion of that prompt is scored from its annotations (and one without annotations is an
//!   error naming the row). The reference takes each completion's score from its own source, which
//!   ranks a response rated 5/5 on every aspect below 6/10 and 7/10 ones.
//! - **Candidate order**: the row's `completions` order (the reference's index j). Every model may
//!   answer a prompt once.
//! - **Equal n**: the reference needs the same number of completions per prompt (it reshapes to
//!   `(prompts, n)`); activepref's loop does not. `missing` says what to do with prompts that have
//!   fewer completions than the most complete one: `keep` them (default), `intersect` (drop them,
//!   as the reference's data never has any), or `error`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::alpaca_eval::MissingPrompts;
use crate::error::{DataError, DataResult};
use crate::io::{column, integers, read_table, strings, struct_field};
use crate::text::{Candidate, CandidatePool};

/// The table files of `path`: the file itself, or a directory's data files (a `datasets`
/// directory's `state.json` order when it has one).
///
/// # Errors
///
/// A [`DataError`] when a directory cannot be listed or its `state.json` is not valid JSON.
pub fn data_files(path: &Path) -> DataResult<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let state = path.join("state.json");
    if let Ok(text) = std::fs::read_to_string(&state) {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| DataError::file(&state, format!("not valid JSON: {e}")))?;
        if let Some(files) = v.get("_data_files").and_then(|f| f.as_array()) {
            let names: Vec<PathBuf> = files
                .iter()
                .filter_map(|f| f.get("filename").and_then(|n| n.as_str()))
                .map(|n| path.join(n))
                .collect();
            if !names.is_empty() {
                return Ok(names);
            }
        }
    }
    let data: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| DataError::file(path, format!("cannot list directory: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.to_string_lossy().to_lowercase();
            let n = n.strip_suffix(".gz").unwrap_or(&n);
            [".arrow", ".parquet", ".jsonl", ".ndjson", ".json"]
                .iter()
                .any(|e| n.ends_with(e))
                && !n.ends_with("dataset_info.json")
                && !n.ends_with("state.json")
        })
        .collect();
    let mut data = data;
    data.sort();
    if data.is_empty() {
        return Err(DataError::file(path, "holds no data files").with_hint(
            "point at a .jsonl/.parquet/.arrow file or a `datasets` save_to_disk directory",
        ));
    }
    Ok(data)
}

/// Scores from an `overall_score` field of any type: `None` where null or empty text.
fn optional_scores(
    path: &Path,
    field: &str,
    s: &Series,
    row: usize,
) -> DataResult<Vec<Option<f64>>> {
    if s.dtype() == &DataType::Null {
        return Ok(vec![None; s.len()]);
    }
    if s.dtype().is_primitive_numeric() {
        let c = s
            .cast(&DataType::Float64)
            .map_err(|e| DataError::field(path, field, e.to_string()))?;
        return Ok(c.f64().expect("cast to f64").iter().collect());
    }
    let ca = s.str().map_err(|_| {
        DataError::at(
            path,
            row,
            field,
            format!("expected a number, found {}", s.dtype()),
        )
    })?;
    ca.iter()
        .map(|v| match v.map(str::trim) {
            None | Some("") => Ok(None),
            Some(t) => t.parse().map(Some).map_err(|_| {
                DataError::at(path, row, field, format!("expected a number, found {t:?}"))
            }),
        })
        .collect()
}

/// The reference's aggregate of `annotations` (aspect → {"1": p, …, "5": p}) per completion.
fn aggregate_annotations(path: &Path, s: &Series, row: usize) -> DataResult<Vec<Option<f64>>> {
    let field = "completions.annotations";
    let Ok(aspects) = s.struct_() else {
        return match s.dtype() {
            DataType::Null => Ok(vec![None; s.len()]),
            other => Err(wrong_shape(path, row, field, other)),
        };
    };
    let mut sums = vec![0.0f64; s.len()];
    // Per completion: aspects with at least one digit probability (a null annotation has none).
    let mut rated = vec![0usize; s.len()];
    for aspect in aspects.fields_as_series() {
        let at = format!("{field}.{}", aspect.name());
        let digits = match aspect.struct_() {
            Ok(d) => d,
            Err(_) if aspect.dtype() == &DataType::Null => continue,
            Err(_) => return Err(wrong_shape(path, row, &at, aspect.dtype())),
        };
        // A map without any digit key (UltraFeedback's own `{"Rating": "4", "Rationale": ...}`)
        // is another layout, not a missing rating.
        let keys: Vec<String> = digits
            .fields_as_series()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        if !keys
            .iter()
            .any(|k| matches!(k.as_str(), "1" | "2" | "3" | "4" | "5"))
        {
            return Err(wrong_shape(
                path,
                row,
                &at,
                &format!("a map with keys {}", keys.join(", ")),
            ));
        }
        let mut any = vec![false; s.len()];
        for k in 1..=5u32 {
            let Ok(p) = digits.field_by_name(&k.to_string()) else {
                continue;
            };
            let p = optional_scores(path, field, &p, row)?;
            for ((sum, any), p) in sums.iter_mut().zip(&mut any).zip(p) {
                if let Some(p) = p {
                    *sum += f64::from(k) * p;
                    *any = true;
                }
            }
        }
        for (r, a) in rated.iter_mut().zip(any) {
            *r += usize::from(a);
        }
    }
    // The mean over the aspects a completion was rated on; none: no score from annotations.
    Ok(sums
        .into_iter()
        .zip(rated)
        .map(|(x, n)| (n > 0).then(|| x / n as f64))
        .collect())
}

/// An `annotations` value of another shape than aspect → `{"1": p, …, "5": p}`.
fn wrong_shape(path: &Path, row: usize, field: &str, found: &dyn std::fmt::Display) -> DataError {
    DataError::at(
        path,
        row,
        field,
        format!("expected a map of aspects, each a map of rating probabilities {{\"1\": p, …, \"5\": p}} (ActiveUltraFeedback's merged annotations), found {found}"),
    )
    .with_hint("give each completion an overall_score instead, or annotations in that layout")
}

/// A row's prompt text: the text itself, or the user messages of a chat list.
fn prompt_texts(path: &Path, s: &Series) -> DataResult<Vec<String>> {
    if s.dtype() == &DataType::String {
        return strings(path, "prompt", s);
    }
    let list = s.list().map_err(|_| {
        DataError::field(
            path,
            "prompt",
            format!("expected text or a list of messages, found {}", s.dtype()),
        )
    })?;
    (0..s.len())
        .map(|row| {
            let messages = list
                .get_as_series(row)
                .ok_or_else(|| DataError::at(path, row, "prompt", "missing"))?;
            let content = strings(
                path,
                "prompt.content",
                &struct_field(path, "prompt", &messages, "content")?,
            )
            .map_err(|e| e.with_row(row))?;
            let role = strings(
                path,
                "prompt.role",
                &struct_field(path, "prompt", &messages, "role")?,
            )
            .map_err(|e| e.with_row(row))?;
            Ok(content
                .into_iter()
                .zip(role)
                .filter(|(_, r)| r == "user")
                .map(|(c, _)| c)
                .collect::<Vec<_>>()
                .join("\n\n"))
        })
        .collect()
}

/// The rows of one file: (prompt id, prompt, [(model, response, score)], scored from the
/// annotations rather than `overall_score`).
type Row = (String, String, Vec<(String, String, f32)>, bool);

fn load_file(path: &Path) -> DataResult<Vec<Row>> {
    let df = read_table(path, None)?;
    let ids = column(path, &df, "prompt_id")?;
    let ids: Vec<String> = if ids.dtype().is_integer() {
        integers(path, "prompt_id", ids)?
            .iter()
            .map(i64::to_string)
            .collect()
    } else {
        strings(path, "prompt_id", ids)?
    };
    let prompts = prompt_texts(path, column(path, &df, "prompt")?)?;
    let completions = column(path, &df, "completions")?;
    let list = completions.list().map_err(|_| {
        DataError::field(
            path,
            "completions",
            format!(
                "expected a list of completions, found {}",
                completions.dtype()
            ),
        )
    })?;
    let mut rows = Vec::with_capacity(df.height());
    for row in 0..df.height() {
        let c = list
            .get_as_series(row)
            .ok_or_else(|| DataError::at(path, row, "completions", "missing"))?;
        let (cands, from_overall) = row_candidates(path, &c, row, &ids[row])?;
        rows.push((ids[row].clone(), prompts[row].clone(), cands, !from_overall));
    }
    Ok(rows)
}

/// One candidate as read: (model, response text, judge score).
type Candidate3 = (String, String, f32);

/// One prompt's candidates `(model, response, score)` from its `completions` list `c` (row
/// `row`, prompt `id`), and whether the scores are `overall_score` (else the annotation
/// aggregate, for every completion of the prompt alike).
fn row_candidates(
    path: &Path,
    c: &Series,
    row: usize,
    id: &str,
) -> DataResult<(Vec<Candidate3>, bool)> {
    let at_row = |e: DataError| e.with_row(row);
    let models = strings(
        path,
        "completions.model",
        &struct_field(path, "completions", c, "model").map_err(at_row)?,
    )
    .map_err(at_row)?;
    let responses = strings(
        path,
        "completions.response_text",
        &struct_field(path, "completions", c, "response_text").map_err(at_row)?,
    )
    .map_err(at_row)?;
    let scores = match struct_field(path, "completions", c, "overall_score") {
        Ok(s) => optional_scores(path, "completions.overall_score", &s, row)?,
        Err(_) => vec![None; c.len()],
    };
    let from_annotations = match struct_field(path, "completions", c, "annotations") {
        Ok(s) if scores.iter().any(Option::is_none) => aggregate_annotations(path, &s, row)?,
        _ => vec![None; c.len()],
    };
    // One scale per prompt: overall_score for all, or the annotation aggregate for all.
    let from_overall = scores.iter().all(Option::is_some);
    // A completion with no score at all is the first thing to name.
    let unscored = (0..c.len()).find(|&k| scores[k].is_none() && from_annotations[k].is_none());
    let mut cands = Vec::with_capacity(c.len());
    for (k, model) in models.into_iter().enumerate() {
        let score = match unscored {
            Some(u) if u != k => continue,
            Some(_) => None,
            None if from_overall => scores[k],
            None => from_annotations[k],
        };
        let score = score.ok_or_else(|| {
            let why = if scores[k].is_some() {
                "has an overall_score (1-10) but no annotations, while a sibling completion has no overall_score; a prompt is scored on one scale, so every completion needs annotations (1-5) here"
            } else {
                "has no overall_score and no annotations to compute it from"
            };
            let field = if scores[k].is_some() {
                "completions.annotations"
            } else {
                "completions.overall_score"
            };
            DataError::at(path, row, field, format!("completion {k} (model {model}) {why}"))
            .with_hint("fill in the missing scores, or drop the prompt")
        })?;
        if !score.is_finite() {
            return Err(DataError::at(
                path,
                row,
                "completions.overall_score",
                format!("completion {k} (model {model}) has score {score}, not a finite number"),
            )
            .with_hint("the judge gave no digit probability; drop the prompt or re-annotate it"));
        }
        if cands
            .iter()
            .any(|(m, _, _): &(String, String, f32)| *m == model)
        {
            return Err(DataError::at(
                path,
                row,
                "completions.model",
                format!("model {model} answers prompt {id} twice"),
            ));
        }
        cands.push((model, responses[k].clone(), score as f32));
    }
    Ok((cands, from_overall))
}

/// Loads a completions dataset into a candidate pool. Models are indexed in order of first
/// appearance; prompts keep the file order.
///
/// # Errors
///
/// The errors of [`data_files`], and a [`DataError`] naming file, row and field for an unreadable
/// or malformed table, a missing or mistyped field, a prompt without a score, or prompts missing
/// from some model under [`MissingPrompts::Error`].
pub fn load(path: &Path, missing: MissingPrompts) -> DataResult<CandidatePool> {
    let files = data_files(path)?;
    let mut models: Vec<String> = vec![];
    let mut model_index: HashMap<String, usize> = HashMap::new();
    let mut seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
    let mut prompts = vec![];
    let mut candidates: Vec<Vec<Candidate>> = vec![];
    // Per prompt (load order): scored from its annotations rather than overall_score.
    let mut annotated_prompts: Vec<bool> = vec![];
    for file in &files {
        for (row, (id, prompt, cands, annotated)) in load_file(file)?.into_iter().enumerate() {
            if let Some((f, r)) = seen.insert(id.clone(), (file.clone(), row)) {
                return Err(DataError::at(
                    file,
                    row,
                    "prompt_id",
                    format!(
                        "{id:?} appears twice (first in {} row {r}, 0-based)",
                        f.display()
                    ),
                ));
            }
            annotated_prompts.push(annotated);
            let cands = cands
                .into_iter()
                .map(|(model, response, score)| {
                    let next = models.len();
                    let m = *model_index.entry(model.clone()).or_insert(next);
                    if m == next {
                        models.push(model);
                    }
                    Candidate {
                        model: m,
                        response,
                        score,
                    }
                })
                .collect();
            prompts.push(prompt);
            candidates.push(cands);
        }
    }
    let most = candidates.iter().map(Vec::len).max().unwrap_or(0);
    let short: Vec<usize> = (0..prompts.len())
        .filter(|&p| candidates[p].len() < most)
        .collect();
    if !short.is_empty() && missing == MissingPrompts::Error {
        let p = short[0];
        return Err(DataError::file(
            path,
            format!(
                "{} of {} prompts have fewer than {most} completions (first: prompt {p} has {})",
                short.len(),
                prompts.len(),
                candidates[p].len()
            ),
        )
        .with_hint(
            "set `missing: keep` to use them as they are, or `missing: intersect` to drop them",
        ));
    }
    let mut pool = CandidatePool::new(files, models, prompts, candidates);
    if missing == MissingPrompts::Intersect {
        pool.keep_prompts_with(most);
    }
    // Counted over the prompts kept.
    let annotated = pool
        .prompt_ids
        .iter()
        .filter(|&&p| annotated_prompts[p])
        .count();
    pool.score_sources = [
        ("overall_score".to_string(), pool.prompts.len() - annotated),
        ("annotations (1-5 aggregate)".to_string(), annotated),
    ]
    .into_iter()
    .filter(|(_, k)| *k > 0)
    .collect();
    Ok(pool)
}
