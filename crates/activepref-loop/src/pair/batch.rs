//! What one round of the pair loop acquires: each prompt's pair from the policy, the judge's (or
//! the configured oracle's) answer, the D-optimal rule's information and the label cost.

use activepref_acquire::{CandidateScores, PairDesign};
use activepref_core::seeds::{Stream, rng_for};
use activepref_core::{ComparisonLength, FeatureMatrix, PromptCandidates};
use activepref_model::{FittedEnsemble, ModelError};

use super::{AcquiredPair, PairLoop, PairRoundRecord, largest_pair_bald};
use crate::LoopError;

impl PairLoop<'_> {
    /// Each draw's inverse information `(λI + Σ p(1 − p) g gᵀ)⁻¹` over the pairs acquired so
    /// far, `g` the difference of the chosen and rejected responses' final-layer inputs under
    /// `fitted` (the D-optimal rule's history; the batch's own picks do not update it).
    pub(super) fn acquired_information(
        &self,
        fitted: &FittedEnsemble,
        lambda: f64,
    ) -> Result<Vec<Vec<f64>>, LoopError> {
        let side = |pick: fn(&AcquiredPair) -> usize| -> Result<FeatureMatrix, LoopError> {
            let d = self.bench.stream.first().map_or(0, |p| p.features.dim());
            let mut data = Vec::with_capacity(self.acquired.len() * d);
            for pair in &self.acquired {
                data.extend_from_slice(self.bench.stream[pair.prompt].features.row(pick(pair)));
            }
            FeatureMatrix::new(self.acquired.len(), d, data).map_err(|_| {
                LoopError::Model(ModelError::Unsupported {
                    what: "the D-optimal rule needs every prompt's response features to share one width",
                })
            })
        };
        let (chosen, weights) = fitted.last_layer(&side(|p| p.chosen)?, None)?;
        let (rejected, _) = fitted.last_layer(&side(|p| p.rejected)?, None)?;
        Ok(chosen
            .iter()
            .zip(&rejected)
            .zip(&weights)
            .map(|((c, r), w)| {
                let g: Vec<f32> = c
                    .as_slice()
                    .iter()
                    .zip(r.as_slice())
                    .map(|(a, b)| a - b)
                    .collect();
                activepref_acquire::inverse_information(&g, w, lambda)
            })
            .collect())
    }

    /// Whether the oracle prefers response `a` of `prompt` to response `b`, and whether that
    /// answer goes against the judge's order. The default oracle is the judge: the higher score
    /// wins, a tie goes to `a` (specs/activeuf.md §1.3). Any other oracle is asked about the
    /// unordered pair: path `[prompt id, low, high]`, gap `s_low − s_high`, a judge tie going to
    /// `low`, so its answer does not depend on the order the rule returned the two in. (The pair
    /// loop refuses `ties.policy: drop` and `half`.)
    pub(super) fn oracle_answer(
        &self,
        prompt: &PromptCandidates,
        a: usize,
        b: usize,
    ) -> (bool, bool) {
        let oracle = &self.config.oracle;
        if !oracle.changes_answers() {
            return (prompt.judge[a] >= prompt.judge[b], false);
        }
        let (lo, hi) = (a.min(b), a.max(b));
        let judge_lo = prompt.judge[lo] >= prompt.judge[hi];
        let gap = f64::from(prompt.judge[lo]) - f64::from(prompt.judge[hi]);
        let path = [u64::from(prompt.prompt_id), lo as u64, hi as u64];
        // The pair loop's config refuses `drop` and `half`: every answer names a side.
        let lo_wins = match oracle.answer(self.run_seed, &path, judge_lo, gap) {
            crate::Answer::Prefers(p) => p,
            crate::Answer::Tie | crate::Answer::Dropped => judge_lo,
        };
        (
            if lo == a { lo_wins } else { !lo_wins },
            lo_wins != judge_lo,
        )
    }

    /// Refuses per-word prices on a stream with a prompt that has no texts to count.
    pub(super) fn check_cost_lengths(&self) -> Result<(), LoopError> {
        if self.config.oracle.prices_words() && self.bench.stream.iter().any(|p| p.text.is_none()) {
            return Err(LoopError::Oracle {
                why: format!(
                    "pair_loop.oracle.cost prices words, but benchmark `{}` has prompts without texts to count; price per_label only",
                    self.bench.name
                ),
            });
        }
        Ok(())
    }

    /// What the oracle charged for the pairs acquired so far (`oracle.cost`), summed in
    /// acquisition order; `None` without a cost. A pair is priced by its prompt and its two
    /// responses (a stream without texts prices per label only: [`Self::check_cost_lengths`]).
    /// The sum runs on from the pairs counted last time, adding in the same order as a full
    /// sum, so it is the same number.
    pub(super) fn acquired_cost(&mut self) -> Option<f64> {
        let cost = self.config.oracle.cost?;
        let (mut sum, counted) = self.cost_so_far;
        for pair in &self.acquired[counted..] {
            let prompt = &self.bench.stream[pair.prompt];
            let len = prompt.text.as_ref().map(|t| {
                ComparisonLength::of_text(
                    &t.prompt,
                    &t.responses[pair.chosen],
                    &t.responses[pair.rejected],
                )
            });
            sum += cost.of(len.as_ref());
        }
        self.cost_so_far = (sum, self.acquired.len());
        Some(sum)
    }

    /// Picks one pair per prompt of this round's batch, asks the judge, acquires the pairs and
    /// records the batch's gaps in `record`.
    pub(super) fn acquire_batch(
        &mut self,
        fitted: &FittedEnsemble,
        record: &mut PairRoundRecord,
    ) -> Result<(), LoopError> {
        let t = self.round;
        let b = self.config.batch_prompts;
        let (mut gap, mut ties, mut flipped) = (0.0f64, 0usize, 0usize);
        let (mut predicted_gap, mut predicted_sd) = (0.0f64, 0.0f64);
        let mut latent_gap = 0.0f64;
        let mut max_bald = f64::NEG_INFINITY;
        let batch = &self.order[(t * b).min(self.order.len())..((t + 1) * b).min(self.order.len())];
        let inverse = (self.policy.design_prior())
            .map(|lambda| self.acquired_information(fitted, lambda))
            .transpose()?;
        for (k, &p) in batch.iter().enumerate() {
            let prompt = &self.bench.stream[p];
            let (mu, sd, members) = fitted.response_stats(&prompt.features);
            max_bald = max_bald.max(largest_pair_bald(&members));
            let last_layer = (inverse.as_ref())
                .map(|_| fitted.last_layer(&prompt.features, None))
                .transpose()?;
            let design = match (&last_layer, &inverse) {
                (Some((features, weights)), Some(inverse)) => Some(PairDesign {
                    features,
                    weights,
                    inverse_information: inverse,
                }),
                _ => None,
            };
            let c = CandidateScores {
                mu: &mu,
                sd: &sd,
                members: Some(&members),
                oracle: Some(&prompt.judge),
                design: design.as_ref(),
            };
            let mut rng = rng_for(self.run_seed, Stream::Policy, &[t as u64, k as u64]);
            let (a, bb) = self
                .policy
                .select(&c, self.mode, &mut rng)
                .map_err(|error| LoopError::PairPolicy {
                    round: t,
                    prompt: prompt.prompt_id,
                    error,
                })?;
            // The judge: the higher score is chosen; a tie goes to `a` (specs/activeuf.md §1.3).
            let (a_preferred, against_judge) = self.oracle_answer(prompt, a, bb);
            flipped += usize::from(against_judge);
            let (chosen, rejected) = if a_preferred { (a, bb) } else { (bb, a) };
            gap += (prompt.judge[a] - prompt.judge[bb]).abs() as f64;
            predicted_gap += f64::from(mu[chosen]) - f64::from(mu[rejected]);
            predicted_sd += 0.5 * (f64::from(sd[chosen]) + f64::from(sd[rejected]));
            ties += usize::from(prompt.judge[a] == prompt.judge[bb]);
            if let Some(latent) = &prompt.latent {
                latent_gap += (f64::from(latent[a]) - f64::from(latent[bb])).abs();
            }
            self.acquired.push(AcquiredPair {
                prompt: p,
                chosen,
                rejected,
                round: t,
                chosen_mu: mu[chosen],
                chosen_sd: sd[chosen],
                rejected_mu: mu[rejected],
                rejected_sd: sd[rejected],
            });
        }
        let n = batch.len().max(1) as f64;
        record.batch_mean_score_gap = Some(gap / n);
        record.batch_judge_ties = Some(ties);
        record.batch_oracle_flipped = self.config.oracle.changes_answers().then_some(flipped);
        record.batch_mean_predicted_gap = Some(predicted_gap / n);
        record.batch_mean_predicted_sd = Some(predicted_sd / n);
        record.batch_max_bald = max_bald.is_finite().then_some(max_bald);
        if batch.iter().all(|&p| self.bench.stream[p].latent.is_some()) {
            record.batch_mean_latent_gap = Some(latent_gap / n);
        }
        Ok(())
    }
}
