//! The one error type of every loader: what went wrong, in which file, at which row and field.

use std::path::{Path, PathBuf};

/// A data-loading error, printed on one line as `file: row R: field `f`: message (hint)`.
///
/// Rows are 0-based record indices within the file (the line number minus one for JSON lines, the
/// array index for JSON arrays, the data row for CSV and parquet).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{}{}: {}{}", .file.display(), row_part(.row), field_part(.field), one_line(.message), hint_part(.hint))]
pub struct DataError {
    /// The file the error is about.
    pub file: PathBuf,
    /// 0-based record index within the file, when the error is about one record.
    pub row: Option<usize>,
    /// The field (column or JSON key), when the error is about one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is a known fix.
    pub hint: Option<String>,
}

impl DataError {
    /// An error about a whole file.
    pub fn file(file: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Self {
            file: file.as_ref().to_path_buf(),
            row: None,
            field: None,
            message: message.into(),
            hint: None,
        }
    }

    /// An error about one field of one record.
    pub fn at(file: impl AsRef<Path>, row: usize, field: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.as_ref().to_path_buf(),
            row: Some(row),
            field: Some(field.to_string()),
            message: message.into(),
            hint: None,
        }
    }

    /// An error about one field (column) of a file, any row.
    pub fn field(file: impl AsRef<Path>, field: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.as_ref().to_path_buf(),
            row: None,
            field: Some(field.to_string()),
            message: message.into(),
            hint: None,
        }
    }

    /// Sets the row.
    pub fn with_row(mut self, row: usize) -> Self {
        self.row = Some(row);
        self
    }

    /// Adds the "how to fix it" part.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// `: row R (0-based record)` when the row is known: said in full, since editors count lines
/// from 1 and a JSON lines file's record R is its line R + 1.
fn row_part(row: &Option<usize>) -> String {
    row.map(|r| format!(": row {r} (0-based record)"))
        .unwrap_or_default()
}

/// ``: field `f` `` when the field is known.
fn field_part(field: &Option<String>) -> String {
    field
        .as_ref()
        .map(|f| format!(": field `{f}`"))
        .unwrap_or_default()
}

/// Messages from parsers can span lines; the error stays on one line.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// ` (hint)` when there is one.
pub fn hint_part(hint: &Option<String>) -> String {
    hint.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
}

/// The result of every loader.
pub type DataResult<T> = Result<T, DataError>;
