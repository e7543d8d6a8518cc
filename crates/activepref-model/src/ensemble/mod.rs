//! The deep ensemble and its training loop (specs/balpm.md §2).
//!
//! [`config`] holds what an ensemble is ([`EnsembleConfig`], [`TrainConfig`], [`MemberInit`],
//! [`UncertaintyBackend`]); [`training`] how it is fitted from scratch; [`anchored`] the warm-started,
//! anchored refit of ActiveUltraFeedback's loop; [`fitted`] what a fitted one computes, behind the
//! [`PreferenceModel`] seam; [`laplace`] the Laplace last layer's posterior.

pub mod adamw;
pub mod anchored;
pub mod config;
mod dense_train;
pub mod fitted;
pub mod laplace;
mod norm;
mod passes;
mod repeats;
pub mod training;

pub use adamw::FusedAdamW;
pub use anchored::{AnchorDecay, AnchoredEnsemble, AnchoredRefitConfig, RefitReport};
pub use config::{
    ADAM_BETAS, EnsembleConfig, MemberInit, TrainConfig, TrainingStrategy, UncertaintyBackend,
};
pub use fitted::{FittedEnsemble, PreferenceModel};
pub use training::TrainReport;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::RewardMlpConfig;
    use activepref_data::synthetic::SyntheticPoolConfig;

    /// The default synthetic benchmark with `pool_prompts` pool prompts.
    fn bench(pool_prompts: usize) -> activepref_core::PoolBenchmark {
        SyntheticPoolConfig {
            pool_prompts,
            ..Default::default()
        }
        .generate()
        .unwrap()
    }

    fn tiny_config() -> EnsembleConfig {
        EnsembleConfig {
            members: 3,
            mlp: RewardMlpConfig {
                hidden: vec![16],
                weight_init_std: 0.1,
                ..Default::default()
            },
            train: TrainConfig {
                lr: 3e-3,
                max_epochs: 20,
                batch_size: 16,
                eval_every_steps: 1000,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let t = TrainConfig {
            lr: 1.0,
            warmup_steps: 4,
            ..Default::default()
        };
        let lrs: Vec<f64> = (0..12).map(|s| t.lr_at(s, 12)).collect();
        assert_eq!(&lrs[..5], &[0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(lrs[8], 0.5);
        assert!(lrs[11] > 0.0 && t.lr_at(12, 12) == 0.0);
    }

    #[test]
    fn training_learns_and_is_reproducible() {
        let bench = bench(200);
        let cfg = tiny_config();
        let train = bench.pool.subset(&(0..300).collect::<Vec<_>>());
        let a = cfg.fit(&train, &bench.validation, 9, 0).unwrap();
        let b = cfg.fit(&train, &bench.validation, 9, 0).unwrap();
        let pa = a.predict(&bench.test, None);
        let pb = b.predict(&bench.test, None);
        assert_eq!(pa, pb, "same seed, same ensemble");
        let m = pa.metrics(&bench.test.a_preferred);
        // Chance level is ln(1/2) = −0.693 and accuracy 0.5; a trained ensemble must beat both.
        assert!(m.log_likelihood > -0.66 && m.accuracy > 0.6, "{m:?}");
        // Members differ (independent init), so BALD is positive somewhere.
        assert!(pa.bald_all().iter().any(|&u| u > 1e-6));
        let c = cfg.fit(&train, &bench.validation, 10, 0).unwrap();
        assert_ne!(
            c.predict(&bench.test, None),
            pa,
            "another seed, another ensemble"
        );
    }

    /// A whole fit (minibatch order, labels, learning-rate schedule, evaluations, early
    /// stopping, warm starts) on the dense trainer equals the same fit on burn's autodiff, bit
    /// for bit.
    #[test]
    fn dense_and_burn_fits_are_bit_identical() {
        use std::sync::atomic::Ordering;
        let bench = bench(200);
        let mut cfg = tiny_config();
        cfg.train.max_epochs = 10;
        cfg.train.lr = 0.05;
        cfg.train.eval_every_steps = 5;
        cfg.train.patience = 2;
        let train = bench.pool.subset(&(0..150).collect::<Vec<_>>());
        let weights = |f: &FittedEnsemble| -> Vec<Vec<u32>> {
            f.members
                .iter()
                .flat_map(|m| m.snapshot())
                .map(|t| {
                    let v = t.into_data().try_to_vec::<f32>().unwrap();
                    v.into_iter().map(f32::to_bits).collect()
                })
                .collect()
        };
        let fit = |burn: bool, warm: Option<&FittedEnsemble>| {
            training::FORCE_BURN.store(burn, Ordering::SeqCst);
            let mut c = cfg.clone();
            if warm.is_some() {
                c.train.strategy = TrainingStrategy::WarmStart { epochs: 2 };
            }
            let f = c.fit_from(warm, &train, &bench.validation, 9, 0).unwrap();
            training::FORCE_BURN.store(false, Ordering::SeqCst);
            f
        };
        let (dense, burn) = (fit(false, None), fit(true, None));
        assert!(weights(&dense) == weights(&burn), "a full fit differs");
        assert_eq!(dense.reports, burn.reports);
        assert!(
            dense
                .reports
                .iter()
                .any(|r| r.stopped_early || r.best_step < r.steps)
        );
        let (dense_warm, burn_warm) = (fit(false, Some(&dense)), fit(true, Some(&burn)));
        assert!(
            weights(&dense_warm) == weights(&burn_warm),
            "a warm start differs"
        );
    }

    /// A report counts the fit's optimiser steps and validation passes: 150 pairs in batches of
    /// 16 are 10 steps an epoch; over 2 epochs a member evaluates after steps 3, 6, 9, 12, 15, 18
    /// (every 3) and 10, 20 (the epoch ends).
    #[test]
    fn a_report_counts_steps_and_validation_passes() {
        let bench = bench(200);
        let mut cfg = tiny_config();
        cfg.train.max_epochs = 2;
        cfg.train.eval_every_steps = 3;
        cfg.train.patience = 100;
        let train = bench.pool.subset(&(0..150).collect::<Vec<_>>());
        let fitted = cfg.fit(&train, &bench.validation, 9, 0).unwrap();
        assert_eq!(fitted.reports.len(), 3);
        for r in &fitted.reports {
            assert_eq!((r.steps, r.evaluations, r.stopped_early), (20, 8, false));
        }
        let untrained = cfg.untrained(bench.pool.pair_a.dim(), 9, 0).unwrap();
        assert!(untrained.reports.iter().all(|r| r.evaluations == 0));
    }

    #[test]
    fn warm_start_continues_the_previous_rounds_weights() {
        let bench = bench(200);
        let mut cfg = tiny_config();
        cfg.train.strategy = TrainingStrategy::WarmStart { epochs: 2 };
        let first = bench.pool.subset(&(0..100).collect::<Vec<_>>());
        let second = bench.pool.subset(&(0..200).collect::<Vec<_>>());
        let r0 = cfg.fit_from(None, &first, &bench.validation, 9, 0).unwrap();
        // 100 pairs in batches of 16: 7 steps an epoch, 2 epochs, one evaluation after the last.
        for rep in &r0.reports {
            assert_eq!(
                (rep.steps, rep.evaluations, rep.best_step, rep.stopped_early),
                (14, 1, 14, false)
            );
            assert!(rep.best_validation_loss.is_finite());
        }
        let r1 = cfg
            .fit_from(Some(&r0), &second, &bench.validation, 9, 1)
            .unwrap();
        assert_eq!(r1.reports[0].steps, 26, "13 steps an epoch on 200 pairs");
        let again = cfg
            .fit_from(Some(&r0), &second, &bench.validation, 9, 1)
            .unwrap();
        let p1 = r1.predict(&bench.test, None);
        assert_eq!(p1, again.predict(&bench.test, None), "reproducible");
        // Continuing differs from starting round 1 afresh: the start really is r0's weights.
        let cold = cfg
            .fit_from(None, &second, &bench.validation, 9, 1)
            .unwrap();
        assert_ne!(p1, cold.predict(&bench.test, None));
        // With a learning rate of ~0 a warm round changes nothing: it starts exactly at r0.
        let mut still = cfg.clone();
        still.train.lr = 1e-12;
        let kept = still
            .fit_from(Some(&r0), &second, &bench.validation, 9, 1)
            .unwrap();
        let (a, b) = (
            kept.rewards(&bench.test.pair_a),
            r0.rewards(&bench.test.pair_a),
        );
        for (ma, mb) in a.iter().zip(&b) {
            for (x, y) in ma.iter().zip(mb) {
                assert!((x - y).abs() < 1e-6, "{x} vs {y}");
            }
        }
        // Learning goes on: 4 epochs in all do better on validation than the first 2.
        let (l0, l1) = (
            r0.reports
                .iter()
                .map(|r| r.best_validation_loss)
                .sum::<f64>(),
            cfg.fit_from(Some(&r0), &first, &bench.validation, 9, 1)
                .unwrap()
                .reports
                .iter()
                .map(|r| r.best_validation_loss)
                .sum::<f64>(),
        );
        assert!(l1 < l0, "{l1} !< {l0}");
        // `fit` always retrains from scratch with early stopping, whatever the strategy (the
        // full-dataset line, the pair loop's from-scratch refit, prefix evaluations).
        let mut as_full = cfg.clone();
        as_full.train.strategy = TrainingStrategy::FullRetrain;
        assert_eq!(
            cfg.fit(&first, &bench.validation, 9, 0)
                .unwrap()
                .predict(&bench.test, None),
            as_full
                .fit(&first, &bench.validation, 9, 0)
                .unwrap()
                .predict(&bench.test, None)
        );
        // Under full_retrain a previous ensemble is ignored.
        let full = tiny_config();
        let a = full
            .fit_from(Some(&r0), &first, &bench.validation, 9, 1)
            .unwrap();
        let b = full.fit(&first, &bench.validation, 9, 1).unwrap();
        assert_eq!(a.predict(&bench.test, None), b.predict(&bench.test, None));
        // An ensemble of another size cannot be continued.
        let mut wide = cfg.clone();
        wide.members = 4;
        assert!(matches!(
            wide.fit_from(Some(&r0), &first, &bench.validation, 9, 1),
            Err(crate::ModelError::Unsupported { .. })
        ));
    }

    #[test]
    fn warm_start_epochs_are_checked() {
        let mut cfg = tiny_config();
        cfg.train.strategy = TrainingStrategy::WarmStart { epochs: 0 };
        assert_eq!(cfg.validate().unwrap_err().field, "train.strategy.epochs");
        let e = serde_json::from_str::<TrainConfig>(
            r#"{"strategy": {"kind": "warm_start", "epoch": 1}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `epoch`"), "{e}");
        // The default is not written out, so existing configurations keep their hash.
        let json = serde_json::to_string(&TrainConfig::default()).unwrap();
        assert!(!json.contains("strategy"), "{json}");
    }

    #[test]
    fn mc_dropout_gives_disagreeing_reproducible_realisations() {
        let bench = bench(100);
        let mut cfg = tiny_config();
        cfg.backend = UncertaintyBackend::McDropout {
            rate: 0.2,
            realisations: 4,
        };
        let fit = cfg.fit(&bench.pool, &bench.validation, 3, 1).unwrap();
        assert_eq!(
            (fit.members(), fit.reports.len()),
            (4, 1),
            "one trained model, four realisations"
        );
        let pred = fit.predict(&bench.test, None);
        assert_eq!(pred.members(), 4);
        assert!(
            pred.bald_all().iter().any(|&u| u > 1e-6),
            "realisations disagree"
        );
        let again = cfg.fit(&bench.pool, &bench.validation, 3, 1).unwrap();
        assert_eq!(again.predict(&bench.test, None), pred);
        let m = pred.metrics(&bench.test.a_preferred);
        assert!(m.log_likelihood > -0.69 && m.accuracy > 0.55, "{m:?}");
        cfg.backend = UncertaintyBackend::McDropout {
            rate: 1.0,
            realisations: 4,
        };
        assert_eq!(cfg.validate().unwrap_err().field, "backend.rate");
    }

    /// On a split whose (prompt, response) rows repeat, `predict` (which runs the first layer
    /// once per distinct row) equals scoring every row of `pair_a` and `pair_b` alone, bit for
    /// bit, for the ensemble and MC dropout, on all rows and on a subset; training's validation
    /// passes take the same path, so the fits themselves are as before.
    #[test]
    fn predictions_on_repeated_rows_equal_scoring_every_row() {
        let bench = SyntheticPoolConfig {
            pool_prompts: 150,
            responses_per_prompt: 3,
            ..Default::default()
        }
        .generate()
        .unwrap();
        let test = &bench.test;
        let half: Vec<usize> = (0..test.len()).step_by(2).collect();
        let sources = [(&test.pair_a, None), (&test.pair_b, None)];
        assert!(repeats::RowGroups::find(&sources).is_some(), "rows repeat");
        let dropout = UncertaintyBackend::McDropout {
            rate: 0.2,
            realisations: 3,
        };
        for backend in [UncertaintyBackend::Ensemble, dropout] {
            let cfg = EnsembleConfig {
                backend,
                ..tiny_config()
            };
            let fit = cfg.fit(&bench.pool, &bench.validation, 5, 0).unwrap();
            for idx in [None, Some(half.as_slice())] {
                let each = activepref_core::EnsemblePrediction::from_rewards(
                    &fit.rewards_at(&test.pair_a, idx),
                    &fit.rewards_at(&test.pair_b, idx),
                );
                assert_eq!(fit.predict(test, idx), each, "{:?}", cfg.backend);
            }
        }
    }

    #[test]
    fn untrained_members_match_fit_initialisation_and_stats_are_unbiased() {
        let bench = bench(30);
        let cfg = tiny_config();
        let fresh = cfg.untrained(16, 4, 2).unwrap();
        assert_eq!(fresh.members(), 3);
        let (mu, sd, r) = fresh.response_stats(&bench.test.pair_a);
        // Hand check on row 0: mean and unbiased std of the three members' rewards.
        let v: Vec<f64> = r.iter().map(|m| m[0] as f64).collect();
        let mean = v.iter().sum::<f64>() / 3.0;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
        assert!((mu[0] as f64 - mean).abs() < 1e-6 && (sd[0] as f64 - std).abs() < 1e-6);
        assert!(sd.iter().any(|&s| s > 0.0));
        // A training run of zero effective steps (lr ≈ 0) starts from the same weights.
        let mut still = cfg.clone();
        still.train.lr = 1e-12;
        still.train.max_epochs = 1;
        let fit = still.fit(&bench.pool, &bench.validation, 4, 2).unwrap();
        let a = fit.rewards(&bench.test.pair_a);
        for (x, y) in a[0].iter().zip(&r[0]) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    /// The last layer's view reproduces the members' predictions: `σ(wᵀ(φ(A) − φ(B)))` is each
    /// member's probability (the bias cancels), for an ensemble and for MC dropout's masked
    /// realisations, on a subset of rows in the order asked.
    #[test]
    fn last_layer_view_reproduces_member_probabilities() {
        let bench = bench(30);
        let idx = [5, 0, 17, 3];
        let mut mc = tiny_config();
        mc.backend = UncertaintyBackend::McDropout {
            rate: 0.5,
            realisations: 4,
        };
        for cfg in [tiny_config(), mc] {
            let fitted = cfg.untrained(16, 4, 2).unwrap();
            let pred = fitted.predict(&bench.test, Some(&idx));
            let (a, w) = fitted.last_layer(&bench.test.pair_a, Some(&idx)).unwrap();
            let (b, _) = fitted.last_layer(&bench.test.pair_b, Some(&idx)).unwrap();
            assert_eq!((a.len(), w.len()), (fitted.members(), fitted.members()));
            for m in 0..fitted.members() {
                assert_eq!((a[m].rows(), a[m].dim(), w[m].len()), (4, 16, 16));
                for i in 0..idx.len() {
                    let logit: f64 = (0..16)
                        .map(|j| f64::from(a[m].row(i)[j] - b[m].row(i)[j]) * f64::from(w[m][j]))
                        .sum();
                    let p = 1.0 / (1.0 + (-logit).exp());
                    assert!(
                        (p - pred.member_prob(m, i)).abs() < 1e-5,
                        "member {m} row {i}"
                    );
                }
            }
        }
    }

    /// The Laplace last layer on a linear Bradley–Terry model (no hidden layer, so φ(x) = x):
    /// each weight sample `w_s` satisfies `(w_s − w)ᵀ H (w_s − w) = ‖z_s‖²`, with `H = λI +
    /// Σ p(1 − p) g gᵀ` computed here from the training data and `z_s` the sample's own normal
    /// draws (so `w_s − w = L⁻ᵀ z_s` for a factor `H = L Lᵀ`, whichever); its rewards are
    /// `xᵀ w_s + b`.
    #[test]
    fn laplace_samples_follow_the_closed_form_posterior() {
        use activepref_core::seeds::{Stream, model_draw, rng_for};
        use rand_distr::{Distribution, StandardNormal};
        let bench = bench(30);
        let mut cfg = tiny_config();
        cfg.mlp.hidden = vec![];
        cfg.backend = UncertaintyBackend::LaplaceLastLayer {
            samples: 3,
            prior_precision: 2.0,
        };
        let fitted = cfg.fit(&bench.pool, &bench.validation, 8, 1).unwrap();
        assert_eq!(fitted.members(), 3);
        let dense = fitted.members[0].dense().unwrap();
        let (w, b) = (dense.final_weights().to_vec(), dense.final_bias());
        let d = w.len();
        let mut h = vec![0.0f64; d * d];
        for i in 0..d {
            h[i * d + i] = 2.0;
        }
        for i in 0..bench.pool.len() {
            let g: Vec<f64> = (0..d)
                .map(|j| {
                    f64::from(bench.pool.pair_a.row(i)[j]) - f64::from(bench.pool.pair_b.row(i)[j])
                })
                .collect();
            let logit: f64 = g.iter().zip(&w).map(|(x, &v)| x * f64::from(v)).sum();
            let p = 1.0 / (1.0 + (-logit).exp());
            for a in 0..d {
                for c in 0..d {
                    h[a * d + c] += p * (1.0 - p) * g[a] * g[c];
                }
            }
        }
        let (phi, samples) = fitted
            .last_layer(&bench.test.pair_a, Some(&[0, 4]))
            .unwrap();
        let rewards = fitted.rewards_at(&bench.test.pair_a, Some(&[0, 4]));
        for (s, ws) in samples.iter().enumerate() {
            let mut rng = rng_for(8, Stream::Model, &[1, s as u64, model_draw::LAPLACE]);
            let z: Vec<f64> = (0..d).map(|_| StandardNormal.sample(&mut rng)).collect();
            let delta: Vec<f64> = (0..d).map(|j| f64::from(ws[j]) - f64::from(w[j])).collect();
            let quad: f64 = (0..d)
                .map(|a| {
                    (0..d)
                        .map(|c| delta[a] * h[a * d + c] * delta[c])
                        .sum::<f64>()
                })
                .sum();
            let zz: f64 = z.iter().map(|v| v * v).sum();
            assert!((quad - zz).abs() < 1e-4 * zz, "sample {s}: {quad} vs {zz}");
            assert_eq!(phi[s].row(1), bench.test.pair_a.row(4), "φ(x) = x");
            for (k, &row) in [0usize, 4].iter().enumerate() {
                let r: f64 = bench
                    .test
                    .pair_a
                    .row(row)
                    .iter()
                    .zip(ws)
                    .map(|(&x, &v)| f64::from(x) * f64::from(v))
                    .sum::<f64>()
                    + f64::from(b);
                assert!((f64::from(rewards[s][k]) - r).abs() < 1e-5);
            }
        }
        assert_ne!(samples[0], samples[1], "samples differ");
        let mut bad = cfg.clone();
        bad.backend = UncertaintyBackend::LaplaceLastLayer {
            samples: 1,
            prior_precision: 1.0,
        };
        assert_eq!(bad.validate().unwrap_err().field, "backend.samples");
    }

    /// `precision: bf16` is refused where it cannot run, is not written out when it is the
    /// default (existing configurations keep their hash), and changes the training steps and
    /// the validation losses early stopping reads, not the f32 scoring: a bf16 fit scores near
    /// the f32 one.
    #[test]
    fn bf16_precision_is_checked_and_scores_near_f32() {
        use crate::{Activation, ComputeDevice, Precision};
        let mut cfg = tiny_config();
        cfg.precision = Precision::Bf16;
        cfg.device = ComputeDevice::Libtorch;
        assert_eq!(cfg.validate().unwrap_err().field, "precision");
        cfg.device = ComputeDevice::Cpu;
        cfg.mlp.activation = Activation::Relu;
        assert_eq!(cfg.validate().unwrap_err().field, "precision");
        cfg.mlp.activation = Activation::Tanh;
        cfg.backend = UncertaintyBackend::McDropout {
            rate: 0.1,
            realisations: 5,
        };
        assert_eq!(cfg.validate().unwrap_err().field, "precision");
        cfg.backend = UncertaintyBackend::Ensemble;
        cfg.validate().unwrap();
        let json = serde_json::to_string(&EnsembleConfig::default()).unwrap();
        assert!(!json.contains("precision"), "{json}");
        let parsed: EnsembleConfig = serde_json::from_str(r#"{"precision": "bf16"}"#).unwrap();
        assert_eq!(parsed.precision, Precision::Bf16);

        let bench = bench(60);
        let bf16 = cfg.fit(&bench.pool, &bench.validation, 1, 0).unwrap();
        cfg.precision = Precision::F32;
        let f32 = cfg.fit(&bench.pool, &bench.validation, 1, 0).unwrap();
        let (l16, l32) = (bf16.mean_validation_loss(), f32.mean_validation_loss());
        assert!(
            l16 != l32 && (l16 - l32).abs() < 0.01,
            "{l16} against {l32}"
        );
        let (a, b) = (
            bf16.rewards(&bench.test.pair_a),
            f32.rewards(&bench.test.pair_a),
        );
        let spread = b.iter().flatten().map(|r| r.abs()).fold(0f32, f32::max);
        for (x, y) in a.iter().flatten().zip(b.iter().flatten()) {
            assert!((x - y).abs() <= 0.05 * spread, "bf16 {x} against f32 {y}");
        }
    }

    #[test]
    fn reference_init_shares_members_two_to_e() {
        let bench = bench(40);
        let mut cfg = tiny_config();
        cfg.train.max_epochs = 1;
        cfg.train.lr = 1e-12; // keeps weights at their initial values for the comparison
        cfg.member_init = MemberInit::ReferenceShared;
        let fit = cfg.fit(&bench.pool, &bench.validation, 1, 0).unwrap();
        let r = fit.rewards(&bench.test.pair_a);
        assert_eq!(r[1], r[2]);
        assert_ne!(r[0], r[1]);
        let fit_other_seed = cfg.fit(&bench.pool, &bench.validation, 2, 3).unwrap();
        assert_eq!(fit_other_seed.rewards(&bench.test.pair_a)[1], r[1]);
    }
}
