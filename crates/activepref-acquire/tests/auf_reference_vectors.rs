//! Checks the ActiveUltraFeedback pair rules in `reference` mode against the pairs the reference
//! code returned (`shared/vectors/auf-reference/*.json`, see its README). Every file is checked.

use crate::common;

use std::collections::BTreeMap;

use activepref_acquire::{
    BetaParams, CandidateScores, MaxMinLcbParams, PairMode, PairPolicySpec, QuantileParams,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

#[derive(Deserialize)]
struct AufCase {
    name: String,
    mu: Vec<Vec<f32>>,
    sd: Vec<Vec<f32>>,
    expected: BTreeMap<String, Vec<[usize; 2]>>,
}

/// The rule each `expected` key names.
fn rule(key: &str) -> PairPolicySpec {
    let beta = |b| BetaParams { beta: b };
    match key {
        "deltaucb_beta1" => PairPolicySpec::Deltaucb(beta(1.0)),
        "deltaucb_beta2" => PairPolicySpec::Deltaucb(beta(2.0)),
        "infomax" => PairPolicySpec::Infomax(BetaParams::default()),
        "deltaquantile_q0.05" => PairPolicySpec::Deltaquantile(QuantileParams {
            beta: 1.0,
            quantile: 0.05,
            epsilon: 0.0,
        }),
        "deltaquantile_q0.2_eps0.05" => PairPolicySpec::Deltaquantile(QuantileParams {
            beta: 1.0,
            quantile: 0.2,
            epsilon: 0.05,
        }),
        "maxminlcb_beta1" => PairPolicySpec::Maxminlcb(MaxMinLcbParams {
            beta: 1.0,
            ..Default::default()
        }),
        "maxminlcb_beta2" => PairPolicySpec::Maxminlcb(MaxMinLcbParams {
            beta: 2.0,
            ..Default::default()
        }),
        other => panic!("vector key `{other}` has no rule mapping; add one to this test"),
    }
}

#[test]
fn pair_rules_match_every_reference_vector() {
    let files = common::vector_files("auf-reference");
    for file in &files {
        let case: AufCase = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for (key, expected) in &case.expected {
            let spec = rule(key);
            for (p, want) in expected.iter().enumerate() {
                let c = CandidateScores {
                    mu: &case.mu[p],
                    sd: &case.sd[p],
                    members: None,
                    oracle: None,
                    design: None,
                };
                let (a, b) = spec
                    .select(&c, PairMode::Reference, &mut ChaCha8Rng::seed_from_u64(0))
                    .unwrap();
                let got = [a, b];
                if key == "infomax" {
                    // Symmetric score: the order of a and b depends only on float rounding (vectors README).
                    let mut g = got;
                    let mut w = *want;
                    g.sort();
                    w.sort();
                    assert_eq!(g, w, "{} {key} prompt {p}", case.name);
                } else {
                    assert_eq!(&got, want, "{} {key} prompt {p}", case.name);
                }
            }
        }
        eprintln!(
            "{}: {} rules match the reference",
            case.name,
            case.expected.len()
        );
    }
}
