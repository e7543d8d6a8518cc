//! Reading tables with polars: file format detection, transparent gzip, and typed column extraction
//! that turns every problem into a [`DataError`] naming the file, the row and the field.

use std::io::{Cursor, Read};
use std::path::Path;

use polars::prelude::*;

use crate::error::{DataError, DataResult};

/// The table formats activepref reads. Any of them may be gzip-compressed (`.gz`, or gzip magic bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFormat {
    /// One JSON object per line (`.jsonl`, `.ndjson`, and `.json` files whose first byte is `{`).
    JsonLines,
    /// One JSON array of objects (`.json` files whose first byte is `[`).
    JsonArray,
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// Comma-separated values with a header row (`.csv`).
    Csv,
    /// Arrow IPC file (`ARROW1` magic; `.arrow`, `.ipc`, `.feather`).
    ArrowFile,
    /// Arrow IPC stream, as HF `datasets` writes its `data-*.arrow` files with `save_to_disk`.
    ArrowStream,
}

impl TableFormat {
    /// The format's name as messages print it (`JSON lines`, `parquet`, …).
    pub fn name(self) -> &'static str {
        match self {
            TableFormat::JsonLines => "JSON lines",
            TableFormat::JsonArray => "JSON array",
            TableFormat::Parquet => "parquet",
            TableFormat::Csv => "CSV",
            TableFormat::ArrowFile => "Arrow IPC file",
            TableFormat::ArrowStream => "Arrow IPC stream",
        }
    }
}

/// Reads a whole file, un-gzipping it when it is gzip (by magic bytes, whatever its name).
///
/// # Errors
///
/// A [`DataError`] when the file cannot be read or its gzip stream is corrupt or truncated.
pub fn read_bytes(path: &Path) -> DataResult<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| {
        DataError::file(path, format!("cannot read: {e}"))
            .with_hint("check the path in the experiment file or command line")
    })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                DataError::file(path, format!("corrupt or truncated gzip: {e}"))
                    .with_hint("download the file again")
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Every file under `dir`, subdirectories included, sorted by path.
///
/// # Errors
///
/// A [`DataError`] when `dir` or a subdirectory cannot be listed.
pub fn files_under(dir: &Path) -> DataResult<Vec<std::path::PathBuf>> {
    fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> DataResult<()> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| DataError::file(dir, format!("cannot list directory: {e}")))?;
        for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            if p.is_dir() {
                collect(&p, out)?;
            } else {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    collect(dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// The format of `path`, from its extension (ignoring a trailing `.gz`) and, for `.json`, its first byte.
///
/// # Errors
///
/// A [`DataError`] for an unknown extension, or a `.json` file that starts with neither `[` nor `{`.
pub fn detect_format(path: &Path, bytes: &[u8]) -> DataResult<TableFormat> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = name.rsplit('.').next().unwrap_or("");
    match ext {
        "jsonl" | "ndjson" => Ok(TableFormat::JsonLines),
        "parquet" | "pq" => Ok(TableFormat::Parquet),
        "csv" => Ok(TableFormat::Csv),
        "arrow" | "ipc" | "feather" => Ok(if bytes.starts_with(b"ARROW1") {
            TableFormat::ArrowFile
        } else {
            TableFormat::ArrowStream
        }),
        "json" => match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => Ok(TableFormat::JsonArray),
            Some(b'{') => Ok(TableFormat::JsonLines),
            _ => Err(DataError::file(
                path,
                "a .json file must start with `[` (array of records) or `{` (one record per line)",
            )),
        },
        _ => Err(DataError::file(path, format!("unknown file type `.{ext}`"))
            .with_hint("use .jsonl, .json, .parquet, .arrow or .csv, optionally gzipped (.gz)")),
    }
}

/// Reads `path` into a data frame. With `schema`, JSON is parsed against it (fields not in the
/// schema are ignored); parquet and CSV keep their own types and are checked column by column.
///
/// # Errors
///
/// A [`DataError`] when the file cannot be read, its format is unknown, or it does not parse
/// (naming the row and field where that can be found).
pub fn read_table(path: &Path, schema: Option<&Schema>) -> DataResult<DataFrame> {
    let bytes = read_bytes(path)?;
    let format = detect_format(path, &bytes)?;
    let invalid =
        |e: PolarsError| DataError::file(path, format!("not valid {}: {e}", format.name()));
    let df =
        match format {
            TableFormat::JsonLines | TableFormat::JsonArray => {
                let json_format = if format == TableFormat::JsonLines {
                    JsonFormat::JsonLines
                } else {
                    JsonFormat::Json
                };
                match parse_json(&bytes, json_format, schema) {
                    Ok(df) => df,
                    Err(e) => {
                        return Err(diagnose_json(path, &bytes, format, schema)
                            .unwrap_or_else(|| invalid(e)));
                    }
                }
            }
            TableFormat::Parquet => {
                // polars-parquet 0.55 can panic (instead of erring) on some corrupt footers; a damaged
                // file must still be one clear error, so the read is isolated here.
                let read =
                    std::panic::catch_unwind(|| ParquetReader::new(Cursor::new(bytes)).finish());
                match read {
                    Ok(r) => r.map_err(invalid)?,
                    Err(_) => return Err(DataError::file(
                        path,
                        "corrupt parquet file (the parquet reader could not decode its metadata)",
                    )
                    .with_hint("download or write the file again")),
                }
            }
            TableFormat::ArrowFile | TableFormat::ArrowStream => {
                // Isolated like parquet: a damaged file must be one clear error, never a panic.
                let read = std::panic::catch_unwind(|| {
                    if format == TableFormat::ArrowFile {
                        IpcReader::new(Cursor::new(bytes)).finish()
                    } else {
                        IpcStreamReader::new(Cursor::new(bytes)).finish()
                    }
                });
                match read {
                    Ok(r) => r.map_err(invalid)?,
                    Err(_) => {
                        return Err(DataError::file(
                            path,
                            format!("corrupt {} (the reader could not decode it)", format.name()),
                        )
                        .with_hint("write the file again"));
                    }
                }
            }
            TableFormat::Csv => CsvReadOptions::default()
                .with_has_header(true)
                .into_reader_with_file_handle(Cursor::new(bytes))
                .finish()
                .map_err(invalid)?,
        };
    Ok(df)
}

fn parse_json(
    bytes: &[u8],
    format: JsonFormat,
    schema: Option<&Schema>,
) -> PolarsResult<DataFrame> {
    let mut reader = JsonReader::new(Cursor::new(bytes)).with_json_format(format);
    reader = match schema {
        Some(schema) => reader.with_schema(Arc::new(schema.clone())),
        // Infer from every record: a field first seen late (CNN/DM's `info.article`) must not vanish.
        None => reader.infer_schema_len(None),
    };
    reader.finish()
}

/// After polars refused a JSON file against `schema`: finds the first record and top-level field
/// that do not parse, so the error can name them. Runs only on the failure path.
fn diagnose_json(
    path: &Path,
    bytes: &[u8],
    format: TableFormat,
    schema: Option<&Schema>,
) -> Option<DataError> {
    let schema = schema?;
    let records: Vec<Vec<u8>> = match format {
        TableFormat::JsonLines => bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
            .map(<[u8]>::to_vec)
            .collect(),
        _ => match serde_json::from_slice::<Vec<serde_json::Value>>(bytes) {
            Ok(values) => values
                .iter()
                .map(|v| serde_json::to_vec(v).expect("re-serialise"))
                .collect(),
            Err(e) => return Some(DataError::file(path, format!("not valid JSON: {e}"))),
        },
    };
    for (row, record) in records.iter().enumerate() {
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(record) {
            return Some(DataError::file(path, format!("not valid JSON: {e}")).with_row(row));
        }
        if parse_json(record, JsonFormat::JsonLines, Some(schema)).is_ok() {
            continue;
        }
        for field in schema.iter_fields() {
            let one = Schema::from_iter([field.clone()]);
            if let Err(e) = parse_json(record, JsonFormat::JsonLines, Some(&one)) {
                return Some(DataError::at(
                    path,
                    row,
                    field.name(),
                    format!("wrong type: {e}"),
                ));
            }
        }
        return Some(DataError::file(path, "does not match the expected schema").with_row(row));
    }
    None
}

/// The column `name` of `df`, or an error listing the columns that are there.
///
/// # Errors
///
/// A [`DataError`] on `name` when `df` has no such column.
pub fn column<'a>(path: &Path, df: &'a DataFrame, name: &str) -> DataResult<&'a Series> {
    match df.column(name) {
        Ok(c) => Ok(c.as_materialized_series()),
        Err(_) => {
            let have: Vec<String> = df
                .get_column_names()
                .iter()
                .map(|n| n.to_string())
                .collect();
            Err(DataError::field(
                path,
                name,
                format!("missing column; the file has: {}", have.join(", ")),
            ))
        }
    }
}

/// The sub-field `name` of a struct column `parent`.
///
/// # Errors
///
/// A [`DataError`] when `parent` is not a struct column or has no field `name`.
pub fn struct_field(
    path: &Path,
    parent_name: &str,
    parent: &Series,
    name: &str,
) -> DataResult<Series> {
    let full = format!("{parent_name}.{name}");
    let s = parent.struct_().map_err(|_| {
        DataError::field(
            path,
            parent_name,
            format!("expected an object, found {}", parent.dtype()),
        )
    })?;
    s.field_by_name(name)
        .map_err(|_| DataError::field(path, &full, "missing field"))
}

fn first_null(s: &Series) -> Option<usize> {
    if s.null_count() == 0 {
        return None;
    }
    s.is_null().iter().position(|v| v == Some(true))
}

/// A text column without nulls.
///
/// # Errors
///
/// A [`DataError`] when the column is not text, or at the first null row.
pub fn strings(path: &Path, field: &str, s: &Series) -> DataResult<Vec<String>> {
    let ca = s.str().map_err(|_| {
        DataError::field(path, field, format!("expected text, found {}", s.dtype()))
    })?;
    if let Some(row) = first_null(s) {
        let e = DataError::at(path, row, field, "missing or not text");
        let name = path.to_string_lossy().to_ascii_lowercase();
        let csv = name.ends_with(".csv") || name.ends_with(".csv.gz");
        return Err(if csv {
            e.with_hint(
                "an unquoted empty CSV field reads as missing: write an empty text as \"\", or drop the row",
            )
        } else {
            e
        });
    }
    Ok(ca
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

/// A text column where nulls are allowed (absent optional fields).
///
/// # Errors
///
/// A [`DataError`] when the column is neither text nor all-null.
pub fn optional_strings(path: &Path, field: &str, s: &Series) -> DataResult<Vec<Option<String>>> {
    if s.dtype() == &DataType::Null {
        return Ok(vec![None; s.len()]);
    }
    let ca = s.str().map_err(|_| {
        DataError::field(path, field, format!("expected text, found {}", s.dtype()))
    })?;
    Ok(ca.iter().map(|v| v.map(str::to_string)).collect())
}

/// An integer column without nulls (any integer width; floats with integral values are accepted
/// because JSON writers and pandas round-trips turn ints into floats).
///
/// # Errors
///
/// A [`DataError`] at the first null row, at the first non-integral or huge (`≥ 9·10¹⁵`) float,
/// or when the column is neither integer nor float.
pub fn integers(path: &Path, field: &str, s: &Series) -> DataResult<Vec<i64>> {
    if let Some(row) = first_null(s) {
        return Err(DataError::at(path, row, field, "missing or not a number"));
    }
    if s.dtype().is_integer() {
        let c = s
            .cast(&DataType::Int64)
            .map_err(|e| DataError::field(path, field, e.to_string()))?;
        return Ok(c
            .i64()
            .expect("cast to i64")
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect());
    }
    if s.dtype().is_float() {
        let v = floats(path, field, s)?;
        return v
            .iter()
            .enumerate()
            .map(|(row, &x)| {
                if x.fract() == 0.0 && x.abs() < 9.0e15 {
                    Ok(x as i64)
                } else {
                    Err(DataError::at(
                        path,
                        row,
                        field,
                        format!("expected an integer, found {x}"),
                    ))
                }
            })
            .collect();
    }
    Err(DataError::field(
        path,
        field,
        format!("expected an integer, found {}", s.dtype()),
    ))
}

/// A finite float column without nulls. Text holding a number (AlpacaEval's `preference`) is parsed.
///
/// # Errors
///
/// A [`DataError`] at the first null row, text that is not a number, or NaN / infinite value, or
/// when the column is neither numeric nor text.
pub fn floats(path: &Path, field: &str, s: &Series) -> DataResult<Vec<f64>> {
    if let Some(row) = first_null(s) {
        return Err(DataError::at(path, row, field, "missing or not a number"));
    }
    // Float columns (the feature files' case) are read from their arrow buffers here, without
    // polars' cast and per-value iterator: the column has no nulls (checked above), so the
    // buffers hold every value.
    let values: Vec<f64> = if let Ok(ca) = s.f64() {
        ca.downcast_iter()
            .flat_map(|a| a.values().iter().copied())
            .collect()
    } else if let Ok(ca) = s.f32() {
        ca.downcast_iter()
            .flat_map(|a| a.values().iter().map(|&v| f64::from(v)))
            .collect()
    } else if s.dtype().is_primitive_numeric() {
        let c = s
            .cast(&DataType::Float64)
            .map_err(|e| DataError::field(path, field, e.to_string()))?;
        c.f64()
            .expect("cast to f64")
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect()
    } else if let Ok(ca) = s.str() {
        let mut out = Vec::with_capacity(ca.len());
        for (row, v) in ca.iter().enumerate() {
            let text = v.unwrap_or_default();
            let x: f64 = text.trim().parse().map_err(|_| {
                DataError::at(
                    path,
                    row,
                    field,
                    format!("expected a number, found {text:?}"),
                )
            })?;
            out.push(x);
        }
        out
    } else {
        return Err(DataError::field(
            path,
            field,
            format!("expected a number, found {}", s.dtype()),
        ));
    };
    if let Some(row) = values.iter().position(|v| !v.is_finite()) {
        return Err(DataError::at(
            path,
            row,
            field,
            format!("{} is not a finite number", values[row]),
        )
        .with_hint("the source has no usable value here: fill it in, or drop the row (pandas: df.dropna()) and run again"));
    }
    Ok(values)
}

/// Rewrites any table activepref reads as parquet (used to make parquet copies for benchmarks,
/// acquired datasets and `results.parquet`); JSON input is read against `schema` when given.
/// `to` is written atomically (activepref-core's `write_atomic`): a reader, or a run killed
/// half-way, never sees half a file.
///
/// # Errors
///
/// The errors of [`read_table`], and a [`DataError`] on `to` when it cannot be written.
pub fn convert_to_parquet(from: &Path, to: &Path, schema: Option<&Schema>) -> DataResult<()> {
    let mut df = read_table(from, schema)?;
    activepref_core::io::write_atomic(to, |w| {
        ParquetWriter::new(w)
            .finish(&mut df)
            .map(|_| ())
            .map_err(std::io::Error::other)
    })
    .map_err(|e| {
        DataError::file(
            to,
            format!(
                "cannot write parquet: {}",
                activepref_core::io::describe(&e)
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Float columns are read from their arrow buffers, chunk by chunk; other numbers and text are
    /// cast or parsed; every route gives the same exact values, and a null is named by its row.
    #[test]
    fn floats_read_every_dtype_and_chunk_exactly() {
        let path = Path::new("f.parquet");
        let want = [0.1f32, -2.5, 3.0e-7, 1.0e30];
        let mut f32s = Series::new("x".into(), &want[..2]);
        f32s.append(&Series::new("x".into(), &want[2..])).unwrap();
        assert_eq!(f32s.n_chunks(), 2);
        let exact: Vec<f64> = want.iter().map(|&v| f64::from(v)).collect();
        assert_eq!(floats(path, "x", &f32s).unwrap(), exact);
        let f64s = Series::new("x".into(), &exact);
        assert_eq!(floats(path, "x", &f64s).unwrap(), exact);
        let ints = Series::new("x".into(), &[3i64, -4]);
        assert_eq!(floats(path, "x", &ints).unwrap(), [3.0, -4.0]);
        let text = Series::new("x".into(), &["0.5", " 2 "]);
        assert_eq!(floats(path, "x", &text).unwrap(), [0.5, 2.0]);
        let holes = Series::new("x".into(), &[Some(1.0f32), None]);
        let e = floats(path, "x", &holes).unwrap_err().to_string();
        assert!(e.contains("row") && e.contains("missing"), "{e}");
    }
}
