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
use std::path::{Path, PathBuf};

use activepref_core::{FeatureMatrix, PromptFeatures};
use rayon::prelude::*;
use statrs::function::gamma::digamma;

use crate::knn::euclidean;

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
        let (n, d) = (table.rows(), table.dim());
        let data = table.as_slice();
        // Per row: the `len` smallest upper bounds so far (max-heap of non-negative f64 bits) and
        // the candidates (lower bound, column) that may still belong to the K nearest.
        let mut upper: Vec<std::collections::BinaryHeap<u64>> =
            vec![std::collections::BinaryHeap::with_capacity(len + 1); rows];
        let mut cands: Vec<Vec<(f64, u32)>> = vec![Vec::new(); rows];
        let mut dots = vec![0f32; rows * COL_BLOCK];
        for c0 in (0..n).step_by(COL_BLOCK) {
            let cols = COL_BLOCK.min(n - c0);
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

    /// Writes the index to `path` atomically (a temporary file, then a rename).
    ///
    /// # Errors
    ///
    /// [`IndexError::Io`] when the parent directory cannot be created or the file cannot be
    /// written.
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let io = |e: std::io::Error| IndexError::Io {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        activepref_core::io::write_atomic(path, |w| {
            w.write_all(MAGIC)?;
            for v in [
                self.key.table_hash,
                self.key.rows as u64,
                self.key.dim as u64,
                self.key.k as u64,
                self.len as u64,
            ] {
                w.write_all(&v.to_le_bytes())?;
            }
            for &b in &self.neighbours {
                w.write_all(&b.to_le_bytes())?;
            }
            for &x in &self.distances {
                w.write_all(&x.to_le_bytes())?;
            }
            Ok(())
        })
        .map_err(io)
    }

    /// Reads an index from `path`; `None` when the file is not an index of `expected` (another
    /// table, another K, a truncated or foreign file).
    ///
    /// # Errors
    ///
    /// [`IndexError::Io`] when the file cannot be opened or read.
    pub fn load(path: &Path, expected: IndexKey) -> Result<Option<Self>, IndexError> {
        let io = |e: std::io::Error| IndexError::Io {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .map_err(io)?
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() < 48 || &bytes[..8] != MAGIC {
            return Ok(None);
        }
        let word = |i: usize| {
            u64::from_le_bytes(bytes[8 + 8 * i..16 + 8 * i].try_into().expect("8 bytes"))
        };
        let key = IndexKey {
            table_hash: word(0),
            rows: word(1) as usize,
            dim: word(2) as usize,
            k: word(3) as usize,
        };
        let len = word(4) as usize;
        let entries = key.rows.checked_mul(len);
        if key != expected
            || len != key.k.min(key.rows)
            || entries.is_none_or(|e| bytes.len() != 48 + e * 12)
        {
            return Ok(None);
        }
        let e = entries.expect("checked");
        let body = &bytes[48..];
        let neighbours: Vec<u32> = body[..4 * e]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        let distances: Vec<f64> = body[4 * e..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        if neighbours.iter().any(|&b| b as usize >= key.rows) {
            return Ok(None);
        }
        Ok(Some(Self::from_parts(key, len, neighbours, distances)))
    }

    /// The index of `table` with `k` neighbours, read from `dir` when a matching file is there,
    /// else built (reporting progress) and written there. Returns the index and whether it was built.
    ///
    /// # Errors
    ///
    /// [`IndexError::Io`] when a newly built index cannot be written to `dir`.
    pub fn load_or_build(
        dir: &Path,
        table: &FeatureMatrix,
        k: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(Self, bool), IndexError> {
        let (index, built, _) = Self::load_or_build_in(&[dir.to_path_buf()], table, k, progress)?;
        Ok((index, built))
    }

    /// Like [`Self::load_or_build`] over several cache directories in order of preference: the
    /// first matching file is read; a new index is written to the first directory that accepts it
    /// (a read-only feature store falls through to the next). Returns the index, whether it was
    /// built, and where it is cached.
    ///
    /// # Errors
    ///
    /// [`IndexError::Io`] when a newly built index cannot be written to any of `dirs` (the last
    /// directory's error), or when `dirs` is empty.
    pub fn load_or_build_in(
        dirs: &[PathBuf],
        table: &FeatureMatrix,
        k: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<(Self, bool, PathBuf), IndexError> {
        let key = IndexKey::of(table, k);
        for dir in dirs {
            let path = dir.join(key.file_name());
            if path.is_file()
                && let Ok(Some(index)) = Self::load(&path, key)
                && index.spot_check(table)
            {
                return Ok((index, false, path));
            }
        }
        let index = Self::build_keyed(table, key, progress);
        let mut last = None;
        for dir in dirs {
            let path = dir.join(key.file_name());
            match index.save(&path) {
                Ok(()) => return Ok((index, true, path)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| IndexError::Io {
            path: PathBuf::new(),
            why: "no cache directory given".into(),
        }))
    }

    /// Recomputes the distances of a few rows' lists against `table`.
    fn spot_check(&self, table: &FeatureMatrix) -> bool {
        let n = self.rows();
        let step = (n / 16).max(1);
        (0..n).step_by(step).all(|a| {
            self.neighbours(a)
                .all(|(b, dist)| euclidean(table.row(a), table.row(b)).to_bits() == dist.to_bits())
        })
    }
}

/// BAL-PM's kNN entropy term for one acquisition round, answered from a [`PromptKnnIndex`]: the
/// same radii, counts and terms as [`crate::KnnEntropyBonus`] on the same pool.
pub struct IndexedKnnEntropyBonus<'a> {
    index: &'a PromptKnnIndex,
    table: &'a FeatureMatrix,
    /// Table row of each candidate (aligned with the pool's unlabelled list).
    group_of: Vec<u32>,
    /// Per table row: the frozen radius (NaN for rows without candidates), the running count and
    /// the cached term.
    radius: Vec<f64>,
    count: Vec<u32>,
    term: Vec<f64>,
    /// Rows whose radius reached their list's end: counted and updated by brute force.
    fallback: Vec<usize>,
    is_fallback: Vec<bool>,
    eps: f64,
    d_tilde: f64,
}

impl<'a> IndexedKnnEntropyBonus<'a> {
    /// The round's state for candidates `unlabelled` and labelled rows `labelled` (rows of
    /// `prompts`), whose table `index` was built from. Requires `1 ≤ k ≤ |unlabelled|`.
    ///
    /// # Panics
    ///
    /// If `index` was built from a table with another number of rows than `prompts.table()`, or
    /// `k` is 0 or larger than `unlabelled.len()`.
    pub fn new(
        index: &'a PromptKnnIndex,
        prompts: &'a PromptFeatures,
        unlabelled: &[usize],
        labelled: &[usize],
        k: usize,
        eps: f64,
        d_tilde: f64,
    ) -> Self {
        let table: &FeatureMatrix = prompts.table();
        assert_eq!(
            index.rows(),
            table.rows(),
            "the index was built from another table"
        );
        assert!(
            k >= 1 && k <= unlabelled.len(),
            "k must be within 1..=|pool| (checked by the caller)"
        );
        let g = table.rows();
        let mut unl = vec![0u32; g];
        let mut lab = vec![0u32; g];
        let group_of: Vec<u32> = unlabelled
            .iter()
            .map(|&i| prompts.table_row(i) as u32)
            .collect();
        for &t in &group_of {
            unl[t as usize] += 1;
        }
        for &i in labelled {
            lab[prompts.table_row(i)] += 1;
        }
        let live: Vec<usize> = (0..g).filter(|&t| unl[t] > 0).collect();
        // Per live row: (radius, count, needs fallback).
        let solved: Vec<(f64, u32, bool)> = live
            .par_iter()
            .map(|&a| {
                let mut covered = 0usize;
                let radius = index.neighbours(a).find(|&(b, _)| {
                    covered += unl[b] as usize;
                    covered >= k
                });
                match radius {
                    Some((_, r)) if index.complete() || r < index.last_distance(a) => {
                        let n = index
                            .neighbours(a)
                            .take_while(|&(_, dist)| dist <= r)
                            .map(|(b, _)| lab[b])
                            .sum();
                        (r, n, false)
                    }
                    _ => {
                        let (r, n) = brute_force_row(table, a, &unl, &lab, k);
                        (r, n, true)
                    }
                }
            })
            .collect();
        let mut radius = vec![f64::NAN; g];
        let mut count = vec![0u32; g];
        let mut term = vec![f64::NAN; g];
        let mut is_fallback = vec![false; g];
        let mut fallback = Vec::new();
        for (&a, &(r, n, fb)) in live.iter().zip(&solved) {
            radius[a] = r;
            count[a] = n;
            term[a] = ksg_term(r, n, eps, d_tilde);
            if fb {
                is_fallback[a] = true;
                fallback.push(a);
            }
        }
        Self {
            index,
            table,
            group_of,
            radius,
            count,
            term,
            fallback,
            is_fallback,
            eps,
            d_tilde,
        }
    }

    /// The frozen kNN radius `r_k(i)` of candidate `i` (position in `unlabelled`).
    pub fn radius(&self, i: usize) -> f64 {
        self.radius[self.group_of[i] as usize]
    }

    /// The running count `n_i` of labelled and acquired prompts within candidate `i`'s radius.
    pub fn count(&self, i: usize) -> u32 {
        self.count[self.group_of[i] as usize]
    }

    /// `log(2 r_k(i) + ε) − ψ(n_i + 1) / d̃` of candidate `i` (cached per prompt).
    pub fn term(&self, i: usize) -> f64 {
        self.term[self.group_of[i] as usize]
    }

    /// Records that candidate `picked` was acquired: every prompt whose radius reaches it gets one
    /// more neighbour. Prompts with no candidate left are updated too, harmlessly: nobody reads them.
    pub fn add_acquired(&mut self, picked: usize) {
        let p = self.group_of[picked] as usize;
        let holders = self
            .index
            .holders(p)
            .filter(|&(a, dist)| !self.is_fallback[a] && dist <= self.radius[a])
            .map(|(a, _)| a);
        let fallback = self
            .fallback
            .iter()
            .copied()
            .filter(|&a| euclidean(self.table.row(a), self.table.row(p)) <= self.radius[a]);
        let reached: Vec<usize> = holders.chain(fallback).collect();
        for a in reached {
            self.count[a] += 1;
            self.term[a] = ksg_term(self.radius[a], self.count[a], self.eps, self.d_tilde);
        }
    }

    /// Prompts answered by brute force this round (their list ran out).
    pub fn fallbacks(&self) -> usize {
        self.fallback.len()
    }
}

/// `log(2r + ε) − ψ(n + 1) / d̃`.
pub(crate) fn ksg_term(r: f64, n: u32, eps: f64, d_tilde: f64) -> f64 {
    (2.0 * r + eps).ln() - digamma(n as f64 + 1.0) / d_tilde
}

/// Radius and labelled count of row `a` from every row of the table (the brute force of one row).
fn brute_force_row(
    table: &FeatureMatrix,
    a: usize,
    unl: &[u32],
    lab: &[u32],
    k: usize,
) -> (f64, u32) {
    let mut d: Vec<(f64, u32, u32)> = (0..table.rows())
        .filter(|&b| unl[b] > 0 || lab[b] > 0)
        .map(|b| (euclidean(table.row(a), table.row(b)), unl[b], lab[b]))
        .collect();
    d.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
    let mut covered = 0usize;
    let r = d
        .iter()
        .find(|&&(_, u, _)| {
            covered += u as usize;
            covered >= k
        })
        .expect("k ≤ |pool|")
        .0;
    let n = d
        .iter()
        .take_while(|&&(dist, _, _)| dist <= r)
        .map(|&(_, _, l)| l)
        .sum();
    (r, n)
}
