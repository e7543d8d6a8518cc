//! `activepref`: the command-line front end. A thin layer over the library crates: it parses
//! arguments, sets the thread count, and prints one-line errors.

use anyhow::{anyhow, bail};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use activepref_acquire::{PairPolicySpec, PolicySpec, UncertaintyScore};
use activepref_core::saving::SavingDefinition;
use activepref_data::text::SplitRole;
use activepref_encode::featurize::PromptKeep;
use activepref_experiment::results_dir::{ReportableRuns, SWEEP_MANIFEST, reportable_runs};
use activepref_experiment::{
    Benchmark, ExperimentConfig, ExportedRuns, ReportSection, SlowNotice, Sweep,
    write_results_parquet,
};
use activepref_model::ComputeDevice;
use activepref_report::{
    GridPoint, ReportOptions, metric_title, write_ablation_report, write_report,
};
use clap::{CommandFactory, Parser, Subcommand};
use data_cmds::{DatasetFormat, ImportLayout, TableName};

/// mimalloc reuses freed memory instead of returning each large tensor buffer to the OS (README,
/// "Model compute"): training runs without a page-fault storm per optimiser step.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod bench_cmds;
mod data_cmds;
mod sweep_cmds;

/// Checks a numeric flag against the range that makes sense, with the range in the error
/// (`--threads: is 0; must be between 1 and 1024`), as the experiment file checks its numbers.
pub(crate) fn bounded(flag: &str, value: usize, min: usize, max: usize) -> anyhow::Result<()> {
    activepref_core::FieldError::check_count(flag, value, min, max)
        .map_err(|e| anyhow!("{}: {}", e.field, e.message))
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
enum SweepCommand {
    /// Print every run of an experiment file (each grid point of its `sweep:` × policy × seed) with
    /// its id: a stable hash of the run's resolved configuration, the same on every machine.
    ///
    /// Example: activepref sweep plan experiments/balpm-beta-quick.yaml
    Plan {
        /// The experiment file.
        experiment: PathBuf,
        /// Print the plan as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write a SLURM job array (one task per run id, `activepref run --only <id>`), the merge step
    /// (`activepref report`) and submit.sh into DIR. Resources come from the file's `slurm:`
    /// section (partition, account, time, cpus_per_task, mem, gpus, max_parallel, extra), then
    /// these flags.
    ///
    /// Example: activepref sweep slurm experiments/balpm-beta-quick.yaml --out slurm/beta --max-parallel 20
    Slurm {
        /// The experiment file.
        experiment: PathBuf,
        /// Where the scripts go.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        flags: sweep_cmds::SlurmFlags,
    },
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run (or resume) an experiment, then write its report.
    ///
    /// Finished runs are skipped and an interrupted run continues from its last finished round,
    /// so re-running the same command after Ctrl-C loses nothing.
    ///
    /// Example: activepref run experiments/quickstart.yaml
    Run(sweep_cmds::RunArgs),
    /// Sweeps: list the runs of a file and their ids, or write a SLURM job array for them.
    #[command(subcommand)]
    Sweep(SweepCommand),
    /// Check an experiment file without running it (builds the benchmark, checks every field).
    ///
    /// Example: activepref validate experiments/quickstart.yaml --json
    Validate {
        /// The experiment file.
        experiment: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
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
        /// Override the label-saving definition of the experiment file (`report.saving`).
        #[arg(long)]
        saving: Option<SavingDefinition>,
        /// Override the bootstrap resamples behind each saving's 95% interval (0: none).
        #[arg(long, value_name = "N")]
        bootstrap: Option<usize>,
    },
    /// List every acquisition policy with its parameters and defaults, and the uncertainty scores
    /// (`score:`) the pool policies rank or sample by.
    Policies {
        /// Print the registry as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script.
    ///
    /// Example: activepref completions bash > ~/.local/share/bash-completion/completions/activepref
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print what a dataset holds: counts per split, prompts, comparisons per prompt, features.
    ///
    /// Example: activepref inspect hh-rlhf ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz
    Inspect {
        /// The dataset's format.
        format: DatasetFormat,
        /// The file or directory.
        path: PathBuf,
        /// A feature store directory to describe alongside.
        #[arg(long, value_name = "DIR")]
        features: Option<PathBuf>,
        /// For `pairs`: which column is what, e.g. prompt=question,a=r1,b=r2,label=winner,split=part.
        #[arg(long, value_name = "MAP")]
        columns: Option<String>,
        /// Print the description as one JSON object.
        #[arg(long)]
        json: bool,
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
    /// Example: activepref import-features --layout balpm-pair --split train --out features/tldr train.parquet
    ImportFeatures {
        /// The file to import.
        file: PathBuf,
        /// How the file lays out its rows.
        #[arg(long)]
        layout: ImportLayout,
        /// The split the rows belong to (aliases: train = pool; valid, valid1, eval = validation).
        #[arg(long)]
        split: SplitRole,
        /// The feature store directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// For npy: the table the array fills.
        #[arg(long)]
        table: Option<TableName>,
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
        /// The dataset's format.
        format: DatasetFormat,
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
        #[arg(long)]
        prompt_keep: Option<PromptKeep>,
        /// Compute device (cuda and libtorch need a build with the `cuda` or `tch` feature).
        #[arg(long, value_enum, default_value_t = ComputeDevice::Cpu)]
        device: ComputeDevice,
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
        #[arg(
            long,
            visible_alias = "dir",
            value_name = "DIR",
            default_value = "results/bench-data"
        )]
        out: PathBuf,
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
    /// A paper-scale BAL-PM run, modelled stage by stage on this machine: times optimiser steps,
    /// a validation pass and scoring on the paper's shapes, then adds up every round of the exact
    /// schedule (steps and evaluations per labelled size). Prints a Markdown table.
    ///
    /// Example: activepref bench-round --labels 320,8000,16000,24000
    BenchRound(bench_cmds::BenchRoundArgs),
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
        #[arg(long, value_enum, default_value_t = ComputeDevice::Cpu)]
        device: ComputeDevice,
    },
}

/// What `activepref report` may override of an experiment's `report:` section.
#[derive(Default, Clone, Copy)]
pub(crate) struct ReportOverrides {
    window: Option<usize>,
    saving: Option<SavingDefinition>,
    bootstrap: Option<usize>,
}

impl ReportOverrides {
    /// The experiment's `report:` section with these overrides, checked exactly as the YAML is
    /// (so `--window 0` is refused like `smoothing_window: 0`).
    fn apply(self, section: &ReportSection) -> anyhow::Result<ReportSection> {
        let mut r = section.clone();
        r.smoothing_window = self.window.unwrap_or(r.smoothing_window);
        r.saving = self.saving.unwrap_or(r.saving);
        r.bootstrap = self.bootstrap.unwrap_or(r.bootstrap);
        r.validate().map_err(|e| {
            let flag = match e.field.as_str() {
                "smoothing_window" if self.window.is_some() => "--window",
                "bootstrap" if self.bootstrap.is_some() => "--bootstrap",
                _ => "",
            };
            if flag.is_empty() {
                anyhow!("report.{e}")
            } else {
                anyhow!("{flag}: {}", e.message)
            }
        })?;
        Ok(r)
    }
}

pub(crate) fn report(
    dir: &Path,
    cfg: &ExperimentConfig,
    over: ReportOverrides,
) -> anyhow::Result<ReportOptions> {
    report_runs(dir, cfg, over, reportable_runs(cfg, dir)?)
}

/// [`report`] of the runs `runs` already found reportable in `dir`.
fn report_runs(
    dir: &Path,
    cfg: &ExperimentConfig,
    over: ReportOverrides,
    runs: ReportableRuns,
) -> anyhow::Result<ReportOptions> {
    let section = over.apply(&cfg.report)?;
    let mut opts = ReportOptions::new(
        section.smoothing_window,
        &cfg.report.baseline,
        cfg.policy_labels(),
    );
    opts.saving = section.saving;
    opts.bootstrap = section.bootstrap;
    // Only this configuration's finished, intact runs; the others are listed, not mixed in.
    if runs.finished.is_empty() {
        bail!(
            "{}: no finished run of this configuration yet ({} expected); run the experiment first with `activepref run`",
            dir.display(),
            runs.missing.len()
        );
    }
    if !runs.missing.is_empty() {
        eprintln!(
            "warning: {}: {} expected run(s) left out of the report ({}{}); `activepref run` on the same file finishes them (with --rerun for runs of another configuration)",
            dir.display(),
            runs.missing.len(),
            runs.missing
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; "),
            if runs.missing.len() > 3 { "; ..." } else { "" }
        );
    }
    opts.runs = Some(runs.finished);
    opts.missing = runs.missing;
    opts.variant = runs.variant;
    opts.ablation_baseline = cfg.report.ablation_baseline.clone();
    opts.title = cfg.name.clone();
    opts.static_baselines = cfg
        .pair_policies
        .iter()
        .filter(|(_, spec)| spec.is_static())
        .map(|(label, _)| label.clone())
        .collect();
    if !cfg.report.metrics.is_empty() {
        opts.metrics = cfg
            .report
            .metrics
            .iter()
            .map(|m| (m.clone(), metric_title(m)))
            .collect();
    } else if cfg.is_pair_setting() {
        opts.metrics = vec![
            ("heldout_accuracy".into(), "Held-out pair accuracy".into()),
            (
                "heldout_log_likelihood".into(),
                "Held-out log-likelihood".into(),
            ),
        ];
    }
    for f in write_report(dir, &opts)? {
        say!("wrote {}", f.display());
    }
    export_table(
        &[ExportedRuns {
            grid_point: opts.variant.as_deref().unwrap_or(""),
            dir,
            runs: opts.runs.as_deref().unwrap_or(&[]),
        }],
        &dir.join("report").join("results.parquet"),
    );
    Ok(opts)
}

/// Writes `results.parquet`; a failure (run files of an older version with other columns) is a
/// warning, since the figures and tables are already written.
fn export_table(sources: &[ExportedRuns], out: &Path) {
    match write_results_parquet(sources, out) {
        Ok(table) => say!("wrote {}", table.display()),
        Err(e) => eprintln!("warning: results.parquet not written: {e}"),
    }
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

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.threads {
        bounded("--threads", n, 1, 1_024)?;
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| anyhow!("--threads: {e}"))?;
    }
    match cli.command {
        Command::Run(args) => sweep_cmds::run(&args),
        Command::Sweep(SweepCommand::Plan { experiment, json }) => {
            sweep_cmds::plan(&experiment, json)
        }
        Command::Sweep(SweepCommand::Slurm {
            experiment,
            out,
            flags,
        }) => sweep_cmds::slurm(&experiment, &out, flags),
        Command::Validate { experiment, json } => validate(&experiment, json),
        Command::Report {
            results,
            window,
            saving,
            bootstrap,
        } => report_results(
            &results,
            ReportOverrides {
                window,
                saving,
                bootstrap,
            },
        ),
        Command::Inspect {
            format,
            path,
            features,
            columns,
            json,
        } => data_cmds::inspect(format, &path, features.as_deref(), columns.as_deref(), json),
        Command::Fetch { dataset } => data_cmds::fetch(dataset.as_deref()),
        Command::ImportFeatures {
            file,
            layout,
            split,
            out,
            table,
            ids,
        } => data_cmds::import_features(layout, &file, split, &out, table, ids.as_deref()),
        Command::Featurize {
            format,
            path,
            out,
            model,
            columns,
            prompt_keep,
            device,
            batch_size,
            quiet,
        } => data_cmds::featurize(&data_cmds::FeaturizeArgs {
            format,
            path: &path,
            out: &out,
            model: &model,
            columns: columns.as_deref(),
            prompt_keep,
            device,
            batch_size,
            quiet,
        }),
        Command::BenchData { records, out, load } => match load {
            Some(file) => data_cmds::bench_load_one(&file),
            None => data_cmds::bench_data(records, &out),
        },
        Command::BenchKnn {
            pool,
            dim,
            dup,
            brute,
            python,
            synthetic,
            out,
            part,
        } => {
            let args = bench_cmds::BenchKnnArgs {
                pool,
                dim,
                dup,
                brute,
                python,
                synthetic,
                out,
            };
            match part {
                Some(name) => bench_cmds::part(&name, &args),
                None => bench_cmds::bench_knn(&args),
            }
        }
        Command::BenchModel {
            dim,
            members,
            pairs,
            rows,
            model,
            skip_encode,
            device,
        } => bench_cmds::bench_model(&bench_cmds::BenchModelArgs {
            dim,
            members,
            pairs,
            rows,
            model,
            skip_encode,
            device,
        }),
        Command::BenchRound(args) => bench_cmds::bench_round(&args),
        Command::Policies { json } => policies(json),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "activepref",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

/// `activepref report <dir>`: the report of one results directory, or of every grid point of a
/// sweep's results root plus one ablation report per grid.
pub(crate) fn report_results(results: &Path, over: ReportOverrides) -> anyhow::Result<()> {
    if results.is_file() {
        bail!(
            "{} is a file; `activepref report` takes the results directory a run wrote (results/<name>, or the run's --out)",
            results.display()
        );
    }
    // A sweep's results root holds one results directory per grid point: <grid>/<point>/.
    let manifest = sweep_manifest(results)?;
    let dirs = if results.join("config.resolved.yaml").exists() {
        vec![results.to_path_buf()]
    } else if let Some(variants) = &manifest {
        // The experiment file's order (`k=5` before `k=13`), missing grid points included.
        variants.iter().map(|v| results.join(v)).collect()
    } else {
        variant_dirs(results)
    };
    if dirs.is_empty() {
        bail!(
            "{}: cannot read ({}); is {} a directory written by `activepref run`?",
            results.join("config.resolved.yaml").display(),
            "no such file",
            results.display()
        );
    }
    let mut grids: Vec<(PathBuf, Vec<GridPoint>, ReportOptions)> = vec![];
    let mut unrun: Vec<(PathBuf, GridPoint)> = vec![];
    for dir in &dirs {
        // <root>/<grid>/<point>: one ablation report per grid.
        let grid = dir.parent().map(Path::to_path_buf).unwrap_or_default();
        let label = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Read, parsed and checked for finished runs once; the report below reuses them.
        let resolved = dir.join("config.resolved.yaml");
        let found = if resolved.exists() || *dir == *results {
            let text = std::fs::read_to_string(&resolved)
                .map_err(|e| anyhow!("{}: cannot read ({e})", resolved.display()))?;
            let cfg = ExperimentConfig::parse_unchecked(&text, &resolved)?;
            let runs = reportable_runs(&cfg, dir);
            Some((cfg, runs))
        } else {
            None
        };
        let started = matches!(&found, Some((_, Ok(r))) if !r.finished.is_empty());
        if *dir != *results && !started {
            eprintln!("warning: grid point {}: no finished run yet", dir.display());
            unrun.push((
                grid,
                GridPoint {
                    label,
                    dir: dir.clone(),
                    runs: Some(vec![]),
                    missing: vec![],
                },
            ));
            continue;
        }
        let Some((cfg, runs)) = found else {
            continue;
        };
        let opts = report_runs(dir, &cfg, over, runs?)?;
        if *dir == *results {
            continue;
        }
        let point = GridPoint {
            label,
            dir: dir.clone(),
            runs: opts.runs.clone(),
            missing: opts.missing.clone(),
        };
        match grids.iter_mut().find(|(g, _, _)| *g == grid) {
            Some((_, points, _)) => points.push(point),
            None => grids.push((grid, vec![point], opts)),
        }
    }
    for (grid, point) in unrun {
        if let Some((_, points, _)) = grids.iter_mut().find(|(g, _, _)| *g == grid) {
            points.push(point);
        }
    }
    // One tidy table for the whole sweep: every grid point's runs.
    let all: Vec<ExportedRuns> = grids
        .iter()
        .flat_map(|(_, points, _)| points.iter())
        .filter_map(|p| {
            let runs = p.runs.as_deref()?;
            let point = p.dir.strip_prefix(results).ok()?.to_str()?;
            Some(ExportedRuns {
                grid_point: point,
                dir: &p.dir,
                runs,
            })
        })
        .collect();
    if !all.is_empty() {
        export_table(&all, &results.join("results.parquet"));
    }
    for (grid, points, opts) in grids {
        let name = grid
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let title = format!("{} ({name})", opts.title);
        for f in write_ablation_report(&title, &points, &grid.join("ablation"), &opts)? {
            say!("wrote {}", f.display());
        }
    }
    Ok(())
}

/// The grid points of the sweep whose results root is `root`, in the experiment file's order
/// (`activepref-sweep.json`, written by `run`); None for a root from before that file.
fn sweep_manifest(root: &Path) -> anyhow::Result<Option<Vec<String>>> {
    let path = root.join(SWEEP_MANIFEST);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("{}: not activepref's sweep manifest ({e}); delete it to fall back to the grid points on disk", path.display()))?;
    Ok(doc["variants"].as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }))
}

/// The results directories of a sweep's grid points under `root` (`<grid>/<point>/`), sorted.
fn variant_dirs(root: &Path) -> Vec<PathBuf> {
    let children = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|it| {
                it.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    children(root)
        .iter()
        .flat_map(|g| children(g))
        .filter(|d| d.join("config.resolved.yaml").exists())
        .collect()
}

/// `activepref validate`: builds the benchmark and prints what would run.
fn validate(experiment: &Path, json: bool) -> anyhow::Result<()> {
    let sweep = Sweep::load(experiment)?;
    if sweep.variants.len() > 1 || sweep.variants.iter().any(|v| !v.name.is_empty()) {
        return validate_sweep(experiment, &sweep, json);
    }
    let cfg = sweep
        .variants
        .into_iter()
        .next()
        .expect("one variant")
        .config;
    let notice = SlowNotice::start(format!(
        "{}: building the benchmark ({}) to check it against the loop sizes",
        experiment.display(),
        cfg.benchmark_kind()
    ));
    let bench = cfg
        .build_benchmark()
        .map_err(|e| anyhow!("{}: {e}", experiment.display()))?;
    drop(notice);
    let mut summary = serde_json::json!({
        "file": experiment.display().to_string(),
        "ok": true,
        "name": cfg.name,
        "seeds": cfg.seeds,
        "members": cfg.model.members,
    });
    let mut lines = vec![format!("{}: ok", experiment.display())];
    match (&bench, &cfg.loop_, &cfg.pair_loop) {
        (Benchmark::Pool(bench), Some(lp), _) => {
            lines.push(format!("  {bench}"));
            lines.push(format!(
                "  {} policies x {} seeds, {} rounds, {} initial + {} per round, {} members",
                cfg.policies.len(),
                cfg.seeds.len(),
                lp.rounds,
                lp.initial_labels,
                lp.batch_size,
                cfg.model.members
            ));
            summary["setting"] = "pool".into();
            summary["benchmark"] = serde_json::json!({
                "name": bench.name,
                "pool": bench.pool.len(),
                "validation": bench.validation.len(),
                "test": bench.test.len(),
                "ood": bench.ood.len(),
                "pair_dim": bench.pair_dim(),
                "prompt_dim": bench.pool.prompt.dim(),
            });
            summary["policies"] = cfg.policies.keys().cloned().collect::<Vec<_>>().into();
            summary["loop"] = serde_json::to_value(lp)?;
        }
        (Benchmark::Pair(bench), _, Some(lp)) => {
            let n: Vec<usize> = bench.stream.iter().map(|p| p.judge.len()).collect();
            let (lo, hi) = (
                n.iter().min().copied().unwrap_or(0),
                n.iter().max().copied().unwrap_or(0),
            );
            lines.push(format!(
                "  {}: {} stream prompts x {lo}-{hi} responses, {} validation and {} held-out prompts",
                bench.name,
                bench.stream.len(),
                bench.validation.len(),
                bench.heldout.len()
            ));
            lines.push(format!(
                "  {} pair policies x {} seeds, {} rounds of {} prompts{}, mode {}, {} members",
                cfg.pair_policies.len(),
                cfg.seeds.len(),
                lp.rounds_for(bench.stream.len()),
                lp.batch_prompts,
                if lp.rounds.is_none() {
                    " (the whole stream)"
                } else {
                    ""
                },
                cfg.pair_mode,
                cfg.model.members
            ));
            summary["setting"] = "pair".into();
            summary["benchmark"] = serde_json::json!({
                "name": bench.name,
                "stream_prompts": bench.stream.len(),
                "responses_per_prompt": { "min": lo, "max": hi },
                "validation_prompts": bench.validation.len(),
                "heldout_prompts": bench.heldout.len(),
            });
            summary["policies"] = cfg.pair_policies.keys().cloned().collect::<Vec<_>>().into();
            summary["pair_loop"] = serde_json::to_value(lp)?;
            summary["pair_mode"] = cfg.pair_mode.to_string().into();
        }
        _ => {}
    }
    if json {
        say!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        for l in lines {
            say!("{l}");
        }
    }
    Ok(())
}

/// `activepref validate` of a file with a sweep: every grid point's benchmark is built and checked.
fn validate_sweep(experiment: &Path, sweep: &Sweep, json: bool) -> anyhow::Result<()> {
    let plan = sweep.plan();
    let mut variants = vec![];
    for (k, v) in sweep.variants.iter().enumerate() {
        let notice = SlowNotice::start(format!(
            "{}: grid point {}/{} {}: building the benchmark",
            experiment.display(),
            k + 1,
            sweep.variants.len(),
            v.name
        ));
        let built = v.config.build_benchmark();
        drop(notice);
        built.map_err(|e| {
            anyhow!(
                "{}: {e} (in sweep grid point `{}`)",
                experiment.display(),
                v.name
            )
        })?;
        let runs = plan.iter().filter(|r| r.variant == v.name).count();
        variants.push(serde_json::json!({
            "name": v.name,
            "settings": v.settings.iter().map(|(p, x)| serde_json::json!({ "path": p, "value": x })).collect::<Vec<_>>(),
            "runs": runs,
            "output_dir": v.config.output_dir().display().to_string(),
        }));
    }
    if json {
        let doc = serde_json::json!({
            "file": experiment.display().to_string(), "ok": true, "runs": plan.len(), "variants": variants,
        });
        say!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    say!(
        "{}: ok, {} grid point(s), {} run(s)",
        experiment.display(),
        sweep.variants.len(),
        plan.len()
    );
    for v in &sweep.variants {
        let set: Vec<String> = v.settings.iter().map(|(p, x)| format!("{p}={x}")).collect();
        say!("  {}: {}", v.name, set.join(", "));
    }
    Ok(())
}

/// One registry entry as JSON: name, summary and the defaults of every parameter.
fn registry_entry<T: serde::Serialize>(
    name: &str,
    summary: &str,
    spec: &T,
) -> anyhow::Result<serde_json::Value> {
    Ok(
        serde_json::json!({ "name": name, "summary": summary, "defaults": serde_json::to_value(spec)? }),
    )
}

/// `activepref policies`: the registries, with every parameter's default, and the scores.
fn policies(json: bool) -> anyhow::Result<()> {
    let pool = PolicySpec::all();
    let pair = PairPolicySpec::all();
    if json {
        let doc = serde_json::json!({
            "pool_policies": pool.iter().map(|p| registry_entry(p.name(), p.summary(), p)).collect::<anyhow::Result<Vec<_>>>()?,
            "pair_policies": pair.iter().map(|p| registry_entry(p.name(), p.summary(), p)).collect::<anyhow::Result<Vec<_>>>()?,
            "scores": UncertaintyScore::all().map(|s| serde_json::json!({ "name": s.name(), "summary": s.summary() })).collect::<Vec<_>>(),
        });
        say!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    say!(
        "POOL POLICIES (BAL-PM family), used in experiment files as `<label>: {{ policy: <name>, <param>: <value> }}`."
    );
    say!("Every parameter is optional; the line under each name shows the defaults.\n");
    for spec in &pool {
        say!(
            "{}\n    {}\n    {}\n",
            spec.name(),
            spec.summary(),
            flow_yaml(spec)?
        );
    }
    say!(
        "SCORES: the `score:` parameter above (the uncertainty u that policies rank, sample or trade off).\n"
    );
    for score in UncertaintyScore::all() {
        say!("{:<12}{}", score.name(), score.summary());
    }
    say!(
        "\nPAIR POLICIES (ActiveUltraFeedback family): one pair (a, b) of a prompt's n responses."
    );
    say!("Each runs in mode `reference` (the public code's behaviour) or `corrected` (default).\n");
    for spec in &pair {
        say!(
            "{}\n    {}\n    {}\n",
            spec.name(),
            spec.summary(),
            flow_yaml(spec)?
        );
    }
    Ok(())
}

/// A registry entry's defaults on one line of YAML flow syntax.
fn flow_yaml<T: serde::Serialize>(spec: &T) -> anyhow::Result<String> {
    let block = yaml_serde::to_string(spec)?;
    let fields: Vec<String> = block
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    Ok(format!("{{ {} }}", fields.join(", ")))
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
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the context chain on one line.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
