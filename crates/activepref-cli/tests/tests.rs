//! The integration tests of activepref-cli, as one binary (one module per file).

mod cli_errors;
mod sweep;
