//! The integration tests of activepref-experiment, as one binary (one module per file).

mod bounds;
mod paper_files;
mod real_data;
mod runner;
