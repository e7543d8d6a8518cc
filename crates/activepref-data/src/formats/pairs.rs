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
//!
//! **TRL's preference layouts** are read as they are (with the default column names):
//! - *standard, explicit prompt*: `prompt`, `chosen`, `rejected` as text: the rule above;
//! - *standard, implicit prompt*: no `prompt` column; the prompt is the longest common prefix of
//!   `chosen` and `rejected` (as TRL's `extract_prompt` does), cut back to a whitespace so that
//!   no word is split, and the responses are what follows;
//! - *conversational, explicit prompt*: `prompt` a list of `{role, content}` messages, `chosen` and
//!   `rejected` lists holding the reply: the response is the content of the last message;
//! - *conversational, implicit prompt*: no `prompt` column; `chosen` and `rejected` are whole
//!   conversations; the prompt is the messages before the last one, which must be the same in
//!   both (else an error names the row), and the responses are the last messages' contents (which
//!   must be `assistant` messages).
//!
//! A prompt given as messages becomes text as `role: content` per message, joined by a blank line
//! (`system: Be brief.\n\nuser: Suggest a name for a goldfish.`).

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
    /// The prompt column (default `prompt`; absent in TRL's implicit-prompt layouts).
    pub prompt: String,
    /// The column of response A (default `chosen`).
    pub a: String,
    /// The column of response B (default `rejected`).
    pub b: String,
    /// The label column (`true`/`1`/`a`: A preferred); absent: A is always preferred.
    pub label: Option<String>,
    /// The comparison-id column; absent: the row index within its split.
    pub id: Option<String>,
    /// The prompt-id column; absent: equal prompt texts share a prompt.
    pub prompt_id: Option<String>,
    /// The split column (`pool`/`train`, `validation`/`valid`/`eval`, `test`, `ood`); absent: all pool.
    pub split: Option<String>,
}

impl PairColumns {
    /// The mapping as `--columns` takes it (`prompt=q,a=x,b=y,label=winner`), the keys left out
    /// that are absent; `None` when a column name cannot be written there (it holds a comma, or
    /// starts or ends with white space, which [`PairColumns::from_arg`] trims).
    pub fn to_arg(&self) -> Option<String> {
        let given = [
            ("prompt", Some(&self.prompt)),
            ("a", Some(&self.a)),
            ("b", Some(&self.b)),
            ("label", self.label.as_ref()),
            ("id", self.id.as_ref()),
            ("prompt_id", self.prompt_id.as_ref()),
            ("split", self.split.as_ref()),
        ];
        let writable = |v: &String| !v.contains(',') && v.trim() == v;
        given
            .iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .map(|(k, v)| writable(v).then(|| format!("{k}={v}")))
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.join(","))
    }

    /// Parses `--columns`: `key=column` pairs separated by commas (keys prompt, a or chosen, b or
    /// rejected, label, id, prompt_id, split; spaces around keys and names trimmed), the keys left
    /// out keeping their defaults ([`PairColumns::default`]).
    ///
    /// # Errors
    /// A part without `=`, or an unknown key, in words for the command line.
    pub fn from_arg(spec: &str) -> Result<Self, String> {
        let mut c = Self::default();
        for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("--columns: `{part}` is not key=column"))?;
            let value = value.trim().to_string();
            match key.trim() {
                "prompt" => c.prompt = value,
                "a" | "chosen" => c.a = value,
                "b" | "rejected" => c.b = value,
                "label" => c.label = Some(value),
                "id" => c.id = Some(value),
                "prompt_id" => c.prompt_id = Some(value),
                "split" => c.split = Some(value),
                other => {
                    return Err(format!(
                        "--columns: unknown key `{other}`; use prompt, a, b, label, id, prompt_id, split"
                    ));
                }
            }
        }
        Ok(c)
    }
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
            format!(
                "expected true, 1 or a (A preferred) or false, 0 or b (B preferred), found {v}"
            ),
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
                Some(n) => return Err(bad(row, n.to_string())),
                None => return Err(bad(row, "nothing".into())),
            }
        }
    } else if let Ok(ca) = s.str() {
        for (row, v) in ca.iter().enumerate() {
            match v.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
                Some("a" | "true" | "1") => out.push(true),
                Some("b" | "false" | "0") => out.push(false),
                Some(_) => return Err(bad(row, format!("{:?}", v.unwrap_or_default()))),
                None => return Err(bad(row, "nothing".into())),
            }
        }
    } else {
        return Err(DataError::field(
            path,
            name,
            format!(
                "expected true, 1 or a (A preferred) or false, 0 or b (B preferred), found a column of {}",
                s.dtype()
            ),
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

/// A column of text, or of chat conversations (`[{role, content}, ...]` per row).
enum TextOrChat {
    Text(Vec<String>),
    Chat(Vec<Vec<(String, String)>>),
}

/// Reads `name` as text, or as a list of `{role, content}` messages per row.
fn text_or_chat(path: &Path, df: &DataFrame, name: &str) -> DataResult<TextOrChat> {
    let s = column(path, df, name).map_err(|e| {
        e.with_hint("map the columns with `columns:` in the experiment file or --columns")
    })?;
    let Ok(list) = s.list() else {
        return text_column(path, df, name).map(TextOrChat::Text);
    };
    let mut rows = Vec::with_capacity(s.len());
    for row in 0..s.len() {
        let messages = list
            .get_as_series(row)
            .ok_or_else(|| DataError::at(path, row, name, "missing"))?;
        let field = |f: &str| -> DataResult<Vec<String>> {
            strings(
                path,
                &format!("{name}.{f}"),
                &crate::io::struct_field(path, name, &messages, f).map_err(|e| e.with_row(row))?,
            )
            .map_err(|e| e.with_row(row))
        };
        rows.push(field("role")?.into_iter().zip(field("content")?).collect());
    }
    Ok(TextOrChat::Chat(rows))
}

/// Messages as prompt text: `role: content` per message, joined by a blank line.
fn render(messages: &[(String, String)]) -> String {
    messages
        .iter()
        .map(|(r, c)| format!("{r}: {c}"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// The prompt and both responses of every row, in any of TRL's layouts (see the module docs).
fn prompts_and_responses(
    path: &Path,
    df: &DataFrame,
    columns: &PairColumns,
) -> DataResult<(Vec<String>, Vec<String>, Vec<String>)> {
    // No prompt column (under its default name) while both responses are there: TRL's implicit
    // prompt. Otherwise the prompt column is read first, so a missing one is named first.
    let default = PairColumns::default();
    let implicit = (&columns.prompt, &columns.a, &columns.b)
        == (&default.prompt, &default.a, &default.b)
        && df.column(&columns.prompt).is_err()
        && df.column(&columns.a).is_ok()
        && df.column(&columns.b).is_ok();
    let prompt = if implicit {
        None
    } else {
        Some(text_or_chat(path, df, &columns.prompt)?)
    };
    let (a, b) = (
        text_or_chat(path, df, &columns.a)?,
        text_or_chat(path, df, &columns.b)?,
    );
    let last = |row: usize, m: &[(String, String)], side: &str| -> DataResult<String> {
        m.last()
            .map(|(_, c)| c.clone())
            .ok_or_else(|| DataError::at(path, row, side, "an empty conversation has no response"))
    };
    match (a, b, implicit) {
        (TextOrChat::Text(a), TextOrChat::Text(b), false) => {
            Ok((text_column(path, df, &columns.prompt)?, a, b))
        }
        (TextOrChat::Chat(a), TextOrChat::Chat(b), false) => {
            let prompts = match prompt {
                Some(TextOrChat::Chat(p)) => p.iter().map(|m| render(m)).collect(),
                _ => text_column(path, df, &columns.prompt)?,
            };
            let ra = a
                .iter()
                .enumerate()
                .map(|(i, m)| last(i, m, &columns.a))
                .collect::<DataResult<_>>()?;
            let rb = b
                .iter()
                .enumerate()
                .map(|(i, m)| last(i, m, &columns.b))
                .collect::<DataResult<_>>()?;
            Ok((prompts, ra, rb))
        }
        (TextOrChat::Chat(a), TextOrChat::Chat(b), true) => implicit_chat(path, &a, &b, columns),
        (TextOrChat::Text(a), TextOrChat::Text(b), true) => implicit_text(path, &a, &b),
        _ => Err(DataError::field(
            path,
            &columns.a,
            format!(
                "`{}` and `{}` must both be text or both be lists of messages",
                columns.a, columns.b
            ),
        )),
    }
}

/// Type of the prompt and both responses of every row.
type Triples = (Vec<String>, Vec<String>, Vec<String>);

/// TRL's implicit prompt in conversational form: the shared messages before each
/// conversation's last (assistant) message, rendered; the replies are the responses.
fn implicit_chat(
    path: &Path,
    a: &[Vec<(String, String)>],
    b: &[Vec<(String, String)>],
    columns: &PairColumns,
) -> DataResult<Triples> {
    let last = |row: usize, m: &[(String, String)], side: &str| -> DataResult<String> {
        m.last()
            .map(|(_, c)| c.clone())
            .ok_or_else(|| DataError::at(path, row, side, "an empty conversation has no response"))
    };
    let mut out = (vec![], vec![], vec![]);
    for (row, (ma, mb)) in a.iter().zip(b).enumerate() {
        let (ra, rb) = (last(row, ma, &columns.a)?, last(row, mb, &columns.b)?);
        for (m, side) in [(ma, &columns.a), (mb, &columns.b)] {
            if m.last().is_some_and(|(role, _)| role != "assistant") {
                return Err(DataError::at(
                    path,
                    row,
                    side,
                    "the conversation does not end with an assistant message, so it has no reply to compare",
                ));
            }
        }
        let (pa, pb) = (&ma[..ma.len() - 1], &mb[..mb.len() - 1]);
        if pa != pb {
            return Err(DataError::at(
                path,
                row,
                "chosen/rejected",
                "the two conversations differ before their last message, so they do not answer one prompt",
            )
            .with_hint("give the prompt as its own `prompt` column, or fix the row"));
        }
        if pa.is_empty() {
            return Err(DataError::at(
                path,
                row,
                "chosen/rejected",
                "a one-message conversation has no prompt before its reply",
            )
            .with_hint("give the prompt as its own `prompt` column"));
        }
        out.0.push(render(pa));
        out.1.push(ra);
        out.2.push(rb);
    }
    Ok(out)
}

/// TRL's implicit prompt in text form: the longest shared beginning of both texts, cut at a
/// word boundary; the rest of each text is its response.
fn implicit_text(path: &Path, a: &[String], b: &[String]) -> DataResult<Triples> {
    let mut out = (vec![], vec![], vec![]);
    for (row, (ta, tb)) in a.iter().zip(b).enumerate() {
        let mut n = ta
            .bytes()
            .zip(tb.bytes())
            .take_while(|(x, y)| x == y)
            .count();
        while !ta.is_char_boundary(n) {
            n -= 1;
        }
        // Never inside a word: "The ca" + "r" / "t" is "The " + "car" / "cat".
        if n < ta.len().min(tb.len()) {
            n = ta[..n]
                .char_indices()
                .rev()
                .find(|(_, c)| c.is_whitespace())
                .map_or(0, |(i, c)| i + c.len_utf8());
        }
        if ta[..n].trim().is_empty() {
            return Err(DataError::at(
                path,
                row,
                "chosen/rejected",
                "no `prompt` column and no shared beginning to take the prompt from",
            )
            .with_hint("add a `prompt` column, or map one with `columns:` / --columns"));
        }
        out.0.push(ta[..n].to_string());
        out.1.push(ta[n..].to_string());
        out.2.push(tb[n..].to_string());
    }
    Ok(out)
}

/// Loads a generic pair file.
///
/// # Errors
///
/// A [`DataError`] naming file, row and column when the file cannot be read, a mapped column is
/// missing or mistyped, a label or split value is unknown, messages are malformed, or an id
/// repeats within a split.
pub fn load(path: &Path, columns: &PairColumns) -> DataResult<ComparisonDataset> {
    let df = read_table(path, None)?;
    let (prompts, a, b) = prompts_and_responses(path, &df, columns)?;
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
