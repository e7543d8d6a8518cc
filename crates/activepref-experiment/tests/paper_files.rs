//! The paper's experiment files hold the paper's settings (specs/balpm.md §6), and their reduced
//! twins have the same grids. The TL;DR files need data this repository does not ship, so they are
//! parsed without the data checks; the twins are fully checked.

use std::path::{Path, PathBuf};

use activepref_acquire::{FeatureShift, PolicySpec};
use activepref_core::saving::SavingDefinition;
use activepref_experiment::{ExperimentConfig, Setting, Sweep};
use activepref_model::MemberInit;

fn file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../experiments")
        .join(name)
}

/// The file without its `sweep:` and `slurm:` sections, parsed without the data checks; and the
/// sweep's grid names with their parameter paths.
fn unchecked(name: &str) -> (ExperimentConfig, Vec<(String, Vec<String>)>) {
    let path = file(name);
    let mut root: yaml_serde::Value =
        yaml_serde::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let m = root.as_mapping_mut().unwrap();
    m.remove("slurm");
    let grids = m
        .remove("sweep")
        .map(|s| {
            s.as_mapping()
                .unwrap()
                .iter()
                .map(|(g, axes)| {
                    let paths = axes
                        .as_mapping()
                        .unwrap()
                        .keys()
                        .map(|k| k.as_str().unwrap().to_string())
                        .collect();
                    (g.as_str().unwrap().to_string(), paths)
                })
                .collect()
        })
        .unwrap_or_default();
    let cfg =
        ExperimentConfig::parse_unchecked(&yaml_serde::to_string(&root).unwrap(), &path).unwrap();
    (cfg, grids)
}

/// The policy labels of a file's setting.
fn labels(cfg: &ExperimentConfig) -> Vec<String> {
    cfg.clone().into_experiment().unwrap().setting.labels()
}

/// Whether a file is in the pair setting.
fn is_pair(cfg: &ExperimentConfig) -> bool {
    matches!(
        cfg.clone().into_experiment().unwrap().setting,
        Setting::Pair(_)
    )
}

fn balpm(cfg: &ExperimentConfig, label: &str) -> activepref_acquire::BalPmConfig {
    match &cfg.policies[label] {
        PolicySpec::Balpm(c) => c.clone(),
        other => panic!("{label} is {other:?}"),
    }
}

#[test]
fn tldr_files_hold_the_paper_settings() {
    for (name, init, shift) in [
        (
            "balpm-tldr.yaml",
            MemberInit::Independent,
            FeatureShift::None,
        ),
        (
            "balpm-tldr-reference.yaml",
            MemberInit::ReferenceShared,
            FeatureShift::Reference,
        ),
    ] {
        let (cfg, _) = unchecked(name);
        let lp = cfg.loop_.as_ref().unwrap();
        assert_eq!(
            (lp.initial_labels, lp.batch_size, lp.rounds, lp.pool_size),
            (320, 320, 75, Some(92_000)),
            "{name}"
        );
        assert_eq!(cfg.seeds, [9, 17, 23, 54, 71]);
        assert_eq!(cfg.model.members, 5);
        assert_eq!(cfg.model.mlp.hidden, [2048, 256]);
        assert_eq!(
            (
                cfg.model.train.lr,
                cfg.model.train.max_epochs,
                cfg.model.train.batch_size
            ),
            (3e-5, 4, 32)
        );
        assert_eq!(cfg.model.member_init, init, "{name}");
        let b = balpm(&cfg, "balpm");
        assert_eq!(
            (b.k, b.beta, b.d_tilde, b.normalize_entropy, b.feature_shift),
            (13, 0.01, 1.0, false, shift),
            "{name}"
        );
        assert_eq!(labels(&cfg), ["random", "bald", "full-dataset", "balpm"]);
        assert_eq!(cfg.policies["full-dataset"], PolicySpec::FullDataset {});
        assert_eq!(cfg.report.saving, SavingDefinition::PaperScript);
    }
}

#[test]
fn the_quick_twin_has_the_paper_ablation_grids_and_checks() {
    let (paper, paper_grids) = unchecked("balpm-tldr-ablations.yaml");
    let (_, quick_grids) = unchecked("balpm-ablations-quick.yaml");
    let (tldr, _) = unchecked("balpm-tldr.yaml");
    assert_eq!(
        (
            paper.model.clone(),
            paper.loop_.clone(),
            paper.seeds.clone()
        ),
        (tldr.model, tldr.loop_, tldr.seeds)
    );
    let without_llm: Vec<_> = paper_grids
        .iter()
        .filter(|(g, _)| g != "llm_scale")
        .cloned()
        .collect();
    assert_eq!(quick_grids, without_llm);
    // Every grid point of the twin is a valid experiment (the quickstart benchmark ships with
    // activepref); its results directory is relative to the repository root, as in the README.
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap();
    let sweep = Sweep::load(&file("balpm-ablations-quick.yaml")).unwrap();
    assert_eq!(sweep.variants.len(), 17);
    assert_eq!(sweep.plan().len(), 102);
    let beta: Vec<f64> = sweep
        .variants
        .iter()
        .filter(|v| v.name.starts_with("beta/"))
        .map(|v| balpm(&v.config.to_config(), "method").beta)
        .collect();
    assert_eq!(beta, [1.0, 0.1, 0.01, 0.001, 0.0001]);
}

#[test]
fn the_alpacaeval_file_uses_the_real_pool_and_the_whole_stream() {
    // Parsed without the data checks: its features are made by `activepref featurize` first.
    let (cfg, _) = unchecked("auf-alpacaeval.yaml");
    assert!(is_pair(&cfg));
    let lp = cfg.pair_loop.as_ref().unwrap();
    assert_eq!((lp.batch_prompts, lp.rounds), (64, None));
    // 805 instructions, 40 validation and 100 held-out: 665 in the stream, 11 batches.
    assert_eq!(lp.rounds_for(805 - 40 - 100), 11);
    assert_eq!(
        labels(&cfg),
        [
            "random",
            "drts",
            "deltaucb",
            "infomax",
            "static-random",
            "static-ultrafeedback",
            "static-maxmin"
        ]
    );
    // Prefixes on the paper's grid scaled to the stream: the whole set (665) is added at run time.
    let prefix = lp.prefix_eval.as_ref().unwrap();
    assert_eq!(prefix.sizes_for(665), [64, 128, 256, 384, 512, 665]);
}

#[test]
fn the_synthetic_pair_file_compares_the_two_refits() {
    use activepref_loop::PairRefit;
    // Its results directory is relative to the repository root, as in the README.
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap();
    let sweep = Sweep::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../experiments/auf-pairs.yaml"),
    )
    .unwrap();
    let refits: Vec<(String, PairRefit)> = sweep
        .variants
        .iter()
        .map(|v| {
            let Setting::Pair(p) = &v.config.setting else {
                panic!("{} is not a pair setting", v.name)
            };
            let lp = &p.loop_config;
            (v.name.clone(), lp.refit.clone().unwrap())
        })
        .collect();
    assert_eq!(refits.len(), 2);
    assert_eq!(refits[0].1, PairRefit::FromScratch);
    let PairRefit::Anchored(a) = &refits[1].1 else {
        panic!("{refits:?}")
    };
    assert_eq!(
        (a.lr, a.batch_size, a.max_samples, a.decay),
        (0.003, 32, 6400, None)
    );
    assert!(refits[1].0.starts_with("refit/"), "{}", refits[1].0);
}

#[test]
fn the_ultrafeedback_file_is_the_published_loop() {
    use activepref_acquire::{PairMode, PairPolicySpec};
    use activepref_loop::PairRefit;
    use activepref_model::{Activation, AnchorDecay, WeightInit};
    // Parsed without the data checks: the annotated UltraFeedback data is not shipped.
    let (cfg, grids) = unchecked("auf-ultrafeedback.yaml");
    assert!(is_pair(&cfg));
    assert_eq!(cfg.pair_mode, PairMode::Reference);
    assert_eq!(cfg.seeds, [4]);
    // §2.1: 20 heads d → 128 → 128 → 1, ReLU, Xavier-uniform, no output bias.
    let m = &cfg.model;
    assert_eq!(m.members, 20);
    assert_eq!(m.mlp.hidden, [128, 128]);
    assert_eq!(m.mlp.activation, Activation::Relu);
    assert_eq!(
        (m.mlp.init, m.mlp.output_bias),
        (WeightInit::XavierUniform, false)
    );
    // §1.4 / §2.4 / §6: B = 64, replay ×1000, the anchored refit with the reference's numbers,
    // and in reference mode the decay base^(4308 · n / N).
    let lp = cfg.pair_loop.as_ref().unwrap();
    assert_eq!(
        (lp.batch_prompts, lp.rounds, lp.replay_factor),
        (64, None, Some(1000))
    );
    let (refit, decay) = PairRefit::resolve(lp.refit.as_ref(), cfg.pair_mode);
    let PairRefit::Anchored(a) = refit else {
        panic!("{refit:?}")
    };
    assert_eq!(
        (
            a.lr,
            a.batch_size,
            a.max_samples,
            a.center_rewards,
            a.lambda0,
            a.decay_base
        ),
        (5e-5, 64, 6400, 0.01, 1.0, 0.9)
    );
    assert_eq!(decay, AnchorDecay::Reference { scaler: 4308.0 });
    // §5.4: prefixes of 5k … 50k pairs.
    assert_eq!(
        lp.prefix_eval.as_ref().unwrap().sizes,
        [5000, 10000, 15000, 20000, 25000, 30000, 40000, 50000]
    );
    // §5.2 set A: β 2 for DeltaUCB, 1 elsewhere; the three static baselines.
    assert_eq!(
        cfg.pair_policies["deltaucb"],
        PairPolicySpec::Deltaucb(activepref_acquire::BetaParams { beta: 2.0 })
    );
    assert_eq!(
        cfg.pair_policies.values().filter(|p| p.is_static()).count(),
        3
    );
    assert_eq!(
        grids,
        [(
            "decay".to_string(),
            vec!["pair_loop.refit.decay_base".to_string()]
        )]
    );
}

#[test]
fn quickstart_warmstart_is_the_quickstart_with_one_warm_epoch_a_round() {
    let quick = ExperimentConfig::load(&file("quickstart.yaml")).unwrap();
    let mut warm = ExperimentConfig::load(&file("quickstart-warmstart.yaml")).unwrap();
    assert_eq!(
        warm.common.model.train.strategy,
        activepref_model::TrainingStrategy::WarmStart { epochs: 1 }
    );
    assert_ne!(warm.run_id("balpm", 9), quick.run_id("balpm", 9));
    warm.common.name = quick.common.name.clone();
    warm.common.model.train.strategy = activepref_model::TrainingStrategy::FullRetrain;
    assert_eq!(warm, quick, "everything else is the quickstart");
    assert_eq!(warm.run_id("balpm", 9), quick.run_id("balpm", 9));
}

#[test]
fn every_shipped_experiment_file_passes_every_check_but_the_data_s() {
    // What `activepref run` checks before it looks for data (the TL;DR files' is not shipped):
    // a file in experiments/ that an edit broke (a renamed key, a bound tightened under it)
    // fails here, not in a user's run.
    let dir = file("");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 19, "{paths:?}");
    for path in &paths {
        let sweep = Sweep::load(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!sweep.variants.is_empty(), "{}", path.display());
    }
}
