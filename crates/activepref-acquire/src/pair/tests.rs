//! Hand-computed picks and invariants of every pair rule.

use super::*;
use proptest::prelude::*;
use rand::SeedableRng;

fn scores<'a>(mu: &'a [f32], sd: &'a [f32]) -> CandidateScores<'a> {
    CandidateScores {
        mu,
        sd,
        members: None,
        oracle: None,
        design: None,
    }
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn run(spec: &PairPolicySpec, c: &CandidateScores<'_>, mode: PairMode) -> (usize, usize) {
    spec.select(c, mode, &mut rng(0)).unwrap()
}

// Four responses chosen so that β changes the DeltaUCB and InfoMax picks:
// μ = [0, 1, 0.2, 0.9], σ = [1, 0.1, 0.05, 0.6].
const MU: [f32; 4] = [0.0, 1.0, 0.2, 0.9];
const SD: [f32; 4] = [1.0, 0.1, 0.05, 0.6];

#[test]
fn deltaucb_by_hand_and_beta_only_matters_when_corrected() {
    // β = 1: u − l gaps: (i=3, j=0): 1.5 − (−1) = 2.5; (1, 0): 1.1 + 1 = 2.1; (0, 2): 1 − 0.15 = 0.85.
    // Max is (3, 0). β = 2 (corrected): (3,0): 0.9+1.2+2 = 4.1; (0,2)? 2 − 0.1 = 1.9; (1,0): 1.2+2 = 3.2 → (3, 0).
    let c = scores(&MU, &SD);
    let b1 = PairPolicySpec::Deltaucb(BetaParams { beta: 1.0 });
    let b0 = PairPolicySpec::Deltaucb(BetaParams { beta: 0.0 });
    assert_eq!(run(&b1, &c, PairMode::Reference), (3, 0));
    assert_eq!(
        run(&b0, &c, PairMode::Reference),
        (3, 0),
        "reference ignores β"
    );
    // β = 0 corrected: plain mean gap μ_i − μ_j, maximised by (1, 0).
    assert_eq!(run(&b0, &c, PairMode::Corrected), (1, 0));
    assert_eq!(run(&b1, &c, PairMode::Corrected), (3, 0));
}

#[test]
fn deltaucb_beta_one_and_two_tell_modes_apart() {
    // μ = [0, 1, 0.5], σ = [0, 0, 0.4]. Gaps μi − μj + β(σi + σj):
    // (1,0) = 1; (1,2) = (2,0) = 0.5 + 0.4β; the rest are smaller.
    // β = 1: (1,0) = 1 > 0.9 → (1, 0). β = 2: (1,2) = (2,0) = 1.3 > 1, first in row-major order → (1, 2).
    let (mu, sd) = ([0.0f32, 1.0, 0.5], [0.0f32, 0.0, 0.4]);
    let c = scores(&mu, &sd);
    let beta = |b| PairPolicySpec::Deltaucb(BetaParams { beta: b });
    assert_eq!(run(&beta(1.0), &c, PairMode::Reference), (1, 0));
    assert_eq!(
        run(&beta(2.0), &c, PairMode::Reference),
        (1, 0),
        "reference ignores β"
    );
    assert_eq!(run(&beta(1.0), &c, PairMode::Corrected), (1, 0));
    assert_eq!(run(&beta(2.0), &c, PairMode::Corrected), (1, 2));
}

#[test]
fn infomax_prefers_close_means_with_wide_spread() {
    // Width σ(Δ + σi + σj) − σ(Δ − σi − σj) is largest for (0, 3): Δ = −0.9, σ sum 1.6.
    let c = scores(&MU, &SD);
    let (a, b) = run(
        &PairPolicySpec::Infomax(BetaParams::default()),
        &c,
        PairMode::Reference,
    );
    assert_eq!((a.min(b), a.max(b)), (0, 3));
}

#[test]
fn maxmin_and_static_tie_rules() {
    let mu = [0.5f32, 2.0, 2.0, -1.0, -1.0];
    assert_eq!(
        run(
            &PairPolicySpec::Maxmin {},
            &scores(&mu, &[0.0; 5]),
            PairMode::Corrected
        ),
        (1, 4)
    );
    let c = CandidateScores {
        mu: &[0.0; 5],
        sd: &[0.0; 5],
        members: None,
        oracle: Some(&mu),
        design: None,
    };
    assert_eq!(
        run(&PairPolicySpec::StaticMaxmin {}, &c, PairMode::Corrected),
        (1, 4)
    );
    assert!(
        PairPolicySpec::StaticMaxmin {}
            .select(&scores(&mu, &[0.0; 5]), PairMode::Corrected, &mut rng(0))
            .is_err()
    );
}

#[test]
fn maxminlcb_by_hand_and_spread_rule_per_mode() {
    // μ = [1, 0, 0.5], s = [0.1, 0.1, 0.4], β = 1.
    // Reference LCB_ij = μi − μj − (si + sj): row 0: vs1 0.8, vs2 0.0 → min 0.0 (j=2);
    // row 1: vs0 −1.2, vs2 −1.0 → −1.2; row 2: vs0 −1.0, vs1 0.0 → −1.0. a = 0, b = 2.
    let spec = PairPolicySpec::Maxminlcb(MaxMinLcbParams::default());
    assert_eq!(
        run(
            &spec,
            &scores(&[1.0, 0.0, 0.5], &[0.1, 0.1, 0.4]),
            PairMode::Reference
        ),
        (0, 2)
    );
    // μ = [0, 0, 0.1], s = [0.4, 0.1, 0.4]. Reference (si + sj): row minima −0.9, −0.6, −0.7 → (1, 2).
    // Corrected (√(si² + sj²)): S01 = S12 = 0.4123, S02 = 0.5657; row minima −0.6657, −0.5123,
    // −0.4657 → a = 2 with hardest competitor 0.
    let c = scores(&[0.0, 0.0, 0.1], &[0.4, 0.1, 0.4]);
    assert_eq!(run(&spec, &c, PairMode::Reference), (1, 2));
    assert_eq!(run(&spec, &c, PairMode::Corrected), (2, 0));
}

#[test]
fn infomax_beta_matters_only_when_corrected() {
    // μ = [−1.3, 1.2, 1.7], s = [0.8, 0.8, 0]: widest interval at β = 1 is {1, 2} (0.3603 vs 0.2727),
    // at β = 2 it is {0, 1} (0.6649 vs 0.6412).
    let c = scores(&[-1.3, 1.2, 1.7], &[0.8, 0.8, 0.0]);
    let beta = |b| PairPolicySpec::Infomax(BetaParams { beta: b });
    let unordered = |(a, b): (usize, usize)| (a.min(b), a.max(b));
    assert_eq!(unordered(run(&beta(2.0), &c, PairMode::Reference)), (1, 2));
    assert_eq!(unordered(run(&beta(1.0), &c, PairMode::Corrected)), (1, 2));
    assert_eq!(unordered(run(&beta(2.0), &c, PairMode::Corrected)), (0, 1));
}

#[test]
fn deltaquantile_beta_matters_only_when_corrected() {
    // Same input as DeltaUCB's β test, quantile 0 → the largest gap: (1, 0) at β = 1, (1, 2) at β = 2.
    let c = scores(&[0.0, 1.0, 0.5], &[0.0, 0.0, 0.4]);
    let q = |b| {
        PairPolicySpec::Deltaquantile(QuantileParams {
            beta: b,
            quantile: 0.0,
            epsilon: 0.0,
        })
    };
    assert_eq!(run(&q(2.0), &c, PairMode::Reference), (1, 0));
    assert_eq!(run(&q(1.0), &c, PairMode::Corrected), (1, 0));
    assert_eq!(run(&q(2.0), &c, PairMode::Corrected), (1, 2));
}

#[test]
fn ids_gap_sign_per_mode() {
    // μ = [2, 1, 0.8], s = [0.1, 0.5, 0.1], β = 1: all UCBs > 0.5, greedy g = 0, R = 2.1.
    // Corrected: regret ((1 − p)·0.1 + p·(R − μ_i))², information ½ ln(1 + s_i²). Arm 1:
    // (0.1 + p)² / (0.1116 p), least at p = 0.1: 3.58; arm 2: (0.1 + 1.2p)² / (0.004975 p), least
    // near p = 0.08: 96.5 → (0, 1).
    // Reference gap R + μ (× info): arm 1: 3.1² · ln 1.5 = 3.90, arm 2: 2.9² · ln 1.1 = 0.80 → (0, 2), p* = 1.
    let c = scores(&[2.0, 1.0, 0.8], &[0.1, 0.5, 0.1]);
    let spec = PairPolicySpec::Ids(UcbSetParams::default());
    assert_eq!(run(&spec, &c, PairMode::Corrected), (0, 1));
    assert_eq!(run(&spec, &c, PairMode::Reference), (0, 2));
}

#[test]
fn corrected_maxminlcb_reads_the_members_joint_spread() {
    // Members [0, 0.1, 0.5], [1, 1.1, 0.5], [2, 2.1, 0.5]: arms 0 and 1 move together (arm 1 is
    // 0.1 higher in every member), arm 2 is constant. μ = [1, 1.1, 0.5], s = [1, 1, 0], β = 1.
    // Joint spread: S_10 = 0, S_12 = S_02 = 1. LCB_10 = 0.1, LCB_12 = −0.4 → min −0.4; row 0:
    // min(−0.1, −0.5) = −0.5; row 2: −1.6 → a = 1, b = 2 (arm 1 surely beats arm 0).
    // Independent √(s_i² + s_j²): LCB_10 = 0.1 − √2 = −1.31 is row 1's minimum → (1, 0).
    let members = vec![
        vec![0.0f32, 0.1, 0.5],
        vec![1.0, 1.1, 0.5],
        vec![2.0, 2.1, 0.5],
    ];
    let (mu, sd) = ([1.0f32, 1.1, 0.5], [1.0f32, 1.0, 0.0]);
    let spec = PairPolicySpec::Maxminlcb(MaxMinLcbParams::default());
    let with = CandidateScores {
        mu: &mu,
        sd: &sd,
        members: Some(&members),
        oracle: None,
        design: None,
    };
    assert_eq!(run(&spec, &with, PairMode::Corrected), (1, 2));
    assert_eq!(run(&spec, &scores(&mu, &sd), PairMode::Corrected), (1, 0));
    // Reference mode ignores the members and adds the spreads: row minima −2.1, −1.9 and −1.6
    // (LCB_21 = −0.6 − 1) → (2, 1).
    assert_eq!(run(&spec, &with, PairMode::Reference), (2, 1));
}

#[test]
fn corrected_ids_charges_the_greedy_arm_its_own_gap_and_reads_variance() {
    // μ = [1, 0.9, 0.55], s = [0.01, 0.1, 2], β = 0: R = max μ = 1, g = 0, Δ_g = 0, so the ratio
    // of arm i is p·Δ_i² / (½ ln(1 + s_i²)), least at p = 0.01: arm 1: 0.01·0.01 / 0.004975 =
    // 0.0201; arm 2: 0.01·0.2025 / 0.8047 = 0.0025 → (0, 2), the arm whose observation informs.
    // The earlier corrected form (greedy arm charged R, information ln(1 + s)) gave arm 1:
    // 0.01 / ln 1.1 = 0.105 against 0.2025 / ln 3 = 0.184.
    let c = scores(&[1.0, 0.9, 0.55], &[0.01, 0.1, 2.0]);
    let spec = PairPolicySpec::Ids(UcbSetParams {
        beta: 0.0,
        ..Default::default()
    });
    assert_eq!(run(&spec, &c, PairMode::Corrected), (0, 2));
}

#[test]
fn reference_thompson_is_uniform_whatever_the_configured_draw() {
    // Gaussian is configured, but reference mode uses the uniform perturbation: P(a = 0) = 1/4.
    let (mu, sd) = ([0.0f32, 0.5], [1.0f32, 0.0]);
    let f = frequencies(
        &PairPolicySpec::Dts(ThompsonParams::default()),
        &scores(&mu, &sd),
        PairMode::Reference,
        40_000,
    );
    assert!((f[&(0, 1)] - 0.25).abs() < 0.012, "{f:?}");
}

#[test]
fn maxminlcb_candidate_set_singleton_is_an_error_only_in_reference() {
    // With the candidate set on and one dominant arm, only arm 0 has UCB_0j > 0 for all j.
    let (mu, sd) = ([5.0f32, 0.0, 0.1], [0.01f32, 0.01, 0.01]);
    let spec = PairPolicySpec::Maxminlcb(MaxMinLcbParams {
        use_candidate_set: true,
        ..Default::default()
    });
    assert!(
        spec.select(&scores(&mu, &sd), PairMode::Reference, &mut rng(1))
            .is_err()
    );
    let (a, b) = run(&spec, &scores(&mu, &sd), PairMode::Corrected);
    assert_ne!(a, b);
}

#[test]
fn deltaquantile_picks_the_ranked_gap() {
    // n = 3 → V = 6 gaps; q = 0.5, ε = 0 → start = 3, end = 4: the 4th-largest gap.
    // μ = [0, 1, 3], σ = 0: gaps μi − μj: (2,0) 3, (2,1) 2, (1,0) 1, (0,1) −1, (1,2) −2, (0,2) −3.
    let (mu, sd) = ([0.0f32, 1.0, 3.0], [0.0f32; 3]);
    let spec = PairPolicySpec::Deltaquantile(QuantileParams {
        quantile: 0.5,
        epsilon: 0.0,
        beta: 1.0,
    });
    assert_eq!(run(&spec, &scores(&mu, &sd), PairMode::Reference), (0, 1));
    // A window of 3 ranks [1, 4) = (2,1), (1,0), (0,1): the first arm with the largest u is 2.
    let spec = PairPolicySpec::Deltaquantile(QuantileParams {
        quantile: 0.4,
        epsilon: 0.2,
        beta: 1.0,
    });
    assert_eq!(run(&spec, &scores(&mu, &sd), PairMode::Reference), (2, 1));
}

#[test]
fn reference_random_with_replacement_errors_on_a_collision() {
    let (mu, sd) = ([0.0f32; 2], [0.0f32; 2]);
    let mut r = rng(5);
    let results: Vec<_> = (0..200)
        .map(|_| PairPolicySpec::Random {}.select(&scores(&mu, &sd), PairMode::Reference, &mut r))
        .collect();
    let errors = results.iter().filter(|r| r.is_err()).count();
    // P(a = b) = 1/2 with n = 2: about 100 of 200; 60..140 is > 5 standard deviations wide.
    assert!((60..140).contains(&errors), "{errors}");
    assert!(results.iter().flatten().all(|&(a, b)| a != b));
}

/// Frequencies of the pairs a rule returns over `draws` seeded calls.
fn frequencies(
    spec: &PairPolicySpec,
    c: &CandidateScores<'_>,
    mode: PairMode,
    draws: usize,
) -> std::collections::HashMap<(usize, usize), f64> {
    let mut r = rng(42);
    let mut f = std::collections::HashMap::new();
    for _ in 0..draws {
        *f.entry(spec.select(c, mode, &mut r).unwrap())
            .or_insert(0.0) += 1.0 / draws as f64;
    }
    f
}

#[test]
fn corrected_random_is_uniform_over_ordered_distinct_pairs() {
    let (mu, sd) = ([0.0f32; 3], [0.0f32; 3]);
    let f = frequencies(
        &PairPolicySpec::Random {},
        &scores(&mu, &sd),
        PairMode::Corrected,
        30_000,
    );
    assert_eq!(f.len(), 6);
    // Each of 6 ordered pairs 1/6 ± 0.015 (≈ 7 standard errors of 0.0022).
    assert!(f.values().all(|&p| (p - 1.0 / 6.0).abs() < 0.015), "{f:?}");
}

#[test]
fn ultrafeedback_best_of_four_distribution() {
    // n = 5, μ strictly increasing: a = max of a random 4-subset = 4 unless 4 is left out (prob 1/5),
    // then a = 3. b is uniform over the other 3 drawn.
    let mu = [0.0f32, 1.0, 2.0, 3.0, 4.0];
    let f = frequencies(
        &PairPolicySpec::Ultrafeedback {},
        &scores(&mu, &[0.0; 5]),
        PairMode::Corrected,
        40_000,
    );
    let pa4: f64 = f.iter().filter(|((a, _), _)| *a == 4).map(|(_, p)| p).sum();
    assert!((pa4 - 0.8).abs() < 0.015, "{pa4}");
    // P(a = 4, b = 0) = P(4 drawn, 0 drawn) · 1/3 = (3/5) · 1/3 = 0.2.
    assert!((f[&(4, 0)] - 0.2).abs() < 0.015, "{f:?}");
    let err = PairPolicySpec::Ultrafeedback {}.select(
        &scores(&mu[..3], &[0.0; 3]),
        PairMode::Reference,
        &mut rng(0),
    );
    assert!(err.is_err(), "reference needs n ≥ 4");
}

#[test]
fn dts_uniform_draw_frequencies() {
    // Two responses μ = [0, 0.5], s = [1, 0]: the perturbed score of 0 is U(−1, 1) and beats 0.5
    // with probability 1/4. With n = 2, b must be the other arm, so P(a = 0) = 1/4.
    let (mu, sd) = ([0.0f32, 0.5], [1.0f32, 0.0]);
    let spec = PairPolicySpec::Dts(ThompsonParams {
        draw: ThompsonDraw::Uniform,
        ..Default::default()
    });
    let f = frequencies(&spec, &scores(&mu, &sd), PairMode::Corrected, 40_000);
    assert!((f[&(0, 1)] - 0.25).abs() < 0.012, "{f:?}");
    // Gaussian draw: P(z > 0.5) = 0.3085.
    let spec = PairPolicySpec::Dts(ThompsonParams::default());
    let f = frequencies(&spec, &scores(&mu, &sd), PairMode::Corrected, 40_000);
    assert!((f[&(0, 1)] - 0.3085).abs() < 0.012, "{f:?}");
}

#[test]
fn drts_pairs_likely_best_with_likely_worst() {
    // μ = [0, 1, 2], s = [0.5; 3], uniform noise: the argmax is 2 unless noise makes 1 win (never: gaps of 1 ≥ 2·0.5
    // are only reached at the boundary), the reverse argmax is 0 likewise: always (2, 0).
    let (mu, sd) = ([0.0f32, 1.0, 2.0], [0.49f32; 3]);
    let spec = PairPolicySpec::Drts(ThompsonParams {
        draw: ThompsonDraw::Uniform,
        ..Default::default()
    });
    let f = frequencies(&spec, &scores(&mu, &sd), PairMode::Corrected, 2_000);
    assert_eq!(f.len(), 1);
    assert!((f[&(2, 0)] - 1.0).abs() < 1e-9);
}

#[test]
fn member_draws_use_one_member() {
    // Two members that disagree completely: member 0 ranks 0 best and 2 worst, member 1 the reverse.
    let members = vec![vec![2.0f32, 1.0, 0.0], vec![0.0f32, 1.0, 2.0]];
    let c = CandidateScores {
        mu: &[1.0; 3],
        sd: &[1.0; 3],
        members: Some(&members),
        oracle: None,
        design: None,
    };
    let spec = PairPolicySpec::Drts(ThompsonParams {
        draw: ThompsonDraw::Member,
        ..Default::default()
    });
    let f = frequencies(&spec, &c, PairMode::Corrected, 20_000);
    // a is 0 or 2 (each ½); b is the argmin of an independent member draw: 2 or 0, resampled if equal.
    for (&(a, b), p) in &f {
        assert!(
            a != b && [0, 2].contains(&a) && [0, 2].contains(&b),
            "{f:?}"
        );
        assert!((p - 0.5).abs() < 0.02, "{f:?}");
    }
    let no_members = scores(&[1.0; 3], &[1.0; 3]);
    assert!(
        spec.select(&no_members, PairMode::Corrected, &mut rng(0))
            .is_err()
    );
}

#[test]
fn infogain_distribution() {
    // μ = [0, 1, 1], s = [1, 0, 0], Gaussian draw: a = 0 when z > 1 (P = 0.1587), else the first
    // of the tied arms 1. Against a = 1 the widest interval is arm 0 (σ(2) − ½ = 0.381 vs 0);
    // against a = 0, arms 1 and 2 tie at 0.381 and the first, 1, wins.
    let c = scores(&[0.0, 1.0, 1.0], &[1.0, 0.0, 0.0]);
    let f = frequencies(
        &PairPolicySpec::Infogain(ThompsonParams::default()),
        &c,
        PairMode::Corrected,
        40_000,
    );
    assert_eq!(f.len(), 2, "{f:?}");
    assert!((f[&(0, 1)] - 0.1587).abs() < 0.012, "{f:?}");
    assert!((f[&(1, 0)] - 0.8413).abs() < 0.012, "{f:?}");
}

#[test]
fn static_random_and_ultrafeedback_distributions() {
    // static_random: each unordered pair 1/3, returned as (higher judge score, lower).
    let judge = [3.0f32, 1.0, 2.0];
    let c = CandidateScores {
        mu: &[0.0; 3],
        sd: &[0.0; 3],
        members: None,
        oracle: Some(&judge),
        design: None,
    };
    let f = frequencies(
        &PairPolicySpec::StaticRandom {},
        &c,
        PairMode::Corrected,
        30_000,
    );
    assert_eq!(f.len(), 3, "{f:?}");
    for pair in [(0, 1), (0, 2), (2, 1)] {
        assert!((f[&pair] - 1.0 / 3.0).abs() < 0.012, "{f:?}");
    }
    // static_ultrafeedback on judge scores 0..4: chosen = 4 unless 4 is not drawn (P = 1/5).
    let judge = [0.0f32, 1.0, 2.0, 3.0, 4.0];
    let c = CandidateScores {
        mu: &[0.0; 5],
        sd: &[0.0; 5],
        members: None,
        oracle: Some(&judge),
        design: None,
    };
    let f = frequencies(
        &PairPolicySpec::StaticUltrafeedback {},
        &c,
        PairMode::Corrected,
        40_000,
    );
    let p4: f64 = f.iter().filter(|((a, _), _)| *a == 4).map(|(_, p)| p).sum();
    assert!(
        (p4 - 0.8).abs() < 0.015 && (f[&(4, 0)] - 0.2).abs() < 0.015,
        "{f:?}"
    );
}

#[test]
fn infogain_draw_then_widest_interval() {
    // μ = [0, 0, 10], s = [0, 0, 0]: a is always 2; widths against 2 are equal (0) for 0 and 1 → first index 0.
    let (mu, sd) = ([0.0f32, 0.0, 10.0], [0.0f32; 3]);
    let spec = PairPolicySpec::Infogain(ThompsonParams::default());
    assert_eq!(run(&spec, &scores(&mu, &sd), PairMode::Reference), (2, 0));
}

#[test]
fn rucb_and_ids_reference_failures_are_errors_and_corrected_is_safe() {
    // All UCBs below 0.5: empty candidate set.
    let (mu, sd) = ([-1.0f32, -2.0, -3.0], [0.1f32; 3]);
    for spec in [
        PairPolicySpec::Rucb(UcbSetParams::default()),
        PairPolicySpec::Ids(UcbSetParams::default()),
    ] {
        assert!(
            spec.select(&scores(&mu, &sd), PairMode::Reference, &mut rng(0))
                .is_err()
        );
        let (a, b) = run(&spec, &scores(&mu, &sd), PairMode::Corrected);
        assert_ne!(a, b);
    }
}

#[test]
fn nan_and_tiny_inputs_are_clear_errors() {
    let spec = PairPolicySpec::Deltaucb(BetaParams::default());
    let e = spec
        .select(
            &scores(&[0.0, f32::NAN], &[0.0, 0.0]),
            PairMode::Corrected,
            &mut rng(0),
        )
        .unwrap_err();
    assert!(e.to_string().contains("mean of response 1 is NaN"), "{e}");
    let e = spec
        .select(&scores(&[0.0], &[0.0]), PairMode::Corrected, &mut rng(0))
        .unwrap_err();
    assert!(e.to_string().contains("at least 2"), "{e}");
    let e = spec
        .select(&scores(&[], &[]), PairMode::Corrected, &mut rng(0))
        .unwrap_err();
    assert!(e.to_string().contains("0 response"), "{e}");
}

proptest! {
    #[test]
    fn corrected_pairs_are_distinct_and_in_range(
        n in 2usize..12,
        vals in proptest::collection::vec((-5.0f32..5.0, 0.0f32..2.0, -5.0f32..5.0), 12),
        seed in 0u64..10_000,
    ) {
        let mu: Vec<f32> = vals[..n].iter().map(|v| v.0).collect();
        let sd: Vec<f32> = vals[..n].iter().map(|v| v.1).collect();
        let oracle: Vec<f32> = vals[..n].iter().map(|v| v.2).collect();
        let members = vec![mu.clone(), oracle.clone(), sd.clone()];
        // A two-draw last layer of width 2 from the same values, for the D-optimal rule.
        let phi = activepref_core::FeatureMatrix::new(n, 2, mu.iter().zip(&oracle).flat_map(|(&a, &b)| [a, b]).collect()).unwrap();
        let features = [phi.clone(), phi];
        let (weights, inverse) = ([vec![0.5, -1.0], vec![1.0, 0.25]], [vec![1.0, 0.0, 0.0, 1.0], vec![0.5, 0.1, 0.1, 2.0]]);
        let design = PairDesign { features: &features, weights: &weights, inverse_information: &inverse };
        let c = CandidateScores { mu: &mu, sd: &sd, members: Some(&members), oracle: Some(&oracle), design: Some(&design) };
        let mut all = PairPolicySpec::all();
        all.push(PairPolicySpec::Dts(ThompsonParams { draw: ThompsonDraw::Member, ..Default::default() }));
        all.push(PairPolicySpec::Maxminlcb(MaxMinLcbParams { use_candidate_set: true, ..Default::default() }));
        for spec in all {
            let (a, b) = spec.select(&c, PairMode::Corrected, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
            prop_assert!(a != b && a < n && b < n, "{} gave ({a}, {b}) for n = {n}", spec.name());
            // Reference mode either returns a valid pair or a clear error, never a = b.
            if let Ok((a, b)) = spec.select(&c, PairMode::Reference, &mut ChaCha8Rng::seed_from_u64(seed)) {
                prop_assert!(a != b && a < n && b < n);
            }
        }
    }
}

#[test]
fn deltaquantile_window_is_computed_in_f64_as_the_reference() {
    use super::bounds::quantile_window;
    // n = 10: V = 90; 90 × 0.7 = 62.99999999999999 in f64 (63 in f32): the window starts at 62.
    assert_eq!(quantile_window(90, 0.7, 0.0), (62, 63));
    // n = 30, the default q = 0.05: the 44th-largest gap (specs/activeuf.md §3.6).
    assert_eq!(quantile_window(870, 0.05, 0.0), (43, 44));
    // ε widens the window; end never passes V.
    assert_eq!(quantile_window(12, 0.2, 0.05), (1, 3));
    assert_eq!(quantile_window(12, 1.0, 0.0), (11, 12));
}

#[test]
fn ids_ignores_beta_in_reference_mode_only() {
    // With β = 1 every arm's UCB exceeds 0.5; with β = 0 only arms 1 and 3 do. Reference mode never
    // passes β to IDS, so its candidate set (and picks) are those of β = 1 whatever β says.
    let mu = [0.2f32, 0.9, 0.3, 0.8];
    let sd = [0.5f32, 0.1, 0.4, 0.2];
    let c = scores(&mu, &sd);
    let with = |beta: f32| {
        PairPolicySpec::Ids(UcbSetParams {
            beta,
            ..Default::default()
        })
    };
    for seed in 0..20 {
        let draw = |spec: &PairPolicySpec, mode| {
            spec.select(&c, mode, &mut rng(seed))
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            draw(&with(0.0), PairMode::Reference),
            draw(&with(1.0), PairMode::Reference),
            "seed {seed}"
        );
        if let Ok((a, b)) = draw(&with(0.0), PairMode::Corrected) {
            assert!(
                [1, 3].contains(&a) && [1, 3].contains(&b),
                "β = 0 keeps arms 1 and 3 only: {a}, {b}"
            );
        }
    }
}

#[test]
fn maxminlcb_candidate_set_reference_returns_arm_zero_when_any_arm_is_pruned() {
    // μ = [0.9, 1, 0.95, −2], s = 0.1: arm 3's UCB against arm 1 is −3 + 0.2 < 0, so it is pruned;
    // arms 0, 1 and 2 stay (every UCB_ij > 0).
    let mu = [0.9f32, 1.0, 0.95, -2.0];
    let sd = [0.1f32; 4];
    let c = scores(&mu, &sd);
    let spec = PairPolicySpec::Maxminlcb(MaxMinLcbParams {
        use_candidate_set: true,
        ..Default::default()
    });
    // Reference: a = 0 (the pruned arm's +inf row minimum), b = arm 0's hardest candidate
    // competitor: LCB_0j = 0.9 − μ_j − 0.2 is −0.3 for j = 1 and −0.25 for j = 2.
    assert_eq!(run(&spec, &c, PairMode::Reference), (0, 1));
    // Corrected (spread √(s_i² + s_j²) = 0.1414): row minima over candidates are −0.2414 (arm 0),
    // −0.0914 (arm 1, against arm 2) and −0.1914 (arm 2): arm 1 against arm 2.
    assert_eq!(run(&spec, &c, PairMode::Corrected), (1, 2));
    // Arm 0 itself pruned: the reference returns (0, 0), which its loop rejects.
    let mu = [-2.0f32, 1.0, 0.9, 0.0];
    let err = spec
        .select(&scores(&mu, &sd), PairMode::Reference, &mut rng(0))
        .unwrap_err();
    assert!(err.to_string().contains("returns (0, 0)"), "{err}");
    // Nothing pruned (wide spreads: every UCB_ij = Δ_ij + 2 > 0): the usual max-min row, arm 3.
    let all = [0.0f32, 0.1, 0.2, 0.3];
    assert_eq!(
        run(&spec, &scores(&all, &[1.0; 4]), PairMode::Reference).0,
        3
    );
}

#[test]
fn a_prompt_with_one_response_is_refused_in_the_singular() {
    let spec = PairPolicySpec::Deltaucb(BetaParams { beta: 1.0 });
    let e = spec
        .select(&scores(&[0.5], &[0.1]), PairMode::Corrected, &mut rng(0))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "pair policy `deltaucb` needs at least 2 responses per prompt, got 1 response"
    );
}
