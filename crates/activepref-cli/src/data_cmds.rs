//! `activepref inspect`, `fetch` and `import-features`: thin wrappers over activepref-data.

use std::path::Path;

use activepref_encode::featurize::PromptKeep;
use activepref_model::ComputeDevice;
use anyhow::anyhow;

use activepref_data::feature_store::{FeatureTable, HubLayout, import_balpm_hub, table_path};
use activepref_data::formats::alpaca_eval::MissingPrompts;
use activepref_data::formats::pairs::PairColumns;
use activepref_data::hub;
use activepref_data::sources::{CandidateFormat, ComparisonFormat};
use activepref_data::text::SplitRole;

use crate::say;

/// A dataset format on the command line: the comparison formats (pool setting) and AlpacaEval's
/// candidate pool (pair setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetFormat {
    /// OpenAI summarize-from-feedback (a .jsonl/.json/.parquet file or a directory of them).
    SummarizeFromFeedback,
    /// Anthropic HH-RLHF (.jsonl or .jsonl.gz).
    HhRlhf,
    /// AlpacaEval annotations (a directory of <model>.annotations.json.gz).
    AlpacaEval,
    /// ActiveUltraFeedback / UltraFeedback rows with `completions[]` and `overall_score`
    /// (.jsonl, .parquet, .arrow, or a `datasets` save_to_disk directory).
    Completions,
    /// Any pair table; map its columns with --columns.
    Pairs,
}

impl DatasetFormat {
    /// The pool-setting format, or `None` for AlpacaEval's candidate pool.
    fn comparison(self) -> Option<ComparisonFormat> {
        match self {
            DatasetFormat::SummarizeFromFeedback => Some(ComparisonFormat::SummarizeFromFeedback),
            DatasetFormat::HhRlhf => Some(ComparisonFormat::HhRlhf),
            DatasetFormat::Pairs => Some(ComparisonFormat::Pairs),
            DatasetFormat::AlpacaEval | DatasetFormat::Completions => None,
        }
    }

    /// The pair-setting (candidate pool) format, or `None` for a comparison format.
    pub fn candidates(self) -> Option<CandidateFormat> {
        match self {
            DatasetFormat::AlpacaEval => Some(CandidateFormat::AlpacaEval),
            DatasetFormat::Completions => Some(CandidateFormat::Completions),
            _ => None,
        }
    }

    /// The command-line spelling.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .expect("no skipped variants")
            .get_name()
            .to_string()
    }
}

/// What `import-features` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportLayout {
    /// BAL-PM hub CSV/parquet `id, 0..2d-1`: writes pair_a and pair_b.
    BalpmPair,
    /// BAL-PM hub CSV/parquet `id, 0..d-1`: writes prompt.
    BalpmPrompt,
    /// A rows x dim .npy array: writes --table.
    Npy,
}

/// A table of a feature store split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TableName {
    /// (prompt, response A) features.
    #[value(name = "pair_a")]
    PairA,
    /// (prompt, response B) features.
    #[value(name = "pair_b")]
    PairB,
    /// Prompt-only features (BAL-PM's entropy term).
    Prompt,
    /// One imported score per comparison (`score: imported` / `imported_low`, the perplexity
    /// baselines): a one-column npy, or `--layout balpm-prompt` with columns `id, 0`.
    Score,
}

impl TableName {
    fn name(self) -> &'static str {
        match self {
            TableName::PairA => "pair_a",
            TableName::PairB => "pair_b",
            TableName::Prompt => "prompt",
            TableName::Score => "score",
        }
    }
}

/// Parses `prompt=question,a=r1,b=r2,label=winner` into a column mapping.
pub fn parse_columns(spec: &str) -> anyhow::Result<PairColumns> {
    let mut c = PairColumns::default();
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| anyhow!("--columns: `{part}` is not key=column"))?;
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
                return Err(anyhow!(
                    "--columns: unknown key `{other}`; use prompt, a, b, label, id, prompt_id, split"
                ));
            }
        }
    }
    Ok(c)
}

fn describe_table(path: &Path) -> String {
    match FeatureTable::load(path) {
        Ok(t) => format!("{} rows x {} dims", t.rows(), t.dim()),
        Err(e) => format!("unreadable ({e})"),
    }
}

/// A dataset named on the command line: comparisons (pool setting) or a candidate pool.
enum Dataset {
    Comparisons(activepref_data::text::ComparisonDataset),
    Candidates(activepref_data::text::CandidatePool),
}

/// Loads `path` in `format`; `columns` maps a `pairs` table.
fn load_dataset(
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

/// `activepref inspect`: what a dataset holds, as text or (`json`) one JSON object.
pub fn inspect(
    format: DatasetFormat,
    path: &Path,
    features: Option<&Path>,
    columns: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    if columns.is_some() && format != DatasetFormat::Pairs {
        return Err(anyhow!("--columns applies to format `pairs` only"));
    }
    let report = match load_dataset(format, path, columns)? {
        Dataset::Comparisons(ds) => inspect_comparisons(format, path, &ds, features),
        Dataset::Candidates(pool) => inspect_candidates(format, path, &pool, features),
    };
    if json {
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
        "features": features.map(|dir| feature_tables(dir, &[("candidates", "responses")])),
    })
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
    serde_json::json!({
        "format": format.name(),
        "path": path.display().to_string(),
        "files": ds.sources.len(),
        "comparisons": ds.len(),
        "splits": splits,
        "a_preferred": ds.splits.values().flatten().filter(|c| c.a_preferred).count(),
        "quality": ds.quality(),
        "features": features.map(|dir| feature_tables(dir, &tables)),
    })
}

/// The text form of an `inspect` report.
fn print_inspection(r: &serde_json::Value) {
    let (format, path, files) = (
        r["format"].as_str().unwrap_or(""),
        r["path"].as_str().unwrap_or(""),
        &r["files"],
    );
    if let Some(splits) = r["splits"].as_array() {
        say!(
            "{format} {path}: {} comparisons from {files} file(s)",
            r["comparisons"]
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
        say!("    rows dropped: {}", q["dropped_rows"]);
    } else {
        let models: Vec<&str> = r["models"]
            .as_array()
            .map(|m| m.iter().filter_map(|x| x.as_str()).collect())
            .unwrap_or_default();
        let prompts = &r["prompts"];
        say!("{format} {path}: {files} files");
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
            .map(|(k, v)| format!("{k}: {v} prompts"))
            .collect();
        say!("    score sources (one per prompt): {}", sources.join(", "));
        say!("    rows dropped: {}", q["dropped_rows"]);
    }
    for (name, desc) in r["features"].as_object().into_iter().flatten() {
        say!("  features {name}: {}", desc.as_str().unwrap_or(""));
    }
}

pub fn fetch(dataset: Option<&str>) -> anyhow::Result<()> {
    let Some(key) = dataset else {
        say!("Datasets `activepref fetch <name>` downloads into the Hugging Face cache:");
        for d in hub::DATASETS {
            say!("  {:<24} {} ({})", d.key, d.repo, d.about);
        }
        return Ok(());
    };
    let ds = hub::dataset(key).ok_or_else(|| {
        let names: Vec<&str> = hub::DATASETS.iter().map(|d| d.key).collect();
        anyhow!("unknown dataset `{key}`; use one of {}", names.join(", "))
    })?;
    let offline = hub::offline_from_env();
    let files = hub::fetch(hub::cache_from_env(), ds, offline)?;
    for f in &files {
        say!("{}", f.display());
    }
    say!(
        "{} file(s) of {} {}",
        files.len(),
        ds.repo,
        if offline {
            "found in the cache (offline)"
        } else {
            "in the cache"
        }
    );
    Ok(())
}

pub fn import_features(
    layout: ImportLayout,
    file: &Path,
    role: SplitRole,
    out: &Path,
    table: Option<TableName>,
    ids: Option<&Path>,
) -> anyhow::Result<()> {
    let written: Vec<(String, FeatureTable)> = match layout {
        ImportLayout::BalpmPair | ImportLayout::BalpmPrompt => {
            let l = if layout == ImportLayout::BalpmPair {
                HubLayout::Pair
            } else {
                HubLayout::Prompt
            };
            // `--table score` keeps the prompt layout (`id, 0..d-1`) but writes the score table.
            let rename = match (layout, table) {
                (ImportLayout::BalpmPrompt, Some(TableName::Score)) => Some("score"),
                (_, None) => None,
                (_, Some(t)) => {
                    return Err(anyhow!(
                        "--table {} applies to --layout npy (any table) or balpm-prompt (score only)",
                        t.name()
                    ));
                }
            };
            import_balpm_hub(file, l)?
                .tables
                .into_iter()
                .map(|(n, t)| (rename.unwrap_or(n).to_string(), t))
                .collect()
        }
        ImportLayout::Npy => {
            let table = table.ok_or_else(|| {
                anyhow!("--table is required with --layout npy (pair_a, pair_b or prompt)")
            })?;
            let ids = match ids {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .map_err(|e| anyhow!("{}: cannot read ids ({e})", p.display()))?
                        .lines()
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty())
                        .collect(),
                ),
                None => None,
            };
            vec![(
                table.name().to_string(),
                FeatureTable::import_npy(file, ids)?,
            )]
        }
    };
    for (name, t) in written {
        let p = table_path(out, role.name(), &name);
        t.save(&p)?;
        say!(
            "wrote {} ({} rows x {} dims)",
            p.display(),
            t.rows(),
            t.dim()
        );
    }
    Ok(())
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Child mode of `bench-data`: load one file, print `records seconds peak_mib` on one line.
pub fn bench_load_one(file: &Path) -> anyhow::Result<()> {
    let t = std::time::Instant::now();
    let ds = activepref_data::formats::summarize::load(file)?;
    let secs = t.elapsed().as_secs_f64();
    say!(
        "{} {secs:.3} {:.1}",
        ds.len(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// Generates a summarize-from-feedback file of `records` comparisons (JSON lines, and the same
/// data as parquet), loads each in a fresh child process, and reports records/s and peak memory.
pub fn bench_data(records: usize, dir: &Path) -> anyhow::Result<()> {
    crate::bounded("--records", records, 1, 100_000_000)?;
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("{}: cannot create ({e})", dir.display()))?;
    let jsonl = dir.join(format!("summarize-{records}.jsonl"));
    let parquet = dir.join(format!("summarize-{records}.parquet"));
    let t = std::time::Instant::now();
    activepref_data::formats::summarize::write_generated_jsonl(&jsonl, records, 0)
        .map_err(|e| anyhow!("{}: {e}", jsonl.display()))?;
    activepref_data::io::convert_to_parquet(
        &jsonl,
        &parquet,
        Some(&activepref_data::formats::summarize::json_schema()),
    )?;
    say!(
        "generated {records} records in {:.1} s ({})",
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    let exe = std::env::current_exe()?;
    let mut csv = String::from("format,records,file_mib,seconds,records_per_second,peak_rss_mib\n");
    say!(
        "{:<8} {:>9} {:>9} {:>9} {:>14} {:>14}",
        "format",
        "records",
        "file MiB",
        "seconds",
        "records/s",
        "peak RSS MiB"
    );
    for (name, file) in [("jsonl", &jsonl), ("parquet", &parquet)] {
        let out = std::process::Command::new(&exe)
            .args([
                "--threads",
                &rayon::current_num_threads().to_string(),
                "bench-data",
                "--load",
            ])
            .arg(file)
            .output()
            .map_err(|e| anyhow!("cannot start {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(anyhow!(
                "loading {} failed: {}",
                file.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let v: Vec<f64> = line
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let [n, secs, peak] = v[..] else {
            return Err(anyhow!("unexpected child output `{line}`"));
        };
        let mib = std::fs::metadata(file)
            .map(|m| m.len() as f64 / 1048576.0)
            .unwrap_or(f64::NAN);
        say!(
            "{name:<8} {n:>9} {mib:>9.1} {secs:>9.2} {:>14.0} {peak:>14.0}",
            n / secs
        );
        csv.push_str(&format!(
            "{name},{n},{mib:.1},{secs:.3},{:.0},{peak:.0}\n",
            n / secs
        ));
    }
    let report = dir.join("load-bench.csv");
    crate::write_file(&report, csv.as_bytes())?;
    say!("wrote {}", report.display());
    Ok(())
}

pub struct FeaturizeArgs<'a> {
    pub format: DatasetFormat,
    pub path: &'a Path,
    pub out: &'a Path,
    pub model: &'a Path,
    pub columns: Option<&'a str>,
    pub prompt_keep: Option<PromptKeep>,
    pub device: ComputeDevice,
    pub batch_size: usize,
    pub quiet: bool,
}

pub fn featurize(a: &FeaturizeArgs) -> anyhow::Result<()> {
    use activepref_encode::featurize::{self, FeaturizeOptions};
    use activepref_encode::{Encoder, TextEncoder};
    let keep = match a.prompt_keep {
        Some(keep) => keep,
        None if a.format == DatasetFormat::HhRlhf => PromptKeep::Tail,
        None => PromptKeep::Head,
    };
    let device = a
        .device
        .burn_device()
        .map_err(|e| anyhow!("--device: {e}"))?;
    crate::bounded("--batch-size", a.batch_size, 1, 65_536)?;
    // Data first: a bad dataset should fail before the model loads.
    let data = load_dataset(a.format, a.path, a.columns)?;
    let mut enc = TextEncoder::load(a.model, &device)?;
    enc.batch_size = a.batch_size;
    let total = match &data {
        Dataset::Comparisons(ds) => featurize::comparison_inputs(ds),
        Dataset::Candidates(p) => featurize::candidate_inputs(p),
    };
    let bar = if a.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} texts ({per_sec}, eta {eta})",
        )
        .expect("valid template"),
    );
    let started = std::time::Instant::now();
    let progress = |n: usize| bar.inc(n as u64);
    let done = match &data {
        Dataset::Comparisons(ds) => featurize::featurize_comparisons(
            &enc,
            ds,
            a.out,
            &FeaturizeOptions::new(keep),
            &progress,
        ),
        Dataset::Candidates(p) => {
            featurize::featurize_candidates(&enc, p, a.out, &FeaturizeOptions::new(keep), &progress)
        }
    }?;
    bar.finish_and_clear();
    let encoded: usize = done
        .iter()
        .filter(|t| !t.skipped)
        .map(|t| t.rows - t.resumed)
        .sum();
    for t in &done {
        let how = if t.skipped {
            "already there, skipped".to_string()
        } else if t.resumed > 0 {
            format!(
                "{} rows ({} from an interrupted run's saved chunks)",
                t.rows, t.resumed
            )
        } else {
            format!("{} rows", t.rows)
        };
        say!(
            "{}: {how}; {} input(s) cut to fit {} tokens",
            t.path.display(),
            t.truncated,
            enc.files().max_seq_length
        );
    }
    let secs = started.elapsed().as_secs_f64();
    say!(
        "encoded {encoded} texts in {secs:.1} s ({:.0} texts/s), dim {}",
        encoded as f64 / secs.max(1e-9),
        enc.dim()
    );
    Ok(())
}
