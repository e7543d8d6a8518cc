//! `activepref bench-round`: a paper-scale BAL-PM run modelled stage by stage from unit costs
//! measured on this machine and the exact training schedule, or checked round by round against a
//! real run's recorded work (`--against`).

use std::path::PathBuf;

use activepref_benches::{cpu_model, sgemm_gflops};
use activepref_core::error::counted;
use activepref_model::{ComputeDevice, Precision, TrainConfig, TrainingStrategy};
use anyhow::{anyhow, bail};

mod against;

use super::bench_knn::timed;
use super::bench_model::{forward_flops, mlp_widths, one_epoch_fit};
use crate::say;
use against::{RunPlan, against_config, print_against};

/// `activepref bench-round`: what one BAL-PM run at paper scale costs on this machine, stage by
/// stage, from measured unit costs and the exact training schedule.
#[derive(clap::Args, Debug)]
pub struct BenchRoundArgs {
    /// Labelled sizes whose rounds are shown (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = crate::whole_number, allow_negative_numbers = true, default_value = "320,8000,16000,24000")]
    pub labels: Vec<usize>,
    /// Rounds in the run; round r trains on `batch × (r + 1)` labels.
    #[arg(long, default_value_t = 75, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub rounds: usize,
    /// Labels acquired per round (and the initial random set).
    #[arg(long, default_value_t = 320, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub batch: usize,
    /// Pool comparisons: the paper's experiment files cap TL;DR's 92,858 train comparisons at
    /// 92,000.
    #[arg(long, default_value_t = 92_000, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub pool: usize,
    /// Validation comparisons, evaluated by every member at every evaluation (a run's
    /// `loop.validation_size` caps them: e.g. `--validation 8000` measures that cap).
    #[arg(long, default_value_t = 33_083, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub validation: usize,
    /// Test comparisons, scored every round.
    #[arg(long, default_value_t = 50_719, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub test: usize,
    /// Out-of-distribution test comparisons (CNN/DM), scored every round.
    #[arg(long, default_value_t = 2_284, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub ood: usize,
    /// Pair-feature dimension.
    #[arg(long, default_value_t = 4_096, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub dim: usize,
    /// Ensemble members.
    #[arg(long, default_value_t = 5, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub members: usize,
    /// Optimiser steps timed (the cost of a step does not depend on the labelled size); an epoch
    /// of a quarter of them is timed first, to price what a fit costs whatever its steps.
    #[arg(long, default_value_t = 100, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub steps: usize,
    /// Comparisons scored to time scoring (the cost is linear in rows).
    #[arg(long, default_value_t = 8_192, value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub score_pairs: usize,
    /// Seconds of selection and I/O per round, from a real run's `runs/*.timings.csv`
    /// (`select_secs`); BAL-PM with its kNN index built takes well under a second.
    #[arg(long, default_value_t = 0.3)]
    pub select_secs: f64,
    /// Model `train.strategy: { kind: warm_start, epochs: N }`: every round continues from the
    /// previous round's weights for N epochs with one validation pass (default: full retraining
    /// from scratch with early stopping, the paper's configuration).
    #[arg(long, value_name = "EPOCHS", value_parser = crate::whole_number, allow_negative_numbers = true)]
    pub warm_start: Option<usize>,
    /// Model `model.precision`: `bf16` times the optimiser steps and the validation passes with
    /// bf16 matmuls (f32 accumulation, f32 master weights, as the reference's Trainer trains and
    /// evaluates under autocast); scoring stays f32. See docs/performance.md, "bf16 training".
    #[arg(long, value_enum, default_value_t = Precision::F32)]
    pub precision: Precision,
    /// The share of distinct (prompt, response) rows among the scored and validation rows, in
    /// (0, 1]: below 1, each distinct row repeats across comparisons (within and across
    /// responses A and B, as TL;DR's summaries do), and the first layer runs once per distinct
    /// row (docs/performance.md, "Repeated rows"). 1 (the default) is the synthetic benchmark's
    /// case.
    #[arg(long, default_value_t = 1.0)]
    pub distinct_rows: f64,
    /// Compute device of the training steps, validation passes and scoring (`model.device`):
    /// cpu (burn's flex backend, the dense paths), or a GPU in a build with its feature
    /// (vulkan, cuda, libtorch_cuda; README, "Backends").
    #[arg(long, value_enum, default_value_t = ComputeDevice::Cpu)]
    pub device: ComputeDevice,
    /// A real pool run (BAL-PM, BALD, random, ...) to check the model against, round by round: a
    /// paused run's `runs/<stem>.state.json` or a finished run's `runs/<stem>.timings.csv`. Each
    /// of its rounds is modelled with the steps and validation passes it really took (its
    /// `train_steps` and `validation_passes`, so early stopping is priced as it happened; a round
    /// recorded before those columns takes the run's schedule), its labelled size, whether it
    /// scored the pool (every round but the last) and its recorded selection time. The run's
    /// `config.resolved.yaml` beside `runs/` is checked: a pair-setting run, another network than
    /// the paper's, or other --members, --precision or --device than the run's are refused;
    /// --pool, --validation, --test, --ood and --dim must describe the run too. For a run not yet
    /// finished it also prints the whole run: the recorded rounds as modelled, the rounds to go
    /// (to the run's `loop.rounds`) at the schedule's bound.
    #[arg(long, value_name = "FILE")]
    pub against: Option<PathBuf>,
}

/// One round's modelled seconds per stage.
#[derive(Clone, Copy, Default)]
struct RoundCost {
    steps: usize,
    evaluations: usize,
    train_steps: f64,
    validation: f64,
    scoring: f64,
    selection: f64,
}

impl RoundCost {
    fn total(&self) -> f64 {
        self.train_steps + self.validation + self.scoring + self.selection
    }
}

/// Measured unit costs: seconds per optimiser step of the whole ensemble (members in parallel, as
/// `fit` trains them), per fit whatever its steps (initialising the members, their optimiser
/// state, the fitted ensemble), per validation pass of the whole ensemble, per comparison scored.
#[derive(Clone, Copy)]
struct UnitCosts {
    step: f64,
    per_fit: f64,
    validation_pass: f64,
    per_comparison: f64,
}

impl UnitCosts {
    /// A round of `steps` optimiser steps and `evaluations` validation passes (one member's, so
    /// the ensemble's unit costs apply; a member's mean where they come from a run), `scored`
    /// comparisons scored and `selection` seconds selecting. A round that trained nothing (the
    /// whole-dataset bound's cached fit) pays no fit.
    fn price(&self, (steps, evaluations): (f64, f64), scored: usize, selection: f64) -> RoundCost {
        RoundCost {
            steps: steps.round() as usize,
            evaluations: evaluations.round() as usize,
            train_steps: if steps > 0.0 { self.per_fit } else { 0.0 } + steps * self.step,
            validation: evaluations * self.validation_pass,
            scoring: scored as f64 * self.per_comparison,
            selection,
        }
    }
}

/// Comparisons a round on `labels` labels scores: the test and OOD splits every round, and the
/// pool left where it selects a batch (every round but a run's last).
fn scored_comparisons(args: &BenchRoundArgs, labels: usize, selects: bool) -> usize {
    let pool_left = if selects {
        args.pool.saturating_sub(labels)
    } else {
        0
    };
    args.test + args.ood + pool_left
}

/// Round `r` of the bench's run (`--batch × (r + 1)` labels, `--rounds` rounds) at the schedule's
/// bound ([`scheduled_cost`]).
fn round_cost(args: &BenchRoundArgs, train: &TrainConfig, u: &UnitCosts, r: usize) -> RoundCost {
    scheduled_cost(args, train, u, args.batch * (r + 1), r + 1 < args.rounds)
}

/// A round on `labels` labels at the schedule's bound (all its planned steps and evaluations, no
/// early stopping), selecting a batch (`--select-secs`, the pool scored) where `selects`.
fn scheduled_cost(
    args: &BenchRoundArgs,
    train: &TrainConfig,
    u: &UnitCosts,
    labels: usize,
    selects: bool,
) -> RoundCost {
    let (steps, evaluations) = train.schedule(labels);
    u.price(
        (steps as f64, evaluations as f64),
        scored_comparisons(args, labels, selects),
        if selects { args.select_secs } else { 0.0 },
    )
}

/// `activepref bench-round`: measures the unit costs on the paper's shapes, then models every
/// round of the schedule and prints the table.
pub fn bench_round(args: &BenchRoundArgs) -> anyhow::Result<()> {
    let train = checked_round_args(args)?;
    // A device this build lacks fails here, before any measurement.
    args.device
        .burn_device()
        .map_err(|e| anyhow!("--device: {e}"))?;
    // A run to compare with is read before minutes of measurement, so a wrong path fails now.
    let (recorded, run_plan) = match &args.against {
        Some(path) => {
            let recorded = activepref_experiment::read_recorded_rounds(path)
                .map_err(|e| anyhow!("--against: {e}"))?;
            (recorded, against_config(args, path)?)
        }
        None => (vec![], None),
    };
    print_round_header(args, &train);
    let u = measure_unit_costs(args, &train)?;
    print_round_table(args, &train, &u);
    print_other_strategy(args, &train, &u);
    print_validation_cap(args, &train, &u);
    if !recorded.is_empty() {
        let plan = run_plan.unwrap_or_else(|| RunPlan::of_bench(args, &train));
        print_against(args, &plan, &u, &recorded);
    }
    // A second reading: where a VM's speed moved during the bench, the unit costs moved with it.
    say!(
        "sgemm 2048³ again after the measurements: {:.1} GFLOP/s (the unit costs were measured between the two readings)",
        sgemm_gflops(2_048)
    );
    Ok(())
}

/// Checks `bench-round`'s flags; the training schedule they ask for.
fn checked_round_args(args: &BenchRoundArgs) -> anyhow::Result<TrainConfig> {
    crate::bounded("--rounds", args.rounds, 1, 10_000)?;
    crate::bounded("--batch", args.batch, 1, 1_000_000)?;
    crate::bounded("--dim", args.dim, 1, 65_536)?;
    crate::bounded("--members", args.members, 1, 1_000)?;
    crate::bounded("--steps", args.steps, 1, 1_000_000)?;
    crate::bounded("--score-pairs", args.score_pairs, 1, 10_000_000)?;
    crate::bounded("--validation", args.validation, 1, 10_000_000)?;
    crate::bounded("--pool", args.pool, 1, 10_000_000)?;
    crate::bounded("--test", args.test, 0, 10_000_000)?;
    crate::bounded("--ood", args.ood, 0, 10_000_000)?;
    if !(args.distinct_rows > 0.0 && args.distinct_rows <= 1.0) {
        anyhow::bail!(
            "--distinct-rows: {} is not a share in (0, 1]; use e.g. 0.5 for rows that appear twice on average",
            args.distinct_rows
        );
    }
    for &labels in &args.labels {
        if labels == 0 || !labels.is_multiple_of(args.batch) || labels / args.batch > args.rounds {
            bail!(
                "--labels: {labels} is not a round's labelled size (a multiple of --batch {} up to {})",
                args.batch,
                args.batch * args.rounds
            );
        }
    }
    if args.batch * args.rounds > args.pool {
        bail!(
            "--pool: {} comparisons cannot supply {} of {}; raise --pool or lower --rounds",
            args.pool,
            counted(args.rounds, "round", "rounds"),
            args.batch
        );
    }
    if !(0.0..=3_600.0).contains(&args.select_secs) {
        bail!(
            "--select-secs: {} is not between 0 and 3600",
            args.select_secs
        );
    }
    if let Some(epochs) = args.warm_start {
        crate::bounded("--warm-start", epochs, 1, 100_000)?;
    }
    Ok(TrainConfig {
        strategy: args
            .warm_start
            .map_or(TrainingStrategy::FullRetrain, |epochs| {
                TrainingStrategy::WarmStart { epochs }
            }),
        ..TrainConfig::default()
    })
}

/// The machine, the kernels and the shapes.
fn print_round_header(args: &BenchRoundArgs, train: &TrainConfig) {
    say!(
        "machine: {}, {} threads; sgemm 2048³ (gemm crate): {:.1} GFLOP/s",
        cpu_model(),
        rayon::current_num_threads(),
        sgemm_gflops(2_048)
    );
    say!("kernels: {}", activepref_benches::kernel_class());
    if args.device != ComputeDevice::Cpu {
        use clap::ValueEnum as _;
        let name = args
            .device
            .to_possible_value()
            .map(|v| v.get_name().to_string());
        say!(
            "device: {} (training steps, validation passes and scoring run there through burn's forward and autodiff; the sgemm rates are the CPU's)",
            name.unwrap_or_default()
        );
    }
    let widths: Vec<String> = mlp_widths(args.dim).iter().map(usize::to_string).collect();
    let plan = match train.strategy {
        TrainingStrategy::FullRetrain => format!(
            "retrained from scratch each round, up to {} epochs, an evaluation every {} steps and at each epoch end",
            train.max_epochs, train.eval_every_steps
        ),
        TrainingStrategy::WarmStart { epochs } => format!(
            "warm-started from the previous round, {} a round, one evaluation after the last step",
            counted(epochs, "epoch", "epochs")
        ),
    };
    say!(
        "shapes: {} members of {}; batch {}; {plan}; training steps and validation passes in {}, scoring in f32",
        args.members,
        widths.join(" → "),
        train.batch_size,
        precision_name(args.precision),
    );
    if args.distinct_rows < 1.0 {
        say!(
            "rows: {:.0}% of the scored and validation (prompt, response) rows are distinct; each distinct row goes through the first layer once per pass",
            args.distinct_rows * 100.0
        );
    }
}

/// `model.precision`'s name in the YAML.
fn precision_name(p: Precision) -> &'static str {
    match p {
        Precision::F32 => "f32",
        Precision::Bf16 => "bf16",
    }
}

/// One optimiser step, one validation pass and scoring, timed on the paper's shapes.
fn measure_unit_costs(args: &BenchRoundArgs, train: &TrainConfig) -> anyhow::Result<UnitCosts> {
    use activepref_benches::random_split_repeating;
    // Optimiser steps: one epoch of a quarter of `steps` batches, then one of `steps`, so that
    // what a fit costs whatever its steps is priced once per round, not per step.
    let fit = |steps: usize| {
        let pairs = steps * train.batch_size;
        one_epoch_fit(args.members, args.dim, pairs, args.device, args.precision)
    };
    let short = args.steps / 4;
    let short_secs = if short > 0 { Some(fit(short)?.1) } else { None };
    let (fitted, secs) = fit(args.steps)?;
    let split = short_secs.and_then(|t| split_fit_cost(secs, args.steps, (t, short)));
    let (step, per_fit) = split.unwrap_or((secs / args.steps as f64, 0.0));
    say!(
        "optimiser step (all members): {:.1} ms; per fit, whatever its steps: {per_fit:.2} s",
        step * 1e3
    );
    if split.is_none() && short > 0 {
        say!(
            "  (the fits of {short} and {} steps gave no positive cost per step and non-negative cost per fit, the machine's speed moved between them: all of the longer fit's time is read as steps)",
            args.steps
        );
    }
    // Scoring (f32 whatever `model.precision` is, as in a run).
    let scored = random_split_repeating(args.score_pairs, args.dim, args.distinct_rows, 4);
    // Off the CPU backend (a GPU compiles its kernels at their first use) one untimed pass on
    // each split runs first.
    let gpu = args.device != ComputeDevice::Cpu;
    if gpu {
        std::hint::black_box(fitted.predict(&scored, None));
    }
    let (_, score) = timed(|| std::hint::black_box(fitted.predict(&scored, None)));
    drop(scored);
    let per_comparison = score / args.score_pairs as f64;
    // Both responses of a comparison, every member.
    let flops = 2.0 * args.members as f64 * forward_flops(args.dim);
    // A validation pass: every member on both responses of every validation comparison, in
    // `model.precision`, as a fit runs it.
    let fitted = fitted.with_precision(args.precision);
    let validation = random_split_repeating(args.validation, args.dim, args.distinct_rows, 3);
    if gpu {
        std::hint::black_box(fitted.predict(&validation, None));
    }
    let validation_pass = fitted.time_validation_pass(&validation);
    drop(validation);
    say!(
        "validation pass ({} comparisons, all members, {}): {validation_pass:.2} s",
        args.validation,
        precision_name(args.precision)
    );
    say!(
        "scoring (f32): {:.1} µs per comparison ({:.1} GFLOP/s)",
        per_comparison * 1e6,
        flops / per_comparison / 1e9
    );
    Ok(UnitCosts {
        step,
        per_fit,
        validation_pass,
        per_comparison,
    })
}

/// Seconds per optimiser step and per fit from a fit of `steps` steps taking `secs` and one of
/// `short` steps taking `short_secs`: the line through both. `None` where the two do not give a
/// positive cost per step and a non-negative one per fit (a VM's speed moved between them), or
/// the short fit is not shorter.
fn split_fit_cost(
    secs: f64,
    steps: usize,
    (short_secs, short): (f64, usize),
) -> Option<(f64, f64)> {
    if short >= steps {
        return None;
    }
    let step = (secs - short_secs) / (steps - short) as f64;
    let per_fit = secs - step * steps as f64;
    (step > 0.0 && per_fit >= 0.0).then_some((step, per_fit))
}

/// The per-round table at the chosen labelled sizes and the modelled totals per stage.
fn print_round_table(args: &BenchRoundArgs, train: &TrainConfig, u: &UnitCosts) {
    let costs: Vec<RoundCost> = (0..args.rounds)
        .map(|r| round_cost(args, train, u, r))
        .collect();
    say!("");
    say!(
        "| labels | steps | evaluations | optimiser steps | validation | scoring | selection | round |"
    );
    say!("|---|---|---|---|---|---|---|---|");
    for &labels in &args.labels {
        let c = costs[labels / args.batch - 1];
        say!(
            "| {labels} | {} | {} | {:.0} s | {:.0} s | {:.0} s | {:.1} s | {:.0} s |",
            c.steps,
            c.evaluations,
            c.train_steps,
            c.validation,
            c.scoring,
            c.selection,
            c.total()
        );
    }
    let sum = |f: fn(&RoundCost) -> f64| costs.iter().map(f).sum::<f64>() / 3_600.0;
    let total = sum(RoundCost::total);
    let share = |h: f64| 100.0 * h / total;
    let (st, va, sc, se) = (
        sum(|c| c.train_steps),
        sum(|c| c.validation),
        sum(|c| c.scoring),
        sum(|c| c.selection),
    );
    say!(
        "| **{}** | {} | {} | **{st:.1} h** ({:.0}%) | **{va:.1} h** ({:.0}%) | **{sc:.1} h** ({:.0}%) | {se:.2} h | **{total:.1} h** |",
        counted(args.rounds, "round", "rounds"),
        costs.iter().map(|c| c.steps).sum::<usize>(),
        costs.iter().map(|c| c.evaluations).sum::<usize>(),
        share(st),
        share(va),
        share(sc),
    );
    say!(
        "modelled without early stopping (an upper bound); steps and evaluations are one member's"
    );
}

/// The other training strategy on the same unit costs, so the two read side by side.
fn print_other_strategy(args: &BenchRoundArgs, train: &TrainConfig, u: &UnitCosts) {
    let other = TrainConfig {
        strategy: match train.strategy {
            TrainingStrategy::FullRetrain => TrainingStrategy::WarmStart { epochs: 1 },
            TrainingStrategy::WarmStart { .. } => TrainingStrategy::FullRetrain,
        },
        ..train.clone()
    };
    let other_total: f64 = (0..args.rounds)
        .map(|r| round_cost(args, &other, u, r).total())
        .sum();
    say!(
        "the same run with `train.strategy: {}`: {:.1} h",
        match other.strategy {
            TrainingStrategy::FullRetrain => "full_retrain".to_string(),
            TrainingStrategy::WarmStart { epochs } =>
                format!("{{ kind: warm_start, epochs: {epochs} }}"),
        },
        other_total / 3_600.0
    );
}

/// The same run with `loop.validation_size: 8000` on the same unit costs: a validation pass
/// scaled by its comparisons (a pass is GEMM rows, linear in them; `--validation 8000` measures
/// it instead). Printed only when the bench's validation split is larger.
fn print_validation_cap(args: &BenchRoundArgs, train: &TrainConfig, u: &UnitCosts) {
    const CAP: usize = 8_000;
    if args.validation <= CAP {
        return;
    }
    let capped = UnitCosts {
        validation_pass: u.validation_pass * CAP as f64 / args.validation as f64,
        ..*u
    };
    let total: f64 = (0..args.rounds)
        .map(|r| round_cost(args, train, &capped, r).total())
        .sum();
    say!(
        "the same run with `loop.validation_size: {CAP}` (not the paper's: early stopping on a seeded subset; validation passes scaled by their comparisons): {:.1} h",
        total / 3_600.0
    );
}

#[cfg(test)]
mod tests {
    use super::against::{RunPlan, modelled_recorded, relative};
    use super::*;
    use activepref_experiment::RecordedRound;

    /// bench-round's default flags, their training schedule, and round unit costs to price by
    /// hand: 0.1 s a step, 0.5 s a fit, 30 s a validation pass, 1 ms a comparison.
    fn defaults_and_unit_costs() -> (BenchRoundArgs, TrainConfig, UnitCosts) {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: BenchRoundArgs,
        }
        let args = <Cli as clap::Parser>::parse_from(["bench-round"]).args;
        let train = checked_round_args(&args).unwrap();
        let u = UnitCosts {
            step: 0.1,
            per_fit: 0.5,
            validation_pass: 30.0,
            per_comparison: 1e-3,
        };
        (args, train, u)
    }

    /// A recorded round is priced with the work it recorded (summed over 5 members: 1,300 steps
    /// and 13 validation passes each), its labelled size and its selection time; one recorded
    /// before the work columns with the schedule's.
    #[test]
    fn a_recorded_round_is_modelled_with_its_own_work() {
        let (args, train, u) = defaults_and_unit_costs();
        let mut r = RecordedRound {
            round: 0,
            labels: 16_000,
            train_secs: 500.0,
            score_secs: 113.0,
            select_secs: 1.0,
            train_steps: Some(6_500),
            validation_passes: Some(65),
            selected: true,
        };
        let (m, from_schedule) = modelled_recorded(&args, &train, &u, &r);
        assert!(!from_schedule);
        assert_eq!((m.steps, m.evaluations), (1_300, 13));
        // 0.5 + 1,300 × 0.1; 13 × 30; (50,719 test + 2,284 OOD + 76,000 left in the pool) × 1e-3.
        let want = [130.5, 390.0, 129.003, 1.0];
        let got = [m.train_steps, m.validation, m.scoring, m.selection];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{got:?}");
        }
        // The last round (no batch selected) scores the test and OOD splits only; a round that
        // trained nothing pays no fit.
        (r.selected, r.train_steps, r.validation_passes) = (false, Some(0), Some(0));
        let (m, _) = modelled_recorded(&args, &train, &u, &r);
        let got = [m.train_steps, m.validation, m.scoring];
        for (g, w) in got.iter().zip([0.0, 0.0, 53.003]) {
            assert!((g - w).abs() < 1e-9, "{got:?}");
        }
        assert_eq!(relative(m.total(), 0.0), "–");
        assert_eq!(relative(110.0, 100.0), "+10.0%");
        (r.train_steps, r.validation_passes) = (None, None);
        let (m, from_schedule) = modelled_recorded(&args, &train, &u, &r);
        assert!(from_schedule);
        assert_eq!((m.steps, m.evaluations), train.schedule(16_000));
    }

    /// A paused run's rounds to go are priced at the schedule's bound from the last recorded
    /// round's labels on, and the run's last round selects nothing.
    #[test]
    fn the_rounds_to_go_of_a_paused_run_are_priced_at_the_schedules_bound() {
        let (args, train, u) = defaults_and_unit_costs();
        let plan = RunPlan {
            train,
            rounds: 3,
            batch: 320,
        };
        let mut last = RecordedRound {
            round: 0,
            labels: 320,
            train_secs: 100.0,
            score_secs: 140.0,
            select_secs: 0.2,
            train_steps: Some(200),
            validation_passes: Some(20),
            selected: true,
        };
        let to_go = plan.rounds_to_go(&args, &u, &last);
        // 640 labels: 20 steps an epoch, 80 in all, evaluations at 20, 40, 60, 80; 960 labels:
        // 120 steps, evaluations at 30, 60, 90, 100, 120.
        let work: Vec<_> = to_go.iter().map(|c| (c.steps, c.evaluations)).collect();
        assert_eq!(work, [(80, 4), (120, 5)]);
        // 0.5 + 80 × 0.1 + 4 × 30 + (50,719 + 2,284 + 92,000 − 640) × 1e-3 + 0.3 (selecting);
        // the last round 0.5 + 120 × 0.1 + 5 × 30 + (50,719 + 2,284) × 1e-3.
        for (c, want) in to_go.iter().zip([273.163, 215.503]) {
            assert!((c.total() - want).abs() < 1e-9, "{}", c.total());
        }
        last.round = 2;
        assert!(plan.rounds_to_go(&args, &u, &last).is_empty());
    }

    #[test]
    fn a_fit_splits_into_steps_and_a_fixed_cost() {
        // 25 steps in 3.6 s and 100 in 10.7 s: 7.1 s for 75 steps, 1.2333 s per fit.
        let (step, per_fit) = split_fit_cost(10.7, 100, (3.6, 25)).unwrap();
        assert!((step - 7.1 / 75.0).abs() < 1e-12, "{step}");
        assert!(
            (per_fit - (10.7 - 100.0 * 7.1 / 75.0)).abs() < 1e-12,
            "{per_fit}"
        );
        // A short fit no shorter, one that took longer (the VM slowed down) or a line through a
        // negative fixed cost: no split.
        assert_eq!(split_fit_cost(10.0, 100, (9.0, 100)), None);
        assert_eq!(split_fit_cost(10.0, 100, (11.0, 25)), None);
        assert_eq!(split_fit_cost(10.0, 100, (1.0, 25)), None);
    }
}
