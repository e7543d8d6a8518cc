//! AlpacaEval annotation files as an n-responses-per-prompt candidate pool.
//!
//! A directory holds one `<model>.annotations.json[.gz]` per model: a JSON array of records
//! `{instruction, output_2, preference, ...}` where `output_2` is the model's response and
//! `preference` in [1, 2] the judge's weighted preference of it over a fixed reference. The judge
//! score of the response is `preference − 1` in [0, 1] (shared/data/README.md). The model name is
//! the file name before `.annotations` (NullModel's records say `generator_2: example`).
//!
//! Instructions are joined across files by exact text. A file that lacks some instructions is
//! reported in [`CandidatePool::gaps`], never dropped silently; [`MissingPrompts`] says what to do.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, DataResult};
use crate::io::{column, floats, read_table, strings};
use crate::text::{Candidate, CandidatePool};

/// What to do with instructions that some model files lack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPrompts {
    /// Keep every instruction with the responses that exist (some prompts get fewer candidates).
    #[default]
    Keep,
    /// Keep only instructions every file has.
    Intersect,
    /// Refuse mismatched instruction sets.
    Error,
}

/// The annotation files of `dir`, sorted by name.
///
/// # Errors
///
/// A [`DataError`] when `dir` cannot be listed or holds no `<model>.annotations.json[.gz]` file.
pub fn annotation_files(dir: &Path) -> DataResult<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        DataError::file(dir, format!("cannot list directory: {e}"))
            .with_hint("point at the directory holding <model>.annotations.json.gz files")
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.ends_with(".annotations.json") || n.ends_with(".annotations.json.gz")
            })
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(DataError::file(dir, "no `<model>.annotations.json[.gz]` files here")
            .with_hint("AlpacaEval annotations live in results/<model>/weighted_alpaca_eval_gpt4_turbo/annotations.json of tatsu-lab/alpaca_eval; name each <model>.annotations.json"));
    }
    // One file per model: `phi-2.annotations.json` beside `phi-2.annotations.json.gz` would count
    // the model twice.
    if let Some(w) = files
        .windows(2)
        .find(|w| model_name(&w[0]) == model_name(&w[1]))
    {
        return Err(DataError::file(
            dir,
            format!(
                "model `{}` has two annotation files ({} and {})",
                model_name(&w[0]),
                w[0].file_name().unwrap_or_default().to_string_lossy(),
                w[1].file_name().unwrap_or_default().to_string_lossy()
            ),
        )
        .with_hint("keep one of them (the .gz copy or the plain one)"));
    }
    Ok(files)
}

fn model_name(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.split(".annotations")
        .next()
        .unwrap_or(&name)
        .to_string()
}

/// One model's responses: instruction → (response, score), in file order.
fn load_file(path: &Path) -> DataResult<Vec<(String, String, f32)>> {
    let schema = Schema::from_iter([
        Field::new("instruction".into(), DataType::String),
        Field::new("output_2".into(), DataType::String),
        Field::new("preference".into(), DataType::Float64),
    ]);
    let df = read_table(path, Some(&schema))?;
    let instructions = strings(path, "instruction", column(path, &df, "instruction")?)?;
    let outputs = strings(path, "output_2", column(path, &df, "output_2")?)?;
    let preference = floats(path, "preference", column(path, &df, "preference")?)?;
    let mut seen = HashMap::new();
    let mut rows = Vec::with_capacity(instructions.len());
    for (row, ((ins, out), pref)) in instructions
        .into_iter()
        .zip(outputs)
        .zip(preference)
        .enumerate()
    {
        // alpaca_eval's older annotations code a draw as 0 (its loader maps 0 to 1.5).
        let pref = if pref == 0.0 { 1.5 } else { pref };
        if !(1.0..=2.0).contains(&pref) {
            return Err(DataError::at(
                path,
                row,
                "preference",
                format!("{pref} is outside [1, 2] (0, the older draw code, reads as 1.5)"),
            ));
        }
        if let Some(first) = seen.insert(ins.clone(), row) {
            return Err(DataError::at(
                path,
                row,
                "instruction",
                format!("duplicate instruction (first at row {first}, 0-based)"),
            ));
        }
        rows.push((ins, out, (pref - 1.0) as f32));
    }
    Ok(rows)
}

/// Loads every annotation file of `dir` into one candidate pool. Prompts are ordered by first
/// appearance (files in name order); candidates within a prompt by model (file) order.
///
/// # Errors
///
/// The errors of [`annotation_files`], and a [`DataError`] naming file, row and field for an
/// unreadable or malformed file, a missing or non-numeric `preference`, or instruction sets that
/// differ between files under [`MissingPrompts::Error`].
pub fn load(dir: &Path, missing: MissingPrompts) -> DataResult<CandidatePool> {
    let files = annotation_files(dir)?;
    let per_file: Vec<Vec<(String, String, f32)>> = files
        .iter()
        .map(|f| load_file(f))
        .collect::<DataResult<_>>()?;
    let mut prompt_index: HashMap<&str, usize> = HashMap::new();
    let mut prompts: Vec<String> = Vec::new();
    for rows in &per_file {
        for (ins, _, _) in rows {
            if !prompt_index.contains_key(ins.as_str()) {
                prompt_index.insert(ins, prompts.len());
                prompts.push(ins.clone());
            }
        }
    }
    let mut candidates: Vec<Vec<Candidate>> = vec![Vec::new(); prompts.len()];
    for (model, rows) in per_file.iter().enumerate() {
        for (ins, out, score) in rows {
            candidates[prompt_index[ins.as_str()]].push(Candidate {
                model,
                response: out.clone(),
                score: *score,
            });
        }
    }
    let models: Vec<String> = files.iter().map(|f| model_name(f)).collect();
    let mut pool = CandidatePool::new(files, models, prompts, candidates);
    if let (Some((model, lacks)), MissingPrompts::Error) = (pool.gaps.first(), missing) {
        return Err(DataError::file(
            &pool.sources[*model],
            format!(
                "lacks {} of {} instructions (first: {:?})",
                lacks.len(),
                pool.prompts.len(),
                truncate(&lacks[0], 60)
            ),
        )
        .with_hint("set `missing: keep` or `missing: intersect`, or remove the file"));
    }
    if missing == MissingPrompts::Intersect {
        pool.keep_prompts_with(pool.models.len());
    }
    pool.score_sources = [("preference - 1".to_string(), pool.prompts.len())]
        .into_iter()
        .collect();
    Ok(pool)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
