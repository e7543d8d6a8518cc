//! Selection rules on top of an uncertainty score (specs/balpm.md §4.2): sampling ∝ score,
//! Gumbel-top-B rules (SoftmaxBALD, PowerBALD, SoftRankBALD; Kirsch et al. 2023), sample-then-rank
//! and one-per-prompt clustered rank.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gumbel};
use serde::{Deserialize, Serialize};

use crate::policies::rank_desc;
use crate::scores::UncertaintyScore;
use crate::{AcquireError, PoolPolicy, PoolState};

/// Sequential sampling without replacement with probability ∝ score (negative scores count as 0;
/// when fewer than B candidates have a positive score, the rest of the batch is uniform).
#[derive(Clone, Debug, Default)]
pub struct ProportionalSampling {
    /// The score to sample by (default BALD).
    pub score: UncertaintyScore,
}

impl PoolPolicy for ProportionalSampling {
    fn score(&self) -> UncertaintyScore {
        self.score
    }

    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        state.validate()?;
        let n = state.unlabelled.len();
        let b = batch.min(n);
        let positive: Vec<usize> = (0..n).filter(|&i| state.uncertainty[i] > 0.0).collect();
        let mut picks: Vec<usize> = if positive.is_empty() {
            vec![]
        } else {
            let k = b.min(positive.len());
            rand::seq::index::sample_weighted(
                rng,
                positive.len(),
                |j| state.uncertainty[positive[j]],
                k,
            )
            .map_err(|e| AcquireError::Rule {
                policy: "sample".into(),
                why: e.to_string(),
            })?
            .into_iter()
            .map(|j| positive[j])
            .collect()
        };
        if picks.len() < b {
            let mut rest: Vec<usize> = (0..n).filter(|i| !picks.contains(i)).collect();
            rest.shuffle(rng);
            picks.extend(rest.into_iter().take(b - picks.len()));
        }
        Ok(picks.into_iter().map(|p| state.unlabelled[p]).collect())
    }
}

/// How PowerBALD's β moves over rounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annealing {
    /// β before `start_round` (the reference uses 0.25).
    #[serde(default = "quarter")]
    pub initial_beta: f64,
    /// First round of the ramp (0 works, unlike the reference, where it raises).
    #[serde(default)]
    pub start_round: usize,
    /// Rounds over which β climbs linearly from `initial_beta` to the policy's `beta`, reaching it
    /// exactly at `start_round + rounds` (the reference never reaches it).
    pub rounds: usize,
}

fn quarter() -> f64 {
    0.25
}

impl Annealing {
    /// β at `round` for target `beta`.
    pub fn beta_at(&self, round: usize, beta: f64) -> f64 {
        if round < self.start_round {
            return self.initial_beta;
        }
        let t = if self.rounds == 0 {
            1.0
        } else {
            ((round - self.start_round) as f64 / self.rounds as f64).min(1.0)
        };
        self.initial_beta + t * (beta - self.initial_beta)
    }
}

/// The three Gumbel-perturbed rules; each takes the top B of a perturbed score.
#[derive(Clone, Debug, PartialEq)]
pub enum GumbelRule {
    /// `s + Gumbel(0, 1/β)`: sampling without replacement ∝ `exp(β s)`.
    Softmax,
    /// `log(s + 1e-5) + Gumbel(0, 1/β)`: ∝ `s^β`, with optional annealing of β.
    Power(Option<Annealing>),
    /// `log(1/rank + 1e-5) + Gumbel(0, 1/β)`: ∝ `rank^−β`.
    SoftRank,
}

/// A Gumbel-top-B policy (Kirsch et al. 2023, "Stochastic batch acquisition").
#[derive(Clone, Debug)]
pub struct GumbelTopK {
    /// How the score is turned into the perturbed key.
    pub rule: GumbelRule,
    /// Inverse temperature β (Gumbel scale `1/β`); with annealing, the final β.
    pub beta: f64,
    /// The score the rule perturbs.
    pub score: UncertaintyScore,
}

impl GumbelTopK {
    /// The perturbed scores for one round, before the top-B cut.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Rule`] when the round's β gives no valid Gumbel scale (β not finite and
    /// `> 0`).
    pub fn perturbed(
        &self,
        scores: &[f64],
        round: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f64>, AcquireError> {
        let beta = match &self.rule {
            GumbelRule::Power(Some(a)) => a.beta_at(round, self.beta),
            _ => self.beta,
        };
        let gumbel = Gumbel::new(0.0, 1.0 / beta).map_err(|e| AcquireError::Rule {
            policy: "gumbel".into(),
            why: format!("beta = {beta}: {e}"),
        })?;
        let base: Vec<f64> = match self.rule {
            GumbelRule::Softmax => scores.to_vec(),
            GumbelRule::Power(_) => scores.iter().map(|s| (s.max(0.0) + 1e-5).ln()).collect(),
            GumbelRule::SoftRank => {
                let mut rank = vec![0usize; scores.len()];
                for (r, i) in rank_desc(scores).into_iter().enumerate() {
                    rank[i] = r + 1;
                }
                rank.iter().map(|&r| (1.0 / r as f64 + 1e-5).ln()).collect()
            }
        };
        Ok(base.into_iter().map(|b| b + gumbel.sample(rng)).collect())
    }
}

impl PoolPolicy for GumbelTopK {
    fn score(&self) -> UncertaintyScore {
        self.score
    }

    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        state.validate()?;
        let noisy = self.perturbed(state.uncertainty, state.round, rng)?;
        Ok(rank_desc(&noisy)
            .into_iter()
            .take(batch)
            .map(|p| state.unlabelled[p])
            .collect())
    }
}

/// Shuffle, cut into consecutive groups, keep each group's best, then sample B of the winners
/// uniformly. When there are fewer winners than B, the batch is completed by rank among the rest
/// (the reference would return a short batch).
#[derive(Clone, Debug)]
pub struct SampleThenRank {
    /// Candidates per group (values below 1 count as 1).
    pub group_size: usize,
    /// The score that ranks each group.
    pub score: UncertaintyScore,
}

impl PoolPolicy for SampleThenRank {
    fn score(&self) -> UncertaintyScore {
        self.score
    }

    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        state.validate()?;
        let n = state.unlabelled.len();
        let u = state.uncertainty;
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let mut winners: Vec<usize> = order
            .chunks(self.group_size.max(1))
            .map(|g| {
                *g.iter()
                    .max_by(|&&a, &&b| u[a].total_cmp(&u[b]).then(b.cmp(&a)))
                    .expect("non-empty group")
            })
            .collect();
        let b = batch.min(n);
        let mut picks: Vec<usize> = if winners.len() > b {
            winners.shuffle(rng);
            winners.truncate(b);
            winners
        } else {
            winners
        };
        if picks.len() < b {
            let rest: Vec<usize> = rank_desc(u)
                .into_iter()
                .filter(|i| !picks.contains(i))
                .take(b - picks.len())
                .collect();
            picks.extend(rest);
        }
        Ok(picks.into_iter().map(|p| state.unlabelled[p]).collect())
    }
}

/// Descending score, at most one comparison per prompt; when the pool has fewer distinct prompts
/// than B, the batch is completed by rank (the reference would return a short batch).
#[derive(Clone, Debug, Default)]
pub struct ClusteredRank {
    /// The score to rank by.
    pub score: UncertaintyScore,
}

impl PoolPolicy for ClusteredRank {
    fn score(&self) -> UncertaintyScore {
        self.score
    }

    fn select(
        &self,
        state: &PoolState<'_>,
        batch: usize,
        _rng: &mut ChaCha8Rng,
    ) -> Result<Vec<usize>, AcquireError> {
        state.validate()?;
        let ids = state.prompt_ids.ok_or(AcquireError::MissingInput {
            policy: "clustered_rank",
            what: "prompt ids",
        })?;
        let order = rank_desc(state.uncertainty);
        let b = batch.min(order.len());
        let mut seen = std::collections::HashSet::new();
        let mut picks: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&p| seen.insert(ids[state.unlabelled[p]]))
            .take(b)
            .collect();
        if picks.len() < b {
            let rest: Vec<usize> = order
                .into_iter()
                .filter(|p| !picks.contains(p))
                .take(b - picks.len())
                .collect();
            picks.extend(rest);
        }
        Ok(picks.into_iter().map(|p| state.unlabelled[p]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use activepref_core::{FeatureMatrix, PromptFeatures};
    use rand::SeedableRng;

    fn state<'a>(unl: &'a [usize], u: &'a [f64], f: &'a PromptFeatures) -> PoolState<'a> {
        PoolState::new(unl, u, &[], f)
    }

    /// Frequency with which each candidate is the *single* pick over `draws` seeded draws.
    fn first_pick_freq(policy: &dyn PoolPolicy, u: &[f64], draws: usize) -> Vec<f64> {
        let f: PromptFeatures = FeatureMatrix::new(u.len(), 1, vec![0.0; u.len()])
            .unwrap()
            .into();
        let unl: Vec<usize> = (0..u.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut counts = vec![0.0; u.len()];
        for _ in 0..draws {
            counts[policy.select(&state(&unl, u, &f), 1, &mut rng).unwrap()[0]] +=
                1.0 / draws as f64;
        }
        counts
    }

    fn close(got: &[f64], want: &[f64], tol: f64) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < tol, "got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn softmax_is_proportional_to_exp_beta_s() {
        // β = 2, s = [0, ln 2 / 2, ln 4 / 2]: exp(βs) = 1, 2, 4 → 1/7, 2/7, 4/7.
        let u = [0.0, 2f64.ln() / 2.0, 4f64.ln() / 2.0];
        let p = GumbelTopK {
            rule: GumbelRule::Softmax,
            beta: 2.0,
            score: UncertaintyScore::Bald,
        };
        close(
            &first_pick_freq(&p, &u, 40_000),
            &[1.0 / 7.0, 2.0 / 7.0, 4.0 / 7.0],
            0.012,
        );
    }

    #[test]
    fn power_is_proportional_to_s_to_the_beta() {
        // β = 1, s = [0.1, 0.3]: ≈ 1/4, 3/4 (the 1e-5 offset is negligible).
        let p = GumbelTopK {
            rule: GumbelRule::Power(None),
            beta: 1.0,
            score: UncertaintyScore::Bald,
        };
        close(
            &first_pick_freq(&p, &[0.1, 0.3], 40_000),
            &[0.25, 0.75],
            0.012,
        );
    }

    #[test]
    fn softrank_is_proportional_to_inverse_rank() {
        // β = 1, ranks 1, 2, 4 (scores 0.9, 0.5, 0.1, 0.3 → ranks 1, 2, 4, 3): ∝ 1, 1/2, 1/4, 1/3.
        let p = GumbelTopK {
            rule: GumbelRule::SoftRank,
            beta: 1.0,
            score: UncertaintyScore::Bald,
        };
        let z = 1.0 + 0.5 + 0.25 + 1.0 / 3.0;
        close(
            &first_pick_freq(&p, &[0.9, 0.5, 0.1, 0.3], 40_000),
            &[1.0 / z, 0.5 / z, 0.25 / z, 1.0 / 3.0 / z],
            0.012,
        );
    }

    #[test]
    fn proportional_sampling_frequencies() {
        let p = ProportionalSampling::default();
        close(
            &first_pick_freq(&p, &[0.2, 0.0, 0.6, 0.2], 40_000),
            &[0.2, 0.0, 0.6, 0.2],
            0.012,
        );
    }

    #[test]
    fn annealing_starts_at_round_zero_and_reaches_the_target() {
        let a = Annealing {
            initial_beta: 0.25,
            start_round: 0,
            rounds: 4,
        };
        let betas: Vec<f64> = (0..6).map(|r| a.beta_at(r, 8.25)).collect();
        assert_eq!(betas, vec![0.25, 2.25, 4.25, 6.25, 8.25, 8.25]);
        let late = Annealing {
            initial_beta: 0.25,
            start_round: 2,
            rounds: 2,
        };
        assert_eq!(
            (
                late.beta_at(1, 1.25),
                late.beta_at(3, 1.25),
                late.beta_at(4, 1.25)
            ),
            (0.25, 0.75, 1.25)
        );
    }

    #[test]
    fn sample_then_rank_takes_group_winners() {
        // 32 candidates, groups of 16, B = 2: exactly the two group maxima are picked, whatever the shuffle.
        // With scores equal to the index, the winners are the max of each random half.
        let u: Vec<f64> = (0..32).map(|i| i as f64).collect();
        let f: PromptFeatures = FeatureMatrix::new(32, 1, vec![0.0; 32]).unwrap().into();
        let unl: Vec<usize> = (0..32).collect();
        let p = SampleThenRank {
            group_size: 16,
            score: UncertaintyScore::Bald,
        };
        for seed in 0..20 {
            let picks = p
                .select(
                    &state(&unl, &u, &f),
                    2,
                    &mut ChaCha8Rng::seed_from_u64(seed),
                )
                .unwrap();
            assert!(
                picks.contains(&31),
                "the global max wins its group: {picks:?}"
            );
            assert_eq!(picks.len(), 2);
        }
        // B larger than the number of groups: completed by rank.
        let picks = p
            .select(&state(&unl, &u, &f), 4, &mut ChaCha8Rng::seed_from_u64(0))
            .unwrap();
        assert_eq!(picks.len(), 4);
    }

    #[test]
    fn sample_then_rank_distribution() {
        // 32 candidates with score = index, groups of 16, B = 1: the pick is one of the two group
        // winners with probability ½ each. The global max 31 always wins its group, so P(31) = ½;
        // the other winner is the max of the 15 others in 31's complement half.
        let u: Vec<f64> = (0..32).map(|i| i as f64).collect();
        let p = SampleThenRank {
            group_size: 16,
            score: UncertaintyScore::Bald,
        };
        let f = first_pick_freq(&p, &u, 20_000);
        assert!((f[31] - 0.5).abs() < 0.015, "P(31) = {}", f[31]);
        // 30 is the other winner whenever it is not in 31's group: P = 16/31, so P(pick 30) = 8/31.
        assert!((f[30] - 8.0 / 31.0).abs() < 0.015, "P(30) = {}", f[30]);
    }

    #[test]
    fn clustered_rank_takes_one_per_prompt() {
        let f: PromptFeatures = FeatureMatrix::new(5, 1, vec![0.0; 5]).unwrap().into();
        let ids = [7u32, 7, 8, 8, 9];
        let unl = [0, 1, 2, 3, 4];
        let u = [0.9, 0.8, 0.7, 0.95, 0.1];
        let mut s = state(&unl, &u, &f);
        s.prompt_ids = Some(&ids);
        let p = ClusteredRank::default();
        // Descending: 3 (prompt 8), 0 (prompt 7), 1 (7, skip), 2 (8, skip), 4 (9).
        assert_eq!(
            p.select(&s, 3, &mut ChaCha8Rng::seed_from_u64(0)).unwrap(),
            vec![3, 0, 4]
        );
        // Only 3 prompts: a batch of 4 is completed by rank with the best skipped one.
        assert_eq!(
            p.select(&s, 4, &mut ChaCha8Rng::seed_from_u64(0)).unwrap(),
            vec![3, 0, 4, 1]
        );
        s.prompt_ids = None;
        assert!(p.select(&s, 1, &mut ChaCha8Rng::seed_from_u64(0)).is_err());
    }
}
