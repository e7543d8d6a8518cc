//! OpenAI summarize-from-feedback "comparisons" (Stiennon et al. 2020): the original JSON lines
//! (`comparisons/batch*.json`) and the HF parquet of `openai/summarize_from_feedback`, config
//! `comparisons`, which share one nested schema:
//! `info{id, post, title, subreddit, article, site}`, `summaries[{text, policy, note}]`, `choice`,
//! `worker`, `batch`, `split`, `extra{confidence}`.
//!
//! Routing follows specs/balpm.md §1.1: `train` → pool, `valid1` → validation, `valid2` without
//! "cnndm" in `batch` → test, `valid2` with "cnndm" in `batch` → OOD (CNN/DM; the article is the
//! prompt). The chosen summary `summaries[choice]` becomes response A. Ids are row indices within
//! each split in file order (files in name order), as BAL-PM's conversion notebook numbers them;
//! comparisons of one post share its `info.id` as prompt key.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::error::{DataError, DataResult};
use crate::io::{
    column, files_under, integers, optional_strings, read_table, strings, struct_field,
};
use crate::text::{ComparisonDataset, SplitRole, TextComparison};

/// The JSON schema activepref reads (fields it does not use are ignored).
pub fn json_schema() -> Schema {
    let info = DataType::Struct(vec![
        Field::new("id".into(), DataType::String),
        Field::new("post".into(), DataType::String),
        Field::new("title".into(), DataType::String),
        Field::new("subreddit".into(), DataType::String),
        Field::new("article".into(), DataType::String),
        Field::new("site".into(), DataType::String),
    ]);
    let summary = DataType::Struct(vec![
        Field::new("text".into(), DataType::String),
        Field::new("policy".into(), DataType::String),
        Field::new("note".into(), DataType::String),
    ]);
    Schema::from_iter([
        Field::new("info".into(), info),
        Field::new("summaries".into(), DataType::List(Box::new(summary))),
        Field::new("choice".into(), DataType::Int64),
        Field::new("worker".into(), DataType::String),
        Field::new("batch".into(), DataType::String),
        Field::new("split".into(), DataType::String),
    ])
}

/// The files to read: `path` itself, or every `.json`/`.jsonl`/`.parquet` (optionally `.gz`) file
/// under the directory `path`, subdirectories included (the HF parquet export keeps
/// `comparisons/train/` and `comparisons/validation/`), sorted by path.
///
/// # Errors
///
/// A [`DataError`] when the directory cannot be listed or holds no `.json`, `.jsonl` or
/// `.parquet` file.
pub fn input_files(path: &Path) -> DataResult<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let files: Vec<PathBuf> = files_under(path)?
        .into_iter()
        .filter(|p| {
            let n = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_lowercase();
            let n = n.strip_suffix(".gz").unwrap_or(&n).to_string();
            n.ends_with(".json") || n.ends_with(".jsonl") || n.ends_with(".parquet")
        })
        .collect();
    if files.is_empty() {
        return Err(DataError::file(
            path,
            "no .json, .jsonl or .parquet files under this directory",
        )
        .with_hint("point at OpenAI's comparisons/ directory or at the HF parquet files"));
    }
    Ok(files)
}

/// Loads one file or a directory of files.
///
/// # Errors
///
/// The errors of [`input_files`], and a [`DataError`] naming file, row and field for an
/// unreadable or malformed file, or a missing or mistyped field (`info`, `summaries`, `choice`,
/// `split`, …).
pub fn load(path: &Path) -> DataResult<ComparisonDataset> {
    let mut ds = ComparisonDataset::default();
    for &role in SplitRole::ALL {
        ds.splits.insert(role, Vec::new());
    }
    for file in input_files(path)? {
        load_file(&file, &mut ds)?;
        ds.sources.push(file);
    }
    if ds.is_empty() {
        return Err(DataError::file(path, "no comparisons found"));
    }
    Ok(ds)
}

fn load_file(path: &Path, ds: &mut ComparisonDataset) -> DataResult<()> {
    let df = read_table(path, Some(&json_schema()))?;
    let info = column(path, &df, "info")?;
    let ids = strings(path, "info.id", &struct_field(path, "info", info, "id")?)?;
    let posts = optional_strings(
        path,
        "info.post",
        &struct_field(path, "info", info, "post")?,
    )?;
    let articles = match struct_field(path, "info", info, "article") {
        Ok(s) => optional_strings(path, "info.article", &s)?,
        Err(_) => vec![None; df.height()],
    };
    let choice = integers(path, "choice", column(path, &df, "choice")?)?;
    let batch = strings(path, "batch", column(path, &df, "batch")?)?;
    let split = strings(path, "split", column(path, &df, "split")?)?;
    let summaries_col = column(path, &df, "summaries")?;
    let summaries = summaries_col.list().map_err(|_| {
        DataError::field(
            path,
            "summaries",
            format!("expected a list, found {}", summaries_col.dtype()),
        )
    })?;

    for (row, summary_list) in summaries.amortized_iter().enumerate() {
        let Some(list) = summary_list else {
            return Err(DataError::at(path, row, "summaries", "missing"));
        };
        let texts = strings(
            path,
            "summaries.text",
            &struct_field(path, "summaries", list.as_ref(), "text")?,
        )
        .map_err(|e| DataError {
            row: Some(row),
            ..e
        })?;
        if texts.len() != 2 {
            return Err(DataError::at(
                path,
                row,
                "summaries",
                format!("expected 2 summaries, found {}", texts.len()),
            ));
        }
        let c = choice[row];
        if c != 0 && c != 1 {
            return Err(DataError::at(
                path,
                row,
                "choice",
                format!("expected 0 or 1, found {c}"),
            ));
        }
        let cnndm = batch[row].contains("cnndm");
        let role = split_role(path, row, &split[row], cnndm)?;
        let prompt = prompt_text(path, row, cnndm, &posts[row], &articles[row])?;
        let (chosen, rejected) = if c == 0 {
            (&texts[0], &texts[1])
        } else {
            (&texts[1], &texts[0])
        };
        let rows = ds.splits.get_mut(&role).expect("all roles present");
        rows.push(TextComparison {
            id: rows.len().to_string(),
            prompt_key: ids[row].clone(),
            prompt: prompt.clone(),
            response_a: chosen.clone(),
            response_b: rejected.clone(),
            a_preferred: true,
        });
    }
    Ok(())
}

/// The text a row's summaries summarise: the article for CNN/DM, else the post (each falling
/// back to the other).
fn prompt_text<'a>(
    path: &Path,
    row: usize,
    cnndm: bool,
    post: &'a Option<String>,
    article: &'a Option<String>,
) -> DataResult<&'a String> {
    let prompt = if cnndm {
        article.as_ref().or(post.as_ref())
    } else {
        post.as_ref().or(article.as_ref())
    };
    prompt.ok_or_else(|| {
        let field = if cnndm { "info.article" } else { "info.post" };
        DataError::at(
            path,
            row,
            field,
            "missing: neither info.post nor info.article is given",
        )
    })
}

/// The split a row belongs to: `train` is the pool, `valid1` validation, and `valid2` the test
/// split for TL;DR posts or the OOD split for CNN/DM articles (`cnndm`), as BAL-PM uses them.
fn split_role(path: &Path, row: usize, split: &str, cnndm: bool) -> DataResult<SplitRole> {
    Ok(match split {
        "train" => SplitRole::Pool,
        "valid1" => SplitRole::Validation,
        "valid2" if cnndm => SplitRole::Ood,
        "valid2" => SplitRole::Test,
        other => {
            return Err(
                DataError::at(path, row, "split", format!("unknown split {other:?}"))
                    .with_hint("expected train, valid1 or valid2"),
            );
        }
    })
}

/// Writes `records` made-up comparisons in the real JSON-lines schema, for load benchmarks:
/// posts of ~250 words with ~5 comparisons each, splits in roughly TL;DR's proportions (train
/// 52%, valid1 19%, valid2 28% of which a few percent CNN/DM). Deterministic in `seed` (random
/// stream `[seed, Data, data_draw::GENERATED_SUMMARIZE]`, see [`activepref_core::seeds`]).
///
/// # Errors
///
/// Any I/O error of creating or writing `path`.
pub fn write_generated_jsonl(path: &Path, records: usize, seed: u64) -> std::io::Result<()> {
    use activepref_core::seeds::{Stream, data_draw};
    use rand::RngExt;
    use std::io::Write;
    const WORDS: [&str; 24] = [
        "the", "my", "roommate", "said", "work", "money", "never", "because", "friend", "week",
        "asked", "again", "help", "family", "told", "time", "really", "about", "partner", "job",
        "after", "still", "wants", "today",
    ];
    let mut rng =
        activepref_core::seeds::rng_for(seed, Stream::Data, &[data_draw::GENERATED_SUMMARIZE]);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let text = |rng: &mut rand_chacha::ChaCha8Rng, n: usize| -> String {
        let mut s = String::with_capacity(n * 7);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
        }
        s
    };
    let mut post = String::new();
    let mut post_id = 0usize;
    let mut left = 0usize;
    let mut split = ("train", "batch3", false);
    for _ in 0..records {
        if left == 0 {
            post_id += 1;
            left = rng.random_range(1..10);
            let u: f64 = rng.random();
            split = if u < 0.52 {
                ("train", "batch3", false)
            } else if u < 0.71 {
                ("valid1", "batch8", false)
            } else if u < 0.98 {
                ("valid2", "batch10", false)
            } else {
                ("valid2", "batch0_cnndm", true)
            };
            let words = rng.random_range(100..400);
            post = text(&mut rng, words);
        }
        left -= 1;
        let (a, b) = (text(&mut rng, 25), text(&mut rng, 25));
        let info = if split.2 {
            serde_json::json!({"id": format!("cnn_{post_id}"), "article": post, "title": "t", "site": "cnn"})
        } else {
            serde_json::json!({"id": format!("t3_{post_id}"), "post": post, "title": "t", "subreddit": "r"})
        };
        let rec = serde_json::json!({
            "info": info,
            "summaries": [{"text": a, "policy": "sup4", "note": null}, {"text": b, "policy": "ref", "note": null}],
            "choice": rng.random_range(0..2),
            "worker": "w1",
            "batch": split.1,
            "split": split.0,
            "extra": {"confidence": rng.random_range(1..10)},
        });
        serde_json::to_writer(&mut out, &rec)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
