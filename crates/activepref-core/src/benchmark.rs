//! The benchmark types of both settings: pool comparisons (BAL-PM) and prompts with candidate
//! responses (ActiveUltraFeedback).

use std::fmt;

use crate::{FeatureMatrix, PromptFeatures};

/// Why a benchmark's splits do not fit together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BenchmarkError {
    /// A part of split `split` does not have one row per comparison.
    #[error("split `{split}`: {part} has {rows} rows but there are {labels} labels")]
    RowCount {
        /// The split's name (`pool`, `validation`, `test`, `ood`).
        split: String,
        /// The part that is off: `pair_a`, `pair_b`, `prompt`, `prompt_id`, `score`,
        /// `latent_gap` or `lengths`.
        part: &'static str,
        /// Rows (entries) that part has.
        rows: usize,
        /// Comparisons in the split (the length of `a_preferred`).
        labels: usize,
    },
    /// The two pair-feature matrices of a split differ in width.
    #[error("split `{split}`: pair_a has dimension {a} but pair_b has {b}")]
    PairWidths {
        /// The split's name.
        split: String,
        /// Width (columns) of `pair_a`.
        a: usize,
        /// Width (columns) of `pair_b`.
        b: usize,
    },
    /// A split other than `ood` has no comparisons.
    #[error("split `{split}` of benchmark `{benchmark}` is empty")]
    EmptySplit {
        /// The empty split's name.
        split: &'static str,
        /// The benchmark's name.
        benchmark: String,
    },
    /// A split's pair features are not as wide as the pool's.
    #[error("split `{split}` has pair dimension {dim}, pool has {pool}")]
    SplitWidth {
        /// The split's name.
        split: &'static str,
        /// Width (columns) of the split's pair features.
        dim: usize,
        /// Width (columns) of the pool's pair features.
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
    /// `n × pair_dim` joint (prompt, response A) features, one row per comparison.
    pub pair_a: FeatureMatrix,
    /// `n × pair_dim` joint (prompt, response B) features, one row per comparison.
    pub pair_b: FeatureMatrix,
    /// `n × prompt_dim` prompt-only features (each distinct prompt stored once), used by BAL-PM's
    /// entropy term.
    pub prompt: PromptFeatures,
    /// The prompt of each comparison (`n` entries); comparisons with the same id share a prompt row.
    pub prompt_id: Vec<u32>,
    /// The label of each comparison (`n` entries): `true` when response A is preferred.
    pub a_preferred: Vec<bool>,
    /// A per-comparison score imported next to the features (`score.safetensors`), e.g. the
    /// summed token entropy of both responses under an LLM, for the perplexity baselines
    /// (specs/balpm.md §4.5); `None` when the store has none.
    pub score: Option<Vec<f64>>,
    /// The latent reward gap `r(A) − r(B)` of each comparison where the benchmark knows it (the
    /// synthetic one: the gap its Bradley–Terry labels were drawn from, before the temperature);
    /// `None` for real data. A `bradley_terry` oracle or a tie margin reads it (issue 23).
    pub latent_gap: Option<Vec<f64>>,
    /// How long each comparison is to read (`n` entries), for a per-label cost by length
    /// (issue 23): counted from the text by the dataset loaders, drawn by the synthetic benchmark
    /// when asked (`lengths:`); `None` when the benchmark does not know.
    pub lengths: Option<Vec<ComparisonLength>>,
}

/// How much a labeller reads to answer one comparison: whitespace-separated words of the prompt
/// and of each response.
///
/// ```
/// use activepref_core::ComparisonLength;
/// let l = ComparisonLength::of_text("Summarise this post.", "A short summary.", "Another one");
/// assert_eq!((l.prompt_words, l.response_a_words, l.response_b_words), (3, 3, 2));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ComparisonLength {
    /// Words of the prompt.
    pub prompt_words: u32,
    /// Words of response A.
    pub response_a_words: u32,
    /// Words of response B.
    pub response_b_words: u32,
}

impl ComparisonLength {
    /// The word counts (Unicode whitespace separates words) of a comparison's three texts;
    /// counts beyond `u32::MAX` saturate.
    pub fn of_text(prompt: &str, response_a: &str, response_b: &str) -> Self {
        let words = |t: &str| u32::try_from(t.split_whitespace().count()).unwrap_or(u32::MAX);
        Self {
            prompt_words: words(prompt),
            response_a_words: words(response_a),
            response_b_words: words(response_b),
        }
    }

    /// Words of both responses together.
    pub fn response_words(&self) -> u64 {
        u64::from(self.response_a_words) + u64::from(self.response_b_words)
    }
}

impl PoolSplit {
    /// The number of comparisons `n`.
    pub fn len(&self) -> usize {
        self.a_preferred.len()
    }

    /// `true` when the split has no comparisons.
    pub fn is_empty(&self) -> bool {
        self.a_preferred.is_empty()
    }

    /// Checks that every part has one row per comparison and that pair features agree in width.
    ///
    /// `name` is the split's name, used in the error.
    ///
    /// # Errors
    ///
    /// [`BenchmarkError::RowCount`] when `pair_a`, `pair_b`, `prompt`, `prompt_id`, `score`,
    /// `latent_gap` or `lengths` does not have one row per label; [`BenchmarkError::PairWidths`] when `pair_a` and `pair_b` differ
    /// in width.
    pub fn validate(&self, name: &str) -> Result<(), BenchmarkError> {
        let n = self.len();
        let parts = [
            ("pair_a", self.pair_a.rows()),
            ("pair_b", self.pair_b.rows()),
            ("prompt", self.prompt.rows()),
            ("prompt_id", self.prompt_id.len()),
            ("score", self.score.as_ref().map_or(n, Vec::len)),
            ("latent_gap", self.latent_gap.as_ref().map_or(n, Vec::len)),
            ("lengths", self.lengths.as_ref().map_or(n, Vec::len)),
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
    ///
    /// # Panics
    ///
    /// If an index is `>= self.len()`.
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
            latent_gap: self
                .latent_gap
                .as_ref()
                .map(|s| idx.iter().map(|&i| s[i]).collect()),
            lengths: self
                .lengths
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
    /// The benchmark's name (e.g. `tldr`), used in errors, logs and result paths.
    pub name: String,
    /// The unlabelled pool that acquisition draws from.
    pub pool: PoolSplit,
    /// Validation comparisons, used for early stopping.
    pub validation: PoolSplit,
    /// In-distribution test comparisons.
    pub test: PoolSplit,
    /// Out-of-distribution test comparisons; empty for datasets without one (HH-RLHF).
    pub ood: PoolSplit,
}

impl PoolBenchmark {
    /// Width (columns) of the pair features, taken from the pool's `pair_a`.
    pub fn pair_dim(&self) -> usize {
        self.pool.pair_a.dim()
    }

    /// Checks every split ([`PoolSplit::validate`]), that no split but `ood` is empty, and that every
    /// split's pair features are as wide as the pool's.
    ///
    /// # Errors
    ///
    /// Any error of [`PoolSplit::validate`]; [`BenchmarkError::EmptySplit`] when `pool`, `validation`
    /// or `test` is empty; [`BenchmarkError::SplitWidth`] when a split's pair width differs from the
    /// pool's.
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

    /// The four splits with their names, in the order `pool`, `validation`, `test`, `ood`.
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
    /// The prompt's id, unique within the benchmark.
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
    /// The prompt text.
    pub prompt: String,
    /// The text of each candidate response (`n` entries, the rows of `features`).
    pub responses: Vec<String>,
    /// The model that wrote each response (`n` entries).
    pub models: Vec<String>,
}

/// The stream of prompts to acquire pairs from, and the prompts for validation and evaluation.
#[derive(Clone, Debug)]
pub struct PairBenchmark {
    /// The benchmark's name, used in errors, logs and result paths.
    pub name: String,
    /// The prompts the pair loop acquires from, in stream order.
    pub stream: Vec<PromptCandidates>,
    /// Prompts whose judged pairs are the validation set of a from-scratch refit (early stopping).
    pub validation: Vec<PromptCandidates>,
    /// Held-out prompts whose judged pairs evaluate the reward model after each round.
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
