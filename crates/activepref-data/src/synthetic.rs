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
//! Nothing here is tuned for a policy to win; every knob is a field of [`SyntheticPoolConfig`].

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Poisson, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::seeds::{Stream, rng_for};
use crate::{FeatureMatrix, PoolBenchmark, PoolSplit};

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
        }
    }
}

impl SyntheticPoolConfig {
    /// Checks every knob; the error names the field and the allowed range.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |field: &str, msg: &str| Err((field.to_string(), msg.to_string()));
        let positive = [
            ("prompt_dim", self.prompt_dim),
            ("response_dim", self.response_dim),
            ("clusters", self.clusters),
            ("max_comparisons_per_prompt", self.max_comparisons_per_prompt),
            ("pool_prompts", self.pool_prompts),
            ("validation_prompts", self.validation_prompts),
            ("test_prompts", self.test_prompts),
            ("ood_prompts", self.ood_prompts),
            ("reward_hidden", self.reward_hidden),
        ];
        for (field, v) in positive {
            if v == 0 {
                return bad(field, "must be at least 1");
            }
        }
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
            if !v.is_finite() || !(0.0..=1e6).contains(&v) {
                return bad(field, "must be a number between 0 and 1e6");
            }
        }
        if self.comparisons_per_prompt > 1e4 {
            return bad("comparisons_per_prompt", "must be at most 1e4");
        }
        if !self.comparisons_per_prompt.is_finite() || self.comparisons_per_prompt < 1.0 {
            return bad("comparisons_per_prompt", "must be a finite number ≥ 1");
        }
        if !self.label_temperature.is_finite() || self.label_temperature <= 0.0 {
            return bad("label_temperature", "must be a finite number > 0");
        }
        Ok(())
    }

    /// Generates the benchmark. Panics only on an invalid config; call [`Self::validate`] first.
    pub fn generate(&self) -> PoolBenchmark {
        self.validate().expect("validate() before generate()");
        let mut rng = rng_for(self.seed, Stream::Data, &[]);
        let world = World::new(self, &mut rng);
        let zipf: Vec<f64> = (0..self.clusters).map(|k| ((k + 1) as f64).powf(-self.cluster_zipf)).collect();
        let ood_weights = match self.ood_cluster_weights {
            OodClusterWeights::Same => zipf.clone(),
            OodClusterWeights::Uniform => vec![1.0; self.clusters],
            OodClusterWeights::Reversed => zipf.iter().rev().copied().collect(),
        };
        let zero_shift = vec![0.0; self.prompt_dim];
        let ood_shift: Vec<f64> = world.shift_dir.iter().map(|v| v * self.ood_shift).collect();
        let mut next_prompt = 0u32;
        let mut split = |prompts: usize, weights: &[f64], shift: &[f64], rng: &mut ChaCha8Rng| {
            let s = world.split(self, prompts, weights, shift, next_prompt, rng);
            next_prompt += prompts as u32;
            s
        };
        let pool = split(self.pool_prompts, &zipf, &zero_shift, &mut rng);
        let validation = split(self.validation_prompts, &zipf, &zero_shift, &mut rng);
        let test = split(self.test_prompts, &zipf, &zero_shift, &mut rng);
        let ood = split(self.ood_prompts, &ood_weights, &ood_shift, &mut rng);
        PoolBenchmark { name: format!("synthetic(seed={})", self.seed), pool, validation, test, ood }
    }
}

/// The fixed random parts shared by all splits: cluster centres, mixing matrix, reward network.
pub(crate) struct World {
    centres: Vec<Vec<f64>>,
    mixing: Vec<Vec<f64>>,   // response_dim x prompt_dim
    reward_u: Vec<Vec<f64>>, // hidden x response_dim
    reward_v: Vec<Vec<f64>>, // hidden x prompt_dim
    reward_a: Vec<f64>,
    shift_dir: Vec<f64>,
}

pub(crate) fn normal_vec(rng: &mut ChaCha8Rng, n: usize, sd: f64) -> Vec<f64> {
    (0..n).map(|_| { let z: f64 = StandardNormal.sample(rng); sd * z }).collect()
}

impl World {
    pub(crate) fn new(cfg: &SyntheticPoolConfig, rng: &mut ChaCha8Rng) -> Self {
        let centres = (0..cfg.clusters).map(|_| normal_vec(rng, cfg.prompt_dim, cfg.cluster_spread)).collect();
        let mix_sd = cfg.prompt_mixing / (cfg.prompt_dim as f64).sqrt();
        let mixing = (0..cfg.response_dim).map(|_| normal_vec(rng, cfg.prompt_dim, mix_sd)).collect();
        let u_sd = 1.0 / (cfg.response_dim as f64).sqrt();
        let v_sd = 1.0 / (cfg.prompt_dim as f64).sqrt() / cfg.cluster_spread.max(1.0);
        let reward_u = (0..cfg.reward_hidden).map(|_| normal_vec(rng, cfg.response_dim, u_sd * 1.5)).collect();
        let reward_v = (0..cfg.reward_hidden).map(|_| normal_vec(rng, cfg.prompt_dim, v_sd * 1.5)).collect();
        let reward_a = normal_vec(rng, cfg.reward_hidden, 1.0);
        let raw = normal_vec(rng, cfg.prompt_dim, 1.0);
        let norm = raw.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        let shift_dir = raw.iter().map(|v| v / norm).collect();
        Self { centres, mixing, reward_u, reward_v, reward_a, shift_dir }
    }

    pub(crate) fn reward(&self, cfg: &SyntheticPoolConfig, x: &[f64], q: &[f64]) -> f64 {
        let mut total = 0.0;
        for h in 0..self.reward_a.len() {
            let pre: f64 = dot(&self.reward_u[h], q) + dot(&self.reward_v[h], x);
            total += self.reward_a[h] * pre.tanh();
        }
        cfg.reward_scale * total / (self.reward_a.len() as f64).sqrt()
    }

    pub(crate) fn pair_feature(&self, x: &[f64], q: &[f64]) -> Vec<f32> {
        let mut f: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        f.extend(self.mixing.iter().zip(q).map(|(m, qi)| (dot(m, x) + qi) as f32));
        f
    }

    /// A prompt vector: a cluster drawn by weight, plus within-cluster noise and `shift`.
    pub(crate) fn sample_prompt(&self, weights: &[f64], total: f64, shift: &[f64], within: &Normal<f64>, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let mut pick = rng.random::<f64>() * total;
        let mut k = 0;
        while k + 1 < weights.len() && pick >= weights[k] {
            pick -= weights[k];
            k += 1;
        }
        self.centres[k].iter().zip(shift).map(|(c, s)| c + s + within.sample(rng)).collect()
    }

    fn split(
        &self,
        cfg: &SyntheticPoolConfig,
        prompts: usize,
        weights: &[f64],
        shift: &[f64],
        first_prompt_id: u32,
        rng: &mut ChaCha8Rng,
    ) -> PoolSplit {
        let total: f64 = weights.iter().sum();
        let extra = Poisson::new(cfg.comparisons_per_prompt - 1.0).ok();
        let within = Normal::new(0.0, cfg.within_spread).expect("validated spread");
        let (mut pa, mut pb, mut pp, mut ids, mut labels) = (vec![], vec![], vec![], vec![], vec![]);
        for p in 0..prompts {
            let x = self.sample_prompt(weights, total, shift, &within, rng);
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let n_extra: f64 = extra.map_or(0.0, |d: Poisson<f64>| d.sample(rng));
            let n_extra = n_extra as usize;
            let n = (1 + n_extra).min(cfg.max_comparisons_per_prompt);
            for _ in 0..n {
                let qa = normal_vec(rng, cfg.response_dim, 1.0);
                let qb = normal_vec(rng, cfg.response_dim, 1.0);
                let margin = (self.reward(cfg, &x, &qa) - self.reward(cfg, &x, &qb)) / cfg.label_temperature;
                let p_a = 1.0 / (1.0 + (-margin).exp());
                labels.push(rng.random::<f64>() < p_a);
                pa.extend(self.pair_feature(&x, &qa));
                pb.extend(self.pair_feature(&x, &qb));
                pp.extend_from_slice(&x32);
                ids.push(first_prompt_id + p as u32);
            }
        }
        let rows = labels.len();
        let d = cfg.prompt_dim + cfg.response_dim;
        PoolSplit {
            pair_a: FeatureMatrix::new(rows, d, pa).expect("finite synthetic features"),
            pair_b: FeatureMatrix::new(rows, d, pb).expect("finite synthetic features"),
            prompt: FeatureMatrix::new(rows, cfg.prompt_dim, pp).expect("finite synthetic features"),
            prompt_id: ids,
            a_preferred: labels,
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn small() -> SyntheticPoolConfig {
        SyntheticPoolConfig { pool_prompts: 300, ..SyntheticPoolConfig::default() }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let a = small().generate();
        let b = small().generate();
        assert_eq!(a.pool.pair_a, b.pool.pair_a);
        assert_eq!(a.ood.a_preferred, b.ood.a_preferred);
        let c = SyntheticPoolConfig { seed: 8, ..small() }.generate();
        assert_ne!(a.pool.pair_a, c.pool.pair_a);
    }

    #[test]
    fn duplicate_prompts_are_bit_identical_and_common() {
        let b = small().generate();
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
        assert!(dup_rows * 2 > b.pool.len(), "{dup_rows} duplicate rows of {}", b.pool.len());
    }

    #[test]
    fn clusters_are_unequal() {
        let cfg = small();
        let b = cfg.generate();
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
                    let da: f64 = world.centres[a].iter().zip(&x).map(|(p, q)| (p - q).powi(2)).sum();
                    let dc: f64 = world.centres[c].iter().zip(&x).map(|(p, q)| (p - q).powi(2)).sum();
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
        let b = small().generate();
        let frac = b.pool.a_preferred.iter().filter(|&&a| a).count() as f64 / b.pool.len() as f64;
        assert!((0.35..0.65).contains(&frac), "share of A preferred {frac}");
    }

    #[test]
    fn invalid_knob_is_named() {
        let cfg = SyntheticPoolConfig { label_temperature: 0.0, ..small() };
        assert_eq!(cfg.validate().unwrap_err().0, "label_temperature");
        let cfg = SyntheticPoolConfig { cluster_spread: 1e300, ..small() };
        assert_eq!(cfg.validate().unwrap_err().0, "cluster_spread");
    }
}
