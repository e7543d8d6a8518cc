//! `bench-round --against`: a real run's recorded rounds, each modelled with the work it
//! really took, next to what they cost.

use std::path::Path;

use activepref_core::error::counted;
use activepref_model::TrainConfig;
use anyhow::{anyhow, bail};

use super::{BenchRoundArgs, RoundCost, UnitCosts, scheduled_cost, scored_comparisons};
use crate::say;

/// The schedule of the run `--against` names: its training configuration and its loop's length
/// and batch, from its `config.resolved.yaml` (or the bench's flags where that file is missing).
pub(super) struct RunPlan {
    /// The members' training: the schedule of rounds recorded before the work columns and of
    /// the rounds still to run.
    pub train: TrainConfig,
    /// Rounds in the whole run (`loop.rounds`).
    pub rounds: usize,
    /// Labels acquired per round (`loop.batch_size`).
    pub batch: usize,
}

impl RunPlan {
    /// The bench's own run: `train`, `--rounds`, `--batch`.
    pub(super) fn of_bench(args: &BenchRoundArgs, train: &TrainConfig) -> Self {
        RunPlan {
            train: train.clone(),
            rounds: args.rounds,
            batch: args.batch,
        }
    }

    /// The rounds after `last` (a recorded round) to the end of the run, each at the schedule's
    /// bound: round `last.round + i` trains on `last.labels + i · batch` labels, and the run's
    /// last round selects nothing. Empty where `last` was the run's last round.
    pub(super) fn rounds_to_go(
        &self,
        args: &BenchRoundArgs,
        u: &UnitCosts,
        last: &activepref_experiment::RecordedRound,
    ) -> Vec<RoundCost> {
        (last.round + 1..self.rounds)
            .map(|r| {
                let labels = last.labels + self.batch * (r - last.round);
                scheduled_cost(args, &self.train, u, labels, r + 1 < self.rounds)
            })
            .collect()
    }
}

/// The schedule of the run `--against` names, from its results directory's
/// `config.resolved.yaml`; `None` where that file is not beside `runs/` (a run's files copied
/// elsewhere: the bench's flags are then trusted).
///
/// # Errors
///
/// Where the bench cannot model the run with these flags: a pair-setting run, another network
/// than the paper's (which the bench measures), or another number of members, precision or
/// device than the flags give (each error names the flag to pass).
pub(super) fn against_config(
    args: &BenchRoundArgs,
    path: &Path,
) -> anyhow::Result<Option<RunPlan>> {
    let Some(resolved) = path
        .parent()
        .and_then(Path::parent)
        .map(|out| out.join("config.resolved.yaml"))
    else {
        return Ok(None);
    };
    let Ok(text) = std::fs::read_to_string(&resolved) else {
        return Ok(None);
    };
    let cfg = activepref_experiment::ExperimentConfig::parse_unchecked(&text, &resolved)
        .map_err(|e| anyhow!("--against: the run's configuration: {e}"))?;
    let run = path.display();
    if cfg.pair_loop.is_some() || !cfg.pair_policies.is_empty() {
        bail!(
            "--against: {run} is a pair-setting run ({}); bench-round models BAL-PM's pool loop: give a pool run's file",
            resolved.display()
        );
    }
    let (model, paper) = (&cfg.model, activepref_model::RewardMlpConfig::default());
    if (&model.mlp.hidden, model.mlp.activation) != (&paper.hidden, paper.activation) {
        bail!(
            "--against: {run} trained hidden layers {:?} ({}, {}); bench-round measures the paper's network, {:?} ({}), so it can only check runs of that one",
            model.mlp.hidden,
            format!("{:?}", model.mlp.activation).to_lowercase(),
            resolved.display(),
            paper.hidden,
            format!("{:?}", paper.activation).to_lowercase()
        );
    }
    let flag = |name: &str, run_value: String, bench: String| -> anyhow::Result<()> {
        if run_value != bench {
            bail!(
                "--against: {run} trained with {name} {run_value} ({}), the bench with {bench}; pass --{name} {run_value}",
                resolved.display()
            );
        }
        Ok(())
    };
    flag(
        "members",
        model.members.to_string(),
        args.members.to_string(),
    )?;
    flag(
        "precision",
        value_name(&model.precision),
        value_name(&args.precision),
    )?;
    flag(
        "device",
        value_name(&model.device),
        value_name(&args.device),
    )?;
    let (rounds, batch) = cfg
        .loop_
        .as_ref()
        .map_or((args.rounds, args.batch), |l| (l.rounds, l.batch_size));
    Ok(Some(RunPlan {
        train: model.train.clone(),
        rounds,
        batch,
    }))
}

/// How a flag's value is written on the command line (`libtorch_cuda`, `bf16`).
fn value_name(v: &impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

/// A recorded round modelled on the unit costs ([`UnitCosts::price`]): its steps and validation
/// passes, summed over the members as recorded, so divided by `members`; its scoring
/// ([`scored_comparisons`]) and its recorded selection; and whether its work came from the schedule instead (a round
/// recorded before the work columns).
pub(super) fn modelled_recorded(
    args: &BenchRoundArgs,
    train: &TrainConfig,
    u: &UnitCosts,
    r: &activepref_experiment::RecordedRound,
) -> (RoundCost, bool) {
    let members = args.members as f64;
    let (steps, evaluations, from_schedule) = match (r.train_steps, r.validation_passes) {
        (Some(s), Some(v)) => (s as f64 / members, v as f64 / members, false),
        _ => {
            let (s, v) = train.schedule(r.labels);
            (s as f64, v as f64, true)
        }
    };
    let scored = scored_comparisons(args, r.labels, r.selected);
    let cost = u.price((steps, evaluations), scored, r.select_secs);
    (cost, from_schedule)
}

/// `model` against `real` as a signed percentage; a dash where `real` is no positive time.
pub(super) fn relative(model: f64, real: f64) -> String {
    if real > 0.0 {
        format!("{:+.1}%", 100.0 * (model / real - 1.0))
    } else {
        "–".to_string()
    }
}

/// `--against`: every recorded round next to its model, and the totals; for a run not yet
/// finished, the whole run with the rounds to go at the schedule's bound.
pub(super) fn print_against(
    args: &BenchRoundArgs,
    plan: &RunPlan,
    u: &UnitCosts,
    recorded: &[activepref_experiment::RecordedRound],
) {
    let train = &plan.train;
    say!("");
    say!(
        "against {} (steps and evaluations: one member's, the members' mean):",
        args.against.as_deref().unwrap_or(Path::new("")).display()
    );
    say!(
        "| round | labels | steps | evaluations | training real / model | scoring real / model | round real / model | model vs real |"
    );
    say!("|---|---|---|---|---|---|---|---|");
    let (mut real_total, mut model_total, mut guessed) = (0.0, 0.0, false);
    for r in recorded {
        let (m, from_schedule) = modelled_recorded(args, train, u, r);
        guessed |= from_schedule;
        let real = r.train_secs + r.score_secs + r.select_secs;
        real_total += real;
        model_total += m.total();
        say!(
            "| {} | {} | {}{} | {} | {:.1} / {:.1} s | {:.1} / {:.1} s | {real:.1} / {:.1} s | {} |",
            r.round,
            r.labels,
            m.steps,
            if from_schedule { " (schedule)" } else { "" },
            m.evaluations,
            r.train_secs,
            m.train_steps + m.validation,
            r.score_secs,
            m.scoring,
            m.total(),
            relative(m.total(), real)
        );
    }
    say!(
        "| **{}** | | | | | | **{real_total:.1} / {model_total:.1} s** | **{}** |",
        counted(recorded.len(), "round", "rounds"),
        relative(model_total, real_total)
    );
    if guessed {
        say!(
            "(schedule): the round was recorded before timings had train_steps and validation_passes, so it is modelled without early stopping"
        );
    }
    // The whole run: only for a paused run's checkpoint (a finished run's timings copied without
    // its configuration would be priced as unfinished) whose rounds are all there from round 0.
    let paused = args
        .against
        .as_deref()
        .is_some_and(|p| p.to_string_lossy().ends_with(".state.json"));
    let Some(last) = recorded
        .last()
        .filter(|l| paused && l.round + 1 == recorded.len())
    else {
        return;
    };
    let to_go = plan.rounds_to_go(args, u, last);
    if !to_go.is_empty() {
        let rest: f64 = to_go.iter().map(RoundCost::total).sum();
        let to_go_rounds = match to_go.len() {
            1 => format!("round {}", last.round + 1),
            _ => format!("rounds {}–{}", last.round + 1, plan.rounds - 1),
        };
        say!(
            "the whole run ({}): the {} recorded, {:.2} h modelled with their work ({:.2} h real), then {to_go_rounds} at the schedule's bound, {:.2} h: **{:.1} h**, an upper bound that early stopping in the rounds to go can only lower",
            counted(plan.rounds, "round", "rounds"),
            recorded.len(),
            model_total / 3_600.0,
            real_total / 3_600.0,
            rest / 3_600.0,
            (model_total + rest) / 3_600.0
        );
    }
}
