//! Tests of experiment files: parsing, checks, errors.

use super::*;
use crate::{PairSetting, PoolSetting, Setting};
use activepref_core::saving::{DEFAULT_BOOTSTRAP, SavingDefinition};

fn pool(exp: &Experiment) -> &PoolSetting {
    match &exp.setting {
        Setting::Pool(p) => p,
        Setting::Pair(_) => panic!("not a pool setting"),
    }
}

fn pair(exp: &Experiment) -> &PairSetting {
    match &exp.setting {
        Setting::Pair(p) => p,
        Setting::Pool(_) => panic!("not a pair setting"),
    }
}

const GOOD: &str = r#"
name: t
output_dir: /tmp/activepref-config-test
benchmark:
  kind: synthetic
  pool_prompts: 60
loop: { initial_labels: 10, batch_size: 10, rounds: 3 }
policies:
  random: { policy: random }
  balpm: { policy: balpm, k: 5 }
seeds: [1, 2]
"#;

fn parse(text: &str) -> Result<Experiment, String> {
    ExperimentConfig::parse(text, Path::new("exp.yaml")).map_err(|e| e.to_string())
}

#[test]
fn report_saving_and_bootstrap_are_read_and_defaults_stay_out_of_the_resolved_file() {
    let cfg = parse(GOOD).unwrap();
    assert_eq!(cfg.common.report.saving, SavingDefinition::FirstReach);
    assert_eq!(cfg.common.report.bootstrap, DEFAULT_BOOTSTRAP);
    // Results written before these options existed keep matching their resolved config.
    let resolved = yaml_serde::to_string(&cfg.to_config()).unwrap();
    assert!(
        !resolved.contains("saving") && !resolved.contains("bootstrap"),
        "{resolved}"
    );
    let text = format!("{GOOD}report: {{ saving: paper_script, bootstrap: 200 }}\n");
    let cfg = parse(&text).unwrap();
    assert_eq!(
        (cfg.common.report.saving, cfg.common.report.bootstrap),
        (SavingDefinition::PaperScript, 200)
    );
    let cfg = parse(&format!(
        "{GOOD}report: {{ metrics: [test_accuracy, ood_brier] }}\n"
    ))
    .unwrap();
    assert_eq!(cfg.common.report.metrics, ["test_accuracy", "ood_brier"]);
    let e = parse(&format!(
        "{GOOD}report: {{ metrics: [heldout_accuracy] }}\n"
    ))
    .unwrap_err();
    assert!(
        e.contains("report.metrics: `heldout_accuracy` is not a run-file metric")
            && e.contains("test or ood"),
        "{e}"
    );
    let e = parse(&format!("{GOOD}report: {{ saving: paper }}\n")).unwrap_err();
    assert!(
        e.contains("report.saving") || e.contains("unknown variant `paper`"),
        "{e}"
    );
}

#[test]
fn good_file_parses_with_defaults() {
    let cfg = parse(GOOD).unwrap();
    assert_eq!(cfg.common.model.members, 5);
    assert_eq!(cfg.common.report.smoothing_window, 3);
    assert_eq!(
        pool(&cfg).policies.keys().collect::<Vec<_>>(),
        vec!["random", "balpm"]
    );
    let PolicySpec::Balpm(b) = &pool(&cfg).policies["balpm"] else {
        panic!()
    };
    assert!(matches!(cfg.setting, Setting::Pool(_)));
    assert_eq!((b.k, b.beta), (5, 0.01));
}

#[test]
fn unknown_policy_names_file_field_and_choices() {
    let e = parse(&GOOD.replace("policy: random", "policy: randum")).unwrap_err();
    assert!(e.starts_with("exp.yaml: policies.random"), "{e}");
    assert!(
        e.contains("unknown variant `randum`") && e.contains("`balpm`"),
        "{e}"
    );
}

const PAIRS: &str = r#"
name: p
output_dir: /tmp/activepref-config-test-pairs
benchmark: { kind: synthetic_pairs, prompts: 40 }
pair_loop: { batch_prompts: 10, rounds: 3 }
pair_policies:
  drts: { policy: drts }
  deltaucb: { policy: deltaucb, beta: 2.0 }
pair_mode: reference
seeds: [1]
report: { baseline: drts }
"#;

#[test]
fn pair_setting_parses_and_is_checked() {
    let cfg = parse(PAIRS).unwrap();
    assert!(matches!(cfg.setting, Setting::Pair(_)));
    assert_eq!(pair(&cfg).mode, PairMode::Reference);
    assert_eq!(cfg.known_rounds_per_run(), Some(4));
    let e = parse(&PAIRS.replace("rounds: 3", "rounds: 5")).unwrap_err();
    assert!(e.starts_with("exp.yaml: pair_loop.rounds:"), "{e}");
    let e = parse(&PAIRS.replace(
        "rounds: 3 }",
        "rounds: 3, refit: { kind: anchored, lr: -1 } }",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: pair_loop.refit.lr: is -1.0; must be"),
        "{e}"
    );
    let e = parse(&PAIRS.replace(
        "rounds: 3 }",
        "rounds: 3, refit: { kind: anchored, decay: { kind: per_label, labels_per_decay: 0 } } }",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: pair_loop.refit.decay.labels_per_decay:"),
        "{e}"
    );
    let e = parse(&PAIRS.replace(
        "rounds: 3 }",
        "rounds: 3, prefix_eval: { sizes: [20, 10] } }",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: pair_loop.prefix_eval.sizes: must be strictly increasing"),
        "{e}"
    );
    let e = parse(&PAIRS.replace("rounds: 3 }", "rounds: 3, refit: { kind: warm } }")).unwrap_err();
    assert!(
        e.contains("unknown variant `warm`") && e.contains("anchored"),
        "{e}"
    );
    let e = parse(&PAIRS.replace(
        "seeds: [1]",
        "seeds: [1]\npolicies: { r: { policy: random } }",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: policies: `policies` and `loop` belong to pool benchmarks"),
        "{e}"
    );
    // A pool `loop:` alone in a pair file: the error names `loop`, the key the file holds.
    let e = parse(&PAIRS.replace(
        "seeds: [1]",
        "seeds: [1]\nloop: { initial_labels: 4, batch_size: 4, rounds: 2, validation_size: 20 }",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: loop: `policies` and `loop` belong to pool benchmarks"),
        "{e}"
    );
    // A partial one too: where it belongs, not which of its keys is missing.
    let e = parse(&PAIRS.replace("seeds: [1]", "seeds: [1]\nloop: { batch_size: 4 }")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: loop: `policies` and `loop` belong to pool benchmarks"),
        "{e}"
    );
    let e = parse(&format!("{GOOD}pair_loop: {{ rounds: 4 }}\n")).unwrap_err();
    assert!(
        e.starts_with(
            "exp.yaml: pair_loop: `pair_policies` and `pair_loop` belong to pair benchmarks"
        ),
        "{e}"
    );
    let e = parse(&format!(
        "{GOOD}pair_policies: {{ d: {{ policy: drts, beta: 1 }} }}\n"
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: pair_policies: `pair_policies` and `pair_loop` belong to pair"),
        "{e}"
    );
    // The reference's uniform pairs stop at the first repeated response: refused up front.
    let e = parse(&PAIRS.replace(
        "deltaucb: { policy: deltaucb, beta: 2.0 }",
        "r: { policy: random }",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: pair_policies.r.policy: is random, which in pair_mode: reference draws its two responses with replacement"),
        "{e}"
    );
    parse(
        &PAIRS
            .replace(
                "deltaucb: { policy: deltaucb, beta: 2.0 }",
                "r: { policy: random }",
            )
            .replace("pair_mode: reference", "pair_mode: corrected"),
    )
    .unwrap();
    let e = parse(&PAIRS.replace("policy: drts }", "policy: dtss }")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: pair_policies.drts.policy: unknown variant `dtss`")
            && e.contains("`drts`")
            && e.ends_with("(see experiments/auf-pairs.yaml for a complete example)"),
        "{e}"
    );
    // The pool's `policies:` in a pair-setting file: the hint names `pair_policies:`.
    let e = parse(&PAIRS.replace("pair_policies:", "policies:")).unwrap_err();
    assert!(
        e.contains("policies.") && e.ends_with("(this benchmark is a pair setting, whose rules go under `pair_policies:` (`activepref policies` lists them); see experiments/auf-pairs.yaml for a complete example)"),
        "{e}"
    );
    let e = parse(&PAIRS.replace("beta: 2.0", "beta: .nan")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: pair_policies.deltaucb.beta:"),
        "{e}"
    );
}

/// A format of the other dataset kind is named with the kind that reads it (a new user wrote
/// `format: alpaca-eval` under `kind: comparisons`).
#[test]
fn a_format_of_the_other_kind_names_the_kind_that_reads_it() {
    let file = |kind: &str, format: &str| {
        format!(
            "name: t\nbenchmark: {{ kind: {kind}, format: {format}, path: /nonexistent/d, features: /nonexistent/f }}\nloop: {{ initial_labels: 10, batch_size: 10, rounds: 3 }}\npolicies:\n  random: {{ policy: random }}\nseeds: [1]\n"
        )
    };
    let e = parse(&file("comparisons", "alpaca-eval")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: benchmark.format: unknown variant `alpaca-eval`")
            && e.ends_with("(`alpaca-eval` is read by `kind: candidates`; see experiments/auf-alpacaeval.yaml for a complete example)"),
        "{e}"
    );
    let e = parse(&file("candidates", "hh-rlhf")).unwrap_err();
    assert!(
        e.ends_with("(`hh-rlhf` is read by `kind: comparisons`; see experiments/hh-harmless-minilm.yaml for a complete example)"),
        "{e}"
    );
    // A format of neither kind keeps the general hint.
    let e = parse(&file("comparisons", "tldr")).unwrap_err();
    assert!(
        e.ends_with("(see experiments/quickstart.yaml for a complete example)"),
        "{e}"
    );
}

#[test]
fn malformed_yaml_is_one_line() {
    let e = parse("name: [unclosed").unwrap_err();
    assert!(e.starts_with("exp.yaml: ") && !e.contains('\n'), "{e}");
}

#[test]
fn sizes_and_seeds_are_checked() {
    let e = parse(&GOOD.replace("batch_size: 10", "batch_size: 100000")).unwrap_err();
    assert!(e.starts_with("exp.yaml: loop.batch_size: is 100000"), "{e}");
    let e = parse(&GOOD.replace("k: 5", "k: 100000")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: policies.balpm.k: is 100000"),
        "{e}"
    );
    let e = parse(&GOOD.replace("seeds: [1, 2]", "seeds: []")).unwrap_err();
    assert!(e.starts_with("exp.yaml: seeds: is empty"), "{e}");
    let e =
        parse(&GOOD.replace("/tmp/activepref-config-test", "/nonexistent-parent/x")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: output_dir: the parent directory `/nonexistent-parent`"),
        "{e}"
    );
    // An empty output_dir would be the working directory, which no check saw as one.
    let e = parse(&GOOD.replace("/tmp/activepref-config-test", "''")).unwrap_err();
    assert!(e.starts_with("exp.yaml: output_dir: is empty"), "{e}");
    let e = parse(&GOOD.replace(
        "pool_prompts: 60",
        "pool_prompts: 60\n  label_temperature: -1",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: benchmark.label_temperature:"),
        "{e}"
    );
    let e = parse(&GOOD.replace("seeds:", "bogus: 1\nseeds:")).unwrap_err();
    assert!(e.contains("unknown field `bogus`"), "{e}");
}

#[test]
fn parameterless_policies_refuse_parameters_with_a_hint() {
    // Issue 19: `bald: { policy: bald, score: predictive }` ran plain BALD.
    let e = parse(&GOOD.replace(
        "random: { policy: random }",
        "random: { policy: bald, score: predictive }",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: policies.random.score: unknown field `score`")
            && e.contains("takes no parameters; to rank by another score"),
        "{e}"
    );
    let e = parse(&PAIRS.replace(
        "drts: { policy: drts }",
        "drts: { policy: random, beta: 2 }",
    ))
    .unwrap_err();
    assert!(e.contains("unknown field `beta`"), "{e}");
    // The same labels without extra keys still parse, and serialise as before (run ids).
    let cfg =
        parse(&GOOD.replace("random: { policy: random }", "random: { policy: bald }")).unwrap();
    assert_eq!(pool(&cfg).policies["random"], PolicySpec::Bald {});
    let json = serde_json::to_string(&pool(&cfg).policies["random"]).unwrap();
    assert_eq!(json, r#"{"policy":"bald"}"#);
}

#[test]
fn numbers_are_bounded_with_the_bound_in_the_error() {
    let e = parse(&GOOD.replace("rounds: 3", "rounds: 1152921504606846977")).unwrap_err();
    assert_eq!(
        e,
        "exp.yaml: loop.rounds: is 1152921504606846977; must be between 1 and 1000000"
    );
    let e = parse(&format!(
        "{GOOD}report: {{ bootstrap: 18446744073709551615 }}\n"
    ))
    .unwrap_err();
    assert_eq!(
        e,
        "exp.yaml: report.bootstrap: is 18446744073709551615; must be between 0 and 1000000 (0 = no interval)"
    );
    // One resample gave a "95% interval over 1 bootstrap resamples".
    let e = parse(&format!("{GOOD}report: {{ bootstrap: 1 }}\n")).unwrap_err();
    assert!(
        e.starts_with(
            "exp.yaml: report.bootstrap: is 1; a 95% interval needs at least 40 resamples"
        ),
        "{e}"
    );
    assert!(parse(&format!("{GOOD}report: {{ bootstrap: 40 }}\n")).is_ok());
    let e = parse(&format!("{GOOD}report: {{ smoothing_window: 0 }}\n")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: report.smoothing_window: is 0; must be between 1 and 10000"),
        "{e}"
    );
    let long = "p".repeat(300);
    let e = parse(&GOOD.replace(
        "random: { policy: random }",
        &format!("{long}: {{ policy: random }}"),
    ))
    .unwrap_err();
    assert!(
        e.contains("at most 64 characters") && e.contains("has 300"),
        "{e}"
    );
    let e = parse(&format!("{GOOD}model: {{ train: {{ lr: 1e30 }} }}\n")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: model.train.lr: is 1e30; must be a number in (0, 1]"),
        "{e}"
    );
    let e = parse(&format!("{GOOD}model: {{ members: 100000 }}\n")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: model.members: is 100000; must be between 1 and 1000"),
        "{e}"
    );
    let e = parse(&PAIRS.replace("rounds: 3", "rounds: 18446744073709551615")).unwrap_err();
    assert!(e.starts_with("exp.yaml: pair_loop.rounds:"), "{e}");
}

#[test]
fn one_member_is_refused_by_rules_that_need_disagreement() {
    let e = parse(&format!("{GOOD}model: {{ members: 1 }}\n")).unwrap_err();
    assert!(
        e.starts_with(
            "exp.yaml: model.members: is 1, but policies.balpm reads the ensemble's disagreement"
        ),
        "{e}"
    );
    // Random alone, or BAL-PM without its uncertainty term, needs no disagreement.
    let only_random = GOOD.replace("  balpm: { policy: balpm, k: 5 }\n", "");
    assert!(parse(&format!("{only_random}model: {{ members: 1 }}\n")).is_ok());
    let no_u = GOOD.replace("k: 5 }", "k: 5, no_uncertainty: true }");
    assert!(parse(&format!("{no_u}model: {{ members: 1 }}\n")).is_ok());
    // MC dropout gets its disagreement from realisations.
    assert!(
        parse(&format!(
            "{GOOD}model: {{ members: 1, backend: {{ kind: mc_dropout }} }}\n"
        ))
        .is_ok()
    );
    let e = parse(&format!("{PAIRS}model: {{ members: 1 }}\n")).unwrap_err();
    assert!(e.contains("pair_policies.drts"), "{e}");
}

/// bf16 training is refused where the run would train in f32 anyway: the pair loop's anchored
/// refit (reference mode's default); a from-scratch refit and the pool setting take it.
#[test]
fn bf16_is_refused_where_the_refit_trains_in_f32() {
    let e = parse(&format!("{PAIRS}model: {{ precision: bf16 }}\n")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: model.precision: is bf16, but the pair loop's anchored refit"),
        "{e}"
    );
    let scratch = PAIRS.replace("rounds: 3 }", "rounds: 3, refit: { kind: from_scratch } }");
    assert!(parse(&format!("{scratch}model: {{ precision: bf16 }}\n")).is_ok());
    assert!(parse(&format!("{GOOD}model: {{ precision: bf16 }}\n")).is_ok());
}

#[test]
fn byte_order_mark_and_merge_keys_parse() {
    let cfg = parse(&format!("\u{feff}{GOOD}")).unwrap();
    assert_eq!(cfg.common.name, "t");
    let merged = GOOD.replace(
        "policies:\n  random: { policy: random }\n  balpm: { policy: balpm, k: 5 }",
        "base: &base { policy: balpm, k: 5 }\npolicies:\n  random: { policy: random }\n  balpm:\n    <<: *base\n    beta: 0.1",
    );
    // A merge key works where the file has no other unknown key.
    let e = parse(&merged).unwrap_err();
    assert!(e.contains("unknown field `base`"), "{e}");
    let merged = merged
        .replace("base: &base { policy: balpm, k: 5 }\n", "")
        .replace(
            "  random: { policy: random }",
            "  random: &base { policy: balpm, k: 5 }",
        );
    let cfg = parse(&merged).unwrap();
    let PolicySpec::Balpm(b) = &pool(&cfg).policies["balpm"] else {
        panic!("{:?}", pool(&cfg).policies)
    };
    assert_eq!((b.k, b.beta), (5, 0.1));
}

#[test]
fn the_default_output_directory_needs_no_results_folder() {
    // Issue 19: `run x.yaml --out DIR` failed in a directory without `results/`.
    let cfg = parse(&GOOD.replace("output_dir: /tmp/activepref-config-test\n", "")).unwrap();
    assert_eq!(cfg.output_dir(), PathBuf::from("results/t"));
    assert!(cfg.check_output_dir().is_ok());
}

/// An oracle that reads the latent gap is refused on real comparisons when the file is read (not
/// at round 0 of every run); flips alone are accepted. Stopping rules are checked, and a pair file
/// takes them too.
#[test]
fn oracle_and_stopping_fit_their_setting() {
    let real = |oracle: &str| {
        format!(
            "name: t\noutput_dir: /tmp/activepref-config-test\nbenchmark: {{ kind: comparisons, format: hh-rlhf, path: /nonexistent/hh.jsonl, features: /nonexistent/feat }}\nloop: {{ initial_labels: 10, batch_size: 10, rounds: 3, oracle: {oracle} }}\npolicies:\n  random: {{ policy: random }}\nseeds: [1]\n"
        )
    };
    let err = parse(&real("{ kind: bradley_terry }")).unwrap_err();
    assert!(
        err.contains("loop.oracle") && err.contains("flip alone"),
        "{err}"
    );
    let err = parse(&real("{ ties: { margin: 0.1, policy: coin } }")).unwrap_err();
    assert!(err.contains("loop.oracle"), "{err}");
    assert!(parse(&real("{ flip: 0.1 }")).is_ok());
    let stopping = GOOD.replace(
        "seeds: [1, 2]",
        "seeds: [1, 2]\nreport: { stopping: [ { rule: stable_predictions, kappa: 2 } ] }",
    );
    let err = parse(&stopping).unwrap_err();
    assert!(
        err.contains("report.stopping[0].kappa") && err.contains("is 2"),
        "{err}"
    );
    let pairs = PAIRS.replace(
        "report: { baseline: drts }",
        "report: { baseline: drts, stopping: [ { rule: max_uncertainty, below: 0.01 } ] }",
    );
    assert_eq!(parse(&pairs).unwrap().common.report.stopping.len(), 1);
    let twice = GOOD.replace(
        "seeds: [1, 2]",
        "seeds: [1, 2]\nreport: { stopping: [ { rule: budget, labels: 20 }, { rule: stable_predictions }, { rule: budget, labels: 20 } ] }",
    );
    let err = parse(&twice).unwrap_err();
    assert!(
        err.contains("report.stopping[2]") && err.contains("repeats stopping[0]"),
        "{err}"
    );
    // A rule that does not parse is named by its index, not by the list's first line.
    let missing = GOOD.replace(
        "seeds: [1, 2]",
        "seeds: [1, 2]\nreport:\n  stopping:\n    - { rule: budget, labels: 20 }\n    - { rule: max_uncertainty }\n",
    );
    let err = parse(&missing).unwrap_err();
    assert!(
        err.contains("report.stopping[1]")
            && err.contains("missing field `below`")
            && err.contains("stopping-synthetic.yaml"),
        "{err}"
    );
    // A typo inside `lengths:` points at the example that has them.
    let typo = GOOD.replace(
        "  pool_prompts: 60\n",
        "  pool_prompts: 60\n  lengths: { prompt_words: 100, respones_words: 20, spread: 0.5 }\n",
    );
    let err = parse(&typo).unwrap_err();
    assert!(
        err.contains("respones_words") && err.contains("cost-synthetic.yaml"),
        "{err}"
    );
}

/// `loop.oracle.cost`: a per-word price needs lengths, which the synthetic benchmark has only
/// with `lengths:` and the synthetic pair stream never has; a per-label price needs none; a free
/// oracle is refused;
/// an unpriced file's resolved config does not mention a cost.
#[test]
fn label_cost_is_checked_when_the_file_is_read() {
    let priced = |cost: &str, lengths: &str| {
        GOOD.replace(
            "  pool_prompts: 60\n",
            &format!("  pool_prompts: 60\n{lengths}"),
        )
        .replace(
            "rounds: 3 }",
            &format!("rounds: 3, oracle: {{ cost: {cost} }} }}"),
        )
    };
    let words = "{ per_response_word: 0.25 }";
    let err = parse(&priced(words, "")).unwrap_err();
    assert!(
        err.contains("loop.oracle.cost") && err.contains("lengths:"),
        "{err}"
    );
    let lengths = "  lengths: { prompt_words: 100, response_words: 20, spread: 0.5 }\n";
    assert!(parse(&priced(words, lengths)).is_ok());
    assert!(parse(&priced("{ per_label: 3 }", "")).is_ok());
    let err = parse(&priced("{ per_label: 0 }", "")).unwrap_err();
    assert!(err.contains("loop.oracle.cost.per_label"), "{err}");
    let err = parse(&priced("{ per_label: -1 }", "")).unwrap_err();
    assert!(err.contains("is -1"), "{err}");
    let pairs = |cost: &str| {
        PAIRS.replace(
            "rounds: 3 }",
            &format!("rounds: 3, oracle: {{ cost: {cost} }} }}"),
        )
    };
    assert!(parse(&pairs("{ per_label: 1 }")).is_ok());
    let err = parse(&pairs(words)).unwrap_err();
    assert!(
        err.contains("pair_loop.oracle.cost") && err.contains("no texts"),
        "{err}"
    );
    let resolved = yaml_serde::to_string(&parse(GOOD).unwrap().to_config()).unwrap();
    assert!(!resolved.contains("cost") && !resolved.contains("lengths"));
}

/// Keys a run would ignore without a word are refused: another key beside a tag whose variant
/// takes none (serde drops it), `pair_mode` in a pool file, `report.ablation_baseline` without a
/// sweep. Keys that are read, defaults written out included, still parse.
#[test]
fn keys_a_run_would_ignore_are_refused() {
    let with_strategy = |s: &str| {
        GOOD.replace(
            "loop:",
            &format!("model: {{ train: {{ strategy: {s} }} }}\nloop:"),
        )
    };
    let e = parse(&with_strategy("{ kind: full_retrain, epochs: 2 }")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: model.train.strategy.epochs: `kind: full_retrain` takes no other key, so `epochs` would be ignored; remove it"),
        "{e}"
    );
    parse(&with_strategy("{ kind: warm_start, epochs: 2 }")).unwrap();
    parse(&with_strategy("{ kind: full_retrain }")).unwrap();
    parse(&GOOD.replace("rounds: 3 }", "rounds: 3, validation_size: null }")).unwrap();
    let e = parse(&PAIRS.replace(
        "pair_loop: { batch_prompts: 10, rounds: 3 }",
        "pair_loop: { batch_prompts: 10, rounds: 3, refit: { kind: from_scratch, lr: 0.1 } }",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: pair_loop.refit.lr: `kind: from_scratch` takes no other key"),
        "{e}"
    );
    let e = parse(&format!("{GOOD}pair_mode: reference\n")).unwrap_err();
    assert!(
        e.starts_with("exp.yaml: pair_mode: belongs to pair benchmarks"),
        "{e}"
    );
    parse(&format!("{GOOD}pair_mode: corrected\n")).unwrap();
    // A grid over the tag is told to sweep the whole section.
    let text = format!(
        "{}sweep:\n  s:\n    model.train.strategy.kind: [warm_start, full_retrain]\n",
        with_strategy("{ kind: warm_start, epochs: 2 }")
    );
    let e = crate::Sweep::parse(&text, Path::new("exp.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("so `epochs` would be ignored; remove it")
            && e.contains("; to sweep choices with different keys, sweep the whole `model.train.strategy` section with one map per choice (in sweep grid `s`"),
        "{e}"
    );
    let text = format!(
        "{}sweep:\n  s:\n    model.train.strategy: [{{ kind: warm_start, epochs: 2 }}, {{ kind: full_retrain }}]\n",
        with_strategy("{ kind: warm_start, epochs: 2 }")
    );
    assert_eq!(
        crate::Sweep::parse(&text, Path::new("exp.yaml"))
            .unwrap()
            .variants
            .len(),
        2
    );
    // A section written as a list is read by position by serde: refused, as a run would read
    // its values without their names.
    let e = parse(&GOOD.replace(
        "loop:",
        "model: { backend: [laplace_last_layer, 7, 1.0] }\nloop:",
    ))
    .unwrap_err();
    assert!(
        e.starts_with("exp.yaml: model.backend: is a list, which would be read by position; write it as a map of keys"),
        "{e}"
    );
    let e = parse(&GOOD.replace("{ policy: balpm, k: 5 }", "[balpm, 5]")).unwrap_err();
    assert!(e.starts_with("exp.yaml: policies.balpm: is a list"), "{e}");
    // serde's Rust names are not shown for a stopping rule either.
    let e = parse(&format!("{GOOD}report: {{ stopping: [budget] }}\n")).unwrap_err();
    assert!(
        e.starts_with(
            "exp.yaml: report.stopping[0]: is \"budget\"; must be a map naming its choice, such as `{ rule: ... }`"
        ),
        "{e}"
    );
    let text = format!("{GOOD}report: {{ ablation_baseline: beta=7 }}\n");
    let e = crate::Sweep::parse(&text, Path::new("exp.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("exp.yaml: report.ablation_baseline: names the grid point drawn as the baseline of a sweep's ablation figures, but this file has no `sweep:`"),
        "{e}"
    );
}

/// A sweep's grid path takes a policy label with a dot as one key, and refuses a parameter of a
/// label the file does not have, naming the labels (it said `missing field policy`).
#[test]
fn grid_paths_read_labels_as_the_file_has_them() {
    let dotted = GOOD.replace(
        "balpm: { policy: balpm, k: 5 }",
        "balpm.v2: { policy: balpm, k: 5 }",
    );
    let sweep = crate::Sweep::parse(
        &format!("{dotted}sweep:\n  b:\n    policies.balpm.v2.beta: [1.0, 0.1]\n"),
        Path::new("exp.yaml"),
    )
    .unwrap();
    assert_eq!(sweep.variants.len(), 2);
    // A new label by its policy is still added.
    let sweep = crate::Sweep::parse(
        &format!("{GOOD}sweep:\n  n:\n    policies.extra.policy: [random, bald]\n"),
        Path::new("exp.yaml"),
    )
    .unwrap();
    assert_eq!(sweep.variants.len(), 2);
    let e = crate::Sweep::parse(
        &format!("{GOOD}sweep:\n  b:\n    policies.balmp.beta: [1.0, 0.1]\n"),
        Path::new("exp.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("exp.yaml: sweep.b.policies.balmp.beta: `policies` has no policy labelled `balmp`; a grid sets parameters of the file's policies: random, balpm"),
        "{e}"
    );
}
