//! `activepref inspect`, `fetch` and `import-features`: thin wrappers over activepref-data.

use std::path::Path;

use activepref_data::feature_store::{FeatureTable, HubLayout, import_balpm_hub, table_path};
use activepref_data::formats::alpaca_eval::{self, MissingPrompts};
use activepref_data::formats::pairs::{PairColumns, split_role};
use activepref_data::hub;
use activepref_data::sources::ComparisonFormat;
use activepref_data::text::SplitRole;

use crate::say;

/// Parses `prompt=question,a=r1,b=r2,label=winner` into a column mapping.
pub fn parse_columns(spec: &str) -> Result<PairColumns, String> {
    let mut c = PairColumns::default();
    for part in spec.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("--columns: `{part}` is not key=column"))?;
        let value = value.trim().to_string();
        match key.trim() {
            "prompt" => c.prompt = value,
            "a" | "chosen" => c.a = value,
            "b" | "rejected" => c.b = value,
            "label" => c.label = Some(value),
            "id" => c.id = Some(value),
            "prompt_id" => c.prompt_id = Some(value),
            "split" => c.split = Some(value),
            other => return Err(format!("--columns: unknown key `{other}`; use prompt, a, b, label, id, prompt_id, split")),
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

/// Loads `path` in `format` (`alpaca-eval` or a [`ComparisonFormat`] name); `columns` maps a
/// `pairs` table.
fn load_dataset(format: &str, path: &Path, columns: Option<&str>) -> Result<Dataset, String> {
    if format == "alpaca-eval" {
        return Ok(Dataset::Candidates(alpaca_eval::load(path, MissingPrompts::Keep).map_err(|e| e.to_string())?));
    }
    let fmt = ComparisonFormat::parse(format)
        .ok_or_else(|| format!("unknown format `{format}`; use summarize-from-feedback, hh-rlhf, alpaca-eval or pairs"))?;
    let cols = columns.map(parse_columns).transpose()?;
    Ok(Dataset::Comparisons(fmt.load(path, cols.as_ref()).map_err(|e| e.to_string())?))
}

pub fn inspect(format: &str, path: &Path, features: Option<&Path>, columns: Option<&str>) -> Result<(), String> {
    if columns.is_some() && ComparisonFormat::parse(format).is_some_and(|f| f != ComparisonFormat::Pairs) {
        return Err("--columns applies to format `pairs` only".into());
    }
    match load_dataset(format, path, columns)? {
        Dataset::Comparisons(ds) => inspect_comparisons(format, path, &ds, features),
        Dataset::Candidates(pool) => inspect_candidates(path, &pool, features),
    }
    Ok(())
}

fn inspect_candidates(path: &Path, pool: &activepref_data::text::CandidatePool, features: Option<&Path>) {
    let (lo, hi) = pool.responses_per_prompt();
    let scores: Vec<f32> = pool.candidates.iter().flatten().map(|c| c.score).collect();
    let mean = scores.iter().map(|&s| f64::from(s)).sum::<f64>() / scores.len().max(1) as f64;
    say!("alpaca-eval {}: {} files", path.display(), pool.sources.len());
    say!("  prompts: {}", pool.prompts.len());
    say!("  models: {} ({})", pool.models.len(), pool.models.join(", "));
    say!("  responses per prompt: {lo}..{hi}; {} responses in all", scores.len());
    say!("  judge scores (preference - 1): mean {mean:.3}, range [{:.3}, {:.3}]", scores.iter().cloned().fold(f32::INFINITY, f32::min), scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max));
    for (m, lacks) in &pool.gaps {
        say!("  mismatch: {} lacks {} of {} instructions (kept with fewer candidates; `missing: intersect` drops them)", pool.models[*m], lacks.len(), pool.prompts.len());
    }
    if let Some(dir) = features {
        let p = table_path(dir, "candidates", "responses");
        say!("  features {}: {}", p.display(), describe_table(&p));
    }
}

fn inspect_comparisons(format: &str, path: &Path, ds: &activepref_data::text::ComparisonDataset, features: Option<&Path>) {
    say!("{format} {}: {} comparisons from {} file(s)", path.display(), ds.len(), ds.sources.len());
    say!("  {:<11} {:>11} {:>8} {:>22}", "split", "comparisons", "prompts", "per prompt (mean/max)");
    for s in ds.summary() {
        say!("  {:<11} {:>11} {:>8} {:>17.2} / {}", s.role.name(), s.comparisons, s.prompts, s.mean_per_prompt(), s.max_per_prompt);
    }
    let preferred_a = ds.splits.values().flatten().filter(|c| c.a_preferred).count();
    say!("  response A preferred in {preferred_a} of {}", ds.len());
    if let Some(dir) = features {
        for role in SplitRole::ALL {
            for table in ["pair_a", "pair_b", "prompt"] {
                let p = table_path(dir, role.name(), table);
                if p.exists() {
                    say!("  features {}/{table}: {}", role.name(), describe_table(&p));
                }
            }
        }
    }
}

pub fn fetch(dataset: Option<&str>) -> Result<(), String> {
    let Some(key) = dataset else {
        say!("Datasets `activepref fetch <name>` downloads into the Hugging Face cache:");
        for d in hub::DATASETS {
            say!("  {:<24} {} ({})", d.key, d.repo, d.about);
        }
        return Ok(());
    };
    let ds = hub::dataset(key).ok_or_else(|| {
        let names: Vec<&str> = hub::DATASETS.iter().map(|d| d.key).collect();
        format!("unknown dataset `{key}`; use one of {}", names.join(", "))
    })?;
    let offline = hub::offline_from_env();
    let files = hub::fetch(hub::cache_from_env(), ds, offline).map_err(|e| e.to_string())?;
    for f in &files {
        say!("{}", f.display());
    }
    say!("{} file(s) of {} {}", files.len(), ds.repo, if offline { "found in the cache (offline)" } else { "in the cache" });
    Ok(())
}

pub fn import_features(layout: &str, file: &Path, split: &str, out: &Path, table: Option<&str>, ids: Option<&Path>) -> Result<(), String> {
    let role = split_role(split).ok_or_else(|| format!("--split: unknown split `{split}`; use pool/train, validation/eval, test or ood"))?;
    let written: Vec<(String, FeatureTable)> = match layout {
        "balpm-pair" | "balpm-prompt" => {
            let l = if layout == "balpm-pair" { HubLayout::Pair } else { HubLayout::Prompt };
            import_balpm_hub(file, l).map_err(|e| e.to_string())?.tables.into_iter().map(|(n, t)| (n.to_string(), t)).collect()
        }
        "npy" => {
            let table = table.ok_or("--table is required with --layout npy (pair_a, pair_b or prompt)")?;
            if !["pair_a", "pair_b", "prompt"].contains(&table) {
                return Err(format!("--table: `{table}` is not pair_a, pair_b or prompt"));
            }
            let ids = match ids {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .map_err(|e| format!("{}: cannot read ids ({e})", p.display()))?
                        .lines()
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty())
                        .collect(),
                ),
                None => None,
            };
            vec![(table.to_string(), FeatureTable::import_npy(file, ids).map_err(|e| e.to_string())?)]
        }
        other => return Err(format!("--layout: unknown `{other}`; use balpm-pair, balpm-prompt or npy")),
    };
    for (name, t) in written {
        let p = table_path(out, role.name(), &name);
        t.save(&p).map_err(|e| e.to_string())?;
        say!("wrote {} ({} rows x {} dims)", p.display(), t.rows(), t.dim());
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
pub fn bench_load_one(file: &Path) -> Result<(), String> {
    let t = std::time::Instant::now();
    let ds = activepref_data::formats::summarize::load(file).map_err(|e| e.to_string())?;
    let secs = t.elapsed().as_secs_f64();
    say!("{} {secs:.3} {:.1}", ds.len(), peak_rss_mib().unwrap_or(f64::NAN));
    Ok(())
}

/// Generates a summarize-from-feedback file of `records` comparisons (JSON lines, and the same
/// data as parquet), loads each in a fresh child process, and reports records/s and peak memory.
pub fn bench_data(records: usize, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: cannot create ({e})", dir.display()))?;
    let jsonl = dir.join(format!("summarize-{records}.jsonl"));
    let parquet = dir.join(format!("summarize-{records}.parquet"));
    let t = std::time::Instant::now();
    activepref_data::formats::summarize::write_generated_jsonl(&jsonl, records, 0).map_err(|e| format!("{}: {e}", jsonl.display()))?;
    activepref_data::io::convert_to_parquet(&jsonl, &parquet, Some(&activepref_data::formats::summarize::json_schema())).map_err(|e| e.to_string())?;
    say!("generated {records} records in {:.1} s ({})", t.elapsed().as_secs_f64(), dir.display());
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut csv = String::from("format,records,file_mib,seconds,records_per_second,peak_rss_mib\n");
    say!("{:<8} {:>9} {:>9} {:>9} {:>14} {:>14}", "format", "records", "file MiB", "seconds", "records/s", "peak RSS MiB");
    for (name, file) in [("jsonl", &jsonl), ("parquet", &parquet)] {
        let out = std::process::Command::new(&exe)
            .args(["--threads", &rayon::current_num_threads().to_string(), "bench-data", "--load"])
            .arg(file)
            .output()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!("loading {} failed: {}", file.display(), String::from_utf8_lossy(&out.stderr).trim()));
        }
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let v: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
        let [n, secs, peak] = v[..] else { return Err(format!("unexpected child output `{line}`")) };
        let mib = std::fs::metadata(file).map(|m| m.len() as f64 / 1048576.0).unwrap_or(f64::NAN);
        say!("{name:<8} {n:>9} {mib:>9.1} {secs:>9.2} {:>14.0} {peak:>14.0}", n / secs);
        csv.push_str(&format!("{name},{n},{mib:.1},{secs:.3},{:.0},{peak:.0}\n", n / secs));
    }
    let report = dir.join("load-bench.csv");
    std::fs::write(&report, csv).map_err(|e| format!("{}: {e}", report.display()))?;
    say!("wrote {}", report.display());
    Ok(())
}

pub struct FeaturizeArgs<'a> {
    pub format: &'a str,
    pub path: &'a Path,
    pub out: &'a Path,
    pub model: &'a Path,
    pub columns: Option<&'a str>,
    pub prompt_keep: Option<&'a str>,
    pub device: &'a str,
    pub batch_size: usize,
    pub quiet: bool,
}

pub fn featurize(a: &FeaturizeArgs) -> Result<(), String> {
    use activepref_encode::featurize::{self, FeaturizeOptions, PromptKeep};
    use activepref_encode::{Encoder, TextEncoder};
    let keep = match a.prompt_keep {
        Some("head") => PromptKeep::Head,
        Some("tail") => PromptKeep::Tail,
        Some(other) => return Err(format!("--prompt-keep: `{other}` is not head or tail")),
        None if a.format == "hh-rlhf" => PromptKeep::Tail,
        None => PromptKeep::Head,
    };
    let device: activepref_model::ComputeDevice =
        yaml_serde::from_str(a.device).map_err(|_| format!("--device: `{}` is not cpu or cuda", a.device))?;
    let device = device.burn_device().map_err(|e| format!("--device: {e}"))?;
    if a.batch_size == 0 {
        return Err("--batch-size: must be at least 1".into());
    }
    // Data first: a bad dataset should fail before the model loads.
    let data = load_dataset(a.format, a.path, a.columns)?;
    let mut enc = TextEncoder::load(a.model, &device).map_err(|e| e.to_string())?;
    enc.batch_size = a.batch_size;
    let total = match &data {
        Dataset::Comparisons(ds) => featurize::comparison_inputs(ds),
        Dataset::Candidates(p) => featurize::candidate_inputs(p),
    };
    let bar = if a.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(total as u64) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} texts ({per_sec}, eta {eta})")
            .expect("valid template"),
    );
    let started = std::time::Instant::now();
    let progress = |n: usize| bar.inc(n as u64);
    let done = match &data {
        Dataset::Comparisons(ds) => featurize::featurize_comparisons(&enc, ds, a.out, &FeaturizeOptions::new(keep), &progress),
        Dataset::Candidates(p) => featurize::featurize_candidates(&enc, p, a.out, &FeaturizeOptions::new(keep), &progress),
    }
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let encoded: usize = done.iter().filter(|t| !t.skipped).map(|t| t.rows - t.resumed).sum();
    for t in &done {
        let how = if t.skipped {
            "already there, skipped".to_string()
        } else if t.resumed > 0 {
            format!("{} rows ({} from an interrupted run's saved chunks)", t.rows, t.resumed)
        } else {
            format!("{} rows", t.rows)
        };
        say!("{}: {how}; {} input(s) cut to fit {} tokens", t.path.display(), t.truncated, enc.files().max_seq_length);
    }
    let secs = started.elapsed().as_secs_f64();
    say!("encoded {encoded} texts in {secs:.1} s ({:.0} texts/s), dim {}", encoded as f64 / secs.max(1e-9), enc.dim());
    Ok(())
}
