//! `activepref`: the command-line front end. A thin layer over the library crates: it parses
//! arguments, sets the thread count, dispatches to one module of `cmd/` per command, and prints
//! one-line errors.

use anyhow::anyhow;
use std::path::Path;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// mimalloc reuses freed memory instead of returning each large tensor buffer to the OS
/// (docs/performance.md, "Model compute"): training runs without a page-fault storm per
/// optimiser step.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cmd;

/// Checks a numeric flag against the range that makes sense, with the range in the error
/// (`--threads: is 0; must be between 1 and 1024`), as the experiment file checks its numbers.
pub(crate) fn bounded(flag: &str, value: usize, min: usize, max: usize) -> anyhow::Result<()> {
    activepref_core::FieldError::check_count(flag, value, min, max)
        .map_err(|e| anyhow!("{}: {}", e.field, e.message))
}

/// The parser of every whole-number flag: `-1` reaches it as a value (not clap's "use `-- -1`"
/// tip), and `-1` or `2.5` are refused in the flag's terms, not Rust's ("invalid digit found in
/// string"); the flag's range is checked where it is used ([`bounded`]).
pub(crate) fn whole_number(s: &str) -> Result<usize, String> {
    s.parse()
        .map_err(|_| "must be a whole number (0, 1, 2, ...)".to_string())
}

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
/// every policy acquire labels round by round, and writes `results/<name>/`: one CSV per
/// (policy, seed) and a report with learning curves (PNG, SVG) and a label-efficiency table.
#[derive(Parser, Debug)]
#[command(
    name = "activepref",
    version,
    propagate_version = true,
    after_help = "Examples:\n  activepref run experiments/quickstart.yaml        random vs BALD vs BAL-PM, 5 seeds (seconds on 2 cores after the first cargo build)\n  activepref run experiments/balpm-ablations.yaml   13 BAL-PM baselines and ablations\n  activepref run experiments/auf-pairs.yaml         ActiveUltraFeedback pair selection\n  activepref validate experiments/quickstart.yaml   check a file without running it\n  activepref report results/quickstart              remake plots and tables\n  activepref policies                               every policy, its parameters and defaults\n  activepref inspect hh-rlhf ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz\n  activepref fetch                                  datasets on the Hugging Face Hub\n  activepref featurize hh-rlhf ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz --out results/features/hh-harmless-minilm\n  activepref run experiments/hh-harmless-minilm.yaml  random vs BALD vs BAL-PM on real HH-RLHF labels"
)]
struct Cli {
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long, global = true, value_name = "N", value_parser = crate::whole_number, allow_negative_numbers = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum SweepCommand {
    /// Print every run of an experiment file (each grid point of its `sweep:` × policy × seed) with
    /// its id: a stable hash of the run's resolved configuration, the same on every machine.
    ///
    /// Example: activepref sweep plan experiments/balpm-beta-quick.yaml
    Plan(cmd::sweep::PlanArgs),
    /// Write a SLURM job array (one task per run id, `activepref run --only <id>`), the merge step
    /// (`activepref report`) and submit.sh into DIR. Resources come from the file's `slurm:`
    /// section (partition, account, time, cpus_per_task, mem, gpus, max_parallel, extra), then
    /// these flags.
    ///
    /// Example: activepref sweep slurm experiments/balpm-beta-quick.yaml --out slurm/beta --max-parallel 20
    Slurm(cmd::sweep::SlurmArgs),
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run (or resume) an experiment, then write its report.
    ///
    /// Finished runs are skipped and an interrupted run continues from its last finished round,
    /// so re-running the same command after Ctrl-C loses nothing.
    ///
    /// Example: activepref run experiments/quickstart.yaml
    Run(cmd::run::RunArgs),
    /// Sweeps: list the runs of a file and their ids, or write a SLURM job array for them.
    #[command(subcommand)]
    Sweep(SweepCommand),
    /// Check an experiment file without running it (builds the benchmark, checks every field).
    ///
    /// It reads the data and the feature store as a run would, so a missing file is found here,
    /// with the command that makes it.
    ///
    /// Example: activepref validate experiments/quickstart.yaml --json
    Validate(cmd::validate::ValidateArgs),
    /// Remake the report of a results directory: figures (PNG, SVG), summary.md/.tex/.csv, the
    /// curve CSVs and results.parquet.
    ///
    /// Example: activepref report results/quickstart
    Report(cmd::report::ReportArgs),
    /// List every acquisition policy with its parameters and defaults, and the uncertainty scores
    /// (`score:`) the pool policies rank or sample by.
    Policies(cmd::policies::PoliciesArgs),
    /// Print a shell completion script.
    ///
    /// Example: activepref completions bash > ~/.local/share/bash-completion/completions/activepref
    Completions(CompletionsArgs),
    /// Print what a dataset holds: counts per split, prompts, comparisons per prompt, features.
    ///
    /// Example: activepref inspect hh-rlhf ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz
    Inspect(cmd::inspect::InspectArgs),
    /// Download a dataset from the Hugging Face Hub into its cache (no name: list them).
    ///
    /// The cache is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. With
    /// HF_HUB_OFFLINE=1 only the cache is used.
    ///
    /// Example: activepref fetch summarize-from-feedback
    Fetch(cmd::data::FetchArgs),
    /// Import features into a feature store (safetensors tables keyed by comparison id).
    ///
    /// Example: activepref import-features --layout balpm-pair --split train --out results/features/tldr train.parquet
    ImportFeatures(cmd::import_features::ImportFeaturesArgs),
    /// Encode a dataset's prompts and (prompt, response) pairs with a sentence encoder into a
    /// feature store that experiment files can name (`benchmark.features`).
    ///
    /// The model directory holds model.safetensors, config.json and tokenizer.json (get
    /// all-MiniLM-L6-v2 with scripts/fetch-minilm.sh). Inputs are cut to the model's
    /// max_seq_length (256 tokens for MiniLM); README "Features from text" gives the layout.
    /// Re-running skips tables already written.
    ///
    /// Example: activepref featurize hh-rlhf ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz --out results/features/hh-harmless-minilm
    Featurize(cmd::data::FeaturizeArgs),
    /// Load-speed report: generate a summarize-from-feedback file in the real schema (JSON lines
    /// and parquet), load each in a fresh process, print records/s and peak memory.
    ///
    /// Example: activepref bench-data --records 93000   (TL;DR's size; target < 10 s, < 2 GB)
    BenchData(cmd::data::BenchDataArgs),
    /// Speed report for BAL-PM's kNN term at paper scale: today's brute force and the exact
    /// neighbour index side by side, with the CPU model, the measured GEMM rate and, given a Python
    /// with torch, the reference's own cdist + topk pass on the same N and D. Each figure comes
    /// from a fresh child process (peak memory included); results/bench-knn/bench-knn.csv keeps them.
    ///
    /// Example: activepref bench-knn --python .venv/bin/python --synthetic   (about 15 min on 2 cores)
    BenchKnn(cmd::bench_knn::BenchKnnArgs),
    /// A paper-scale BAL-PM run, modelled stage by stage on this machine: times optimiser steps,
    /// a validation pass and scoring on the paper's shapes, then adds up every round of the exact
    /// schedule (steps and evaluations per labelled size). Prints a Markdown table.
    ///
    /// Example: activepref bench-round --labels 320,8000,16000,24000
    BenchRound(cmd::bench_round::BenchRoundArgs),
    /// Model compute on this machine: train an ensemble for one epoch, score rows with every
    /// member, encode 64 × 128 tokens with MiniLM; prints `key value` lines. The activepref side of
    /// scripts/bench-vs-torch.sh, which runs plain torch on the same shapes and prints the ratios.
    ///
    /// Example: activepref bench-model   (the paper's MLP 4096 → 2048 → 256 → 1, 5 members)
    BenchModel(cmd::bench_model::BenchModelArgs),
}

/// The arguments of `activepref completions`.
#[derive(clap::Args, Debug)]
struct CompletionsArgs {
    /// The shell to complete in.
    shell: clap_complete::Shell,
}

/// Writes `bytes` to `path` atomically; the error names the file and says when the disk is full.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    activepref_core::io::write_atomic_bytes(path, bytes).map_err(|e| {
        anyhow!(
            "{}: cannot write ({})",
            path.display(),
            activepref_core::io::describe(&e)
        )
    })
}

/// Sets the thread count, then runs the command.
fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.threads {
        bounded("--threads", n, 1, 1_024)?;
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow!("--threads: {e}"))?;
    }
    match &cli.command {
        Command::Run(a) => cmd::run::run(a),
        Command::Sweep(SweepCommand::Plan(a)) => cmd::sweep::plan(a),
        Command::Sweep(SweepCommand::Slurm(a)) => cmd::sweep::slurm(a),
        Command::Validate(a) => cmd::validate::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Policies(a) => cmd::policies::run(a),
        Command::Completions(a) => {
            // Written whole, so that a closed pipe (`| head`) ends quietly as other output does
            // instead of panicking inside clap_complete.
            let mut script = Vec::new();
            clap_complete::generate(a.shell, &mut Cli::command(), "activepref", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Fetch(a) => cmd::data::fetch(a),
        Command::ImportFeatures(a) => cmd::import_features::import_features(a),
        Command::Featurize(a) => cmd::data::featurize(a),
        Command::BenchData(a) => cmd::data::bench_data(a),
        Command::BenchKnn(a) => cmd::bench_knn::run(a),
        Command::BenchRound(a) => cmd::bench_round::bench_round(a),
        Command::BenchModel(a) => cmd::bench_model::bench_model(a),
    }
}

/// Parses the command line; a usage error (unknown value, missing argument) is printed on one
/// line, with the possible values where clap knows them, like every other error.
fn parse_cli() -> Result<Cli, ExitCode> {
    Cli::try_parse().map_err(|e| {
        if !e.use_stderr() {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            // `activepref` or `activepref sweep` alone: the help, as help (on stderr, exit 2).
            let _ = e.print();
            return ExitCode::from(2);
        }
        let text = e.render().to_string();
        let line: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
            .collect();
        eprintln!("{}", line.join(" "));
        ExitCode::from(2)
    })
}

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let json = cli.command.prints_json();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain on one line.
            let line = format!("{e:#}");
            if json {
                // A script reading stdout gets an object for a failure too.
                say!("{}", serde_json::json!({ "ok": false, "error": line }));
            }
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}

impl Command {
    /// True when the command was asked for `--json`: its result, and its failure, go to stdout as
    /// one JSON object.
    fn prints_json(&self) -> bool {
        match self {
            Command::Validate(a) => a.json,
            Command::Inspect(a) => a.json,
            Command::Policies(a) => a.json,
            Command::Sweep(SweepCommand::Plan(a)) => a.json,
            _ => false,
        }
    }
}
