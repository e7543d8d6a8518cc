//! Feature matrices: the f32 bulk data every model and policy reads.

use std::collections::HashMap;
use std::sync::Arc;

/// A dense row-major `rows x dim` matrix of `f32` features (bulk data is f32; sums are f64).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMatrix {
    rows: usize,
    dim: usize,
    data: Vec<f32>,
}

/// Why a [`FeatureMatrix`] could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeatureError {
    /// The buffer's length is not `rows × dim`.
    #[error("feature buffer holds {len} values, which is not rows x dim = {rows} x {dim}")]
    Shape {
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        dim: usize,
        /// Values the buffer holds.
        len: usize,
    },
    /// A value is NaN or infinite.
    #[error(
        "feature value at row {row} (0-based), column {col} is {value} (NaN and infinity are not allowed)"
    )]
    NonFinite {
        /// 0-based row of the value.
        row: usize,
        /// 0-based column of the value.
        col: usize,
        /// The value itself.
        value: f32,
    },
    /// A row index points past the end of the table.
    #[error("row index {row} is out of range for a table of {rows} rows")]
    RowOutOfRange {
        /// The offending row index.
        row: usize,
        /// Rows the table has.
        rows: usize,
    },
}

impl FeatureMatrix {
    /// Builds a `rows × dim` matrix from row-major `data`, rejecting a wrong length and any NaN or
    /// infinite value.
    ///
    /// # Errors
    ///
    /// [`FeatureError::Shape`] when `data.len() != rows * dim`; [`FeatureError::NonFinite`] at the
    /// first NaN or infinite value.
    pub fn new(rows: usize, dim: usize, data: Vec<f32>) -> Result<Self, FeatureError> {
        if data.len() != rows * dim {
            return Err(FeatureError::Shape {
                rows,
                dim,
                len: data.len(),
            });
        }
        if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
            // A non-finite value implies a non-empty row, so `dim > 0` here.
            let (row, col) = (
                pos.checked_div(dim).unwrap_or(0),
                pos.checked_rem(dim).unwrap_or(0),
            );
            return Err(FeatureError::NonFinite {
                row,
                col,
                value: data[pos],
            });
        }
        Ok(Self { rows, dim, data })
    }

    /// Builds a matrix from equally long rows (`rows.len() × rows[0].len()`; `0 × 0` when empty).
    ///
    /// # Errors
    ///
    /// [`FeatureError::Shape`] when a row's length differs from the first row's;
    /// [`FeatureError::NonFinite`] at the first NaN or infinite value.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self, FeatureError> {
        let dim = rows.first().map_or(0, Vec::len);
        let mut data = Vec::with_capacity(rows.len() * dim);
        for r in rows {
            if r.len() != dim {
                return Err(FeatureError::Shape {
                    rows: rows.len(),
                    dim,
                    len: data.len() + r.len(),
                });
            }
            data.extend_from_slice(r);
        }
        Self::new(rows.len(), dim, data)
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (the feature width).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i` (`dim` values).
    ///
    /// # Panics
    ///
    /// If `i >= self.rows()`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// All values, row-major (`rows × dim`).
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The rows at `idx`, in that order, as a new `idx.len() × dim` matrix.
    ///
    /// # Panics
    ///
    /// If an index is `>= self.rows()`.
    pub fn gather(&self, idx: &[usize]) -> FeatureMatrix {
        let mut data = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        FeatureMatrix {
            rows: idx.len(),
            dim: self.dim,
            data,
        }
    }
}

/// Prompt features of a split, each distinct prompt vector stored once.
///
/// Comparisons that share a post have bit-identical prompt vectors (specs/balpm.md §1.2); TL;DR
/// holds several comparisons per post, so a row per comparison would store each vector several
/// times (at paper scale, 92,858 × 4,096 f32 is 1.5 GB). `table` holds every distinct vector once
/// (bit-identical rows are merged, so its rows are pairwise distinct bit patterns) and `row_of[i]`
/// is the table row of comparison `i`. The table sits behind an [`Arc`]: subsets, the runs of an
/// experiment and the kNN index share it, never copy it.
#[derive(Clone, Debug)]
pub struct PromptFeatures {
    table: Arc<FeatureMatrix>,
    row_of: Vec<u32>,
}

/// A fast hash of a row's bit pattern (rows are compared exactly on a hash match).
pub fn row_hash(row: &[f32]) -> u64 {
    row.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| {
        (h.rotate_left(5) ^ v.to_bits() as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

impl PromptFeatures {
    /// One row per comparison, deduplicated into the shared table.
    pub fn from_matrix(m: &FeatureMatrix) -> Self {
        let all: Vec<u32> = (0..m.rows() as u32).collect();
        Self::from_table(m, &all).expect("row indices within the matrix")
    }

    /// Comparison `i` uses row `row_of[i]` of `table`; bit-identical table rows are merged and
    /// unused ones dropped.
    ///
    /// # Errors
    ///
    /// [`FeatureError::RowOutOfRange`] when an entry of `row_of` is `>= table.rows()`.
    pub fn from_table(table: &FeatureMatrix, row_of: &[u32]) -> Result<Self, FeatureError> {
        if let Some(&r) = row_of.iter().find(|&&r| r as usize >= table.rows()) {
            return Err(FeatureError::RowOutOfRange {
                row: r as usize,
                rows: table.rows(),
            });
        }
        // Table rows in order of first use, each bit pattern once.
        let mut first: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut new_of_old: HashMap<u32, u32> = HashMap::new();
        let mut data = Vec::new();
        let mut kept = 0u32;
        let mut out = Vec::with_capacity(row_of.len());
        for &old in row_of {
            if let Some(&new) = new_of_old.get(&old) {
                out.push(new);
                continue;
            }
            let row = table.row(old as usize);
            let bucket = first.entry(row_hash(row)).or_default();
            let dim = table.dim();
            let found = bucket.iter().copied().find(|&t| {
                let t = t as usize;
                data[t * dim..(t + 1) * dim]
                    .iter()
                    .zip(row)
                    .all(|(a, b): (&f32, &f32)| a.to_bits() == b.to_bits())
            });
            let new = found.unwrap_or_else(|| {
                data.extend_from_slice(row);
                bucket.push(kept);
                kept += 1;
                kept - 1
            });
            new_of_old.insert(old, new);
            out.push(new);
        }
        let table = FeatureMatrix {
            rows: kept as usize,
            dim: table.dim(),
            data,
        };
        Ok(Self {
            table: Arc::new(table),
            row_of: out,
        })
    }

    /// Like [`Self::from_table`], taking ownership: when every table row is used and no two are
    /// bit-identical, the table is kept as it is (no copy); otherwise it is deduplicated.
    ///
    /// # Errors
    ///
    /// [`FeatureError::RowOutOfRange`] when an entry of `row_of` is `>= table.rows()`.
    pub fn from_owned_table(table: FeatureMatrix, row_of: Vec<u32>) -> Result<Self, FeatureError> {
        let mut used = vec![false; table.rows()];
        for &r in &row_of {
            match used.get_mut(r as usize) {
                Some(u) => *u = true,
                None => {
                    return Err(FeatureError::RowOutOfRange {
                        row: r as usize,
                        rows: table.rows(),
                    });
                }
            }
        }
        let mut seen: HashMap<u64, Vec<usize>> = HashMap::with_capacity(table.rows());
        let mut distinct = used.iter().all(|&u| u);
        for t in 0..table.rows() {
            if !distinct {
                break;
            }
            let bucket = seen.entry(row_hash(table.row(t))).or_default();
            let same = |o: &usize| {
                table
                    .row(*o)
                    .iter()
                    .zip(table.row(t))
                    .all(|(a, b)| a.to_bits() == b.to_bits())
            };
            distinct = !bucket.iter().any(same);
            bucket.push(t);
        }
        if distinct {
            Ok(Self {
                table: Arc::new(table),
                row_of,
            })
        } else {
            Self::from_table(&table, &row_of)
        }
    }

    /// An empty set of prompt features of width `dim`.
    pub fn empty(dim: usize) -> Self {
        Self {
            table: Arc::new(FeatureMatrix {
                rows: 0,
                dim,
                data: Vec::new(),
            }),
            row_of: Vec::new(),
        }
    }

    /// Comparisons (rows as seen by callers).
    pub fn rows(&self) -> usize {
        self.row_of.len()
    }

    /// Width (columns) of each prompt vector.
    pub fn dim(&self) -> usize {
        self.table.dim()
    }

    /// The prompt vector of comparison `i` (`dim` values).
    ///
    /// # Panics
    ///
    /// If `i >= self.rows()`.
    pub fn row(&self, i: usize) -> &[f32] {
        self.table.row(self.row_of[i] as usize)
    }

    /// The shared table of distinct prompt vectors.
    pub fn table(&self) -> &Arc<FeatureMatrix> {
        &self.table
    }

    /// The table row of comparison `i`.
    ///
    /// # Panics
    ///
    /// If `i >= self.rows()`.
    pub fn table_row(&self, i: usize) -> usize {
        self.row_of[i] as usize
    }

    /// The comparisons at `idx`, in that order, sharing this table.
    ///
    /// # Panics
    ///
    /// If an index is `>= self.rows()`.
    pub fn gather(&self, idx: &[usize]) -> PromptFeatures {
        Self {
            table: Arc::clone(&self.table),
            row_of: idx.iter().map(|&i| self.row_of[i]).collect(),
        }
    }

    /// The prompt vectors of the comparisons at `idx` as a dense `idx.len() × dim` matrix (a copy).
    ///
    /// # Panics
    ///
    /// If an index is `>= self.rows()`.
    pub fn to_matrix(&self, idx: &[usize]) -> FeatureMatrix {
        let mut data = Vec::with_capacity(idx.len() * self.dim());
        for &i in idx {
            data.extend_from_slice(self.row(i));
        }
        FeatureMatrix {
            rows: idx.len(),
            dim: self.dim(),
            data,
        }
    }

    /// Bytes of feature data held (the table; the row map is not counted).
    pub fn table_bytes(&self) -> usize {
        size_of_val(self.table.as_slice())
    }
}

/// Equal when every comparison has the same prompt vector, however the table is laid out.
impl PartialEq for PromptFeatures {
    fn eq(&self, other: &Self) -> bool {
        self.rows() == other.rows()
            && self.dim() == other.dim()
            && (0..self.rows()).all(|i| self.row(i) == other.row(i))
    }
}

impl From<FeatureMatrix> for PromptFeatures {
    fn from(m: FeatureMatrix) -> Self {
        Self::from_matrix(&m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_finite_with_position() {
        let err = FeatureMatrix::new(2, 2, vec![0.0, 1.0, f32::NAN, 2.0]).unwrap_err();
        assert!(matches!(err, FeatureError::NonFinite { row: 1, col: 0, value } if value.is_nan()));
        assert!(err.to_string().contains("row 1 (0-based), column 0"));
    }

    #[test]
    fn rejects_wrong_length() {
        assert_eq!(
            FeatureMatrix::new(2, 3, vec![0.0; 5]),
            Err(FeatureError::Shape {
                rows: 2,
                dim: 3,
                len: 5
            })
        );
    }

    #[test]
    fn prompt_features_store_each_distinct_vector_once() {
        let m = FeatureMatrix::from_rows(&[
            vec![1.0, 2.0],
            vec![3.0, 4.0],
            vec![1.0, 2.0],
            vec![-0.0, 0.0],
            vec![0.0, 0.0],
        ])
        .unwrap();
        let p = PromptFeatures::from_matrix(&m);
        // Rows 0 and 2 share one table row; -0.0 and 0.0 differ in bits, so they stay apart.
        assert_eq!(p.table().rows(), 4);
        assert_eq!((p.table_row(0), p.table_row(2), p.rows()), (0, 0, 5));
        assert!((0..5).all(|i| p.row(i) == m.row(i)));
        assert_eq!(p.to_matrix(&[4, 1]).as_slice(), &[0.0, 0.0, 3.0, 4.0]);
        let g = p.gather(&[2, 3]);
        assert!(
            Arc::ptr_eq(g.table(), p.table()),
            "a subset shares the table"
        );
        assert_eq!(g.row(0), &[1.0, 2.0]);
        // An owned table of distinct rows is kept as is; a duplicate or unused row is folded away.
        let owned = PromptFeatures::from_owned_table(m.clone(), vec![4, 3, 2, 1, 0]).unwrap();
        assert_eq!(owned.table().rows(), 4);
        let distinct = FeatureMatrix::from_rows(&[vec![1.0], vec![2.0]]).unwrap();
        let kept = PromptFeatures::from_owned_table(distinct.clone(), vec![1, 1, 0]).unwrap();
        assert_eq!(**kept.table(), distinct);
        assert_eq!(
            PromptFeatures::from_owned_table(distinct.clone(), vec![1])
                .unwrap()
                .table()
                .rows(),
            1
        );
        assert_eq!(
            PromptFeatures::from_owned_table(distinct, vec![2]).unwrap_err(),
            FeatureError::RowOutOfRange { row: 2, rows: 2 }
        );
        assert_eq!(p, PromptFeatures::from_matrix(&m), "equality is by rows");
    }

    #[test]
    fn gather_keeps_order() {
        let m =
            FeatureMatrix::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]).unwrap();
        let g = m.gather(&[2, 0]);
        assert_eq!(g.as_slice(), &[5.0, 6.0, 1.0, 2.0]);
    }
}
