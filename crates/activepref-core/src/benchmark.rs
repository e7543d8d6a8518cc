//! The benchmark types of both settings: pool comparisons (BAL-PM) and prompts with candidate
//! responses (ActiveUltraFeedback).

use std::fmt;

use crate::{FeatureMatrix, PromptFeatures};

/// Why a benchmark's splits do not fit together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BenchmarkError {
    #[error("split `{split}`: {part} has {rows} rows but there are {labels} labels")]
    RowCount {
        split: String,
        part: &'static str,
        rows: usize,
        labels: usize,
    },
    #[error("split `{split}`: pair_a has dimension {a} but pair_b has {b}")]
    PairWidths { split: String, a: usize, b: usize },
    #[error("split `{split}` of benchmark `{benchmark}` is empty")]
    EmptySplit {
        split: &'static str,
        benchmark: String,
    },
    #[error("split `{split}` has pair dimension {dim}, pool has {pool}")]
    SplitWidth {
        split: &'static str,
        dim: usize,
        pool: usize,
    },
}

/// A set of pairwise comparisons `(prompt, response A, response B)` with their hidden labels.
///
/// `pair_a[i]` is the joint feature of (prompt, A), `pair_b[i]` of (prompt, B), `prompt.row(i)` the
/// prompt-only feature used by BAL-PM's entropy term (stored once per distinct prompt), and `a_preferred[i]` the (noisy) human or
/// oracle label. Comparisons that share a prompt share `prompt_id` and have bit-identical prompt rows.
#[derive(Clone, Debug)]
pub struct PoolSplit {
    pub pair_a: FeatureMatrix,
    pub pair_b: FeatureMatrix,
    pub prompt: PromptFeatures,
    pub prompt_id: Vec<u32>,
    pub a_preferred: Vec<bool>,
    /// A per-comparison score imported next to the features (`score.safetensors`), e.g. the
    /// summed token entropy of both responses under an LLM, for the perplexity baselines
    /// (specs/balpm.md §4.5); `None` when the store has none.
    pub score: Option<Vec<f64>>,
}

impl PoolSplit {
    pub fn len(&self) -> usize {
        self.a_preferred.len()
    }

    pub fn is_empty(&self) -> bool {
        self.a_preferred.is_empty()
    }

    /// Checks that every part has one row per comparison and that pair features agree in width.
    pub fn validate(&self, name: &str) -> Result<(), BenchmarkError> {
        let n = self.len();
        let parts = [
            ("pair_a", self.pair_a.rows()),
            ("pair_b", self.pair_b.rows()),
            ("prompt", self.prompt.rows()),
            ("prompt_id", self.prompt_id.len()),
            ("score", self.score.as_ref().map_or(n, Vec::len)),
        ];
        for (part, rows) in parts {
            if rows != n {
                return Err(BenchmarkError::RowCount {
                    split: name.to_string(),
                    part,
                    rows,
                    labels: n,
                });
            }
        }
        if self.pair_a.dim() != self.pair_b.dim() {
            return Err(BenchmarkError::PairWidths {
                split: name.to_string(),
                a: self.pair_a.dim(),
                b: self.pair_b.dim(),
            });
        }
        Ok(())
    }

    /// The comparisons at `idx`, in that order.
    pub fn subset(&self, idx: &[usize]) -> PoolSplit {
        PoolSplit {
            pair_a: self.pair_a.gather(idx),
            pair_b: self.pair_b.gather(idx),
            prompt: self.prompt.gather(idx),
            prompt_id: idx.iter().map(|&i| self.prompt_id[i]).collect(),
            a_preferred: idx.iter().map(|&i| self.a_preferred[i]).collect(),
            score: self
                .score
                .as_ref()
                .map(|s| idx.iter().map(|&i| s[i]).collect()),
        }
    }
}

/// The four splits of a pool-based benchmark (BAL-PM's protocol, specs/balpm.md §1.1):
/// `pool` (acquisition source), `validation` (early stopping), `test` (in-distribution) and
/// `ood` (out-of-distribution test).
#[derive(Clone, Debug)]
pub struct PoolBenchmark {
    pub name: String,
    pub pool: PoolSplit,
    pub validation: PoolSplit,
    pub test: PoolSplit,
    pub ood: PoolSplit,
}

impl PoolBenchmark {
    pub fn pair_dim(&self) -> usize {
        self.pool.pair_a.dim()
    }

    pub fn validate(&self) -> Result<(), BenchmarkError> {
        for (name, split) in self.splits() {
            split.validate(name)?;
            // A dataset without an out-of-distribution set (HH-RLHF) leaves `ood` empty; its
            // metrics are then NaN and the report leaves them out.
            if split.is_empty() && name != "ood" {
                return Err(BenchmarkError::EmptySplit {
                    split: name,
                    benchmark: self.name.clone(),
                });
            }
            if split.pair_a.dim() != self.pair_dim() {
                return Err(BenchmarkError::SplitWidth {
                    split: name,
                    dim: split.pair_a.dim(),
                    pool: self.pair_dim(),
                });
            }
        }
        Ok(())
    }

    pub fn splits(&self) -> [(&'static str, &PoolSplit); 4] {
        [
            ("pool", &self.pool),
            ("validation", &self.validation),
            ("test", &self.test),
            ("ood", &self.ood),
        ]
    }
}

impl fmt::Display for PoolBenchmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: pool {} / validation {} / test {} / ood {} comparisons, pair dim {}, prompt dim {}",
            self.name,
            self.pool.len(),
            self.validation.len(),
            self.test.len(),
            self.ood.len(),
            self.pair_dim(),
            self.pool.prompt.dim()
        )
    }
}

/// One prompt with its candidate responses.
#[derive(Clone, Debug)]
pub struct PromptCandidates {
    pub prompt_id: u32,
    /// `n x d` joint (prompt, response) features.
    pub features: FeatureMatrix,
    /// The judge's score of each response.
    pub judge: Vec<f32>,
    /// The latent reward of each response where the benchmark knows it (the synthetic one: the
    /// judge's score before its noise); `None` for real data.
    pub latent: Option<Vec<f32>>,
    /// The texts, for real candidate pools (`None` for the synthetic benchmark): what the acquired
    /// dataset a run writes holds.
    pub text: Option<CandidateTexts>,
}

/// The prompt and responses behind a [`PromptCandidates`], and the model of each response.
#[derive(Clone, Debug, PartialEq)]
pub struct CandidateTexts {
    pub prompt: String,
    pub responses: Vec<String>,
    pub models: Vec<String>,
}

/// The stream of prompts to acquire pairs from, and the prompts for validation and evaluation.
#[derive(Clone, Debug)]
pub struct PairBenchmark {
    pub name: String,
    pub stream: Vec<PromptCandidates>,
    pub validation: Vec<PromptCandidates>,
    pub heldout: Vec<PromptCandidates>,
}

impl PromptCandidates {
    /// Every unordered pair `(i, j)`, `i < j`, with distinct judge scores, as the comparisons
    /// `(A = i, B = j, A preferred?)`.
    pub fn judged_pairs(&self) -> Vec<(usize, usize, bool)> {
        let n = self.judge.len();
        (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .filter(|&(i, j)| self.judge[i] != self.judge[j])
            .map(|(i, j)| (i, j, self.judge[i] > self.judge[j]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn judged_pairs_skip_ties_and_order_by_score() {
        let p = PromptCandidates {
            prompt_id: 0,
            features: FeatureMatrix::new(3, 1, vec![0.0; 3]).unwrap(),
            judge: vec![1.0, 2.0, 1.0],
            latent: None,
            text: None,
        };
        assert_eq!(p.judged_pairs(), vec![(0, 1, false), (1, 2, true)]);
    }
}
