//! `activepref fetch`, `featurize` and `bench-data`: thin wrappers over
//! activepref-data and activepref-encode.

use std::path::{Path, PathBuf};

use activepref_data::hub;
use activepref_data::sources::ComparisonFormat;
use activepref_encode::featurize::PromptKeep;
use activepref_model::ComputeDevice;
use anyhow::anyhow;

use super::inspect::{Dataset, DatasetFormat, load_dataset};
use crate::say;

/// The arguments of `activepref fetch`.
#[derive(clap::Args, Debug)]
pub struct FetchArgs {
    /// summarize-from-feedback, balpm-pair-features or balpm-prompt-features.
    pub dataset: Option<String>,
}

/// `activepref fetch`: a dataset into the Hugging Face cache (no name: list them).
pub fn fetch(a: &FetchArgs) -> anyhow::Result<()> {
    let Some(key) = a.dataset.as_deref() else {
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
        "{} of {} {}",
        activepref_core::error::counted(files.len(), "file", "files"),
        ds.repo,
        if offline {
            "found in the cache (offline)"
        } else {
            "in the cache"
        }
    );
    Ok(())
}

/// Peak resident memory of this process so far (Linux `VmHWM`), in MiB.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The arguments of `activepref bench-data`.
#[derive(clap::Args, Debug)]
pub struct BenchDataArgs {
    /// Comparisons to generate.
    #[arg(long, default_value_t = 93_000, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub records: usize,
    /// Where the generated files and load-bench.csv go.
    #[arg(
        long,
        visible_alias = "dir",
        value_name = "DIR",
        default_value = "results/bench-data"
    )]
    pub out: PathBuf,
    /// Internal: load this one file and print `records seconds peak_mib`.
    #[arg(long, value_name = "FILE", hide = true)]
    pub load: Option<PathBuf>,
}

/// `activepref bench-data` (or, with `--load`, its child mode).
pub fn bench_data(a: &BenchDataArgs) -> anyhow::Result<()> {
    match &a.load {
        Some(file) => bench_load_one(file),
        None => bench_data_report(a.records, &a.out),
    }
}

/// Child mode of `bench-data`: load one file, print `records seconds peak_mib` on one line.
fn bench_load_one(file: &Path) -> anyhow::Result<()> {
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
fn bench_data_report(records: usize, dir: &Path) -> anyhow::Result<()> {
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

/// The arguments of `activepref featurize`.
#[derive(clap::Args, Debug)]
pub struct FeaturizeArgs {
    /// The dataset's format.
    pub format: DatasetFormat,
    /// The dataset file or directory.
    pub path: PathBuf,
    /// The feature store directory to write.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The encoder's model directory.
    #[arg(long, value_name = "DIR", default_value = "models/all-MiniLM-L6-v2")]
    pub model: PathBuf,
    /// For `pairs`: which column is what (as for inspect).
    #[arg(long, value_name = "MAP")]
    pub columns: Option<String>,
    /// Keep the head or the tail of over-long prompts (default: tail for hh-rlhf, else head).
    #[arg(long)]
    pub prompt_keep: Option<PromptKeep>,
    /// Compute device (vulkan, cuda and libtorch need a build with the `vulkan`, `cuda` or `tch`
    /// feature).
    #[arg(long, value_enum, default_value_t = ComputeDevice::Cpu)]
    pub device: ComputeDevice,
    /// Texts per forward pass.
    #[arg(long, default_value_t = 32, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `activepref featurize`: a dataset's prompts and (prompt, response) pairs through a sentence
/// encoder into a feature store.
pub fn featurize(a: &FeaturizeArgs) -> anyhow::Result<()> {
    use activepref_encode::featurize::{self, FeaturizeOptions};
    use activepref_encode::{Encoder, TextEncoder};
    let keep = match a.prompt_keep {
        Some(keep) => keep,
        None if a.format == DatasetFormat::Comparisons(ComparisonFormat::HhRlhf) => {
            PromptKeep::Tail
        }
        None => PromptKeep::Head,
    };
    let device = a
        .device
        .burn_device()
        .map_err(|e| anyhow!("--device: {e}"))?;
    crate::bounded("--batch-size", a.batch_size, 1, 65_536)?;
    // Data first: a bad dataset should fail before the model loads.
    let data = load_dataset(a.format, &a.path, a.columns.as_deref())?;
    let mut enc = TextEncoder::load(&a.model, &device)?;
    enc.batch_size = a.batch_size;
    let total = match &data {
        Dataset::Comparisons(ds) => featurize::comparison_inputs(ds),
        Dataset::Candidates(p) => featurize::candidate_inputs(p),
    };
    let bar = super::texts_progress::TextsProgress::new(total, a.quiet);
    let options = FeaturizeOptions::new(keep);
    // Each finished chunk is saved at once (`<table>.parts/`), so a re-run loses at most the
    // chunk in flight.
    super::on_interrupt(format!(
        "every finished chunk of {} inputs is saved under {}; run the same command to resume",
        options.chunk,
        a.out.display()
    ));
    let started = std::time::Instant::now();
    let progress = |p| bar.inc(p);
    let done = match &data {
        Dataset::Comparisons(ds) => {
            featurize::featurize_comparisons(&enc, ds, &a.out, &options, &progress)
        }
        Dataset::Candidates(p) => {
            featurize::featurize_candidates(&enc, p, &a.out, &options, &progress)
        }
    }?;
    bar.finish();
    print_featurized(&done, enc.files().max_seq_length, enc.dim(), started);
    Ok(())
}

/// What `featurize` wrote: each table (skipped, resumed or encoded, with how many inputs were
/// cut to `max_seq_length` tokens) and the encoding rate since `started`.
fn print_featurized(
    done: &[activepref_encode::featurize::TableDone],
    max_seq_length: usize,
    dim: usize,
    started: std::time::Instant,
) {
    let encoded: usize = done
        .iter()
        .filter(|t| !t.skipped)
        .map(|t| t.rows - t.resumed)
        .sum();
    for t in done {
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
            "{}: {how}; {} cut to fit {} tokens",
            t.path.display(),
            activepref_core::error::counted(t.truncated, "input", "inputs"),
            max_seq_length
        );
    }
    let secs = started.elapsed().as_secs_f64();
    say!(
        "encoded {encoded} texts in {secs:.1} s ({:.0} texts/s), dim {}",
        encoded as f64 / secs.max(1e-9),
        dim
    );
}
