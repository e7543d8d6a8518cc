//! One module per command (or family of commands): each owns its `clap::Args` struct and a
//! function that runs it. `main.rs` only parses and dispatches.

pub mod bench_knn;
pub mod bench_model;
pub mod data;
pub mod inspect;
pub mod policies;
pub mod report;
pub mod run;
pub mod sweep;
pub mod validate;
