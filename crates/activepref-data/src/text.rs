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
    /// Every split role, in declaration order (pool, validation, test, OOD).
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
    /// The prompt text.
    pub prompt: String,
    /// The first response (the preferred one when the source says which won).
    pub response_a: String,
    /// The second response.
    pub response_b: String,
    /// `true` when `response_a` is preferred.
    pub a_preferred: bool,
}

/// A comparison dataset routed into splits.
#[derive(Clone, Debug, Default)]
pub struct ComparisonDataset {
    /// Where it was read from (files or a directory), for messages.
    pub sources: Vec<PathBuf>,
    /// The comparisons of each split, in file order.
    pub splits: BTreeMap<SplitRole, Vec<TextComparison>>,
}

impl ComparisonDataset {
    /// The comparisons of split `role` (empty when the dataset has none).
    pub fn split(&self, role: SplitRole) -> &[TextComparison] {
        self.splits.get(&role).map_or(&[], Vec::as_slice)
    }

    /// Comparisons over all splits.
    pub fn len(&self) -> usize {
        self.splits.values().map(Vec::len).sum()
    }

    /// `true` when no split holds a comparison.
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
    /// The split.
    pub role: SplitRole,
    /// Comparisons in the split.
    pub comparisons: usize,
    /// Distinct prompts (`prompt_key`s) in the split.
    pub prompts: usize,
    /// Most comparisons that share one prompt.
    pub max_per_prompt: usize,
}

impl SplitSummary {
    /// Mean comparisons per prompt (0 for an empty split).
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
    /// The response text.
    pub response: String,
    /// Judge score in [0, 1] (f32 like all bulk data).
    pub score: f32,
}

/// Prompts with candidate responses and a judge score per response (ActiveUltraFeedback setting).
/// `candidates[i]` belongs to `prompts[i]`; a prompt may have fewer candidates than there are models
/// when a source file lacks it (see [`CandidatePool::gaps`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CandidatePool {
    /// Where it was read from (files or a directory), for messages.
    pub sources: Vec<PathBuf>,
    /// The models that wrote the responses, in source order.
    pub models: Vec<String>,
    /// The prompt texts.
    pub prompts: Vec<String>,
    /// Each prompt's id: its index in the pool as loaded, before any filter. Feature stores key
    /// candidates by it (`<id>/<model>`), so the ids stay valid after `missing: intersect`.
    pub prompt_ids: Vec<usize>,
    /// `candidates[i]`: the candidate responses of `prompts[i]`.
    pub candidates: Vec<Vec<Candidate>>,
    /// Per model file that lacks some prompts: (model index, the instructions it lacks).
    pub gaps: Vec<(usize, Vec<String>)>,
    /// Where the judge scores came from: source → prompts scored from it (every prompt from one
    /// source; `completions` may use `overall_score` for some prompts, annotations for others).
    pub score_sources: BTreeMap<String, usize>,
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
            prompt_ids: (0..prompts.len()).collect(),
            prompts,
            candidates,
            gaps,
            score_sources: BTreeMap::new(),
        }
    }

    /// Keeps only the prompts with exactly `n` candidates (`missing: intersect`); `gaps` still
    /// records what was missing before.
    pub fn keep_prompts_with(&mut self, n: usize) {
        let keep: Vec<usize> = (0..self.prompts.len())
            .filter(|&p| self.candidates[p].len() == n)
            .collect();
        self.prompts = keep.iter().map(|&p| self.prompts[p].clone()).collect();
        self.prompt_ids = keep.iter().map(|&p| self.prompt_ids[p]).collect();
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

/// What `inspect` reports about a comparison dataset's quality: rows that carry no preference
/// signal or that a user would want to know about before running on them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ComparisonQuality {
    /// Comparisons whose two responses are identical (after trimming whitespace): no preference
    /// signal (public HH-RLHF derivatives filter them). Kept, and counted here.
    pub identical_pairs: usize,
    /// The first few of them as `split/id`.
    pub identical_examples: Vec<String>,
    /// Comparisons with an empty response (kept: a labeller may prefer an empty reply).
    pub empty_responses: usize,
    /// Ids that appear more than once within a split.
    pub duplicate_ids: usize,
    /// (prompt, response) rows: two per comparison.
    pub response_rows: usize,
    /// Distinct (prompt, response) texts within each split, summed over splits (exact text, the
    /// prompt by its key). In TL;DR one summary is in several comparisons. Where identical texts
    /// also have bit-identical feature rows, a scoring or validation pass runs the first layer
    /// once per distinct row (docs/performance.md, "Repeated rows").
    pub distinct_response_rows: usize,
    /// Rows the loader dropped on purpose (none today: every fault is an error naming its row).
    pub dropped_rows: usize,
}

impl ComparisonDataset {
    /// Counts identical pairs, empty responses and repeated ids, per the whole dataset.
    pub fn quality(&self) -> ComparisonQuality {
        let mut q = ComparisonQuality::default();
        for (role, rows) in &self.splits {
            let mut seen = std::collections::HashSet::new();
            let mut distinct = std::collections::HashSet::new();
            for c in rows {
                for response in [&c.response_a, &c.response_b] {
                    distinct.insert((c.prompt_key.as_str(), response.as_str()));
                }
                let (a, b) = (c.response_a.trim(), c.response_b.trim());
                if a == b {
                    q.identical_pairs += 1;
                    if q.identical_examples.len() < 3 {
                        q.identical_examples.push(format!("{role}/{}", c.id));
                    }
                }
                q.empty_responses += usize::from(a.is_empty() || b.is_empty());
                q.duplicate_ids += usize::from(!seen.insert(c.id.as_str()));
            }
            q.response_rows += 2 * rows.len();
            q.distinct_response_rows += distinct.len();
        }
        q
    }
}

/// What `inspect` reports about a candidate pool's quality.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CandidateQuality {
    /// Prompts with fewer than two candidates: no pair can be formed from them.
    pub prompts_without_a_pair: usize,
    /// Per model that lacks some prompts: how many.
    pub missing_responses: BTreeMap<String, usize>,
    /// Prompts whose candidates all have the same judge score: every pair is a tie.
    pub prompts_all_tied: usize,
    /// Candidates with an empty response.
    pub empty_responses: usize,
    /// Two candidates of one prompt with the same text (after trimming).
    pub identical_responses: usize,
    /// The judge scores' range over all candidates, `[min, max]`.
    pub score_range: [f32; 2],
    /// Per prompt, the gap between its best and worst candidate's score: `[smallest, mean,
    /// largest]` over the prompts with a pair (a small gap: little for a judge to separate).
    pub prompt_score_gap: [f32; 3],
    /// Source of the judge scores → prompts scored from it ([`CandidatePool::score_sources`]).
    pub score_sources: BTreeMap<String, usize>,
    /// Rows the loader dropped on purpose, and why (none today: every fault is an error).
    pub dropped_rows: usize,
}

impl CandidatePool {
    /// Counts what a user should know before running on the pool.
    pub fn quality(&self) -> CandidateQuality {
        let mut q = CandidateQuality {
            score_range: [f32::INFINITY, f32::NEG_INFINITY],
            ..Default::default()
        };
        let mut gaps: Vec<f32> = Vec::new();
        for cands in &self.candidates {
            q.prompts_without_a_pair += usize::from(cands.len() < 2);
            if cands.len() >= 2 {
                let (lo, hi) = cands
                    .iter()
                    .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), c| {
                        (a.min(c.score), b.max(c.score))
                    });
                gaps.push(hi - lo);
            }
            q.prompts_all_tied +=
                usize::from(cands.len() >= 2 && cands.iter().all(|c| c.score == cands[0].score));
            let mut texts = std::collections::HashSet::new();
            for c in cands {
                q.empty_responses += usize::from(c.response.trim().is_empty());
                q.identical_responses += usize::from(!texts.insert(c.response.trim()));
                q.score_range = [q.score_range[0].min(c.score), q.score_range[1].max(c.score)];
            }
        }
        for (m, lacks) in &self.gaps {
            q.missing_responses
                .insert(self.models[*m].clone(), lacks.len());
        }
        q.score_sources = self.score_sources.clone();
        if !gaps.is_empty() {
            let mean = gaps.iter().map(|&g| f64::from(g)).sum::<f64>() / gaps.len() as f64;
            q.prompt_score_gap = [
                gaps.iter().copied().fold(f32::INFINITY, f32::min),
                mean as f32,
                gaps.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            ];
        }
        q
    }
}
