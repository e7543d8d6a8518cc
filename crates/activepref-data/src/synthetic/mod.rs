//! The embedded default: a seeded synthetic pool benchmark with the structure that makes preference
//! acquisition hard (DESIGN.md, "Synthetic benchmarks").
//!
//! Generative story, for one split:
//! 1. `clusters` prompt-cluster centres `c_k ~ N(0, cluster_spread² I)` in `prompt_dim` dimensions.
//!    Cluster `k` has weight `∝ (k + 1)^(−cluster_zipf)`, so a few clusters hold most prompts.
//! 2. Each distinct prompt picks a cluster by weight and gets `x = c_k + N(0, within_spread² I)`.
//!    It receives `1 + Poisson(comparisons_per_prompt − 1)` comparisons (capped at
//!    `max_comparisons_per_prompt`): every one of them shares the **bit-identical** prompt vector,
//!    as several summary pairs share a post in TL;DR.
//! 3. A response is a latent quality vector `q ~ N(0, I)` in `response_dim` dimensions. Its joint
//!    (prompt, response) feature is `[x, M x + q]` (dimension `prompt_dim + response_dim`): the
//!    response part mixes a prompt direction with the quality direction.
//! 4. The hidden reward is a fixed random one-hidden-layer network on `[x, q]`:
//!    `r(x, q) = reward_scale · Σ_h a_h tanh(u_h·q + v_h·x) / √hidden`, so which response wins
//!    depends on the prompt, non-linearly.
//! 5. The label is Bradley–Terry: `P(A ≻ B) = σ((r_A − r_B) / label_temperature)`, drawn once.
//! 6. The OOD test set draws prompts with `ood_cluster_weights` (uniform by default: rare clusters
//!    are as common as frequent ones) and adds `ood_shift` along a fixed random unit direction.
//!
//! 7. On request (`lengths:`), each comparison gets word counts for a per-label cost by length
//!    (issue 23), read off the draws above without drawing anything new: a response has
//!    `round(response_words · exp(spread · q₀))` words (`q₀` its first quality coordinate, so
//!    length is visible in the features and may go with the reward, as it does in real preference
//!    data), a prompt `round(prompt_words · exp(spread · z))` with `z = x₀ / √(cluster_spread² +
//!    within_spread²)`; every count is at least 1.
//!
//! Nothing here is tuned for a policy to win; every knob is a field of [`SyntheticPoolConfig`].

use activepref_core::FieldError;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};
use serde::{Deserialize, Serialize};
use std::ops::Bound::{Excluded, Included};

use activepref_core::seeds::{Stream, rng_for};
use activepref_core::{ComparisonLength, FeatureMatrix, PoolBenchmark, PoolSplit, PromptFeatures};
use rayon::prelude::*;

/// One generated chunk of comparisons: pair_a rows, pair_b rows, (label, latent reward gap) of
/// each comparison, prompt rows, and each comparison's length (empty without `lengths:`).
type ChunkRows = (
    Vec<f32>,
    Vec<f32>,
    Vec<(bool, f64)>,
    Vec<f32>,
    Vec<ComparisonLength>,
);

/// `lengths:` of the synthetic benchmark: word counts for a per-label cost by length (step 7 of
/// the generative story). Medians in words; `spread` is the log-normal σ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticLengths {
    /// Median words of a prompt (in `[1, 10⁶]`).
    pub prompt_words: f64,
    /// Median words of a response (in `[1, 10⁶]`).
    pub response_words: f64,
    /// Log-normal σ of both (in `[0, 3]`; 0: every prompt and response has the median length).
    pub spread: f64,
}

impl SyntheticLengths {
    /// `round(median · exp(spread · z))`, at least 1 and at most 10⁹ words.
    pub(crate) fn words(median: f64, spread: f64, z: f64) -> u32 {
        (median * (spread * z).exp()).round().clamp(1.0, 1e9) as u32
    }
}

/// How OOD prompts choose their cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OodClusterWeights {
    /// Same Zipf weights as the in-distribution splits (only the shift differs).
    Same,
    /// Every cluster equally likely.
    Uniform,
    /// Zipf weights in reverse: the rarest training clusters are the most common.
    Reversed,
}

/// Every knob of the synthetic pool benchmark. Field docs are the YAML documentation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticPoolConfig {
    /// Seed of the data itself (fixed across runs; run seeds vary the initial set and models).
    pub seed: u64,
    /// Dimension of prompt features.
    pub prompt_dim: usize,
    /// Dimension of the response part of pair features.
    pub response_dim: usize,
    /// Number of prompt clusters.
    pub clusters: usize,
    /// Zipf exponent of cluster sizes (0 = equal sizes; 1.5 = a few clusters dominate).
    pub cluster_zipf: f64,
    /// Standard deviation of cluster centres.
    pub cluster_spread: f64,
    /// Standard deviation of prompts around their centre.
    pub within_spread: f64,
    /// Mean number of comparisons per distinct prompt (≥ 1).
    pub comparisons_per_prompt: f64,
    /// Upper cap on comparisons per prompt.
    pub max_comparisons_per_prompt: usize,
    /// Distinct prompts in the pool split.
    pub pool_prompts: usize,
    /// Distinct prompts in the validation split.
    pub validation_prompts: usize,
    /// Distinct prompts in the test split.
    pub test_prompts: usize,
    /// Distinct prompts in the OOD test split.
    pub ood_prompts: usize,
    /// Hidden units of the latent reward network.
    pub reward_hidden: usize,
    /// Scale of the latent reward.
    pub reward_scale: f64,
    /// How much the prompt enters the response part of pair features (entries of M ~ N(0, s²/d)).
    pub prompt_mixing: f64,
    /// Bradley–Terry temperature of the labels (smaller = less label noise).
    pub label_temperature: f64,
    /// Cluster weights of OOD prompts.
    pub ood_cluster_weights: OodClusterWeights,
    /// Length of the OOD shift of prompt vectors.
    pub ood_shift: f64,
    /// Rank of the prompt-mixing matrix `M`; 0 = dense (`response_dim × prompt_dim` independent
    /// entries). A rank `r > 0` draws `M = A Bᵀ` with `A` (`response_dim × r`, entries `N(0, 1/r)`)
    /// and `B` (`prompt_dim × r`, entries `N(0, s²/prompt_dim)`), so every entry of `M` keeps the
    /// variance of the dense case while `M x` costs `r (prompt_dim + response_dim)` instead of
    /// `prompt_dim · response_dim`: what makes 4,096-d paper-scale benchmarks quick to generate.
    pub mixing_rank: usize,
    /// How many leading prompt coordinates enter the pair features; 0 = all (`prompt_dim`). Pair
    /// features then have dimension `pair_prompt_dim + response_dim`, so a paper-scale benchmark can
    /// have 4,096-d prompt features and 4,096-d pair features (2,048 + 2,048), as the Hermes features do.
    pub pair_prompt_dim: usize,
    /// Exact number of comparisons in the pool split; 0 = use `pool_prompts` instead. Prompts are
    /// drawn until the count is reached (the last prompt's comparisons are cut to fit).
    pub pool_comparisons: usize,
    /// Exact number of validation comparisons; 0 = use `validation_prompts`.
    pub validation_comparisons: usize,
    /// Exact number of test comparisons; 0 = use `test_prompts`.
    pub test_comparisons: usize,
    /// Exact number of OOD test comparisons; 0 = use `ood_prompts`.
    pub ood_comparisons: usize,
    /// Word counts of each comparison, for a per-label cost by length (`loop.oracle.cost`);
    /// none by default (step 7 of the generative story).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lengths: Option<SyntheticLengths>,
    /// Distinct responses per prompt; 0 (the default) draws two fresh responses for every
    /// comparison. With `R ≥ 2` each prompt draws `R` responses and each of its comparisons pairs
    /// two different ones of them, so bit-identical (prompt, response) rows repeat across
    /// comparisons, in `pair_a` and `pair_b`, as TL;DR's summaries do (one post, several
    /// summaries, each in several comparisons). The first layer then runs once per distinct row
    /// (docs/performance.md, "Repeated rows").
    #[serde(skip_serializing_if = "is_zero")]
    pub responses_per_prompt: usize,
}

/// Knobs that are 0 by default are left out of a written config, so that adding one changes no
/// existing benchmark's id.
fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl Default for SyntheticPoolConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            prompt_dim: 8,
            response_dim: 8,
            clusters: 12,
            cluster_zipf: 1.2,
            cluster_spread: 2.0,
            within_spread: 0.5,
            comparisons_per_prompt: 3.0,
            max_comparisons_per_prompt: 12,
            pool_prompts: 600,
            validation_prompts: 100,
            test_prompts: 200,
            ood_prompts: 200,
            reward_hidden: 16,
            reward_scale: 3.0,
            prompt_mixing: 0.5,
            label_temperature: 1.0,
            ood_cluster_weights: OodClusterWeights::Uniform,
            ood_shift: 1.0,
            mixing_rank: 0,
            pair_prompt_dim: 0,
            pool_comparisons: 0,
            validation_comparisons: 0,
            test_comparisons: 0,
            ood_comparisons: 0,
            lengths: None,
            responses_per_prompt: 0,
        }
    }
}

impl SyntheticPoolConfig {
    /// BAL-PM's paper setting in synthetic form (specs/balpm.md §1, §7.1): the TL;DR split sizes
    /// (92,858 pool / 33,083 validation / 50,719 test / 2,284 CNN/DM OOD comparisons), 4,096-d prompt
    /// features as the Hermes post features have, and 4,096-d pair features (2,048 prompt
    /// coordinates + 2,048 response coordinates). Duplication: `1 + Poisson(4)` comparisons per
    /// prompt (mean 5, capped at 12), so about 18,600 distinct pool prompts. TL;DR's own ratio cannot
    /// be counted offline (the dataset is not among the shared files; the spec says only "several
    /// summary pairs per post"); 5 sits in that range, and the kNN benches also measure the worst
    /// case, every comparison its own prompt. The mixing matrix has rank 32, which keeps generation
    /// far under a minute; 64 clusters with Zipf 1.2 weights give unequal prompt clusters.
    pub fn paper_scale() -> Self {
        Self {
            seed: 7,
            prompt_dim: 4_096,
            response_dim: 2_048,
            pair_prompt_dim: 2_048,
            mixing_rank: 32,
            clusters: 64,
            cluster_zipf: 1.2,
            comparisons_per_prompt: 5.0,
            max_comparisons_per_prompt: 12,
            pool_comparisons: 92_858,
            validation_comparisons: 33_083,
            test_comparisons: 50_719,
            ood_comparisons: 2_284,
            ..Self::default()
        }
    }

    /// Checks every knob; the error names the field and the allowed range.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on the first bad knob: a size that must be positive is 0, a count is out of
    /// range, a spread, scale or shift is not in `[0, 10⁶]`, `pair_prompt_dim` exceeds
    /// `prompt_dim`, `mixing_rank` exceeds `min(prompt_dim, response_dim)`,
    /// `comparisons_per_prompt` is not in `[1, 10⁴]`, `label_temperature` is not `> 0`, or
    /// `lengths.prompt_words` / `lengths.response_words` are not in `[1, 10⁶]` or
    /// `lengths.spread` not in `[0, 3]`.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.validate_counts()?;
        let finite_nonneg = [
            ("cluster_zipf", self.cluster_zipf),
            ("cluster_spread", self.cluster_spread),
            ("within_spread", self.within_spread),
            ("reward_scale", self.reward_scale),
            ("prompt_mixing", self.prompt_mixing),
            ("ood_shift", self.ood_shift),
        ];
        for (field, v) in finite_nonneg {
            // The upper bound keeps every generated feature finite in f32.
            FieldError::check_real(field, v, 0.0..=1e6, "")?;
        }
        if self.pair_prompt_dim > self.prompt_dim {
            return Err(FieldError::new(
                "pair_prompt_dim",
                format!(
                    "is {}; must be at most prompt_dim, {} (0 = all prompt coordinates)",
                    self.pair_prompt_dim, self.prompt_dim
                ),
            ));
        }
        let most = self.prompt_dim.min(self.response_dim);
        if self.mixing_rank > most {
            return Err(FieldError::new(
                "mixing_rank",
                format!(
                    "is {}; must be at most min(prompt_dim, response_dim), {most} (0 = dense)",
                    self.mixing_rank
                ),
            ));
        }
        FieldError::check_real(
            "comparisons_per_prompt",
            self.comparisons_per_prompt,
            1.0..=1e4,
            "the mean of each prompt's Poisson count",
        )?;
        FieldError::check_real(
            "label_temperature",
            self.label_temperature,
            (Excluded(0.0), Included(1e6)),
            "",
        )?;
        if let Some(l) = self.lengths {
            for (field, v) in [
                ("lengths.prompt_words", l.prompt_words),
                ("lengths.response_words", l.response_words),
            ] {
                FieldError::check_real(field, v, 1.0..=1e6, "a mean number of words")?;
            }
            FieldError::check_real("lengths.spread", l.spread, 0.0..=3.0, "")?;
        }
        Ok(())
    }

    /// Sizes and counts: positive where 0 means nothing, and below bounds far beyond any paper.
    fn validate_counts(&self) -> Result<(), FieldError> {
        let bad = |field: &str, msg: &str| Err(FieldError::new(field, msg));
        // Bounds: far beyond any paper (TL;DR is 92,858 pool comparisons of 4,096-d features),
        // small enough that a typo is refused instead of allocating for hours.
        for (field, v, max) in [
            ("prompt_dim", self.prompt_dim, 65_536),
            ("response_dim", self.response_dim, 65_536),
            ("reward_hidden", self.reward_hidden, 65_536),
            ("clusters", self.clusters, 1_000_000),
            (
                "max_comparisons_per_prompt",
                self.max_comparisons_per_prompt,
                10_000,
            ),
            ("pool_prompts", self.pool_prompts, 10_000_000),
            ("validation_prompts", self.validation_prompts, 10_000_000),
            ("test_prompts", self.test_prompts, 10_000_000),
            ("ood_prompts", self.ood_prompts, 10_000_000),
            ("pool_comparisons", self.pool_comparisons, 10_000_000),
            (
                "validation_comparisons",
                self.validation_comparisons,
                10_000_000,
            ),
            ("test_comparisons", self.test_comparisons, 10_000_000),
            ("ood_comparisons", self.ood_comparisons, 10_000_000),
            ("responses_per_prompt", self.responses_per_prompt, 10_000),
        ] {
            // A size whose 0 means nothing at all is at least 1; a comparison count's 0 means
            // "from the prompt counts" and a response count's 0 "fresh responses".
            let min =
                usize::from(!field.ends_with("_comparisons") && field != "responses_per_prompt");
            FieldError::check_count(field, v, min, max)?;
        }
        if self.responses_per_prompt == 1 {
            return bad(
                "responses_per_prompt",
                "must be 0 (fresh responses for every comparison) or at least 2 (a comparison needs two different responses)",
            );
        }
        Ok(())
    }

    /// Checks the config ([`Self::validate`]), then generates the benchmark: an unchecked
    /// config never generates.
    ///
    /// # Errors
    ///
    /// The [`FieldError`] of [`Self::validate`].
    pub fn generate(&self) -> Result<PoolBenchmark, FieldError> {
        self.validate()?;
        let mut rng = rng_for(self.seed, Stream::Data, &[]);
        let world = World::new(self, &mut rng);
        let zipf: Vec<f64> = (0..self.clusters)
            .map(|k| ((k + 1) as f64).powf(-self.cluster_zipf))
            .collect();
        let ood_weights = match self.ood_cluster_weights {
            OodClusterWeights::Same => zipf.clone(),
            OodClusterWeights::Uniform => vec![1.0; self.clusters],
            OodClusterWeights::Reversed => zipf.iter().rev().copied().collect(),
        };
        let zero_shift = vec![0.0; self.prompt_dim];
        let ood_shift: Vec<f64> = world.shift_dir.iter().map(|v| v * self.ood_shift).collect();
        let mut next_prompt = 0u32;
        let mut split = |size: SplitSize, weights: &[f64], shift: &[f64], rng: &mut ChaCha8Rng| {
            let (s, prompts) = world.split(self, size, weights, shift, next_prompt, rng);
            next_prompt += prompts as u32;
            s
        };
        let size = |prompts: usize, comparisons: usize| {
            if comparisons > 0 {
                SplitSize::Comparisons(comparisons)
            } else {
                SplitSize::Prompts(prompts)
            }
        };
        let pool = split(
            size(self.pool_prompts, self.pool_comparisons),
            &zipf,
            &zero_shift,
            &mut rng,
        );
        let validation = split(
            size(self.validation_prompts, self.validation_comparisons),
            &zipf,
            &zero_shift,
            &mut rng,
        );
        let test = split(
            size(self.test_prompts, self.test_comparisons),
            &zipf,
            &zero_shift,
            &mut rng,
        );
        let ood = split(
            size(self.ood_prompts, self.ood_comparisons),
            &ood_weights,
            &ood_shift,
            &mut rng,
        );
        Ok(PoolBenchmark {
            name: format!("synthetic(seed={})", self.seed),
            pool,
            validation,
            test,
            ood,
        })
    }
}

mod world;

pub(crate) use world::*;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn small() -> SyntheticPoolConfig {
        SyntheticPoolConfig {
            pool_prompts: 300,
            ..SyntheticPoolConfig::default()
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = small().generate().unwrap();
        let b = small().generate().unwrap();
        assert_eq!(a.pool.pair_a, b.pool.pair_a);
        assert_eq!(a.ood.a_preferred, b.ood.a_preferred);
        let c = SyntheticPoolConfig { seed: 8, ..small() }
            .generate()
            .unwrap();
        assert_ne!(a.pool.pair_a, c.pool.pair_a);
    }

    #[test]
    fn duplicate_prompts_are_bit_identical_and_common() {
        let b = small().generate().unwrap();
        b.validate().unwrap();
        let mut first: HashMap<u32, usize> = HashMap::new();
        let mut dup_rows = 0;
        for i in 0..b.pool.len() {
            match first.get(&b.pool.prompt_id[i]) {
                Some(&j) => {
                    assert_eq!(b.pool.prompt.row(i), b.pool.prompt.row(j));
                    dup_rows += 1;
                }
                None => {
                    first.insert(b.pool.prompt_id[i], i);
                }
            }
        }
        // With a mean of 3 comparisons per prompt, about two thirds of the rows repeat a prompt.
        assert!(
            dup_rows * 2 > b.pool.len(),
            "{dup_rows} duplicate rows of {}",
            b.pool.len()
        );
    }

    /// `lengths:` draws nothing: the benchmark is bit-identical with and without it. Without
    /// prompt mixing the response part of a pair feature is the quality vector `q` itself, so the
    /// word counts can be recomputed from the features by step 7's formula (the features are f32,
    /// hence the ± 1 word at a rounding boundary).
    #[test]
    fn lengths_follow_the_draws_and_change_nothing_else() {
        let lengths = SyntheticLengths {
            prompt_words: 150.0,
            response_words: 40.0,
            spread: 0.6,
        };
        let cfg = SyntheticPoolConfig {
            prompt_mixing: 0.0,
            ..small()
        };
        let plain = cfg.generate().unwrap();
        let b = SyntheticPoolConfig {
            lengths: Some(lengths),
            ..cfg.clone()
        }
        .generate()
        .unwrap();
        assert!(plain.pool.lengths.is_none());
        assert_eq!(b.pool.pair_a.as_slice(), plain.pool.pair_a.as_slice());
        assert_eq!(b.test.a_preferred, plain.test.a_preferred);
        for split in [&b.pool, &b.validation, &b.test, &b.ood] {
            let got = split.lengths.as_ref().unwrap();
            assert_eq!(got.len(), split.len());
            let sd = cfg.cluster_spread.hypot(cfg.within_spread);
            let d = cfg.prompt_dim;
            for (i, l) in got.iter().enumerate() {
                let z = f64::from(split.prompt.row(i)[0]) / sd;
                let qa = f64::from(split.pair_a.row(i)[d]);
                let qb = f64::from(split.pair_b.row(i)[d]);
                let near = |w: u32, median: f64, z: f64| {
                    (f64::from(w) - (median * (0.6 * z).exp()).round().max(1.0)).abs() <= 1.0
                };
                assert!(near(l.prompt_words, 150.0, z), "row {i}: {l:?}");
                assert!(near(l.response_a_words, 40.0, qa), "row {i}: {l:?}");
                assert!(near(l.response_b_words, 40.0, qb), "row {i}: {l:?}");
            }
        }
        // Comparisons of one prompt share its length.
        let p = &b.pool;
        let l = p.lengths.as_ref().unwrap();
        for i in 1..p.len() {
            if p.prompt_id[i] == p.prompt_id[i - 1] {
                assert_eq!(l[i].prompt_words, l[i - 1].prompt_words);
            }
        }
        // Spread 0: every length is the median; bad knobs are refused with the field's name.
        let flat = SyntheticPoolConfig {
            lengths: Some(SyntheticLengths {
                spread: 0.0,
                ..lengths
            }),
            ..cfg.clone()
        }
        .generate()
        .unwrap();
        assert!(flat.pool.lengths.unwrap().iter().all(|l| *l
            == ComparisonLength {
                prompt_words: 150,
                response_a_words: 40,
                response_b_words: 40
            }));
        for (bad, field) in [
            (
                SyntheticLengths {
                    prompt_words: 0.5,
                    ..lengths
                },
                "lengths.prompt_words",
            ),
            (
                SyntheticLengths {
                    spread: f64::NAN,
                    ..lengths
                },
                "lengths.spread",
            ),
        ] {
            let err = SyntheticPoolConfig {
                lengths: Some(bad),
                ..cfg.clone()
            }
            .validate()
            .unwrap_err();
            assert_eq!(err.field, field);
        }
    }

    #[test]
    fn clusters_are_unequal() {
        let cfg = small();
        let b = cfg.generate().unwrap();
        // Assign each distinct prompt to its nearest centre and compare the largest and smallest cluster.
        let mut rng = rng_for(cfg.seed, Stream::Data, &[]);
        let world = World::new(&cfg, &mut rng);
        let mut counts = vec![0usize; cfg.clusters];
        let mut seen = std::collections::HashSet::new();
        for i in 0..b.pool.len() {
            if !seen.insert(b.pool.prompt_id[i]) {
                continue;
            }
            let x: Vec<f64> = b.pool.prompt.row(i).iter().map(|&v| v as f64).collect();
            let k = (0..cfg.clusters)
                .min_by(|&a, &c| {
                    let da: f64 = world.centres[a]
                        .iter()
                        .zip(&x)
                        .map(|(p, q)| (p - q).powi(2))
                        .sum();
                    let dc: f64 = world.centres[c]
                        .iter()
                        .zip(&x)
                        .map(|(p, q)| (p - q).powi(2))
                        .sum();
                    da.partial_cmp(&dc).unwrap()
                })
                .unwrap();
            counts[k] += 1;
        }
        let max = *counts.iter().max().unwrap();
        let min = *counts.iter().min().unwrap();
        assert!(max >= 8 * min.max(1), "cluster sizes {counts:?}");
    }

    #[test]
    fn labels_are_noisy_but_informative() {
        let b = small().generate().unwrap();
        let frac = b.pool.a_preferred.iter().filter(|&&a| a).count() as f64 / b.pool.len() as f64;
        assert!((0.35..0.65).contains(&frac), "share of A preferred {frac}");
    }

    #[test]
    fn exact_comparison_counts_low_rank_mixing_and_narrow_pair_features() {
        let cfg = SyntheticPoolConfig {
            prompt_dim: 24,
            response_dim: 10,
            pair_prompt_dim: 6,
            mixing_rank: 3,
            pool_comparisons: 301,
            validation_comparisons: 40,
            test_comparisons: 7,
            ood_comparisons: 1,
            ..small()
        };
        let b = cfg.generate().unwrap();
        b.validate().unwrap();
        assert_eq!(
            [b.pool.len(), b.validation.len(), b.test.len(), b.ood.len()],
            [301, 40, 7, 1]
        );
        assert_eq!((b.pair_dim(), b.pool.prompt.dim()), (16, 24));
        // The pair feature starts with the prompt's first 6 coordinates (as f32).
        for i in [0, 150, 300] {
            assert_eq!(&b.pool.pair_a.row(i)[..6], &b.pool.prompt.row(i)[..6]);
        }
        // Each distinct prompt is stored once: the table has one row per prompt id.
        let ids: std::collections::HashSet<u32> = b.pool.prompt_id.iter().copied().collect();
        assert_eq!(b.pool.prompt.table().rows(), ids.len());
        assert!(
            ids.len() * 2 < b.pool.len(),
            "{} prompts for {} comparisons",
            ids.len(),
            b.pool.len()
        );
        // Prompt ids continue across splits.
        assert_eq!(b.validation.prompt_id[0] as usize, ids.len());
        // Same config, same bytes, whatever the thread count.
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| cfg.generate().unwrap());
        assert_eq!(one.pool.pair_a, b.pool.pair_a);
        assert_eq!(one.pool.pair_b, b.pool.pair_b);
        assert_eq!(one.ood.a_preferred, b.ood.a_preferred);
        assert_eq!(one.test.prompt, b.test.prompt);
    }

    #[test]
    fn paper_scale_config_is_valid_and_has_the_tldr_sizes() {
        let c = SyntheticPoolConfig::paper_scale();
        c.validate().unwrap();
        assert_eq!(
            [
                c.pool_comparisons,
                c.validation_comparisons,
                c.test_comparisons,
                c.ood_comparisons
            ],
            [92_858, 33_083, 50_719, 2_284]
        );
        assert_eq!(
            (c.prompt_dim, c.pair_prompt_dim + c.response_dim),
            (4_096, 4_096)
        );
    }

    #[test]
    fn invalid_knob_is_named() {
        let cfg = SyntheticPoolConfig {
            label_temperature: 0.0,
            ..small()
        };
        assert_eq!(cfg.validate().unwrap_err().field, "label_temperature");
        let cfg = SyntheticPoolConfig {
            cluster_spread: 1e300,
            ..small()
        };
        assert_eq!(cfg.validate().unwrap_err().field, "cluster_spread");
        let cfg = SyntheticPoolConfig {
            pair_prompt_dim: 9,
            ..small()
        };
        assert_eq!(cfg.validate().unwrap_err().field, "pair_prompt_dim");
        let cfg = SyntheticPoolConfig {
            mixing_rank: 9,
            ..small()
        };
        assert_eq!(cfg.validate().unwrap_err().field, "mixing_rank");
    }

    /// `responses_per_prompt: R` pairs two different responses of the prompt's `R` in every
    /// comparison, so each prompt has at most `R` distinct (prompt, response) rows and rows repeat
    /// across comparisons and between `pair_a` and `pair_b`; 0 is left out of a written config
    /// (ids unchanged), and 1 is refused naming the field.
    #[test]
    fn responses_per_prompt_repeats_rows_across_comparisons() {
        let b = SyntheticPoolConfig {
            responses_per_prompt: 3,
            ..small()
        }
        .generate()
        .unwrap();
        let bits = |r: &[f32]| r.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        for split in [&b.pool, &b.validation, &b.test] {
            let mut rows_of: HashMap<u32, Vec<Vec<u32>>> = HashMap::new();
            for i in 0..split.len() {
                let (a, c) = (bits(split.pair_a.row(i)), bits(split.pair_b.row(i)));
                assert_ne!(a, c, "two different responses");
                let rows = rows_of.entry(split.prompt_id[i]).or_default();
                rows.extend([a, c]);
            }
            let mut distinct = 0;
            for rows in rows_of.values_mut() {
                rows.sort();
                rows.dedup();
                assert!(rows.len() <= 3, "at most R rows per prompt");
                distinct += rows.len();
            }
            assert!(
                distinct * 10 < split.len() * 2 * 7,
                "{distinct} of {}",
                split.len() * 2
            );
        }
        let json = serde_json::to_string(&small()).unwrap();
        assert!(!json.contains("responses_per_prompt"));
        let one = SyntheticPoolConfig {
            responses_per_prompt: 1,
            ..small()
        };
        assert_eq!(one.validate().unwrap_err().field, "responses_per_prompt");
    }
}
