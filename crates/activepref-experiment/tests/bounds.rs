//! "Every number is bounded" (README): every number an experiment file can hold, with every
//! policy, stopping rule, backend, oracle and refit written out, is refused when it is NaN,
//! infinite, absurdly large or absurdly negative, and the error names that field.

use activepref_acquire::{PairPolicySpec, PolicySpec};
use activepref_experiment::ExperimentConfig;
use activepref_loop::stopping::StoppingRule;
use std::path::Path;
use yaml_serde::Value;

/// A pool file with every optional section of the loop filled in.
const POOL: &str = r#"
name: every-number
benchmark: { kind: synthetic, seed: 7, prompt_dim: 8, response_dim: 8, clusters: 12, pool_prompts: 600, validation_prompts: 100, test_prompts: 200, ood_prompts: 200, lengths: { prompt_words: 150, response_words: 40, spread: 0.6 } }
model: { members: 5, mlp: { hidden: [64, 32] }, train: { grad_clip_norm: 1.0 } }
loop: { initial_labels: 40, batch_size: 40, rounds: 5, pool_size: 1000, validation_size: 50, oracle: { kind: bradley_terry, temperature: 1.0, flip: 0.1, ties: { margin: 0.1, policy: coin }, cost: { per_label: 1.0, per_prompt_word: 0.1, per_response_word: 0.1 } } }
seeds: [1]
report: { baseline: random }
"#;

/// A pair file with every optional section of the pair loop filled in.
const PAIR: &str = r#"
name: every-number
benchmark: { kind: synthetic_pairs, seed: 7, responses_per_prompt: 8, prompts: 400, validation_prompts: 40, heldout_prompts: 80, judge_noise: 0.3 }
model: { members: 5, mlp: { hidden: [64, 32] } }
pair_loop: { batch_prompts: 32, rounds: 3, replay_factor: 2, prefix_eval: { sizes: [25, 50] }, refit: { kind: anchored, decay: { kind: reference, scaler: 4308.0 } }, oracle: { flip: 0.1, ties: { margin: 0.1, policy: coin } } }
seeds: [1]
report: { baseline: random }
"#;

fn yaml(text: &str) -> Value {
    yaml_serde::from_str(text).unwrap()
}

/// The real-data benchmarks; their loop sizes are checked against the data when it is loaded, so
/// only their `benchmark:` numbers are probed here.
const REAL: [&str; 2] = [
    r#"
name: every-number
benchmark: { kind: comparisons, format: hh-rlhf, path: data.jsonl, features: features, resplit: { validation: 0.15, test: 0.25, ood: 0.1, seed: 1 } }
loop: { initial_labels: 40, batch_size: 40, rounds: 5 }
policies: { random: { policy: random } }
seeds: [1]
report: { baseline: random }
"#,
    r#"
name: every-number
benchmark: { kind: candidates, format: alpaca-eval, path: data, features: features, split: { validation_prompts: 40, heldout_prompts: 100, seed: 1 } }
pair_loop: { batch_prompts: 64 }
pair_policies: { random: { policy: random } }
seeds: [1]
report: { baseline: random }
"#,
];

/// The files probed, each with the first key of the numbers probed in it (empty: all): the pool
/// file once per uncertainty backend, with every pool policy (PowerBALD also with annealing) and
/// every stopping rule; the pair file with every pair policy, once per form of the anchor decay;
/// the real-data benchmarks.
fn files() -> Vec<(Value, &'static str)> {
    let mut out = vec![];
    for backend in [
        "{ kind: ensemble }",
        "{ kind: mc_dropout, rate: 0.1, realisations: 4 }",
        "{ kind: laplace_last_layer, samples: 10, prior_precision: 1.0 }",
    ] {
        let mut v = yaml(POOL);
        v["model"]["backend"] = yaml(backend);
        let mut policies = yaml_serde::Mapping::new();
        for p in PolicySpec::all() {
            policies.insert(p.name().into(), yaml_serde::to_value(&p).unwrap());
        }
        policies.insert(
            "annealed".into(),
            yaml("{ policy: power_bald, annealing: { initial_beta: 0.25, start_round: 0, rounds: 3 } }"),
        );
        v["policies"] = Value::Mapping(policies);
        v["report"]["stopping"] = yaml_serde::to_value(StoppingRule::all()).unwrap();
        out.push(v);
    }
    let mut v = yaml(PAIR);
    let mut policies = yaml_serde::Mapping::new();
    for p in PairPolicySpec::all() {
        policies.insert(p.name().into(), yaml_serde::to_value(&p).unwrap());
    }
    v["pair_policies"] = Value::Mapping(policies);
    let mut per_label = v.clone();
    per_label["pair_loop"]["refit"] =
        yaml("{ kind: anchored, decay: { kind: per_label, labels_per_decay: 14.2 } }");
    out.extend([v, per_label]);
    let mut out: Vec<_> = out.into_iter().map(|v| (v, "")).collect();
    out.extend(REAL.map(|t| (yaml(t), "benchmark")));
    out
}

/// Every number below `v`: its path (`#i` for a list index) and whether it is an integer.
fn numbers(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m {
                path.push(k.as_str().unwrap().to_string());
                numbers(x, path, out);
                path.pop();
            }
        }
        Value::Sequence(s) => {
            for (i, x) in s.iter().enumerate() {
                path.push(format!("#{i}"));
                numbers(x, path, out);
                path.pop();
            }
        }
        Value::Number(n) => out.push((path.clone(), n.is_i64() || n.is_u64())),
        _ => {}
    }
}

fn at<'v>(v: &'v mut Value, path: &[String]) -> &'v mut Value {
    path.iter().fold(v, |cur, p| match p.strip_prefix('#') {
        Some(i) => &mut cur.as_sequence_mut().unwrap()[i.parse::<usize>().unwrap()],
        None => cur.get_mut(p.as_str()).unwrap(),
    })
}

/// The path as errors write it (`report.stopping[1].below`), and without a trailing index (a
/// list's check names the list: `model.mlp.hidden`).
fn field_names(path: &[String]) -> [String; 2] {
    let mut full = String::new();
    for p in path {
        match p.strip_prefix('#') {
            Some(i) => full.push_str(&format!("[{i}]")),
            None if full.is_empty() => full.push_str(p),
            None => full.push_str(&format!(".{p}")),
        }
    }
    let list = match full.rfind('[') {
        Some(i) if full.ends_with(']') => full[..i].to_string(),
        _ => full.clone(),
    };
    [full, list]
}

#[test]
fn every_number_of_an_experiment_file_is_bounded_and_named_when_out_of_range() {
    let file = Path::new("every-number.yaml");
    let mut probed = 0;
    for (base, only) in files() {
        let text = yaml_serde::to_string(&base).unwrap();
        ExperimentConfig::parse(&text, file).unwrap_or_else(|e| panic!("{e}"));
        // Every default written out, so that fields the file leaves out are probed too.
        let full =
            yaml_serde::to_value(ExperimentConfig::parse_unchecked(&text, file).unwrap()).unwrap();
        let mut found = vec![];
        numbers(&full, &mut vec![], &mut found);
        for (path, integer) in found {
            // Any seed is a seed.
            if path[0] == "seeds"
                || path.last().is_some_and(|p| p == "seed")
                || !path[0].starts_with(only)
            {
                continue;
            }
            let probes: Vec<Value> = if integer {
                vec![u64::MAX.into()]
            } else {
                [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e30, -1e30]
                    .map(Value::from)
                    .to_vec()
            };
            for probe in probes {
                let mut v = full.clone();
                *at(&mut v, &path) = probe.clone();
                let text = yaml_serde::to_string(&v).unwrap();
                let e = match ExperimentConfig::parse(&text, file) {
                    Ok(_) => panic!("{} = {probe:?} was accepted", path.join(".")),
                    Err(e) => e,
                };
                assert!(
                    field_names(&path).contains(&e.field),
                    "{} = {probe:?} was refused under another name: {e}",
                    path.join(".")
                );
                probed += 1;
            }
        }
    }
    // The files hold every number listed above: a schema change that drops sections from them
    // shows here.
    assert!(probed > 350, "{probed}");
}
