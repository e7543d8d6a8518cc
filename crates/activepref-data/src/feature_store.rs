//! The feature store: feature matrices keyed by row id, saved as safetensors, plus importers for
//! `.npy` files and for BAL-PM's hub layout.
//!
//! # File format
//! One safetensors file per table, holding one tensor `features` of shape `[rows, dim]` (F32 when
//! activepref writes it; F16, BF16 and F64 are accepted when reading) and one metadata entry,
//! `activepref`, a JSON object `{"format": "activepref.features.v1", "rows", "dim", "ids"}` with the
//! row ids in row order; tables `featurize` writes also hold a U64 tensor `texts` of shape `[rows]`:
//! each row's [`text_fingerprint`], so that features of other texts under the same ids (a
//! store made from another file whose ids are row numbers) are refused when joined. (One entry, because safetensors writes metadata in hash-map order: several
//! entries would make equal tables differ byte for byte between processes.) A store directory for a comparison dataset holds, per split (`pool`, `validation`,
//! `test`, `ood`), the tables `pair_a` (features of prompt + response A), `pair_b` (prompt +
//! response B) and `prompt` (prompt only): `<store>/<split>/<table>.safetensors`. Ids are the
//! comparison ids of [`crate::text::TextComparison`]. Candidate pools use the table `responses` with
//! ids `<prompt index>/<model>` and `prompts` with ids `<prompt index>`.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use safetensors::{Dtype, SafeTensors};

use crate::error::{DataError, DataResult, Remedy};
use crate::io::{column, read_table};
use activepref_core::FeatureMatrix;

/// The `format` tag in every feature file's metadata; files with another tag are refused.
pub const FORMAT: &str = "activepref.features.v1";
const META_KEY: &str = "activepref";

/// The metadata of a feature file (one JSON object, see the module docs).
#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    format: String,
    rows: usize,
    dim: usize,
    ids: Vec<String>,
}

/// The tensor of per-row text fingerprints (U64, `[rows]`), in tables `featurize` writes.
const TEXTS: &str = "texts";

/// FNV-1a over texts each followed by a NUL byte, built up text by text, so that a prompt's state
/// is hashed once and continued with each of its responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextFingerprint(u64);

impl Default for TextFingerprint {
    fn default() -> Self {
        Self(activepref_core::io::FNV1A_START)
    }
}

impl TextFingerprint {
    /// The state after `text` and its NUL separator.
    pub fn then(self, text: &str) -> Self {
        use activepref_core::io::fnv1a_from;
        Self(fnv1a_from(fnv1a_from(self.0, text.as_bytes()), &[0]))
    }

    /// The fingerprint so far.
    pub fn value(self) -> u64 {
        self.0
    }
}

/// The fingerprint of the texts one feature row encodes: `[prompt, response]` for a pair row,
/// `[prompt]` for a prompt row ([`TextFingerprint`] over them).
pub fn text_fingerprint(texts: &[&str]) -> u64 {
    texts
        .iter()
        .fold(TextFingerprint::default(), |f, t| f.then(t))
        .value()
}
const TENSOR: &str = "features";

/// A feature matrix whose rows are named by unique ids.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureTable {
    ids: Vec<String>,
    matrix: FeatureMatrix,
    index: HashMap<String, usize>,
    texts: Option<Vec<u64>>,
}

impl FeatureTable {
    /// Pairs ids with rows; `origin` names the file for messages. Duplicate ids and a row-count
    /// mismatch are errors.
    ///
    /// # Errors
    ///
    /// A [`DataError`] when `ids.len() != matrix.rows()`, or at the second row of a duplicate id.
    pub fn new(ids: Vec<String>, matrix: FeatureMatrix, origin: &Path) -> DataResult<Self> {
        if ids.len() != matrix.rows() {
            return Err(DataError::file(
                origin,
                format!("{} ids for {} feature rows", ids.len(), matrix.rows()),
            ));
        }
        let mut index = HashMap::with_capacity(ids.len());
        for (row, id) in ids.iter().enumerate() {
            if let Some(first) = index.insert(id.clone(), row) {
                return Err(DataError::at(
                    origin,
                    row,
                    "id",
                    format!("duplicate id {id:?} (first at row {first})"),
                ));
            }
        }
        Ok(Self {
            ids,
            matrix,
            index,
            texts: None,
        })
    }

    /// The table with each row's [`text_fingerprint`] (`texts[row]`), which [`Self::save`] keeps
    /// and [`Self::check_texts`] compares.
    ///
    /// # Panics
    /// When `texts` has another length than the table's rows.
    pub fn with_texts(mut self, texts: Vec<u64>) -> Self {
        assert_eq!(texts.len(), self.rows(), "one fingerprint per row");
        self.texts = Some(texts);
        self
    }

    /// Each row's text fingerprint, when the table was written with them.
    pub fn texts(&self) -> Option<&[u64]> {
        self.texts.as_deref()
    }

    /// Checks that row `id` encodes `texts` (as [`text_fingerprint`] sees them), when the table
    /// has fingerprints and the row; tables without them (imported ones) pass.
    ///
    /// # Errors
    /// A [`DataError`] naming the table (`origin`) and the row when it encodes other texts.
    pub fn check_texts(&self, id: &str, texts: &[&str], origin: &Path) -> DataResult<()> {
        if self.texts.is_none() {
            return Ok(());
        }
        self.check_fingerprint(id, text_fingerprint(texts), origin)
    }

    /// [`Self::check_texts`] with the fingerprint already taken.
    ///
    /// # Errors
    /// As [`Self::check_texts`].
    pub fn check_fingerprint(&self, id: &str, fingerprint: u64, origin: &Path) -> DataResult<()> {
        let (Some(fps), Some(row)) = (&self.texts, self.row_of(id)) else {
            return Ok(());
        };
        if fps[row] == fingerprint {
            return Ok(());
        }
        Err(DataError::file(
            origin,
            format!("row `{id}` encodes other texts than the dataset's row `{id}`: the store was made from another file (or the file changed since, or this version reads it differently)"),
        )
        .with_hint("featurize this dataset into another store (featurize --out), or delete this one"))
    }

    /// The row ids, in row order (`rows` entries).
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The `rows × dim` feature matrix.
    pub fn matrix(&self) -> &FeatureMatrix {
        &self.matrix
    }

    /// Width (columns) of each feature row.
    pub fn dim(&self) -> usize {
        self.matrix.dim()
    }

    /// Number of rows (ids).
    pub fn rows(&self) -> usize {
        self.matrix.rows()
    }

    /// The row of `id`, if the table has it.
    pub fn row_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// How many of `ids` the table has a row for, and how many ids there are: `(covered, total)`.
    pub fn coverage<'a>(&self, ids: impl IntoIterator<Item = &'a String>) -> (usize, usize) {
        ids.into_iter().fold((0, 0), |(covered, total), id| {
            (
                covered + usize::from(self.index.contains_key(id)),
                total + 1,
            )
        })
    }

    /// The `ids.len() × dim` rows for `ids`, in that order. An id without features is an error
    /// naming `origin`.
    ///
    /// # Errors
    ///
    /// A [`DataError`] on `origin` at the first id the table lacks.
    pub fn aligned(&self, ids: &[String], origin: &Path) -> DataResult<FeatureMatrix> {
        Ok(self.matrix.gather(&self.aligned_rows(ids, origin)?))
    }

    /// The table row of each of `ids`, in that order (an id without features is an error naming `origin`).
    ///
    /// # Errors
    ///
    /// A [`DataError`] on `origin` at the first id the table lacks.
    pub fn aligned_rows(&self, ids: &[String], origin: &Path) -> DataResult<Vec<usize>> {
        let mut rows = Vec::with_capacity(ids.len());
        for id in ids {
            match self.row_of(id) {
                Some(r) => rows.push(r),
                None => {
                    return Err(DataError::file(
                        origin,
                        format!(
                            "no features for id {id:?} ({} of the {} ids asked for are covered)",
                            self.coverage(ids).0,
                            ids.len()
                        ),
                    )
                    .with_remedy(Remedy::Refeaturize, true));
                }
            }
        }
        Ok(rows)
    }

    /// Writes the table atomically (a temporary file, then a rename).
    ///
    /// # Errors
    ///
    /// A [`DataError`] when the tensor cannot be serialised, the parent directory cannot be
    /// created or the file cannot be written.
    pub fn save(&self, path: &Path) -> DataResult<()> {
        let shape = vec![self.rows(), self.dim()];
        let bytes: Vec<u8> = self
            .matrix
            .as_slice()
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let view = safetensors::tensor::TensorView::new(Dtype::F32, shape, &bytes)
            .map_err(|e| DataError::file(path, format!("cannot build tensor: {e}")))?;
        let header = Header {
            format: FORMAT.to_string(),
            rows: self.rows(),
            dim: self.dim(),
            ids: self.ids.clone(),
        };
        let meta = HashMap::from([(
            META_KEY.to_string(),
            serde_json::to_string(&header).expect("header serialises"),
        )]);
        let text_bytes: Vec<u8> = self
            .texts
            .iter()
            .flatten()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let mut tensors = vec![(TENSOR, view)];
        if self.texts.is_some() {
            let texts =
                safetensors::tensor::TensorView::new(Dtype::U64, vec![self.rows()], &text_bytes)
                    .map_err(|e| DataError::file(path, format!("cannot build tensor: {e}")))?;
            tensors.push((TEXTS, texts));
        }
        let out = safetensors::serialize(tensors, Some(meta))
            .map_err(|e| DataError::file(path, format!("cannot serialise: {e}")))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| DataError::file(parent, format!("cannot create directory: {e}")))?;
        }
        activepref_core::io::write_atomic_bytes(path, &out)
            .map_err(|e| DataError::file(path, format!("cannot write: {e}")))
    }

    /// Reads a table written by [`FeatureTable::save`] (or any safetensors file with a 2-D
    /// `features` tensor and the metadata above; F16/BF16/F64 are converted to f32).
    ///
    /// # Errors
    ///
    /// A [`DataError`] when the file cannot be read, is not safetensors, lacks the metadata or the
    /// `features` tensor, has another `format` tag, a shape that disagrees with the metadata, an
    /// unsupported dtype, a NaN or infinite value, or duplicate ids.
    pub fn load(path: &Path) -> DataResult<Self> {
        let bytes = read_table_file(path)?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| DataError::file(path, format!("not a valid safetensors file: {e}")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| DataError::file(path, format!("not a valid safetensors file: {e}")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let text = meta.get(META_KEY).ok_or_else(|| {
            DataError::field(path, META_KEY, "missing from the safetensors metadata")
                .with_hint("write feature files with activepref")
        })?;
        let header: Header = serde_json::from_str(text).map_err(|e| {
            DataError::field(
                path,
                META_KEY,
                format!("not activepref feature metadata: {e}"),
            )
        })?;
        let view = st.tensor(TENSOR).map_err(|_| {
            DataError::field(path, TENSOR, "no tensor named `features` in this file")
        })?;
        let shape = view.shape().to_vec();
        if shape.len() != 2 {
            return Err(DataError::field(
                path,
                TENSOR,
                format!("expected a 2-D tensor, found shape {shape:?}"),
            ));
        }
        let (rows, dim) = (shape[0], shape[1]);
        if header.dim != dim {
            return Err(DataError::field(
                path,
                "dim",
                format!(
                    "metadata says {} but the tensor has {dim} columns",
                    header.dim
                ),
            ));
        }
        if header.rows != rows {
            return Err(DataError::field(
                path,
                "rows",
                format!(
                    "metadata says {} but the tensor has {rows} rows",
                    header.rows
                ),
            ));
        }
        let ids = header.ids;
        let data = decode_floats(view.dtype(), view.data())
            .map_err(|m| DataError::field(path, TENSOR, m))?;
        let matrix = FeatureMatrix::new(rows, dim, data)
            .map_err(|e| DataError::field(path, TENSOR, e.to_string()))?;
        let table = Self::new(ids, matrix, path)?;
        let Ok(texts) = st.tensor(TEXTS) else {
            return Ok(table);
        };
        if texts.dtype() != Dtype::U64 || texts.shape() != [rows] {
            return Err(DataError::field(
                path,
                TEXTS,
                "not one U64 fingerprint per row",
            ));
        }
        let texts: Vec<u64> = texts
            .data()
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        Ok(table.with_texts(texts))
    }

    /// Imports a 2-D `.npy` array (f32, f64 or f16, C order). Row `i` gets `ids[i]`, or `i` when no
    /// ids are given.
    ///
    /// # Errors
    ///
    /// A [`DataError`] when the file cannot be read, is not a valid `.npy`, is not 2-D, is
    /// Fortran-ordered, has another dtype, holds a NaN or infinite value, or `ids` does not have
    /// one id per row (or repeats one).
    pub fn import_npy(path: &Path, ids: Option<Vec<String>>) -> DataResult<Self> {
        let bytes =
            std::fs::read(path).map_err(|e| DataError::file(path, format!("cannot read: {e}")))?;
        let npy = npyz::NpyFile::new(Cursor::new(&bytes))
            .map_err(|e| DataError::file(path, format!("not a valid .npy file: {e}")))?;
        let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
        if shape.len() != 2 {
            return Err(DataError::file(
                path,
                format!("expected a 2-D array (rows x dim), found shape {shape:?}"),
            ));
        }
        if npy.order() != npyz::Order::C {
            return Err(
                DataError::file(path, "Fortran-ordered arrays are not supported")
                    .with_hint("save with numpy.ascontiguousarray"),
            );
        }
        let descr = npy.dtype().descr();
        let bad = |e: std::io::Error| {
            let why = match e.kind() {
                // The header promises more values than the file holds.
                std::io::ErrorKind::UnexpectedEof => format!(
                    "the file is truncated: its header promises {} x {} values of {descr}, and the data ends before them (save the array again)",
                    shape[0], shape[1]
                ),
                _ => format!("cannot read the array data: {e}"),
            };
            DataError::file(path, why)
        };
        let data: Vec<f32> = match npy.try_data::<f32>() {
            Ok(r) => r.collect::<Result<_, _>>().map_err(bad)?,
            Err(npy) => match npy.try_data::<f64>() {
                Ok(r) => r
                    .map(|v| v.map(|x| x as f32))
                    .collect::<Result<_, _>>()
                    .map_err(bad)?,
                Err(npy) => match npy.try_data::<half::f16>() {
                    Ok(r) => r
                        .map(|v| v.map(f32::from))
                        .collect::<Result<_, _>>()
                        .map_err(bad)?,
                    Err(_) => {
                        return Err(DataError::file(
                            path,
                            format!(
                                "unsupported dtype {descr}; expected float32, float64 or float16"
                            ),
                        ));
                    }
                },
            },
        };
        let matrix = FeatureMatrix::new(shape[0], shape[1], data)
            .map_err(|e| DataError::file(path, e.to_string()))?;
        let ids = ids.unwrap_or_else(|| (0..shape[0]).map(|i| i.to_string()).collect());
        Self::new(ids, matrix, path)
    }
}

/// The bytes of a feature table file; a missing one is "not found", with how to make it.
fn read_table_file(path: &Path) -> DataResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            DataError::file(path, "feature table not found").with_remedy(Remedy::Featurize, true)
        }
        _ => DataError::file(path, format!("cannot read: {e}")),
    })
}

/// The values of a safetensors float tensor as f32 (F32, F16, BF16 or F64, little-endian).
///
/// # Errors
///
/// A message naming the dtype when it is not one of those four.
pub fn decode_floats(dtype: Dtype, data: &[u8]) -> Result<Vec<f32>, String> {
    let chunks = |w: usize| data.chunks_exact(w);
    Ok(match dtype {
        Dtype::F32 => chunks(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => chunks(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => chunks(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F64 => chunks(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
            .collect(),
        other => {
            return Err(format!(
                "unsupported dtype {other:?}; expected F32, F16, BF16 or F64"
            ));
        }
    })
}

/// What a BAL-PM hub feature file holds (specs/balpm.md §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubLayout {
    /// `id, 0 .. 2d−1`: the (prompt, chosen) features then the (prompt, rejected) features.
    Pair,
    /// `id, 0 .. d−1`: prompt features.
    Prompt,
}

/// The tables of one imported hub file: `pair_a`/`pair_b` (chosen/rejected) for the pair layout,
/// `prompt` for the prompt layout.
pub struct HubImport {
    /// `(table name, table)`: `pair_a` and `pair_b` for [`HubLayout::Pair`], `prompt` for
    /// [`HubLayout::Prompt`].
    pub tables: Vec<(&'static str, FeatureTable)>,
}

/// Imports a BAL-PM hub feature file (CSV or parquet, possibly gzipped): column `id`, then the
/// numbered feature columns `0, 1, …` in order. Values are read as f64 and stored as f32.
///
/// # Errors
///
/// A [`DataError`] when the file cannot be read, lacks `id` or a numbered column, has no
/// feature columns (or an odd number for the pair layout), or holds a null, non-numeric, NaN or
/// infinite value, or a duplicate id.
pub fn import_balpm_hub(path: &Path, layout: HubLayout) -> DataResult<HubImport> {
    let df = read_table(path, None)?;
    let id_col = column(path, &df, "id")?;
    let ids: Vec<String> = match id_col.cast(&DataType::String) {
        Ok(s) => crate::io::strings(path, "id", &s)?,
        Err(_) => {
            return Err(DataError::field(
                path,
                "id",
                format!("cannot read ids of type {}", id_col.dtype()),
            ));
        }
    };
    let width = df.width() - 1;
    if width == 0 {
        return Err(DataError::file(path, "no feature columns after `id`"));
    }
    if layout == HubLayout::Pair && width % 2 != 0 {
        return Err(DataError::file(
            path,
            format!("the pair layout needs an even number of feature columns (2d), found {width}"),
        ));
    }
    let n = df.height();
    let mut data = vec![0f32; n * width];
    // Columns `0, 1, …`, or `f_0, f_1, …` as some exports name them.
    let prefix = if df.column("0").is_err() && df.column("f_0").is_ok() {
        "f_"
    } else {
        ""
    };
    // Every column parsed first (a missing or NaN value is named before any overflow), then
    // narrowed to f32.
    let names: Vec<String> = (0..width).map(|j| format!("{prefix}{j}")).collect();
    let columns: Vec<Vec<f64>> = names
        .iter()
        .map(|name| crate::io::floats(path, name, column(path, &df, name)?))
        .collect::<DataResult<_>>()?;
    for (j, (name, v)) in names.iter().zip(columns).enumerate() {
        for (i, x) in v.into_iter().enumerate() {
            let y = x as f32;
            if y.is_infinite() {
                return Err(DataError::at(
                    path,
                    i,
                    name,
                    format!("{x:e} overflows float32 (whose largest value is about 3.4e38)"),
                )
                .with_hint("features are stored as float32; rescale this column or drop the row"));
            }
            data[i * width + j] = y;
        }
    }
    let full =
        FeatureMatrix::new(n, width, data).map_err(|e| DataError::file(path, e.to_string()))?;
    let tables = match layout {
        HubLayout::Prompt => vec![("prompt", FeatureTable::new(ids, full, path)?)],
        HubLayout::Pair => {
            let d = width / 2;
            let (mut a, mut b) = (Vec::with_capacity(n * d), Vec::with_capacity(n * d));
            for i in 0..n {
                a.extend_from_slice(&full.row(i)[..d]);
                b.extend_from_slice(&full.row(i)[d..]);
            }
            let a = FeatureMatrix::new(n, d, a).expect("finite, shaped");
            let b = FeatureMatrix::new(n, d, b).expect("finite, shaped");
            vec![
                ("pair_a", FeatureTable::new(ids.clone(), a, path)?),
                ("pair_b", FeatureTable::new(ids, b, path)?),
            ]
        }
    };
    Ok(HubImport { tables })
}

/// `<store>/<split>/<table>.safetensors`.
pub fn table_path(store: &Path, split: &str, table: &str) -> PathBuf {
    store.join(split).join(format!("{table}.safetensors"))
}
