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
    /// A fix that is the dataset's own `activepref featurize` command, which only the dataset's
    /// source knows: it rewrites [`DataError::hint`] with the command ([`Remedy::hint`]).
    pub remedy: Option<Remedy>,
}

/// A missing or incomplete feature store's fix: featurizing the dataset. The error's hint names
/// the command generically until the dataset's source ([`crate::sources`]) writes it in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// The feature table is not there: featurize the dataset (or, for comparisons, import it).
    Featurize,
    /// The table lacks some rows: featurize again (it resumes) or point at the right store.
    Refeaturize,
}

impl Remedy {
    /// The hint: with `command` (the dataset's whole `activepref featurize …`), or generic; `import`
    /// where `activepref import-features` can make the store (comparison datasets).
    ///
    /// ```
    /// use activepref_data::error::Remedy;
    /// assert_eq!(
    ///     Remedy::Featurize.hint(Some("activepref featurize hh-rlhf hh.jsonl --out f"), true),
    ///     "run `activepref featurize hh-rlhf hh.jsonl --out f`, or `activepref import-features`"
    /// );
    /// assert_eq!(
    ///     Remedy::Refeaturize.hint(None, false),
    ///     "run `activepref featurize` for this dataset again (it resumes, encoding only what is missing), or point `features:` at the store made from this file"
    /// );
    /// ```
    pub fn hint(self, command: Option<&str>, import: bool) -> String {
        let command = match command {
            Some(c) => format!("`{c}`"),
            None => "`activepref featurize` for this dataset".to_string(),
        };
        match (self, import) {
            (Self::Featurize, true) => format!("run {command}, or `activepref import-features`"),
            (Self::Featurize, false) => format!("run {command}"),
            (Self::Refeaturize, _) => format!(
                "run {command} again (it resumes, encoding only what is missing), or point `features:` at the store made from this file"
            ),
        }
    }
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
            remedy: None,
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
            remedy: None,
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
            remedy: None,
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

    /// Marks the fix as featurizing the dataset, with the generic hint ([`Remedy::hint`]; `import`
    /// where `activepref import-features` is another way).
    pub fn with_remedy(mut self, remedy: Remedy, import: bool) -> Self {
        self.hint = Some(remedy.hint(None, import));
        self.remedy = Some(remedy);
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
