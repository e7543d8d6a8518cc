//! `bench-round --against`: a real run's recorded rounds, each modelled with the work it
//! really took, next to what they cost.

use std::path::Path;

use activepref_model::TrainConfig;
use anyhow::{anyhow, bail};

use super::{BenchRoundArgs, RoundCost, UnitCosts, scored_comparisons};
use crate::say;

/// The training configuration of the run `--against` names, from its results directory's
/// `config.resolved.yaml` (the schedule of rounds recorded before the work columns); `None` where
/// that file is not beside `runs/` (a run's files copied elsewhere: the bench's flags are then
/// trusted).
///
/// # Errors
///
/// Where the bench cannot model the run with these flags: a pair-setting run, another network
/// than the paper's (which the bench measures), or another number of members, precision or
/// device than the flags give (each error names the flag to pass).
pub(super) fn against_config(
    args: &BenchRoundArgs,
    path: &Path,
) -> anyhow::Result<Option<TrainConfig>> {
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
    Ok(Some(model.train.clone()))
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

/// `--against`: every recorded round next to its model, and the totals.
pub(super) fn print_against(
    args: &BenchRoundArgs,
    train: &TrainConfig,
    u: &UnitCosts,
    recorded: &[activepref_experiment::RecordedRound],
) {
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
        "| **{} rounds** | | | | | | **{real_total:.1} / {model_total:.1} s** | **{}** |",
        recorded.len(),
        relative(model_total, real_total)
    );
    if guessed {
        say!(
            "(schedule): the round was recorded before timings had train_steps and validation_passes, so it is modelled without early stopping"
        );
    }
}
