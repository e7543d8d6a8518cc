//! # activepref-core
//!
//! The types every other crate shares, and nothing that needs a heavy dependency (no polars, no
//! burn):
//! - [`FeatureMatrix`] (f32 bulk features) and [`PromptFeatures`] (each distinct prompt vector
//!   stored once) in [`features`];
//! - the benchmark types of both settings in [`benchmark`]: [`PoolSplit`] / [`PoolBenchmark`]
//!   (BAL-PM's pool of comparisons) and [`PromptCandidates`] / [`PairBenchmark`]
//!   (ActiveUltraFeedback's prompts with candidate responses);
//! - [`EnsemblePrediction`]: per-member logits and every uncertainty measure and evaluation metric
//!   derived from them ([`prediction`]);
//! - the seed-derivation scheme every random draw in activepref goes through ([`seeds`]);
//! - the choice of label-saving definition a report uses ([`saving`]);
//! - the one atomic file writer ([`io::write_atomic`]);
//! - the run-time choice of vector width the hand-vectorised element-wise kernels share
//!   ([`simd::VectorIsa`]);
//! - [`FieldError`], the "field: what is wrong (how to fix it)" error of every `validate()`.
//!
//! Loaders, the feature store and hub downloads live in `activepref-data`; models in
//! `activepref-model`.

#![warn(missing_docs)]

pub mod benchmark;
pub mod error;
pub mod features;
pub mod io;
pub mod prediction;
pub mod saving;
pub mod seeds;
pub mod simd;

pub use benchmark::{
    BenchmarkError, CandidateTexts, ComparisonLength, PairBenchmark, PoolBenchmark, PoolSplit,
    PromptCandidates,
};
pub use error::FieldError;
pub use features::{FeatureError, FeatureMatrix, PromptFeatures};
pub use prediction::{EnsemblePrediction, EvalMetrics, binary_entropy_from_logit};
