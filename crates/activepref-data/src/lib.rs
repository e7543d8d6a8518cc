//! # activepref-data
//!
//! Owns the **data** arrow of the pipeline:
//! - the text-level forms of the records ([`text`]) that it turns into activepref-core's in-memory
//!   ones ([`FeatureMatrix`](activepref_core::FeatureMatrix),
//!   [`PoolSplit`](activepref_core::PoolSplit), [`PoolBenchmark`](activepref_core::PoolBenchmark));
//! - loaders for the real dataset formats, all parsed with polars ([`formats`]: summarize-from-feedback,
//!   HH-RLHF, AlpacaEval, generic pairs), with one error type that names file, row and field ([`error`]);
//! - the feature store (safetensors tables keyed by row id, `.npy` and BAL-PM hub importers,
//!   [`feature_store`]) and the join of records with features into benchmarks ([`assemble`]);
//! - Hugging Face Hub downloads into the standard cache, offline mode included ([`hub`]);
//! - the seeded synthetic benchmarks that are the embedded default ([`synthetic`], [`synthetic_pairs`]);
//! - its random draws (synthetic data, prompt splits) go through activepref-core's seed scheme
//!   ([`activepref_core::seeds`]), their streams named in [`activepref_core::seeds::data_draw`].

#![warn(missing_docs)]

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
