//! `activepref`: the command-line front end. A thin layer over the library crates: it parses
//! arguments, sets the thread count, and prints one-line errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use activepref_acquire::{PairPolicySpec, policy_docs};
use activepref_experiment::{ExperimentConfig, RunOptions, run_experiment};
use activepref_report::{ReportOptions, write_report};
use clap::{Parser, Subcommand};

/// `println!` that ignores a closed stdout (`activepref policies | head` must not panic).
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
    after_help = "Examples:\n  activepref run experiments/quickstart.yaml        random vs BALD vs BAL-PM, 5 seeds (~1 min on 2 cores)\n  activepref run experiments/balpm-ablations.yaml   13 BAL-PM baselines and ablations\n  activepref run experiments/auf-pairs.yaml         ActiveUltraFeedback pair selection\n  activepref validate experiments/quickstart.yaml   check a file without running it\n  activepref report results/quickstart              remake plots and tables\n  activepref policies                               every policy, its parameters and defaults"
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
            say!("{}: ok", experiment.display());
            if let (Some(bench), Some(lp)) = (cfg.build_pool_benchmark(), &cfg.loop_) {
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
            if let (Some(bench), Some(lp)) = (cfg.build_pair_benchmark(), &cfg.pair_loop) {
                say!(
                    "  {}: {} stream prompts x {} responses, {} validation and {} held-out prompts",
                    bench.name,
                    bench.stream.len(),
                    bench.stream[0].judge.len(),
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
            Ok(())
        }
        Command::Report { results, window } => {
            let resolved = results.join("config.resolved.yaml");
            let text = std::fs::read_to_string(&resolved)
                .map_err(|e| format!("{}: cannot read ({e}); is {} a directory written by `activepref run`?", resolved.display(), results.display()))?;
            let cfg = ExperimentConfig::parse_unchecked(&text, &resolved).map_err(|e| e.to_string())?;
            report(&results, &cfg, window)
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
