//! The exact neighbour index behind BAL-PM's kNN entropy term at paper scale.
//!
//! [`PromptKnnIndex`] holds, for every distinct prompt vector of a feature table, its `K` nearest
//! distinct prompts (itself included, at distance 0) with their **exact** distances: the f64
//! difference form of [`euclidean`], the very numbers the brute force compares. It is built once per
//! feature table ([`PromptKnnIndex::build`]); [`IndexedKnnEntropyBonus`] then gives, round after round,
//! exactly the radii and counts of [`crate::KnnEntropyBonus`] without an all-pairs pass.
//!
//! ## Why the index is exact
//! The build finds candidates with a blocked f32 GEMM (`‖a‖² + ‖b‖² − 2 a·b`, norms in f64). For a
//! dot product of length `D` computed in f32 in any summation order, with or without FMA,
//! `|fl(a·b) − a·b| ≤ γ_D ‖a‖ ‖b‖` with `γ_D = D u / (1 − D u)`, `u = 2⁻²⁴` (Higham, *Accuracy and
//! Stability of Numerical Algorithms*, §3.1) as long as nothing underflows. So each squared distance
//! lies in `[s − e, s + e]` with `e = 2 γ_D ‖a‖ ‖b‖ + 10⁻¹⁰ (‖a‖² + ‖b‖²) + 4 D · 2⁻¹²⁶`: the second
//! term covers the f64 rounding of the norms, of the sum and of the exact recomputation, the third
//! the absolute error of products and sums that underflow (even if the kernel flushes subnormals to
//! zero). A property test with subnormal coordinates caught the need for the third. With `τ` the K-th smallest upper bound of a row, every
//! prompt whose exact distance is among the K smallest has a lower bound `≤ τ`; all of those are
//! recomputed exactly and the K smallest kept. Hence a row's list is exactly a prefix of its
//! neighbours sorted by the exact distance (ties at the last distance aside), whatever the GEMM did.
//!
//! ## Per round
//! Points only leave the unlabelled pool. A prompt's radius is found by walking its list forward,
//! adding the unlabelled multiplicity of each entry until `k` is covered; the labelled count sums the
//! labelled multiplicities of the entries within the radius. Both are exact whenever the radius is
//! below the list's last distance (or the list holds every prompt); otherwise that prompt falls back
//! to an exact brute-force pass over the table. In-batch updates use the reverse lists ("whose list
//! holds the picked prompt"), with the same fallback.

use std::io::{Read, Write};
use std::path::PathBuf;

use activepref_core::{FeatureMatrix, PromptFeatures};
use rayon::prelude::*;
use statrs::function::gamma::digamma;

use crate::knn::euclidean;

mod bonus;
mod store;

pub use bonus::IndexedKnnEntropyBonus;
pub(crate) use bonus::ksg_term;

/// Rows of the table per GEMM block (a rayon task).
const ROW_BLOCK: usize = 256;
/// Columns of the table per GEMM block.
const COL_BLOCK: usize = 2048;
/// Format tag of the cache file.
const MAGIC: &[u8; 8] = b"APKNNv01";

/// Neighbours kept per prompt for BAL-PM's `k`: enough that, as a quarter of the pool is labelled
/// over a paper-scale run, a list is rarely exhausted (an exhausted list costs one brute-force pass).
pub fn index_k_for(k: usize) -> usize {
    (4 * k).max(64)
}

/// What an index was built from: the table's content hash and shape, and `K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexKey {
    /// FNV-1a hash of the table's f32 bit patterns (row-major).
    pub table_hash: u64,
    /// Rows of the table (distinct prompts).
    pub rows: usize,
    /// Width (columns) of the table.
    pub dim: usize,
    /// Neighbours `K` kept per row (see [`index_k_for`]).
    pub k: usize,
}

impl IndexKey {
    /// The key of `table` with `k` neighbours per row.
    pub fn of(table: &FeatureMatrix, k: usize) -> Self {
        // FNV-1a over the f32 bit patterns, in parallel chunks combined in order (deterministic).
        let chunk_hashes: Vec<u64> = table
            .as_slice()
            .par_chunks(1 << 16)
            .map(|c| {
                c.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
                    (h ^ v.to_bits() as u64).wrapping_mul(0x0000_0100_0000_01b3)
                })
            })
            .collect();
        let table_hash = chunk_hashes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &c| {
            (h ^ c).wrapping_mul(0x0000_0100_0000_01b3)
        });
        Self {
            table_hash,
            rows: table.rows(),
            dim: table.dim(),
            k,
        }
    }

    /// The cache file name for this key.
    pub fn file_name(&self) -> String {
        format!(
            "knn-index-{:016x}-{}x{}-k{}.bin",
            self.table_hash, self.rows, self.dim, self.k
        )
    }

    /// The key whose [`Self::file_name`] is `name`, or `None` for any other name (so a user's
    /// `knn-index-mine.bin` is not taken for a cache file).
    ///
    /// ```
    /// use activepref_acquire::IndexKey;
    /// let key = IndexKey { table_hash: 0xabc, rows: 18_547, dim: 4_096, k: 64 };
    /// assert_eq!(key.file_name(), "knn-index-0000000000000abc-18547x4096-k64.bin");
    /// assert_eq!(IndexKey::from_file_name(&key.file_name()), Some(key));
    /// assert_eq!(IndexKey::from_file_name("knn-index-mine.bin"), None);
    /// ```
    pub fn from_file_name(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("knn-index-")?.strip_suffix(".bin")?;
        let (hash, rest) = rest.split_once('-')?;
        let (shape, k) = rest.split_once("-k")?;
        let (rows, dim) = shape.split_once('x')?;
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let hex = hash.len() == 16 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let key = IndexKey {
            table_hash: hex.then(|| u64::from_str_radix(hash, 16).ok()).flatten()?,
            rows: number(rows)?,
            dim: number(dim)?,
            k: number(k)?,
        };
        // Exactly the name `file_name` writes (no leading zeros in the numbers, say).
        (key.file_name() == name).then_some(key)
    }
}

/// Why an index could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading or writing the cache file failed.
    #[error("{path}: {why}")]
    Io {
        /// The file (or directory) involved.
        path: PathBuf,
        /// The I/O error, as text.
        why: String,
    },
}

/// The K nearest distinct prompts of every row of a prompt table, with exact distances.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptKnnIndex {
    key: IndexKey,
    /// Entries per row: `min(K, rows)`.
    len: usize,
    /// Row-major `rows × len`: neighbour rows, ascending by (exact distance, row).
    neighbours: Vec<u32>,
    distances: Vec<f64>,
    /// Reverse lists in CSR form: the rows whose list holds row `b` are
    /// `rev_rows[rev_start[b]..rev_start[b + 1]]`, at distances `rev_dist[..]`.
    rev_start: Vec<usize>,
    rev_rows: Vec<u32>,
    rev_dist: Vec<f64>,
}

impl PromptKnnIndex {
    /// Builds the index of `table` with `k` neighbours per row. `progress(rows_done)` is called as
    /// row blocks finish (from worker threads). The result does not depend on the thread count.
    pub fn build(table: &FeatureMatrix, k: usize, progress: &(dyn Fn(usize) + Sync)) -> Self {
        Self::build_keyed(table, IndexKey::of(table, k), progress)
    }

    /// [`Self::build`] for a key already computed from `table` (hashing a paper-scale table once).
    fn build_keyed(
        table: &FeatureMatrix,
        key: IndexKey,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Self {
        let k = key.k;
        assert!(k >= 1, "an index needs k ≥ 1");
        let (n, d) = (table.rows(), table.dim());
        let len = k.min(n);
        let norm2: Vec<f64> = (0..n)
            .into_par_iter()
            .map(|i| table.row(i).iter().map(|&v| (v as f64) * (v as f64)).sum())
            .collect();
        let unit = (-24f64).exp2();
        let du = d as f64 * unit;
        let gamma = if du < 0.5 {
            du / (1.0 - du)
        } else {
            f64::INFINITY
        };
        let underflow = 4.0 * d as f64 * (-126f64).exp2();
        let blocks: Vec<usize> = (0..n).step_by(ROW_BLOCK).collect();
        let lists: Vec<Vec<Vec<(f64, u32)>>> = blocks
            .par_iter()
            .map(|&r0| {
                let rows = ROW_BLOCK.min(n - r0);
                let out = Self::build_block(table, &norm2, (gamma, underflow), r0, rows, len);
                progress(rows);
                out
            })
            .collect();
        let mut neighbours = Vec::with_capacity(n * len);
        let mut distances = Vec::with_capacity(n * len);
        for l in lists.iter().flatten() {
            debug_assert_eq!(l.len(), len);
            for &(dist, b) in l {
                neighbours.push(b);
                distances.push(dist);
            }
        }
        Self::from_parts(key, len, neighbours, distances)
    }

    /// The lists of rows `r0..r0 + rows`.
    fn build_block(
        table: &FeatureMatrix,
        norm2: &[f64],
        (gamma, underflow): (f64, f64),
        r0: usize,
        rows: usize,
        len: usize,
    ) -> Vec<Vec<(f64, u32)>> {
        let n = table.rows();
        // Per row: the `len` smallest upper bounds so far (max-heap of non-negative f64 bits) and
        // the candidates (lower bound, column) that may still belong to the K nearest.
        let mut upper: Vec<std::collections::BinaryHeap<u64>> =
            vec![std::collections::BinaryHeap::with_capacity(len + 1); rows];
        let mut cands: Vec<Vec<(f64, u32)>> = vec![Vec::new(); rows];
        let mut dots = vec![0f32; rows * COL_BLOCK];
        for c0 in (0..n).step_by(COL_BLOCK) {
            let cols = COL_BLOCK.min(n - c0);
            block_dots(table, (r0, rows), (c0, cols), &mut dots);
            for i in 0..rows {
                let (na, heap, list) = (norm2[r0 + i], &mut upper[i], &mut cands[i]);
                let ra = na.sqrt();
                for j in 0..cols {
                    let b = c0 + j;
                    let nb = norm2[b];
                    let dot = dots[i * cols + j];
                    let (lo, hi) = if dot.is_finite() {
                        let s = na + nb - 2.0 * dot as f64;
                        let e = 2.0 * gamma * ra * nb.sqrt() + 1e-10 * (na + nb) + underflow;
                        (s - e, (s + e).max(0.0))
                    } else {
                        // An f32 overflow says nothing about the distance: keep it as a candidate.
                        (f64::NEG_INFINITY, f64::INFINITY)
                    };
                    let tau = if heap.len() < len {
                        f64::INFINITY
                    } else {
                        f64::from_bits(*heap.peek().expect("len ≥ 1"))
                    };
                    if hi < tau || heap.len() < len {
                        heap.push(hi.to_bits());
                        if heap.len() > len {
                            heap.pop();
                        }
                    }
                    if lo <= tau {
                        list.push((lo, b as u32));
                    }
                }
                if list.len() > 4 * len + 64 {
                    let tau = f64::from_bits(*heap.peek().expect("len ≥ 1"));
                    list.retain(|&(lo, _)| lo <= tau);
                }
            }
        }
        (0..rows)
            .map(|i| {
                let a = r0 + i;
                let tau = f64::from_bits(*upper[i].peek().expect("len ≥ 1"));
                let mut exact: Vec<(f64, u32)> = cands[i]
                    .iter()
                    .filter(|&&(lo, _)| lo <= tau)
                    .map(|&(_, b)| (euclidean(table.row(a), table.row(b as usize)), b))
                    .collect();
                exact.sort_unstable_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
                exact.truncate(len);
                exact
            })
            .collect()
    }

    fn from_parts(key: IndexKey, len: usize, neighbours: Vec<u32>, distances: Vec<f64>) -> Self {
        let n = key.rows;
        let mut rev_start = vec![0usize; n + 1];
        for &b in &neighbours {
            rev_start[b as usize + 1] += 1;
        }
        for b in 0..n {
            rev_start[b + 1] += rev_start[b];
        }
        let mut fill = rev_start.clone();
        let mut rev_rows = vec![0u32; neighbours.len()];
        let mut rev_dist = vec![0f64; neighbours.len()];
        for a in 0..n {
            for t in a * len..(a + 1) * len {
                let b = neighbours[t] as usize;
                rev_rows[fill[b]] = a as u32;
                rev_dist[fill[b]] = distances[t];
                fill[b] += 1;
            }
        }
        Self {
            key,
            len,
            neighbours,
            distances,
            rev_start,
            rev_rows,
            rev_dist,
        }
    }

    /// What the index was built from.
    pub fn key(&self) -> IndexKey {
        self.key
    }

    /// Rows of the indexed table.
    pub fn rows(&self) -> usize {
        self.key.rows
    }

    /// Whether every list holds the whole table (then no fallback is ever needed).
    pub fn complete(&self) -> bool {
        self.len == self.key.rows
    }

    /// The list of row `a`: (neighbour row, exact distance), ascending.
    pub fn neighbours(&self, a: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let r = a * self.len..(a + 1) * self.len;
        self.neighbours[r.clone()]
            .iter()
            .map(|&b| b as usize)
            .zip(self.distances[r].iter().copied())
    }

    /// The last (largest) distance of row `a`'s list.
    fn last_distance(&self, a: usize) -> f64 {
        self.distances[(a + 1) * self.len - 1]
    }

    /// The rows whose list holds `b`, with the distance.
    fn holders(&self, b: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let r = self.rev_start[b]..self.rev_start[b + 1];
        self.rev_rows[r.clone()]
            .iter()
            .map(|&a| a as usize)
            .zip(self.rev_dist[r].iter().copied())
    }

    /// Bytes held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.neighbours.len() * 4
            + self.distances.len() * 8
            + self.rev_rows.len() * 4
            + self.rev_dist.len() * 8
            + self.rev_start.len() * 8
    }
}

/// `dots[i * cols + j] = row(r0 + i) · row(c0 + j)` for the `rows × cols` block of the Gram
/// matrix at `(r0, c0)`, by one single-threaded f32 GEMM (the index build parallelises over
/// row blocks).
fn block_dots(
    table: &FeatureMatrix,
    (r0, rows): (usize, usize),
    (c0, cols): (usize, usize),
    dots: &mut [f32],
) {
    let (d, data) = (table.dim(), table.as_slice());
    if d > 0 {
        // dots[i, j] = row(r0 + i) · row(c0 + j): lhs rows × d (row-major), rhs d × cols
        // read from the row-major table as its transpose.
        // SAFETY: every pointer/stride pair stays inside `data` and `dots` for the given
        // m = rows, n = cols, k = d; `dots` is not aliased.
        unsafe {
            gemm::gemm(
                rows,
                cols,
                d,
                dots.as_mut_ptr(),
                1,
                cols as isize,
                false,
                data.as_ptr().add(r0 * d),
                1,
                d as isize,
                data.as_ptr().add(c0 * d),
                d as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    } else {
        dots[..rows * cols].fill(0.0);
    }
}
