//! `activepref`: the command-line front end. A thin layer over the library crates: it parses
//! arguments, sets the thread count, and prints one-line errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use activepref_acquire::{PairPolicySpec, policy_docs};
use activepref_experiment::{Benchmark, ExperimentConfig, RunOptions, run_experiment};
use activepref_report::{ReportOptions, write_report};
use clap::{Parser, Subcommand};

/// mimalloc reuses freed memory instead of returning each large tensor buffer to the OS (README,
/// "Model compute"): training runs without a page-fault storm per optimiser step.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench_cmds;
mod data_cmds;

/// `println!` that ignores a closed stdout (`activepref policies | head` must not panic).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Benchmark active learning of preference data for LLMs (BAL-PM, ActiveUltraFeedback).
///
/// An experiment file (YAML, see experiments/quickstart.yaml) names a benchmark, a preference model,
/// the loop sizes, the policies to compare and the seeds. `activepref run` trains the ensemble, lets
/// every policy acquire labels round by round, and writes results/<name>/: one CSV per
/// (policy, seed) and a report with learning curves (PNG, SVG) and a label-efficiency table.
#[derive(Parser, Debug)]
#[command(
    name = "activepref",
    version,
    propagate_version = true,
    after_help = "Examples:\n  activepref run experiments/quickstart.yaml        random vs BALD vs BAL-PM, 5 seeds (~1 min on 2 cores)\n  activepref run experiments/balpm-ablations.yaml   13 BAL-PM baselines and ablations\n  activepref run experiments/auf-pairs.yaml         ActiveUltraFeedback pair selection\n  activepref validate experiments/quickstart.yaml   check a file without running it\n  activepref report results/quickstart              remake plots and tables\n  activepref policies                               every policy, its parameters and defaults\n  activepref inspect hh-rlhf ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz\n  activepref fetch                                  datasets on the Hugging Face Hub\n  activepref featurize hh-rlhf ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz --out results/features/hh-harmless-minilm\n  activepref run experiments/hh-harmless-minilm.yaml  random vs BALD vs BAL-PM on real HH-RLHF labels"
)]
struct Cli {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run (or resume) an experiment, then write its report.
    ///
    /// Finished runs are skipped and an interrupted run continues from its last finished round,
    /// so re-running the same command after Ctrl-C loses nothing.
    ///
    /// Example: activepref run experiments/quickstart.yaml
    Run {
        /// The experiment file.
        experiment: PathBuf,
        /// Delete this experiment's earlier results and start over.
        #[arg(long)]
        fresh: bool,
        /// Write results here instead of the experiment's output_dir (default results/<name>).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Stop every run after this many rounds (resumable later): for time-limited jobs.
        #[arg(long, value_name = "N")]
        max_rounds: Option<usize>,
        /// Skip the report at the end.
        #[arg(long)]
        no_report: bool,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check an experiment file without running it.
    Validate {
        experiment: PathBuf,
    },
    /// Remake the report (curves.png, curves.svg, summary.md) of a results directory.
    ///
    /// Example: activepref report results/quickstart
    Report {
        /// A results directory written by `activepref run`.
        results: PathBuf,
        /// Override the smoothing window of the experiment file.
        #[arg(long)]
        window: Option<usize>,
    },
    /// List every acquisition policy with its parameters and defaults.
    Policies,
    /// Print what a dataset holds: counts per split, prompts, comparisons per prompt, features.
    ///
    /// Formats: summarize-from-feedback (a .jsonl/.json/.parquet file or a directory of them),
    /// hh-rlhf (.jsonl or .jsonl.gz), alpaca-eval (a directory of <model>.annotations.json.gz),
    /// pairs (any table; map columns with --columns).
    ///
    /// Example: activepref inspect hh-rlhf ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz
    Inspect {
        /// summarize-from-feedback, hh-rlhf, alpaca-eval or pairs.
        format: String,
        /// The file or directory.
        path: PathBuf,
        /// A feature store directory to describe alongside.
        #[arg(long, value_name = "DIR")]
        features: Option<PathBuf>,
        /// For `pairs`: which column is what, e.g. prompt=question,a=r1,b=r2,label=winner,split=part.
        #[arg(long, value_name = "MAP")]
        columns: Option<String>,
    },
    /// Download a dataset from the Hugging Face Hub into its cache (no name: list them).
    ///
    /// The cache is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. With
    /// HF_HUB_OFFLINE=1 only the cache is used.
    ///
    /// Example: activepref fetch summarize-from-feedback
    Fetch {
        /// summarize-from-feedback, balpm-pair-features or balpm-prompt-features.
        dataset: Option<String>,
    },
    /// Import features into a feature store (safetensors tables keyed by comparison id).
    ///
    /// Layouts: balpm-pair (BAL-PM hub CSV/parquet `id, 0..2d-1`: writes pair_a and pair_b),
    /// balpm-prompt (`id, 0..d-1`: writes prompt), npy (a rows x dim array: writes --table).
    ///
    /// Example: activepref import-features --layout balpm-pair --split train --out features/tldr train.parquet
    ImportFeatures {
        /// The file to import.
        file: PathBuf,
        /// balpm-pair, balpm-prompt or npy.
        #[arg(long)]
        layout: String,
        /// The split the rows belong to: pool/train, validation/eval, test or ood.
        #[arg(long)]
        split: String,
        /// The feature store directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// For npy: pair_a, pair_b or prompt.
        #[arg(long)]
        table: Option<String>,
        /// For npy: a text file with one row id per line (default 0, 1, 2, ...).
        #[arg(long, value_name = "FILE")]
        ids: Option<PathBuf>,
    },
    /// Encode a dataset's prompts and (prompt, response) pairs with a sentence encoder into a
    /// feature store that experiment files can name (`benchmark.features`).
    ///
    /// The model directory holds model.safetensors, config.json and tokenizer.json (get
    /// all-MiniLM-L6-v2 with scripts/fetch-minilm.sh). Inputs are cut to the model's
    /// max_seq_length (256 tokens for MiniLM); README "Features from text" gives the layout.
    /// Re-running skips tables already written.
    ///
    /// Example: activepref featurize hh-rlhf ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz --out features/hh-harmless-minilm
    Featurize {
        /// summarize-from-feedback, hh-rlhf, alpaca-eval or pairs.
        format: String,
        /// The dataset file or directory.
        path: PathBuf,
        /// The feature store directory to write.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The encoder's model directory.
        #[arg(long, value_name = "DIR", default_value = "models/all-MiniLM-L6-v2")]
        model: PathBuf,
        /// For `pairs`: which column is what (as for inspect).
        #[arg(long, value_name = "MAP")]
        columns: Option<String>,
        /// Keep the head or the tail of over-long prompts (default: tail for hh-rlhf, else head).
        #[arg(long, value_name = "SIDE")]
        prompt_keep: Option<String>,
        /// cpu (default) or cuda (needs a build with --features activepref-model/cuda).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Texts per forward pass.
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// No progress bar.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Load-speed report: generate a summarize-from-feedback file in the real schema (JSON lines
    /// and parquet), load each in a fresh process, print records/s and peak memory.
    ///
    /// Example: activepref bench-data --records 93000   (TL;DR's size; target < 10 s, < 2 GB)
    BenchData {
        /// Comparisons to generate.
        #[arg(long, default_value_t = 93_000)]
        records: usize,
        /// Where the generated files and load-bench.csv go.
        #[arg(long, value_name = "DIR", default_value = "results/bench-data")]
        dir: PathBuf,
        /// Internal: load this one file and print `records seconds peak_mib`.
        #[arg(long, value_name = "FILE", hide = true)]
        load: Option<PathBuf>,
    },
    /// Speed report for BAL-PM's kNN term at paper scale: today's brute force and the exact
    /// neighbour index side by side, with the CPU model, the measured GEMM rate and, given a Python
    /// with torch, the reference's own cdist + topk pass on the same N and D. Each figure comes
    /// from a fresh child process (peak memory included); results/bench-knn/bench-knn.csv keeps them.
    ///
    /// Example: activepref bench-knn --python .venv/bin/python --synthetic   (about 15 min on 2 cores)
    BenchKnn {
        /// Comparisons in the pool of the index measurement (the paper's TL;DR pool by default).
        #[arg(long, default_value_t = 92_858)]
        pool: usize,
        /// Prompt-feature dimension (the paper's Hermes features: 4,096).
        #[arg(long, default_value_t = 4_096)]
        dim: usize,
        /// Comparisons per distinct prompt in the index measurement (1 = worst case: all distinct).
        #[arg(long, default_value_t = 1)]
        dup: usize,
        /// Pool sizes at which brute force, the index and torch are compared.
        #[arg(long, value_delimiter = ',', default_value = "2048,4096")]
        brute: Vec<usize>,
        /// A Python with torch for the reference-style pass (scripts/knn_reference_pass.py).
        #[arg(long, value_name = "PYTHON")]
        python: Option<PathBuf>,
        /// Also generate the paper-scale synthetic benchmark and time one selection on it.
        #[arg(long)]
        synthetic: bool,
        /// Where bench-knn.csv goes.
        #[arg(long, value_name = "DIR", default_value = "results/bench-knn")]
        out: PathBuf,
        /// Internal: run one measurement and print it.
        #[arg(long, value_name = "PART", hide = true)]
        part: Option<String>,
    },
    /// Model compute on this machine: train an ensemble for one epoch, score rows with every
    /// member, encode 64 × 128 tokens with MiniLM; prints `key value` lines. The activepref side of
    /// scripts/bench-vs-torch.sh, which runs plain torch on the same shapes and prints the ratios.
    ///
    /// Example: activepref bench-model   (the paper's MLP 4096 → 2048 → 256 → 1, 5 members)
    BenchModel {
        /// Pair-feature dimension.
        #[arg(long, default_value_t = 4_096)]
        dim: usize,
        /// Ensemble members.
        #[arg(long, default_value_t = 5)]
        members: usize,
        /// Labelled pairs trained on (one epoch, batch 32).
        #[arg(long, default_value_t = 2_400)]
        pairs: usize,
        /// Rows scored by every member.
        #[arg(long, default_value_t = 16_384)]
        rows: usize,
        /// The MiniLM model directory (scripts/fetch-minilm.sh).
        #[arg(long, value_name = "DIR", default_value = "models/all-MiniLM-L6-v2")]
        model: PathBuf,
        /// Leave out the encoder row.
        #[arg(long)]
        skip_encode: bool,
        /// Compute device: cpu (burn's flex backend), libtorch (a build with the `tch` feature) or
        /// cuda (a build with the `cuda` feature).
        #[arg(long, default_value = "cpu")]
        device: String,
    },
}

fn load(path: &Path) -> Result<ExperimentConfig, String> {
    ExperimentConfig::load(path).map_err(|e| e.to_string())
}

fn report(dir: &Path, cfg: &ExperimentConfig, window: Option<usize>) -> Result<(), String> {
    let mut opts = ReportOptions::new(window.unwrap_or(cfg.report.smoothing_window), &cfg.report.baseline, cfg.policy_labels());
    if cfg.is_pair_setting() {
        opts.metrics = vec![
            ("heldout_accuracy".into(), "Held-out pair accuracy".into()),
            ("heldout_log_likelihood".into(), "Held-out log-likelihood".into()),
        ];
    }
    for f in write_report(dir, &opts)? {
        say!("wrote {}", f.display());
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), String> {
    if let Some(n) = cli.threads {
        if n == 0 {
            return Err("--threads: must be at least 1".into());
        }
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().map_err(|e| format!("--threads: {e}"))?;
    }
    match cli.command {
        Command::Run { experiment, fresh, out, max_rounds, no_report, quiet } => {
            let mut cfg = load(&experiment)?;
            if let Some(out) = out {
                cfg.output_dir = Some(out);
                cfg.check_output_dir().map_err(|e| format!("--out: {e}"))?;
            }
            let started = Instant::now();
            let summary = run_experiment(&cfg, &RunOptions { fresh, progress: !quiet, max_rounds })?;
            say!(
                "{}: {} runs ({} already finished, {} rounds resumed) in {:.1} s wall time",
                cfg.name,
                summary.runs_total,
                summary.runs_skipped,
                summary.rounds_resumed,
                started.elapsed().as_secs_f64()
            );
            if summary.runs_paused > 0 {
                say!("{} runs paused by --max-rounds; run the same command again to continue", summary.runs_paused);
            } else if !no_report {
                report(&summary.output_dir, &cfg, None)?;
            }
            Ok(())
        }
        Command::Validate { experiment } => {
            let cfg = load(&experiment)?;
            let bench = cfg.build_benchmark().map_err(|e| format!("{}: {e}", experiment.display()))?;
            say!("{}: ok", experiment.display());
            match (&bench, &cfg.loop_, &cfg.pair_loop) {
                (Benchmark::Pool(bench), Some(lp), _) => {
                    say!("  {bench}");
                    say!(
                        "  {} policies x {} seeds, {} rounds, {} initial + {} per round, {} members",
                        cfg.policies.len(),
                        cfg.seeds.len(),
                        lp.rounds,
                        lp.initial_labels,
                        lp.batch_size,
                        cfg.model.members
                    );
                }
                (Benchmark::Pair(bench), _, Some(lp)) => {
                    let n: Vec<usize> = bench.stream.iter().map(|p| p.judge.len()).collect();
                    say!(
                        "  {}: {} stream prompts x {}-{} responses, {} validation and {} held-out prompts",
                        bench.name,
                        bench.stream.len(),
                        n.iter().min().unwrap_or(&0),
                        n.iter().max().unwrap_or(&0),
                        bench.validation.len(),
                        bench.heldout.len()
                    );
                    say!(
                        "  {} pair policies x {} seeds, {} rounds of {} prompts, mode {}, {} members",
                        cfg.pair_policies.len(),
                        cfg.seeds.len(),
                        lp.rounds,
                        lp.batch_prompts,
                        cfg.pair_mode,
                        cfg.model.members
                    );
                }
                _ => {}
            }
            Ok(())
        }
        Command::Report { results, window } => {
            let resolved = results.join("config.resolved.yaml");
            let text = std::fs::read_to_string(&resolved)
                .map_err(|e| format!("{}: cannot read ({e}); is {} a directory written by `activepref run`?", resolved.display(), results.display()))?;
            let cfg = ExperimentConfig::parse_unchecked(&text, &resolved).map_err(|e| e.to_string())?;
            report(&results, &cfg, window)
        }
        Command::Inspect { format, path, features, columns } => data_cmds::inspect(&format, &path, features.as_deref(), columns.as_deref()),
        Command::Fetch { dataset } => data_cmds::fetch(dataset.as_deref()),
        Command::ImportFeatures { file, layout, split, out, table, ids } => {
            data_cmds::import_features(&layout, &file, &split, &out, table.as_deref(), ids.as_deref())
        }
        Command::Featurize { format, path, out, model, columns, prompt_keep, device, batch_size, quiet } => {
            data_cmds::featurize(&data_cmds::FeaturizeArgs {
                format: &format,
                path: &path,
                out: &out,
                model: &model,
                columns: columns.as_deref(),
                prompt_keep: prompt_keep.as_deref(),
                device: &device,
                batch_size,
                quiet,
            })
        }
        Command::BenchData { records, dir, load } => match load {
            Some(file) => data_cmds::bench_load_one(&file),
            None => data_cmds::bench_data(records, &dir),
        },
        Command::BenchKnn { pool, dim, dup, brute, python, synthetic, out, part } => {
            let args = bench_cmds::BenchKnnArgs { pool, dim, dup, brute, python, synthetic, out };
            match part {
                Some(name) => bench_cmds::part(&name, &args),
                None => bench_cmds::bench_knn(&args),
            }
        }
        Command::BenchModel { dim, members, pairs, rows, model, skip_encode, device } => {
            let device = yaml_serde::from_str(&device).map_err(|_| format!("--device: `{device}` is not cpu, libtorch or cuda"))?;
            bench_cmds::bench_model(&bench_cmds::BenchModelArgs { dim, members, pairs, rows, model, skip_encode, device })
        }
        Command::Policies => {
            say!("POOL POLICIES (BAL-PM family), used in experiment files as `<label>: {{ policy: <name>, <param>: <value> }}`.");
            say!("Every parameter is optional; the line under each name shows the defaults.\n");
            for (name, summary, spec) in policy_docs() {
                say!("{name}\n    {summary}\n    {}\n", flow_yaml(&spec)?);
            }
            say!("PAIR POLICIES (ActiveUltraFeedback family): one pair (a, b) of a prompt's n responses.");
            say!("Each runs in mode `reference` (the public code's behaviour) or `corrected` (default).\n");
            for spec in PairPolicySpec::all() {
                say!("{}\n    {}\n    {}\n", spec.name(), spec.summary(), flow_yaml(&spec)?);
            }
            Ok(())
        }
    }
}

/// A registry entry's defaults on one line of YAML flow syntax.
fn flow_yaml<T: serde::Serialize>(spec: &T) -> Result<String, String> {
    let block = yaml_serde::to_string(spec).map_err(|e| e.to_string())?;
    let fields: Vec<String> = block.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    Ok(format!("{{ {} }}", fields.join(", ")))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
