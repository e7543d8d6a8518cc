//! The integration tests of activepref-acquire, as one binary (one module per file).

mod auf_reference_vectors;
mod common;
mod knn_index;
mod python_golden;
mod reference_vectors;
