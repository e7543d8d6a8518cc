//! Generic pairwise comparisons in JSON lines, JSON, parquet or CSV, with a column mapping.
//!
//! ```yaml
//! columns: { prompt: question, a: answer_1, b: answer_2, label: winner_is_1, split: part }
//! ```
//! Without `label`, response A is the preferred one (chosen/rejected layout). A `label` column holds
//! booleans, 0/1, or the texts `a`/`b`; `true`, `1` and `a` mean A is preferred. Without `split`,
//! every row goes to the pool; split values are `pool`/`train`, `validation`/`valid`/`eval`, `test`
//! and `ood`. Without `id`, the row index within its split is the id; without `prompt_id`, equal
//! prompt texts share a prompt.

use std::collections::HashSet;
use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, DataResult};
use crate::io::{column, read_table, strings};
use crate::text::{ComparisonDataset, SplitRole, TextComparison};

/// Which column holds what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PairColumns {
    pub prompt: String,
    pub a: String,
    pub b: String,
    pub label: Option<String>,
    pub id: Option<String>,
    pub prompt_id: Option<String>,
    pub split: Option<String>,
}

impl Default for PairColumns {
    fn default() -> Self {
        Self {
            prompt: "prompt".into(),
            a: "chosen".into(),
            b: "rejected".into(),
            label: None,
            id: None,
            prompt_id: None,
            split: None,
        }
    }
}

fn text_column(path: &Path, df: &DataFrame, name: &str) -> DataResult<Vec<String>> {
    let s = column(path, df, name).map_err(|e| {
        e.with_hint("map the columns with `columns:` in the experiment file or --columns")
    })?;
    // Ids and prompt ids may be numbers in the file; compare them as text.
    if s.dtype().is_integer() {
        let c = s
            .cast(&DataType::String)
            .map_err(|e| DataError::field(path, name, e.to_string()))?;
        return strings(path, name, &c);
    }
    strings(path, name, s)
}

fn labels(path: &Path, df: &DataFrame, name: &str) -> DataResult<Vec<bool>> {
    let s = column(path, df, name)?;
    let mut out = Vec::with_capacity(s.len());
    let bad = |row: usize, v: String| {
        DataError::at(
            path,
            row,
            name,
            format!("expected true/false, 1/0 or a/b, found {v}"),
        )
    };
    if let Ok(ca) = s.bool() {
        for (row, v) in ca.iter().enumerate() {
            out.push(v.ok_or_else(|| bad(row, "nothing".into()))?);
        }
    } else if s.dtype().is_integer() {
        let c = s
            .cast(&DataType::Int64)
            .map_err(|e| DataError::field(path, name, e.to_string()))?;
        for (row, v) in c.i64().expect("i64").iter().enumerate() {
            match v {
                Some(1) => out.push(true),
                Some(0) => out.push(false),
                other => return Err(bad(row, format!("{other:?}"))),
            }
        }
    } else if let Ok(ca) = s.str() {
        for (row, v) in ca.iter().enumerate() {
            match v.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
                Some("a" | "true" | "1") => out.push(true),
                Some("b" | "false" | "0") => out.push(false),
                other => return Err(bad(row, format!("{other:?}"))),
            }
        }
    } else {
        return Err(DataError::field(
            path,
            name,
            format!("expected booleans, 0/1 or a/b, found {}", s.dtype()),
        ));
    }
    Ok(out)
}

/// Parses a split name of a generic file.
pub fn split_role(name: &str) -> Option<SplitRole> {
    match name.trim().to_ascii_lowercase().as_str() {
        "pool" | "train" => Some(SplitRole::Pool),
        "validation" | "valid" | "eval" | "valid1" => Some(SplitRole::Validation),
        "test" => Some(SplitRole::Test),
        "ood" => Some(SplitRole::Ood),
        _ => None,
    }
}

/// Loads a generic pair file.
pub fn load(path: &Path, columns: &PairColumns) -> DataResult<ComparisonDataset> {
    let df = read_table(path, None)?;
    let prompts = text_column(path, &df, &columns.prompt)?;
    let a = text_column(path, &df, &columns.a)?;
    let b = text_column(path, &df, &columns.b)?;
    let label = match &columns.label {
        Some(name) => labels(path, &df, name)?,
        None => vec![true; prompts.len()],
    };
    let ids = columns
        .id
        .as_deref()
        .map(|n| text_column(path, &df, n))
        .transpose()?;
    let prompt_ids = columns
        .prompt_id
        .as_deref()
        .map(|n| text_column(path, &df, n))
        .transpose()?;
    let splits = columns
        .split
        .as_deref()
        .map(|n| text_column(path, &df, n))
        .transpose()?;

    let mut ds = ComparisonDataset {
        sources: vec![path.to_path_buf()],
        ..Default::default()
    };
    let mut seen: HashSet<(SplitRole, String)> = HashSet::new();
    for row in 0..prompts.len() {
        let role = match &splits {
            Some(s) => split_role(&s[row]).ok_or_else(|| {
                DataError::at(
                    path,
                    row,
                    columns.split.as_deref().unwrap_or("split"),
                    format!("unknown split {:?}", s[row]),
                )
                .with_hint("use pool/train, validation, test or ood")
            })?,
            None => SplitRole::Pool,
        };
        let rows = ds.splits.entry(role).or_default();
        let id = ids
            .as_ref()
            .map_or_else(|| rows.len().to_string(), |v| v[row].clone());
        if !seen.insert((role, id.clone())) {
            return Err(DataError::at(
                path,
                row,
                columns.id.as_deref().unwrap_or("id"),
                format!("duplicate id {id:?} in split {role}"),
            ));
        }
        rows.push(TextComparison {
            id,
            prompt_key: prompt_ids
                .as_ref()
                .map_or_else(|| prompts[row].clone(), |v| v[row].clone()),
            prompt: prompts[row].clone(),
            response_a: a[row].clone(),
            response_b: b[row].clone(),
            a_preferred: label[row],
        });
    }
    if ds.is_empty() {
        return Err(DataError::file(path, "no comparisons in file"));
    }
    Ok(ds)
}
