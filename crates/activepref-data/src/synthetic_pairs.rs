//! The synthetic pair-selection benchmark (the ActiveUltraFeedback setting): a stream of prompts,
//! each with `responses_per_prompt` candidate responses and a hidden judge score per response.
//!
//! It shares the generative world of [`crate::synthetic`]: prompts from Zipf-weighted clusters,
//! response features `[x, M x + q]`, and a non-linear latent reward `r(x, q)`. The judge score is
//! `r(x, q) + judge_noise · N(0, 1)`, drawn once per response and fixed, as the reference's judge
//! scores are computed up front. Held-out prompts (`heldout_prompts`) evaluate the reward model on
//! every pair of their responses. `validation_prompts` are used for early stopping only. Every
//! prompt keeps its responses' latent rewards, so that what a run acquires and what its prefixes
//! teach can be measured against the truth rather than the noisy judge.

use activepref_core::FieldError;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::synthetic::{SyntheticPoolConfig, World, normal_vec};
use activepref_core::seeds::{Stream, data_draw, rng_for};
use activepref_core::{FeatureMatrix, PairBenchmark, PromptCandidates};

/// Every knob of the synthetic pair benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticPairConfig {
    /// Seed of the data itself (fixed across runs; run seeds vary the loop order and models).
    pub seed: u64,
    /// Dimension of prompt features.
    pub prompt_dim: usize,
    /// Dimension of the response part of the candidate features.
    pub response_dim: usize,
    /// Number of prompt clusters.
    pub clusters: usize,
    /// Zipf exponent of cluster sizes (0 = equal sizes).
    pub cluster_zipf: f64,
    /// Standard deviation of cluster centres.
    pub cluster_spread: f64,
    /// Standard deviation of prompts around their centre.
    pub within_spread: f64,
    /// Hidden units of the latent reward network.
    pub reward_hidden: usize,
    /// Scale of the latent reward.
    pub reward_scale: f64,
    /// How much the prompt enters the response features (entries of M ~ N(0, s²/d)).
    pub prompt_mixing: f64,
    /// Candidate responses per prompt (n; the paper has 30).
    pub responses_per_prompt: usize,
    /// Prompts in the acquisition stream.
    pub prompts: usize,
    /// Prompts whose response pairs validate the reward model (early stopping).
    pub validation_prompts: usize,
    /// Prompts whose response pairs evaluate the reward model.
    pub heldout_prompts: usize,
    /// Standard deviation of the judge's noise around the latent reward.
    pub judge_noise: f64,
}

impl Default for SyntheticPairConfig {
    fn default() -> Self {
        let w = SyntheticPoolConfig::default();
        Self {
            seed: w.seed,
            prompt_dim: w.prompt_dim,
            response_dim: w.response_dim,
            clusters: w.clusters,
            cluster_zipf: w.cluster_zipf,
            cluster_spread: w.cluster_spread,
            within_spread: w.within_spread,
            reward_hidden: w.reward_hidden,
            reward_scale: w.reward_scale,
            prompt_mixing: w.prompt_mixing,
            responses_per_prompt: 8,
            prompts: 400,
            validation_prompts: 40,
            heldout_prompts: 80,
            judge_noise: 0.3,
        }
    }
}

impl SyntheticPairConfig {
    /// The shared world knobs, as the pool generator reads them.
    fn world(&self) -> SyntheticPoolConfig {
        SyntheticPoolConfig {
            seed: self.seed,
            prompt_dim: self.prompt_dim,
            response_dim: self.response_dim,
            clusters: self.clusters,
            cluster_zipf: self.cluster_zipf,
            cluster_spread: self.cluster_spread,
            within_spread: self.within_spread,
            reward_hidden: self.reward_hidden,
            reward_scale: self.reward_scale,
            prompt_mixing: self.prompt_mixing,
            ..SyntheticPoolConfig::default()
        }
    }

    /// Checks every knob; the error names the field.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on the first bad knob: any of [`SyntheticPoolConfig::validate`]'s world
    /// knobs, `responses_per_prompt` outside `2..=1,000`, a prompt count outside
    /// `1..=10,000,000`, or `judge_noise` outside `[0, 10⁶]`.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.world().validate()?;
        if self.responses_per_prompt < 2 {
            return Err(FieldError::new(
                "responses_per_prompt",
                "must be at least 2 (a pair needs two responses)",
            ));
        }
        for (f, v) in [
            ("prompts", self.prompts),
            ("validation_prompts", self.validation_prompts),
            ("heldout_prompts", self.heldout_prompts),
        ] {
            if v == 0 {
                return Err(FieldError::new(f, "must be at least 1"));
            }
            FieldError::check_count(f, v, 1, 10_000_000)?;
        }
        FieldError::check_count("responses_per_prompt", self.responses_per_prompt, 2, 1_000)?;
        FieldError::check_real(
            "judge_noise",
            self.judge_noise,
            0.0..=1e6,
            "the standard deviation of the judge's noise",
        )
    }

    /// Checks the config ([`Self::validate`]), then generates the benchmark: an unchecked
    /// config never generates.
    ///
    /// # Errors
    ///
    /// The [`FieldError`] of [`Self::validate`].
    pub fn generate(&self) -> Result<PairBenchmark, FieldError> {
        self.validate()?;
        let world_cfg = self.world();
        let mut rng: ChaCha8Rng = rng_for(self.seed, Stream::Data, &[data_draw::PAIR_BENCHMARK]);
        let world = World::new(&world_cfg, &mut rng);
        let weights: Vec<f64> = (0..self.clusters)
            .map(|k| ((k + 1) as f64).powf(-self.cluster_zipf))
            .collect();
        let total: f64 = weights.iter().sum();
        let within = Normal::new(0.0, self.within_spread).expect("validated spread");
        let no_shift = vec![0.0; self.prompt_dim];
        let mut next_id = 0u32;
        let mut make = |count: usize, rng: &mut ChaCha8Rng| -> Vec<PromptCandidates> {
            (0..count)
                .map(|_| {
                    let ctx = world
                        .context(world.sample_prompt(&weights, total, &no_shift, &within, rng));
                    let mut feats = Vec::with_capacity(
                        self.responses_per_prompt * (self.prompt_dim + self.response_dim),
                    );
                    let mut judge = Vec::with_capacity(self.responses_per_prompt);
                    let mut latent = Vec::with_capacity(self.responses_per_prompt);
                    for _ in 0..self.responses_per_prompt {
                        let q = normal_vec(rng, self.response_dim, 1.0);
                        world.pair_feature_into(&ctx, &q, &mut feats);
                        let noise: f64 = StandardNormal.sample(rng);
                        let reward = world.reward_in(&world_cfg, &ctx, &q);
                        judge.push((reward + self.judge_noise * noise) as f32);
                        latent.push(reward as f32);
                    }
                    let d = self.prompt_dim + self.response_dim;
                    next_id += 1;
                    PromptCandidates {
                        prompt_id: next_id - 1,
                        features: FeatureMatrix::new(self.responses_per_prompt, d, feats)
                            .expect("finite features"),
                        judge,
                        latent: Some(latent),
                        text: None,
                    }
                })
                .collect()
        };
        let stream = make(self.prompts, &mut rng);
        let validation = make(self.validation_prompts, &mut rng);
        let heldout = make(self.heldout_prompts, &mut rng);
        Ok(PairBenchmark {
            name: format!("synthetic_pairs(seed={})", self.seed),
            stream,
            validation,
            heldout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_determinism() {
        let cfg = SyntheticPairConfig {
            prompts: 20,
            ..Default::default()
        };
        let a = cfg.generate().unwrap();
        let b = cfg.generate().unwrap();
        assert_eq!(a.stream.len(), 20);
        assert_eq!(a.stream[3].features, b.stream[3].features);
        assert_eq!(a.heldout[0].judge, b.heldout[0].judge);
        assert_eq!(a.stream[0].features.rows(), 8);
        assert_eq!(a.stream[0].features.dim(), 16);
        // Responses of one prompt share the prompt part of their features.
        let f = &a.stream[0].features;
        assert_eq!(&f.row(0)[..8], &f.row(5)[..8]);
        assert_ne!(&f.row(0)[8..], &f.row(5)[8..]);
        // Judge scores vary within a prompt.
        assert!(a.stream[0].judge.iter().any(|&s| s != a.stream[0].judge[0]));
    }

    #[test]
    fn bad_knob_is_named() {
        let cfg = SyntheticPairConfig {
            responses_per_prompt: 1,
            ..Default::default()
        };
        assert_eq!(cfg.validate().unwrap_err().field, "responses_per_prompt");
    }
}
