//! # activepref-data
//!
//! Owns the **data** arrow of the pipeline:
//! - the in-memory records every other crate works on ([`FeatureMatrix`], [`PoolSplit`],
//!   [`PoolBenchmark`]) and their text-level forms before features ([`text`]);
//! - loaders for the real dataset formats, all parsed with polars ([`formats`]: summarize-from-feedback,
//!   HH-RLHF, AlpacaEval, generic pairs), with one error type that names file, row and field ([`error`]);
//! - the feature store (safetensors tables keyed by row id, `.npy` and BAL-PM hub importers,
//!   [`feature_store`]) and the join of records with features into benchmarks ([`assemble`]);
//! - Hugging Face Hub downloads into the standard cache, offline mode included ([`hub`]);
//! - the seeded synthetic benchmarks that are the embedded default ([`synthetic`], [`synthetic_pairs`]);
//! - the seed-derivation scheme ([`seeds`]) every random draw in activepref goes through.

pub mod assemble;
pub mod error;
pub mod feature_store;
pub mod formats;
pub mod hub;
pub mod io;
pub mod sources;
pub mod synthetic;
pub mod synthetic_pairs;
pub mod text;

pub use error::{DataError, DataResult};
