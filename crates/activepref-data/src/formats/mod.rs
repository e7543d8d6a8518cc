//! Loaders for the dataset formats researchers have (DESIGN.md "Data formats to support"), all
//! parsed with polars: [`summarize`] (OpenAI summarize-from-feedback, JSON lines or HF parquet),
//! [`hh_rlhf`] (Anthropic HH-RLHF transcripts), [`alpaca_eval`] (AlpacaEval annotations as a
//! candidate pool), [`completions`] (ActiveUltraFeedback's `completions`/`overall_score` rows as a
//! candidate pool) and [`pairs`] (any pair table with a column mapping).

pub mod alpaca_eval;
pub mod completions;
pub mod hh_rlhf;
pub mod pairs;
pub mod summarize;
