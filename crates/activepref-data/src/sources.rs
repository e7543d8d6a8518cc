//! Where a real benchmark comes from, as experiment files and the CLI name it: a dataset format, a
//! path, and a feature store. One place that maps format names to loaders, so `run`, `inspect` and
//! `featurize` read data the same way.

use activepref_core::FieldError;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::assemble::{self, Assembled, MissingFeatures, PromptSplit, Resplit};
use crate::error::{DataError, DataResult};
use crate::formats::alpaca_eval::{self, MissingPrompts};
use crate::formats::pairs::{self, PairColumns};
use crate::formats::{completions, hh_rlhf, summarize};
use crate::text::{CandidatePool, ComparisonDataset};
use activepref_core::PairBenchmark;
use activepref_core::error::shell_quoted as quoted;

/// `activepref featurize FORMAT PATH --out FEATURES`, each path shell-quoted.
fn featurize_command(format: &str, path: &Path, features: &Path) -> String {
    let path = quoted(&path.to_string_lossy());
    let features = quoted(&features.to_string_lossy());
    format!("activepref featurize {format} {path} --out {features}")
}

/// A missing or incomplete feature store's error ([`crate::error::Remedy`]) with the dataset's whole featurize
/// command in its hint; `import` where `activepref import-features` is another way. Other errors
/// pass through.
fn with_command(mut e: DataError, command: &str, import: bool) -> DataError {
    if let Some(remedy) = e.remedy {
        e.hint = Some(remedy.hint(Some(command), import));
    }
    e
}

/// `(field, message)` when the dataset path named in an experiment file is not there.
fn dataset_exists(path: &Path) -> Result<(), FieldError> {
    if path.exists() {
        Ok(())
    } else {
        // A relative path is read from the working directory, which the user may not expect.
        let from = match (path.is_relative(), std::env::current_dir()) {
            (true, Ok(cwd)) => format!(" (relative to the working directory {})", cwd.display()),
            _ => String::new(),
        };
        Err(FieldError::new(
            "path",
            format!(
                "`{}` does not exist{from}; see README \"Real data\", \"Where each dataset comes from\"",
                path.display()
            ),
        ))
    }
}

/// The comparison formats (pool setting).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumMessage,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum ComparisonFormat {
    /// OpenAI summarize-from-feedback comparisons (JSON lines or HF parquet; a file or a directory).
    SummarizeFromFeedback,
    /// Anthropic HH-RLHF `{chosen, rejected}` transcripts.
    HhRlhf,
    /// Any pair table with a column mapping (`columns:`).
    Pairs,
}

impl ComparisonFormat {
    /// The YAML and command-line spelling (`hh-rlhf`).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Loads the text records.
    ///
    /// # Errors
    ///
    /// The format's loader's [`DataError`]: an unreadable or malformed file, a
    /// missing or mistyped field (naming file, row and field).
    pub fn load(self, path: &Path, columns: Option<&PairColumns>) -> DataResult<ComparisonDataset> {
        match self {
            ComparisonFormat::SummarizeFromFeedback => summarize::load(path),
            ComparisonFormat::HhRlhf => hh_rlhf::load(path),
            ComparisonFormat::Pairs => pairs::load(path, &columns.cloned().unwrap_or_default()),
        }
    }
}

/// `benchmark: { kind: comparisons, format: hh-rlhf, path: ..., features: ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComparisonSource {
    /// The dataset's format.
    pub format: ComparisonFormat,
    /// The dataset file or directory (relative paths are relative to the working directory).
    pub path: PathBuf,
    /// The feature store directory (`<features>/<split>/{pair_a,pair_b,prompt}.safetensors`).
    pub features: PathBuf,
    /// Column mapping, for `format: pairs` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<PairColumns>,
    /// What to do with comparisons that have no stored features (default: refuse).
    #[serde(default)]
    pub missing_features: MissingFeatures,
    /// Carve validation / test / OOD prompts out of the pool (for single-file datasets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resplit: Option<Resplit>,
}

impl ComparisonSource {
    /// Static checks.
    ///
    /// # Errors
    ///
    /// A [`FieldError`] on `columns` when a mapping is given for a format other than `pairs`, or
    /// on `resplit.*` when its fractions or seed are invalid.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.columns.is_some() && self.format != ComparisonFormat::Pairs {
            return Err(FieldError::new(
                "columns",
                format!(
                    "only `format: pairs` takes a column mapping, not {}",
                    self.format
                ),
            ));
        }
        if let Some(r) = &self.resplit {
            r.validate().map_err(|e| e.within("resplit"))?;
        }
        Ok(())
    }

    /// The dataset is there (checked when the benchmark is built, not when the file is parsed,
    /// so that a sweep can be planned before the data lands).
    ///
    /// # Errors
    /// `path` does not exist.
    pub fn check_data(&self) -> Result<(), FieldError> {
        dataset_exists(&self.path)
    }

    /// Loads the text records ([`ComparisonFormat::load`]).
    ///
    /// # Errors
    ///
    /// As [`ComparisonFormat::load`].
    pub fn load_text(&self) -> DataResult<ComparisonDataset> {
        self.format.load(&self.path, self.columns.as_ref())
    }

    /// Loads the records and joins them with the feature store.
    ///
    /// # Errors
    ///
    /// The loader's errors, and those of the join ([`assemble::pool_benchmark`]): a missing or
    /// malformed feature file, comparisons without features, splits that do not fit together.
    pub fn assemble(&self, name: &str) -> DataResult<Assembled> {
        let ds = self.load_text()?;
        assemble::pool_benchmark(
            name,
            &ds,
            &self.features,
            self.missing_features,
            self.resplit.as_ref(),
        )
        .map_err(|e| with_command(e, &self.featurize_command(), true))
    }

    /// The `activepref featurize` command that writes this dataset's feature store, shell-quoted:
    /// `activepref featurize pairs data.parquet --out features/mine --columns 'prompt=q,a=x,b=y'`.
    pub fn featurize_command(&self) -> String {
        let columns = match (&self.columns, self.format) {
            (Some(c), ComparisonFormat::Pairs) => match c.to_arg() {
                Some(arg) => format!(" --columns {}", quoted(&arg)),
                // A name `--columns` cannot carry: the user's own mapping, said so.
                None => " --columns <the experiment file's `columns:`>".to_string(),
            },
            _ => String::new(),
        };
        let format: &str = self.format.into();
        featurize_command(format, &self.path, &self.features) + &columns
    }
}

/// The candidate-pool formats (pair-selection setting).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    strum::EnumMessage,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum CandidateFormat {
    /// A directory of AlpacaEval `<model>.annotations.json[.gz]` files.
    AlpacaEval,
    /// ActiveUltraFeedback's rows `{prompt_id, prompt, completions: [{model, response_text,
    /// overall_score}]}`: JSON lines, Parquet, Arrow, or a `datasets` directory.
    Completions,
}

impl CandidateFormat {
    /// The YAML and command-line spelling (`alpaca-eval`).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Loads a candidate pool in this format.
    ///
    /// # Errors
    ///
    /// The loader's [`DataError`]: an unreadable or malformed file, a missing or
    /// mistyped field, or prompts missing from some model's file under `missing: error`.
    pub fn load(self, path: &Path, missing: MissingPrompts) -> DataResult<CandidatePool> {
        match self {
            CandidateFormat::AlpacaEval => alpaca_eval::load(path, missing),
            CandidateFormat::Completions => completions::load(path, missing),
        }
    }
}

/// `benchmark: { kind: candidates, format: alpaca-eval, path: ..., features: ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CandidateSource {
    /// The candidate pool's format.
    pub format: CandidateFormat,
    /// The dataset file or directory.
    pub path: PathBuf,
    /// The feature store directory (`<features>/candidates/responses.safetensors`).
    pub features: PathBuf,
    #[serde(default)]
    /// What to do with prompts that some model's file lacks.
    pub missing: MissingPrompts,
    #[serde(default)]
    /// How the prompts are split into stream / validation / held-out.
    pub split: PromptSplit,
}

impl CandidateSource {
    /// Static checks: the split's prompt counts are in `1..=10,000,000`, as the synthetic pair
    /// stream's (whether they leave stream prompts is checked when the data is loaded, by
    /// [`assemble::pair_benchmark`]).
    ///
    /// # Errors
    /// `split.validation_prompts` or `split.heldout_prompts` out of range.
    pub fn validate(&self) -> Result<(), FieldError> {
        for (f, v) in [
            ("validation_prompts", self.split.validation_prompts),
            ("heldout_prompts", self.split.heldout_prompts),
        ] {
            FieldError::check_count(f, v, 1, 10_000_000).map_err(|e| e.within("split"))?;
        }
        Ok(())
    }

    /// The dataset is there (checked when the benchmark is built, not when the file is parsed).
    ///
    /// # Errors
    /// `path` does not exist.
    pub fn check_data(&self) -> Result<(), FieldError> {
        dataset_exists(&self.path)
    }

    /// Loads the candidate pool ([`CandidateFormat::load`]).
    ///
    /// # Errors
    ///
    /// As [`CandidateFormat::load`].
    pub fn load_text(&self) -> DataResult<CandidatePool> {
        self.format.load(&self.path, self.missing)
    }

    /// Loads the candidate pool, joins it with the feature store and splits its prompts.
    ///
    /// # Errors
    ///
    /// The loader's errors, and those of [`assemble::pair_benchmark`] (missing or malformed
    /// candidate features, an invalid split).
    pub fn assemble(&self, name: &str) -> DataResult<PairBenchmark> {
        let pool = self.load_text()?;
        assemble::pair_benchmark(name, &pool, &self.features, &self.split)
            .map_err(|e| with_command(e, &self.featurize_command(), false))
    }

    /// The `activepref featurize` command that writes this pool's feature store, shell-quoted.
    pub fn featurize_command(&self) -> String {
        featurize_command(self.format.into(), &self.path, &self.features)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Remedy;

    #[test]
    fn featurize_command_quotes_paths_and_writes_the_columns_as_the_cli_takes_them() {
        let mut src = ComparisonSource {
            format: ComparisonFormat::Pairs,
            path: PathBuf::from("my data/prefs.parquet"),
            features: PathBuf::from("features/mine"),
            columns: Some(PairColumns {
                prompt: "question".into(),
                label: Some("winner".into()),
                ..PairColumns::default()
            }),
            missing_features: MissingFeatures::Error,
            resplit: None,
        };
        assert_eq!(
            src.featurize_command(),
            "activepref featurize pairs 'my data/prefs.parquet' --out features/mine --columns 'prompt=question,a=chosen,b=rejected,label=winner'"
        );
        src.format = ComparisonFormat::HhRlhf;
        src.path = PathBuf::from("hh.jsonl.gz");
        assert_eq!(
            src.featurize_command(),
            "activepref featurize hh-rlhf hh.jsonl.gz --out features/mine"
        );
        // A feature store's remedy becomes the command; any other hint is kept.
        let e =
            DataError::file("x", "feature table not found").with_remedy(Remedy::Featurize, true);
        assert_eq!(
            with_command(e, &src.featurize_command(), true)
                .hint
                .as_deref(),
            Some(
                "run `activepref featurize hh-rlhf hh.jsonl.gz --out features/mine`, or `activepref import-features`"
            )
        );
        let other = DataError::file("x", "bad").with_hint("something else");
        assert_eq!(
            with_command(other, "c", true).hint.as_deref(),
            Some("something else")
        );
    }
}
