//! `activepref validate`: checks an experiment file (every field, and the benchmark built and
//! checked against the loop sizes) without running it.

use std::path::{Path, PathBuf};

use activepref_core::error::counted;
use activepref_core::{PairBenchmark, PoolBenchmark};
use activepref_experiment::{Experiment, PairSetting, PoolSetting, Setting, SlowNotice, Sweep};
use anyhow::anyhow;

use crate::say;

/// The arguments of `activepref validate`.
#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The experiment file.
    pub experiment: PathBuf,
    /// Print the result as one JSON object (a failure as {"ok": false, "error": ...}).
    #[arg(long)]
    pub json: bool,
}

/// What `validate` prints: lines for a person, one JSON object for a program.
struct Summary {
    lines: Vec<String>,
    json: serde_json::Value,
}

/// `activepref validate`: builds the benchmark and prints what would run.
pub fn run(a: &ValidateArgs) -> anyhow::Result<()> {
    let experiment = &a.experiment;
    let sweep = Sweep::load(experiment)?;
    super::slurm_resources::SlurmResources::of_file(experiment)?;
    if sweep.variants.len() > 1 || sweep.variants.iter().any(|v| !v.name.is_empty()) {
        return validate_sweep(experiment, &sweep, a.json);
    }
    let Some(variant) = sweep.variants.into_iter().next() else {
        return Err(anyhow!("{}: no experiment", experiment.display()));
    };
    let exp = variant.config;
    let mut s = Summary {
        lines: vec![format!("{}: ok", experiment.display())],
        json: serde_json::json!({
            "file": experiment.display().to_string(),
            "ok": true,
            "name": exp.common.name,
            "seeds": exp.common.seeds,
            "members": exp.common.model.members,
        }),
    };
    let notice = SlowNotice::start(format!(
        "{}: building the benchmark ({}) to check it against the loop sizes",
        experiment.display(),
        exp.benchmark_kind()
    ));
    let located = |e| anyhow!("{}: {e}", experiment.display());
    exp.check_data()
        .map_err(|e| located(e.within("benchmark")))?;
    match &exp.setting {
        Setting::Pool(p) => {
            let bench = p.build_benchmark(&exp.common.name).map_err(located)?;
            drop(notice);
            describe_pool(&exp, p, &bench, &mut s)?;
        }
        Setting::Pair(p) => {
            let bench = p.build_benchmark(&exp.common.name).map_err(located)?;
            drop(notice);
            describe_pair(&exp, p, &bench, &mut s)?;
        }
    }
    let precision = exp.common.model.precision;
    s.json["precision"] = serde_json::to_value(precision)?;
    if precision == activepref_model::Precision::Bf16 {
        s.lines.push(
            "  precision: bf16 training steps and validation passes, f32 master weights (scoring and metrics in f32)"
                .into(),
        );
    }
    if a.json {
        say!("{}", serde_json::to_string_pretty(&s.json)?);
    } else {
        for l in s.lines {
            say!("{l}");
        }
    }
    Ok(())
}

/// The pool setting's benchmark and loop, for `validate`.
fn describe_pool(
    exp: &Experiment,
    p: &PoolSetting,
    bench: &PoolBenchmark,
    s: &mut Summary,
) -> anyhow::Result<()> {
    let lp = &p.loop_config;
    s.lines.push(format!("  {bench}"));
    s.lines.push(format!(
        "  {} x {}, {}, {}",
        counted(p.policies.len(), "policy", "policies"),
        counted(exp.common.seeds.len(), "seed", "seeds"),
        // Round r trains on the initial labels and r batches: one round acquires nothing.
        if lp.rounds == 1 {
            format!(
                "1 round ({} initial labels, no batch acquired)",
                lp.initial_labels
            )
        } else {
            format!(
                "{}, {} initial + {} per round",
                counted(lp.rounds, "round", "rounds"),
                lp.initial_labels,
                lp.batch_size
            )
        },
        counted(exp.common.model.members, "member", "members")
    ));
    if let Some(cap) = lp.validation_cap(bench.validation.len()) {
        s.lines.push(format!(
            "  early stopping on a seeded subset of {cap} of the {} validation comparisons (loop.validation_size; the paper uses all)",
            bench.validation.len()
        ));
    }
    s.json["setting"] = exp.setting.name().into();
    s.json["benchmark"] = serde_json::json!({
        "name": bench.name,
        "pool": bench.pool.len(),
        "validation": bench.validation.len(),
        "test": bench.test.len(),
        "ood": bench.ood.len(),
        "pair_dim": bench.pair_dim(),
        "prompt_dim": bench.pool.prompt.dim(),
    });
    s.json["policies"] = p.policies.keys().cloned().collect::<Vec<_>>().into();
    s.json["loop"] = serde_json::to_value(lp)?;
    describe_oracle_and_stopping(exp, &lp.oracle, s)
}

/// The oracle (when it is not the papers') and the stopping rules, for `validate`.
fn describe_oracle_and_stopping(
    exp: &Experiment,
    oracle: &activepref_loop::OracleConfig,
    s: &mut Summary,
) -> anyhow::Result<()> {
    if !oracle.is_default() {
        s.lines.push(format!("  oracle: {}", oracle_words(oracle)));
    }
    let rules = &exp.common.report.stopping;
    if !rules.is_empty() {
        let names: Vec<&str> = rules.iter().map(|r| r.name()).collect();
        s.lines.push(format!(
            "  stopping rules (evaluated in report/stopping.md): {}",
            names.join(", ")
        ));
    }
    s.json["stopping"] = serde_json::to_value(rules)?;
    Ok(())
}

/// A non-default oracle in words, as `validate` prints it: `the dataset's label; answers flipped
/// with probability 0.1; each label costs 10 + 0.25 per prompt word + 0.25 per response word`.
fn oracle_words(o: &activepref_loop::OracleConfig) -> String {
    use activepref_loop::OracleKind;
    let mut parts = vec![match o.kind {
        OracleKind::Dataset => "the dataset's label".to_string(),
        OracleKind::BradleyTerry => {
            format!("Bradley-Terry draws from σ(gap / {})", o.temperature)
        }
    }];
    if o.flip > 0.0 {
        parts.push(format!("answers flipped with probability {}", o.flip));
    }
    if let Some(t) = &o.ties {
        let policy: &str = t.policy.into();
        parts.push(format!("|gap| < {} is a tie ({policy})", t.margin));
    }
    if let Some(c) = &o.cost {
        parts.push(format!(
            "each label costs {} + {} per prompt word + {} per response word",
            c.per_label, c.per_prompt_word, c.per_response_word
        ));
    }
    parts.join("; ")
}

/// The pair setting's benchmark and loop, for `validate`.
fn describe_pair(
    exp: &Experiment,
    p: &PairSetting,
    bench: &PairBenchmark,
    s: &mut Summary,
) -> anyhow::Result<()> {
    let lp = &p.loop_config;
    let n: Vec<usize> = bench.stream.iter().map(|p| p.judge.len()).collect();
    let (lo, hi) = (
        n.iter().min().copied().unwrap_or(0),
        n.iter().max().copied().unwrap_or(0),
    );
    let per_prompt = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    };
    s.lines.push(format!(
        "  {}: {} stream prompts x {per_prompt} responses, {} validation and {} held-out prompts",
        bench.name,
        bench.stream.len(),
        bench.validation.len(),
        bench.heldout.len()
    ));
    s.lines.push(format!(
        "  {} x {}, {} of {} ({}{}), mode {}, {}",
        counted(p.policies.len(), "pair policy", "pair policies"),
        counted(exp.common.seeds.len(), "seed", "seeds"),
        counted(lp.rounds_for(bench.stream.len()), "round", "rounds"),
        counted(lp.batch_prompts, "prompt", "prompts"),
        // A pair run evaluates before its first batch and after each: what its progress counts.
        counted(
            lp.rounds_for(bench.stream.len()) + 1,
            "evaluation",
            "evaluations"
        ),
        if lp.rounds.is_none() {
            ", the whole stream"
        } else {
            ""
        },
        p.mode,
        counted(exp.common.model.members, "member", "members")
    ));
    s.json["setting"] = exp.setting.name().into();
    s.json["benchmark"] = serde_json::json!({
        "name": bench.name,
        "stream_prompts": bench.stream.len(),
        "responses_per_prompt": { "min": lo, "max": hi },
        "validation_prompts": bench.validation.len(),
        "heldout_prompts": bench.heldout.len(),
    });
    s.json["policies"] = p.policies.keys().cloned().collect::<Vec<_>>().into();
    s.json["pair_loop"] = serde_json::to_value(lp)?;
    s.json["pair_mode"] = p.mode.to_string().into();
    describe_oracle_and_stopping(exp, &lp.oracle, s)
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
        built.map_err(|e| super::grid_point_error(experiment, v, &e))?;
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
        "{}: ok, {}, {}",
        experiment.display(),
        counted(sweep.variants.len(), "grid point", "grid points"),
        counted(plan.len(), "run", "runs")
    );
    for v in &sweep.variants {
        let set: Vec<String> = v.settings.iter().map(|(p, x)| format!("{p}={x}")).collect();
        say!("  {}: {}", v.name, set.join(", "));
    }
    Ok(())
}
