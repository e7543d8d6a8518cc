//! The picks the Rust library makes on one seeded pool for every registered pool policy (default
//! parameters) and every pair rule in both modes, kept in `python/tests/golden/rust_picks.json`.
//! This test recomputes them and compares with the file; the Python package's pytest suite feeds
//! the file's inputs through `activepref.select` / `select_pairs` and must get the same picks, so
//! the two sides are tied to one another through it. After an intended change of picks, rewrite
//! the file with `ACTIVEPREF_BLESS=1 cargo test --release --workspace python_golden`.

use std::path::PathBuf;

use activepref_acquire::{
    AcquireError, CandidateScores, PairMode, PairPolicySpec, PolicySpec, PoolState, PromptKnnIndex,
    index_k_for,
};
use activepref_core::seeds::{Stream, policy_draw, rng_for};
use activepref_core::{EnsemblePrediction, FeatureMatrix, PromptFeatures};
use rand::RngExt;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

const POOL: usize = 60;
const PROMPTS: usize = 20;
const DIM: usize = 4;
const MEMBERS: usize = 4;
const SEED: u64 = 5;
const ROUND: usize = 2;
const BATCH: usize = 7;

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../python/tests/golden/rust_picks.json")
}

/// The pool: integer prompt features (exact distances), 20 prompts over 60 comparisons, member
/// logits on a 1/64 grid (exact in JSON), 12 labelled rows and the rest unlabelled in a shuffled
/// (tie-break) order.
fn pool() -> Value {
    let mut rng = rng_for(2026, Stream::Data, &[]);
    let prompt_rows: Vec<Vec<f32>> = (0..PROMPTS)
        .map(|_| (0..DIM).map(|_| rng.random_range(-8..=8) as f32).collect())
        .collect();
    let prompt_ids: Vec<u32> = (0..POOL)
        .map(|i| {
            if i < PROMPTS {
                i as u32
            } else {
                rng.random_range(0..PROMPTS as u32)
            }
        })
        .collect();
    let features: Vec<Vec<f32>> = prompt_ids
        .iter()
        .map(|&p| prompt_rows[p as usize].clone())
        .collect();
    let logits: Vec<Vec<f64>> = (0..MEMBERS)
        .map(|_| {
            (0..POOL)
                .map(|_| rng.random_range(-192..=192) as f64 / 64.0)
                .collect()
        })
        .collect();
    let mut order: Vec<usize> = (0..POOL).collect();
    order.shuffle(&mut rng);
    let unlabelled = order.split_off(12);
    json!({
        "prompt_features": features,
        "prompt_ids": prompt_ids,
        "logits": logits,
        "labelled": order,
        "unlabelled": unlabelled,
    })
}

fn column<T: serde::de::DeserializeOwned>(v: &Value, key: &str) -> T {
    serde_json::from_value(v[key].clone()).unwrap()
}

/// What `activepref.select` does: the policy's score from the members' predictions on the
/// unlabelled rows, then `select`, with the pool loop's streams.
/// The policy's picks, or `None` for a policy that needs an input the Python package does not
/// take (pair features, a last-layer embedding: core-set, BADGE, Fisher), which it must refuse.
fn pool_picks(spec: &PolicySpec, p: &Value, indexed: bool) -> Option<Vec<usize>> {
    let features: Vec<Vec<f32>> = column(p, "prompt_features");
    let feats: PromptFeatures = FeatureMatrix::from_rows(&features).unwrap().into();
    let ids: Vec<u32> = column(p, "prompt_ids");
    let logits: Vec<Vec<f64>> = column(p, "logits");
    let labelled: Vec<usize> = column(p, "labelled");
    let unlabelled: Vec<usize> = column(p, "unlabelled");
    let gathered: Vec<f64> = logits
        .iter()
        .flat_map(|m| unlabelled.iter().map(|&i| m[i]))
        .collect();
    let pred = EnsemblePrediction::from_logits(MEMBERS, unlabelled.len(), gathered);
    let policy = spec.build();
    let mut score_rng = rng_for(SEED, Stream::Policy, &[ROUND as u64, policy_draw::SCORE]);
    let uncertainty = policy.score().compute(&pred, &mut score_rng).unwrap();
    let index = match spec {
        PolicySpec::Balpm(c) if indexed => Some(PromptKnnIndex::build(
            feats.table(),
            index_k_for(c.k),
            &|_| {},
        )),
        _ => None,
    };
    let state = PoolState {
        prompt_ids: Some(&ids),
        prediction: Some(&pred),
        round: ROUND,
        prompt_index: index.as_ref(),
        ..PoolState::new(&unlabelled, &uncertainty, &labelled, &feats)
    };
    match policy.select(
        &state,
        BATCH,
        &mut rng_for(SEED, Stream::Policy, &[ROUND as u64]),
    ) {
        Ok(picks) => Some(picks),
        Err(AcquireError::MissingInput { .. }) => None,
        Err(e) => panic!("{}: {e}", spec.name()),
    }
}

/// Three prompts of 5, 2 and 8 responses: member rewards on a 1/32 grid, their mean and
/// (ddof 1) spread in f32, judge scores.
fn pair_prompts() -> Vec<Value> {
    let mut rng = rng_for(2027, Stream::Data, &[]);
    [5usize, 2, 8]
        .iter()
        .map(|&n| {
            let members: Vec<Vec<f32>> = (0..MEMBERS)
                .map(|_| {
                    (0..n)
                        .map(|_| rng.random_range(-96..=96) as f32 / 32.0)
                        .collect()
                })
                .collect();
            let mu: Vec<f32> = (0..n)
                .map(|j| members.iter().map(|m| m[j]).sum::<f32>() / MEMBERS as f32)
                .collect();
            let sd: Vec<f32> = (0..n)
                .map(|j| {
                    let var = members.iter().map(|m| (m[j] - mu[j]).powi(2)).sum::<f32>()
                        / (MEMBERS - 1) as f32;
                    var.sqrt()
                })
                .collect();
            let oracle: Vec<f32> = (0..n)
                .map(|_| rng.random_range(0..=40) as f32 / 4.0)
                .collect();
            json!({ "mean": mu, "std": sd, "rewards": members, "oracle": oracle })
        })
        .collect()
}

/// What `activepref.select_pairs` does, and the pair loop: the `p`-th prompt of batch `ROUND`
/// draws from `rng_for(seed, Policy, [ROUND, p])` (crates/activepref-loop/src/pair.rs). An error
/// (a reference-mode rule on a 2-response prompt, say) is `null`.
fn pair_picks(spec: &PairPolicySpec, mode: PairMode, prompts: &[Value]) -> Value {
    let picks: Vec<Value> = prompts
        .iter()
        .enumerate()
        .map(|(p, v)| {
            let (mu, sd): (Vec<f32>, Vec<f32>) = (column(v, "mean"), column(v, "std"));
            let (members, oracle): (Vec<Vec<f32>>, Vec<f32>) =
                (column(v, "rewards"), column(v, "oracle"));
            let c = CandidateScores {
                mu: &mu,
                sd: &sd,
                members: Some(&members),
                oracle: Some(&oracle),
                design: None,
            };
            let mut rng = rng_for(SEED, Stream::Policy, &[ROUND as u64, p as u64]);
            match spec.select(&c, mode, &mut rng) {
                Ok((a, b)) => json!([a, b]),
                Err(_) => Value::Null,
            }
        })
        .collect();
    Value::Array(picks)
}

fn golden() -> Value {
    let p = pool();
    let mut policies: Vec<Value> = PolicySpec::all()
        .iter()
        .map(|spec| json!({ "spec": spec, "indexed": false, "picks": pool_picks(spec, &p, false) }))
        .collect();
    // The options, beyond the defaults: BAL-PM with an entropy term strong enough to change the
    // batch and each of its ablations, the other scores, annealing, group sizes.
    let variants = [
        json!({ "policy": "balpm", "k": 3, "beta": 1.0 }),
        json!({ "policy": "balpm", "k": 3, "beta": 1.0, "estimator": "kl" }),
        json!({ "policy": "balpm", "k": 3, "beta": 1.0, "normalize_entropy": true }),
        json!({ "policy": "balpm", "k": 3, "beta": 1.0, "entropy_minimizer": true }),
        json!({ "policy": "balpm", "k": 3, "beta": 1.0, "no_uncertainty": true }),
        json!({ "policy": "balpm", "k": 3, "beta": 1.0, "feature_shift": "reference" }),
        json!({ "policy": "balpm", "k": 3, "beta": 1.0, "score": "predictive" }),
        json!({ "policy": "rank", "score": "variance" }),
        json!({ "policy": "rank", "score": "aleatoric" }),
        json!({ "policy": "rank", "score": "random" }),
        json!({ "policy": "power_bald", "beta": 2.0, "annealing": { "initial_beta": 0.25, "start_round": 0, "rounds": 4 } }),
        json!({ "policy": "softmax_bald", "beta": 10.0, "score": "predictive" }),
        json!({ "policy": "sample_then_rank", "group_size": 3 }),
        json!({ "policy": "clustered_rank", "score": "variance" }),
        json!({ "policy": "batchbald", "max_configurations": 8 }),
    ];
    for v in variants {
        let spec: PolicySpec = serde_json::from_value(v).unwrap();
        let picks = pool_picks(&spec, &p, false);
        policies.push(json!({ "spec": spec, "indexed": false, "picks": picks }));
    }
    let strong: PolicySpec =
        serde_json::from_value(json!({ "policy": "balpm", "k": 3, "beta": 1.0 })).unwrap();
    for balpm in [PolicySpec::Balpm(Default::default()), strong] {
        policies
            .push(json!({ "spec": balpm, "indexed": true, "picks": pool_picks(&balpm, &p, true) }));
    }
    let prompts = pair_prompts();
    let rules: Vec<Value> = PairPolicySpec::all()
        .iter()
        .map(|spec| {
            json!({
                "spec": spec,
                "corrected": pair_picks(spec, PairMode::Corrected, &prompts),
                "reference": pair_picks(spec, PairMode::Reference, &prompts),
            })
        })
        .collect();
    json!({
        "about": "Picks of the Rust library (crates/activepref-acquire/tests/python_golden.rs); python/tests/test_golden.py checks the Python package against them.",
        "seed": SEED,
        "round": ROUND,
        "batch": BATCH,
        "pool": p,
        "policies": policies,
        "pair_prompts": prompts,
        "pair_rules": rules,
    })
}

#[test]
fn python_golden_picks_are_the_librarys() {
    let now = serde_json::to_string_pretty(&golden()).unwrap() + "\n";
    let path = golden_path();
    if std::env::var_os("ACTIVEPREF_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; write it with ACTIVEPREF_BLESS=1 cargo test --release --workspace python_golden",
            path.display()
        )
    });
    assert!(
        kept == now,
        "{} differs from the library's picks now; if the change is intended, rewrite it with ACTIVEPREF_BLESS=1 cargo test --release --workspace python_golden",
        path.display()
    );
}
