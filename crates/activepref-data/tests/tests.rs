//! The integration tests of activepref-data, as one binary (one module per file).

mod columns;
mod feature_store;
mod formats;
mod malformed;
