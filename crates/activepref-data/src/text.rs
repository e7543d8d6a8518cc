//! Text-level records, before features: pairwise comparisons (pool setting) and
//! n-responses-per-prompt candidate pools (pair-selection setting).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The role a split plays in the BAL-PM protocol (specs/balpm.md §1.1).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SplitRole {
    /// Acquisition source and training data (TL;DR `train`).
    #[cfg_attr(feature = "clap", value(alias = "train"))]
    Pool,
    /// Early stopping (TL;DR `valid1`).
    #[cfg_attr(feature = "clap", value(aliases = ["valid", "valid1", "eval"]))]
    Validation,
    /// In-distribution test (TL;DR `valid2` without CNN/DM).
    Test,
    /// Out-of-distribution test (TL;DR `valid2` CNN/DM articles).
    Ood,
}

impl SplitRole {
    pub const ALL: &[SplitRole] = <SplitRole as strum::VariantArray>::VARIANTS;

    /// The directory / YAML name of the split.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// One human (or judge) comparison of two responses to one prompt.
///
/// Loaders store the preferred response as `response_a` when the source says which one won (as
/// BAL-PM's chosen/rejected layout does), so `a_preferred` is then `true`; generic pair files with a
/// label column keep their own order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextComparison {
    /// Unique within its split: the row index within the split, in file order (BAL-PM's `id`).
    pub id: String,
    /// Comparisons with the same key share a prompt (TL;DR: the post id; elsewhere the prompt text).
    pub prompt_key: String,
    pub prompt: String,
    pub response_a: String,
    pub response_b: String,
    pub a_preferred: bool,
}

/// A comparison dataset routed into splits.
#[derive(Clone, Debug, Default)]
pub struct ComparisonDataset {
    /// Where it was read from (files or a directory), for messages.
    pub sources: Vec<PathBuf>,
    pub splits: BTreeMap<SplitRole, Vec<TextComparison>>,
}

impl ComparisonDataset {
    pub fn split(&self, role: SplitRole) -> &[TextComparison] {
        self.splits.get(&role).map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.splits.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dense prompt ids: equal `prompt_key`s get equal ids across all splits, in first-seen order
    /// (splits in [`SplitRole::ALL`] order).
    pub fn prompt_ids(&self) -> BTreeMap<SplitRole, Vec<u32>> {
        let mut seen: HashMap<&str, u32> = HashMap::new();
        let mut out = BTreeMap::new();
        for &role in SplitRole::ALL {
            let ids = self
                .split(role)
                .iter()
                .map(|c| {
                    let next = seen.len() as u32;
                    *seen.entry(c.prompt_key.as_str()).or_insert(next)
                })
                .collect();
            out.insert(role, ids);
        }
        out
    }

    /// Per split: comparisons, distinct prompts, and comparisons per prompt (mean, max).
    pub fn summary(&self) -> Vec<SplitSummary> {
        SplitRole::ALL
            .iter()
            .map(|&role| {
                let rows = self.split(role);
                let mut per_prompt: HashMap<&str, usize> = HashMap::new();
                for c in rows {
                    *per_prompt.entry(c.prompt_key.as_str()).or_default() += 1;
                }
                let prompts = per_prompt.len();
                SplitSummary {
                    role,
                    comparisons: rows.len(),
                    prompts,
                    max_per_prompt: per_prompt.values().copied().max().unwrap_or(0),
                }
            })
            .collect()
    }
}

/// Counts for one split, as `activepref inspect` prints them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitSummary {
    pub role: SplitRole,
    pub comparisons: usize,
    pub prompts: usize,
    pub max_per_prompt: usize,
}

impl SplitSummary {
    pub fn mean_per_prompt(&self) -> f64 {
        if self.prompts == 0 {
            0.0
        } else {
            self.comparisons as f64 / self.prompts as f64
        }
    }
}

/// One candidate response to a prompt with its judge score.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Index into [`CandidatePool::models`].
    pub model: usize,
    pub response: String,
    /// Judge score in [0, 1] (f32 like all bulk data).
    pub score: f32,
}

/// Prompts with candidate responses and a judge score per response (ActiveUltraFeedback setting).
/// `candidates[i]` belongs to `prompts[i]`; a prompt may have fewer candidates than there are models
/// when a source file lacks it (see [`CandidatePool::gaps`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CandidatePool {
    pub sources: Vec<PathBuf>,
    pub models: Vec<String>,
    pub prompts: Vec<String>,
    pub candidates: Vec<Vec<Candidate>>,
    /// Per model file that lacks some prompts: (model index, the instructions it lacks).
    pub gaps: Vec<(usize, Vec<String>)>,
}

impl CandidatePool {
    /// A pool with its [`gaps`](Self::gaps) worked out: per model, in model order, the prompts
    /// (in prompt order) it gave no candidate for.
    pub fn new(
        sources: Vec<PathBuf>,
        models: Vec<String>,
        prompts: Vec<String>,
        candidates: Vec<Vec<Candidate>>,
    ) -> Self {
        let gaps = (0..models.len())
            .filter_map(|m| {
                let lacks: Vec<String> = (0..prompts.len())
                    .filter(|&p| !candidates[p].iter().any(|c| c.model == m))
                    .map(|p| prompts[p].clone())
                    .collect();
                (!lacks.is_empty()).then_some((m, lacks))
            })
            .collect();
        Self {
            sources,
            models,
            prompts,
            candidates,
            gaps,
        }
    }

    /// Keeps only the prompts with exactly `n` candidates (`missing: intersect`); `gaps` still
    /// records what was missing before.
    pub fn keep_prompts_with(&mut self, n: usize) {
        let keep: Vec<usize> = (0..self.prompts.len())
            .filter(|&p| self.candidates[p].len() == n)
            .collect();
        self.prompts = keep.iter().map(|&p| self.prompts[p].clone()).collect();
        self.candidates = keep
            .iter()
            .map(|&p| std::mem::take(&mut self.candidates[p]))
            .collect();
    }

    /// `(fewest, most)` candidates per prompt.
    pub fn responses_per_prompt(&self) -> (usize, usize) {
        let lens = self.candidates.iter().map(Vec::len);
        (lens.clone().min().unwrap_or(0), lens.max().unwrap_or(0))
    }
}
