//! Checks BAL-PM against the picks the reference implementation returned on the same inputs
//! (`shared/vectors/balpm-reference/*.json`, see its README). Every file in the folder is checked.

use crate::common;

use std::collections::HashMap;

use activepref_acquire::{BalPm, BalPmConfig, FeatureShift, PoolState, PromptKnnIndex};
use activepref_core::{FeatureMatrix, PromptFeatures};
use serde::Deserialize;

#[derive(Deserialize)]
struct BalPmCase {
    name: String,
    k: usize,
    beta: f64,
    d_tilde: f64,
    eps: f64,
    batch_size: usize,
    reference_feature_shift: bool,
    ids: Vec<i64>,
    prompt_features: Vec<Vec<f32>>,
    bald: Vec<f64>,
    labelled_ids: Vec<i64>,
    pool_ids: Vec<i64>,
    expected_picks_in_order: Vec<i64>,
}

/// `ACTIVEPREF_VECTORS` when set, else `shared/vectors` beside the checkout.

#[test]
fn balpm_matches_every_reference_vector() {
    let files = common::vector_files("balpm-reference");
    for file in &files {
        let case: BalPmCase = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let row_of: HashMap<i64, usize> = case
            .ids
            .iter()
            .enumerate()
            .map(|(r, &id)| (id, r))
            .collect();
        let feats: PromptFeatures = FeatureMatrix::from_rows(&case.prompt_features)
            .unwrap()
            .into();
        let unlabelled: Vec<usize> = case.pool_ids.iter().map(|id| row_of[id]).collect();
        let labelled: Vec<usize> = case.labelled_ids.iter().map(|id| row_of[id]).collect();
        let uncertainty: Vec<f64> = unlabelled.iter().map(|&r| case.bald[r]).collect();
        let state = PoolState::new(&unlabelled, &uncertainty, &labelled, &feats);
        let policy = BalPm::new(BalPmConfig {
            k: case.k,
            beta: case.beta,
            d_tilde: case.d_tilde,
            eps: case.eps,
            feature_shift: if case.reference_feature_shift {
                FeatureShift::Reference
            } else {
                FeatureShift::None
            },
            ..BalPmConfig::default()
        });
        let picks: Vec<i64> = policy
            .select_traced(&state, case.batch_size)
            .unwrap()
            .picks
            .iter()
            .map(|&r| case.ids[r])
            .collect();
        assert_eq!(
            picks,
            case.expected_picks_in_order,
            "case {} ({})",
            case.name,
            file.display()
        );
        if !case.reference_feature_shift {
            // The exact neighbour index must give the same batch, whether its lists hold every
            // prompt or run out and fall back to brute force.
            for index_k in [1, 3, case.k, 64] {
                let index = PromptKnnIndex::build(feats.table(), index_k, &|_| {});
                let indexed = PoolState {
                    prompt_index: Some(&index),
                    ..state
                };
                let picks: Vec<i64> = policy
                    .select_traced(&indexed, case.batch_size)
                    .unwrap()
                    .picks
                    .iter()
                    .map(|&r| case.ids[r])
                    .collect();
                assert_eq!(
                    picks, case.expected_picks_in_order,
                    "case {} with an index of K = {index_k}",
                    case.name
                );
            }
        }
        eprintln!("{}: {} picks match the reference", case.name, picks.len());
    }
}
