//! The integration tests of activepref-encode, as one binary (one module per file).

mod common;
mod errors;
mod featurize;
mod golden;
