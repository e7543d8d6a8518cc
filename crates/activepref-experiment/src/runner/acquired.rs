//! The pair loop's acquired dataset: `runs/<stem>.pairs.jsonl` and `.pairs.parquet`, in the layout
//! TRL-style DPO and reward-model trainers read.

use std::path::Path;

use activepref_core::PairBenchmark;
use activepref_loop::AcquiredPair;
use serde::Serialize;

use super::error::{RunError, write_file};

/// One acquired pair in the layout TRL-style DPO and reward-model trainers read (`prompt`,
/// `chosen`, `rejected`), with where it came from: `runs/<stem>.pairs.jsonl` and `.pairs.parquet`,
/// in loop order. The synthetic benchmark has no texts: its prompts read `synthetic prompt <id>`
/// and its responses `response <index>`, model `synthetic`.
#[derive(Serialize)]
pub struct AcquiredPairRow<'a> {
    /// The 0-based loop round that picked the pair.
    pub round: usize,
    /// The prompt's id in the benchmark's stream.
    pub prompt_id: u32,
    /// The prompt text.
    pub prompt: &'a str,
    /// The chosen (judge-preferred) response's text.
    pub chosen: &'a str,
    /// The rejected response's text.
    pub rejected: &'a str,
    /// Index of the chosen response among the prompt's candidates.
    pub chosen_index: usize,
    /// Index of the rejected response among the prompt's candidates.
    pub rejected_index: usize,
    /// The model that wrote the chosen response (`synthetic` on the synthetic benchmark).
    pub chosen_model: &'a str,
    /// The model that wrote the rejected response (`synthetic` on the synthetic benchmark).
    pub rejected_model: &'a str,
    /// The judge's score of the chosen response.
    pub chosen_score: f32,
    /// The judge's score of the rejected response.
    pub rejected_score: f32,
    /// The model's predicted mean reward of the chosen response when the pair was picked.
    pub chosen_mu: f32,
    /// The model's predicted spread (ensemble standard deviation) of the chosen response.
    pub chosen_sd: f32,
    /// The model's predicted mean reward of the rejected response.
    pub rejected_mu: f32,
    /// The model's predicted spread (ensemble standard deviation) of the rejected response.
    pub rejected_sd: f32,
}

/// Writes a pair run's acquired dataset as JSON lines and Parquet (both atomically); returns the
/// extensions the run's seal covers: the JSON lines (the Parquet file is a copy made from them,
/// which a sync that skips `*.parquet` must not turn into a redone run).
pub(crate) fn write_acquired_dataset(
    bench: &PairBenchmark,
    acquired: &[AcquiredPair],
    runs_dir: &Path,
    stem: &str,
) -> Result<Vec<&'static str>, RunError> {
    let synthetic: Vec<(String, Vec<String>)> = acquired
        .iter()
        .map(|p| {
            let c = &bench.stream[p.prompt];
            (
                format!("synthetic prompt {}", c.prompt_id),
                (0..c.judge.len())
                    .map(|i| format!("response {i}"))
                    .collect(),
            )
        })
        .collect();
    let mut jsonl = String::new();
    for (p, (sp, sr)) in acquired.iter().zip(&synthetic) {
        let c = &bench.stream[p.prompt];
        let (prompt, responses, models): (&str, &[String], Option<&[String]>) = match &c.text {
            Some(t) => (&t.prompt, &t.responses, Some(&t.models)),
            None => (sp, sr, None),
        };
        let model = |i: usize| models.map_or("synthetic", |m| m[i].as_str());
        let row = AcquiredPairRow {
            round: p.round,
            prompt_id: c.prompt_id,
            prompt,
            chosen: &responses[p.chosen],
            rejected: &responses[p.rejected],
            chosen_index: p.chosen,
            rejected_index: p.rejected,
            chosen_model: model(p.chosen),
            rejected_model: model(p.rejected),
            chosen_score: c.judge[p.chosen],
            rejected_score: c.judge[p.rejected],
            chosen_mu: p.chosen_mu,
            chosen_sd: p.chosen_sd,
            rejected_mu: p.rejected_mu,
            rejected_sd: p.rejected_sd,
        };
        let line = serde_json::to_string(&row).map_err(|e| RunError::Serialise {
            path: runs_dir.join(format!("{stem}.pairs.jsonl")),
            error: e.to_string(),
        })?;
        jsonl.push_str(&line);
        jsonl.push('\n');
    }
    let jsonl_path = runs_dir.join(format!("{stem}.pairs.jsonl"));
    write_file(&jsonl_path, jsonl.as_bytes())?;
    // Parquet through polars (written atomically), from the JSON lines just written; a run that
    // acquired nothing has no rows to type, so no Parquet copy.
    if acquired.is_empty() {
        return Ok(vec!["pairs.jsonl"]);
    }
    let parquet = runs_dir.join(format!("{stem}.pairs.parquet"));
    activepref_data::io::convert_to_parquet(&jsonl_path, &parquet, None).map_err(|e| {
        RunError::Serialise {
            path: parquet,
            error: e.to_string(),
        }
    })?;
    Ok(vec!["pairs.jsonl"])
}
