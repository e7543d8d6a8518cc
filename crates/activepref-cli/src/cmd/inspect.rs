//! `activepref inspect`: what a dataset holds (counts per split, prompts, comparisons per prompt,
//! data quality, features), as text or one JSON object.

use std::path::{Path, PathBuf};

use activepref_data::feature_store::{FeatureTable, table_path};
use activepref_data::formats::alpaca_eval::MissingPrompts;
use activepref_data::formats::pairs::PairColumns;
use activepref_data::sources::{CandidateFormat, ComparisonFormat};
use activepref_data::text::SplitRole;
use anyhow::anyhow;
use strum::{EnumMessage, VariantArray};

use crate::say;

/// A dataset format on the command line: a comparison format (pool setting) or a candidate-pool
/// format (pair setting). The names, the order and the help of each come from
/// activepref-data's `ComparisonFormat` and `CandidateFormat`, so a new format needs no change
/// here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetFormat {
    /// A pool-setting format.
    Comparisons(ComparisonFormat),
    /// A pair-setting (candidate pool) format.
    Candidates(CandidateFormat),
}

impl clap::ValueEnum for DatasetFormat {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::OnceLock<Vec<DatasetFormat>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| {
            let comparisons = ComparisonFormat::VARIANTS.iter().copied();
            let candidates = CandidateFormat::VARIANTS.iter().copied();
            comparisons
                .map(DatasetFormat::Comparisons)
                .chain(candidates.map(DatasetFormat::Candidates))
                .collect()
        })
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let doc = match self {
            DatasetFormat::Comparisons(f) => f.get_documentation(),
            DatasetFormat::Candidates(f) => f.get_documentation(),
        };
        let value = clap::builder::PossibleValue::new(self.name());
        Some(match doc {
            // One line, however the doc comment wraps.
            Some(doc) => value.help(doc.split_whitespace().collect::<Vec<_>>().join(" ")),
            None => value,
        })
    }
}

impl DatasetFormat {
    /// The pool-setting format, or `None` for a candidate-pool format.
    fn comparison(self) -> Option<ComparisonFormat> {
        match self {
            DatasetFormat::Comparisons(f) => Some(f),
            DatasetFormat::Candidates(_) => None,
        }
    }

    /// The pair-setting (candidate pool) format, or `None` for a comparison format.
    pub fn candidates(self) -> Option<CandidateFormat> {
        match self {
            DatasetFormat::Candidates(f) => Some(f),
            DatasetFormat::Comparisons(_) => None,
        }
    }

    /// The command-line spelling (`hh-rlhf`).
    pub fn name(self) -> &'static str {
        match self {
            DatasetFormat::Comparisons(f) => f.name(),
            DatasetFormat::Candidates(f) => f.name(),
        }
    }
}

/// Parses `prompt=question,a=r1,b=r2,label=winner` into a column mapping ([`PairColumns::from_arg`]).
pub fn parse_columns(spec: &str) -> anyhow::Result<PairColumns> {
    PairColumns::from_arg(spec).map_err(|e| anyhow!(e))
}

pub(crate) fn describe_table(path: &Path) -> String {
    match FeatureTable::load(path) {
        Ok(t) => format!("{} rows x {} dims", t.rows(), t.dim()),
        Err(e) => format!("unreadable ({e})"),
    }
}

/// A dataset named on the command line: comparisons (pool setting) or a candidate pool.
pub(crate) enum Dataset {
    Comparisons(activepref_data::text::ComparisonDataset),
    Candidates(activepref_data::text::CandidatePool),
}

/// Loads `path` in `format`; `columns` maps a `pairs` table.
pub(crate) fn load_dataset(
    format: DatasetFormat,
    path: &Path,
    columns: Option<&str>,
) -> anyhow::Result<Dataset> {
    let Some(fmt) = format.comparison() else {
        let candidates = format.candidates().expect("not a comparison format");
        return Ok(Dataset::Candidates(
            candidates.load(path, MissingPrompts::Keep)?,
        ));
    };
    let cols = columns.map(parse_columns).transpose()?;
    Ok(Dataset::Comparisons(fmt.load(path, cols.as_ref())?))
}

/// The arguments of `activepref inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// The dataset's format.
    pub format: DatasetFormat,
    /// The file or directory.
    pub path: PathBuf,
    /// A feature store directory to describe alongside.
    #[arg(long, value_name = "DIR")]
    pub features: Option<PathBuf>,
    /// For `pairs`: which column is what, e.g. prompt=question,a=r1,b=r2,label=winner,split=part.
    /// The label column says which response won: true, 1 or a for A; false, 0 or b for B (a 0/1
    /// label is 1 when A wins, not the winner's index); without a label column, A.
    #[arg(long, value_name = "MAP")]
    pub columns: Option<String>,
    /// Print the description as one JSON object (a failure as {"ok": false, "error": ...}).
    #[arg(long)]
    pub json: bool,
}

/// `activepref inspect`: what a dataset holds, as text or (`json`) one JSON object.
pub fn run(a: &InspectArgs) -> anyhow::Result<()> {
    let (format, path, features, columns, json) = (
        a.format,
        a.path.as_path(),
        a.features.as_deref(),
        a.columns.as_deref(),
        a.json,
    );
    if columns.is_some() && format != DatasetFormat::Comparisons(ComparisonFormat::Pairs) {
        return Err(anyhow!("--columns applies to format `pairs` only"));
    }
    let (report, layout, makers) = match load_dataset(format, path, columns)? {
        Dataset::Comparisons(ds) => (
            inspect_comparisons(format, path, &ds, features),
            "<store>/<split>/<table>.safetensors",
            "`activepref featurize` or `import-features`",
        ),
        Dataset::Candidates(pool) => (
            inspect_candidates(format, path, &pool, features),
            "<store>/candidates/responses.safetensors",
            "`activepref featurize`",
        ),
    };
    if let Some(dir) = features
        && report["features"].as_object().is_none_or(|t| t.is_empty())
    {
        return Err(anyhow!(
            "--features {}: holds none of this dataset's feature tables ({layout}); name the store {makers} wrote",
            dir.display()
        ));
    }
    if json {
        let mut report = report;
        report["ok"] = true.into();
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_inspection(&report);
    }
    Ok(())
}

/// Feature tables found next to a dataset: `{ "split/table": "rows x dims" }`.
fn feature_tables(
    dir: &Path,
    tables: &[(&str, &str)],
) -> serde_json::Map<String, serde_json::Value> {
    tables
        .iter()
        .filter_map(|&(split, table)| {
            let p = table_path(dir, split, table);
            p.exists()
                .then(|| (format!("{split}/{table}"), describe_table(&p).into()))
        })
        .collect()
}

fn inspect_candidates(
    format: DatasetFormat,
    path: &Path,
    pool: &activepref_data::text::CandidatePool,
    features: Option<&Path>,
) -> serde_json::Value {
    let (lo, hi) = pool.responses_per_prompt();
    let (found, missing) = features.map(|dir| candidate_features(dir, pool)).unzip();
    let scores: Vec<f32> = pool.candidates.iter().flatten().map(|c| c.score).collect();
    let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len().max(1) as f64;
    let gaps: Vec<serde_json::Value> =
        pool.gaps.iter().map(|(m, lacks)| serde_json::json!({ "model": pool.models[*m], "missing_prompts": lacks.len() })).collect();
    serde_json::json!({
        "format": format.name(),
        "path": path.display().to_string(),
        "files": pool.sources.len(),
        "prompts": pool.prompts.len(),
        "models": pool.models,
        "responses_per_prompt": { "min": lo, "max": hi },
        "responses": scores.len(),
        "judge_score": {
            "mean": mean,
            "min": scores.iter().copied().fold(f32::INFINITY, f32::min),
            "max": scores.iter().copied().fold(f32::NEG_INFINITY, f32::max),
        },
        "gaps": gaps,
        "quality": pool.quality(),
        "features": found,
        "features_missing": missing,
    })
}

/// The candidate store's table (`{ "candidates/responses": "rows x dims" }` when it exists) and
/// what a run would still lack: the table, or the responses it does not cover (an interrupted
/// featurize, a store of another file).
fn candidate_features(
    dir: &Path,
    pool: &activepref_data::text::CandidatePool,
) -> (serde_json::Map<String, serde_json::Value>, Vec<String>) {
    const NAME: &str = "candidates/responses";
    let path = table_path(dir, "candidates", "responses");
    if !path.exists() {
        return (serde_json::Map::new(), vec![NAME.to_string()]);
    }
    let table = match FeatureTable::load(&path) {
        Ok(t) => t,
        Err(e) => {
            let found = [(NAME.to_string(), format!("unreadable ({e})").into())];
            return (found.into_iter().collect(), Vec::new());
        }
    };
    let desc = format!("{} rows x {} dims", table.rows(), table.dim());
    let (covered, total) = table.coverage(
        activepref_data::assemble::candidate_ids(pool)
            .iter()
            .flatten(),
    );
    let missing = (covered < total)
        .then(|| format!("{NAME} covers {covered} of the pool's {total} responses"))
        .into_iter()
        .collect();
    (
        [(NAME.to_string(), desc.into())].into_iter().collect(),
        missing,
    )
}

fn inspect_comparisons(
    format: DatasetFormat,
    path: &Path,
    ds: &activepref_data::text::ComparisonDataset,
    features: Option<&Path>,
) -> serde_json::Value {
    let splits: Vec<serde_json::Value> = ds
        .summary()
        .iter()
        .map(|s| {
            serde_json::json!({
                "split": s.role.name(),
                "comparisons": s.comparisons,
                "prompts": s.prompts,
                "mean_per_prompt": s.mean_per_prompt(),
                "max_per_prompt": s.max_per_prompt,
            })
        })
        .collect();
    let tables: Vec<(&str, &str)> = SplitRole::ALL
        .iter()
        .flat_map(|r| ["pair_a", "pair_b", "prompt"].map(|t| (r.name(), t)))
        .collect();
    let found = features.map(|dir| feature_tables(dir, &tables));
    // A run reads both sides of every split the dataset holds, and the pool's prompts (the
    // store's loader refuses a pool without them); null when no store was named.
    let held: Vec<&str> = ds
        .summary()
        .iter()
        .filter(|s| s.comparisons > 0)
        .map(|s| s.role.name())
        .collect();
    let missing = found.as_ref().map(|f| {
        tables
            .iter()
            .filter(|&&(split, t)| {
                held.contains(&split) && (t != "prompt" || split == SplitRole::Pool.name())
            })
            .map(|(split, t)| format!("{split}/{t}"))
            .filter(|t| !f.is_empty() && !f.contains_key(t))
            .collect::<Vec<String>>()
    });
    serde_json::json!({
        "format": format.name(),
        "path": path.display().to_string(),
        "files": ds.sources.len(),
        "comparisons": ds.len(),
        "splits": splits,
        "a_preferred": ds.splits.values().flatten().filter(|c| c.a_preferred).count(),
        "quality": ds.quality(),
        "features": found,
        "features_missing": missing,
    })
}

/// The text form of an `inspect` report.
fn print_inspection(r: &serde_json::Value) {
    match r["splits"].as_array() {
        Some(splits) => print_comparisons(r, splits),
        None => print_candidates(r),
    }
    for (name, desc) in r["features"].as_object().into_iter().flatten() {
        say!("  features {name}: {}", desc.as_str().unwrap_or(""));
    }
    let missing: Vec<&str> = r["features_missing"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str())
        .collect();
    let needs = if r["splits"].is_array() {
        "a run needs pair_a and pair_b of every split and the pool's prompt; featurize or import them"
    } else {
        "a run needs every candidate response's features; `activepref featurize` resumes, encoding only the missing ones"
    };
    if !missing.is_empty() {
        say!("  features missing: {} ({needs})", missing.join(", "));
    }
}

/// The text form of a comparison dataset's `inspect` report.
fn print_comparisons(r: &serde_json::Value, splits: &[serde_json::Value]) {
    let (format, path, files) = (
        r["format"].as_str().unwrap_or(""),
        r["path"].as_str().unwrap_or(""),
        &r["files"],
    );
    say!(
        "{format} {path}: {} comparisons from {}",
        r["comparisons"],
        activepref_core::error::counted(files.as_u64().unwrap_or(0) as usize, "file", "files")
    );
    say!(
        "  {:<11} {:>11} {:>8} {:>22}",
        "split",
        "comparisons",
        "prompts",
        "per prompt (mean/max)"
    );
    for s in splits {
        let mean = s["mean_per_prompt"].as_f64().unwrap_or(0.0);
        // Numbers as numbers: serde_json's Display ignores widths.
        let n = |k: &str| s[k].as_u64().unwrap_or(0);
        say!(
            "  {:<11} {:>11} {:>8} {:>17.2} / {}",
            s["split"].as_str().unwrap_or(""),
            n("comparisons"),
            n("prompts"),
            mean,
            n("max_per_prompt")
        );
    }
    say!(
        "  response A preferred in {} of {}",
        r["a_preferred"],
        r["comparisons"]
    );
    let q = &r["quality"];
    say!("  data quality:");
    say!(
        "    identical pairs (no preference signal, kept): {}{}",
        q["identical_pairs"],
        q["identical_examples"]
            .as_array()
            .filter(|a| !a.is_empty())
            .map(|a| format!(
                " (e.g. {})",
                a.iter()
                    .filter_map(|x| x.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .unwrap_or_default()
    );
    say!(
        "    comparisons with an empty response (kept): {}",
        q["empty_responses"]
    );
    say!("    repeated ids: {}", q["duplicate_ids"]);
    let (rows, distinct) = (
        q["response_rows"].as_u64().unwrap_or(0),
        q["distinct_response_rows"].as_u64().unwrap_or(0),
    );
    say!(
        "    distinct (prompt, response) texts: {distinct} of {rows} ({:.1}%)",
        100.0 * distinct as f64 / rows.max(1) as f64
    );
    say!("    rows dropped: {}", q["dropped_rows"]);
}

/// The text form of a candidate pool's `inspect` report.
fn print_candidates(r: &serde_json::Value) {
    let (format, path, files) = (
        r["format"].as_str().unwrap_or(""),
        r["path"].as_str().unwrap_or(""),
        &r["files"],
    );
    let models: Vec<&str> = r["models"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let prompts = &r["prompts"];
    let files =
        activepref_core::error::counted(files.as_u64().unwrap_or(0) as usize, "file", "files");
    say!("{format} {path}: {files}");
    say!("  prompts: {prompts}");
    say!("  models: {} ({})", models.len(), models.join(", "));
    say!(
        "  responses per prompt: {}..{}; {} responses in all",
        r["responses_per_prompt"]["min"],
        r["responses_per_prompt"]["max"],
        r["responses"]
    );
    let j = &r["judge_score"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let what = if format == "alpaca-eval" {
        "preference - 1"
    } else {
        "per prompt: overall_score, or the annotation aggregate; see score sources below"
    };
    say!(
        "  judge scores ({what}): mean {:.3}, range [{:.3}, {:.3}]",
        f(&j["mean"]),
        f(&j["min"]),
        f(&j["max"])
    );
    for g in r["gaps"].as_array().into_iter().flatten() {
        say!(
            "  mismatch: {} lacks {} of {prompts} prompts (kept with fewer candidates; `missing: intersect` drops them)",
            g["model"].as_str().unwrap_or(""),
            g["missing_prompts"]
        );
    }
    let q = &r["quality"];
    say!("  data quality:");
    say!(
        "    prompts with fewer than 2 responses (no pair): {}",
        q["prompts_without_a_pair"]
    );
    say!(
        "    prompts whose responses all tie on the judge score: {}",
        q["prompts_all_tied"]
    );
    let g = |i: usize| q["prompt_score_gap"][i].as_f64().unwrap_or(f64::NAN);
    say!(
        "    best-minus-worst score per prompt: smallest {:.3}, mean {:.3}, largest {:.3}",
        g(0),
        g(1),
        g(2)
    );
    say!(
        "    empty responses: {}; responses repeated within a prompt: {}",
        q["empty_responses"],
        q["identical_responses"]
    );
    let sources: Vec<String> = q["score_sources"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let n = v.as_u64().unwrap_or(0) as usize;
            format!(
                "{k}: {}",
                activepref_core::error::counted(n, "prompt", "prompts")
            )
        })
        .collect();
    say!("    score sources (one per prompt): {}", sources.join(", "));
    say!("    rows dropped: {}", q["dropped_rows"]);
}
