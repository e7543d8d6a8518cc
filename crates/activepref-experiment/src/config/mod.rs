//! Experiment files: YAML, every field checked, every error naming the file and the field.

//!
//! [`ExperimentConfig`] is the file as written (the YAML schema, both settings' sections
//! optional); [`ExperimentConfig::check`] (check.rs) turns it into the checked
//! [`crate::Experiment`]. report_section.rs holds the `report:` section, identity.rs the run and
//! benchmark ids.

mod check;
pub(crate) mod identity;
mod ignored;
mod report_section;
mod type_error;
pub(crate) use type_error::{SerdeLocation, explain as explain_type_error};

use std::path::{Path, PathBuf};

use activepref_acquire::{PairMode, PairPolicySpec, PolicySpec};
use activepref_core::FieldError;
use activepref_data::sources::{CandidateSource, ComparisonSource};
use activepref_data::synthetic::SyntheticPoolConfig;
use activepref_data::synthetic_pairs::SyntheticPairConfig;
use activepref_loop::{LoopConfig, PairLoopConfig};
use activepref_model::EnsembleConfig;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use report_section::{MAX_BOOTSTRAP, MAX_SMOOTHING_WINDOW, ReportSection};

use crate::Experiment;

/// The longest policy label: it is part of every run file's name.
pub const MAX_LABEL_LEN: usize = 64;

/// One line that says what is wrong, where, and (in the message) how to fix it:
/// `file: field: message`, or `file: message` when the message already carries the location
/// (YAML syntax errors).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}: {}", .file.display(), located(.field, .message))]
pub struct ConfigError {
    /// The experiment file the error is in, as given (not canonicalised).
    pub file: PathBuf,
    /// Dotted path of the field (`loop.batch_size`, `policies.balpm.k`); empty when the message
    /// already carries the location.
    pub field: String,
    /// What is wrong and, where it helps, how to fix it.
    pub message: String,
}

fn located(field: &str, message: &str) -> String {
    if field.is_empty() {
        message.to_string()
    } else {
        format!("{field}: {message}")
    }
}

impl ConfigError {
    /// A field error found in the file `file`.
    pub fn in_file(file: &Path, e: FieldError) -> Self {
        Self {
            file: file.to_path_buf(),
            field: e.field,
            message: e.message,
        }
    }
}

/// Which benchmark to run on: `benchmark: { kind: synthetic, pool_prompts: 600, ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BenchmarkSpec {
    /// The embedded seeded synthetic pool benchmark (BAL-PM setting; activepref-data's `synthetic`).
    Synthetic(SyntheticPoolConfig),
    /// The embedded synthetic prompt stream with n responses each (ActiveUltraFeedback setting).
    SyntheticPairs(SyntheticPairConfig),
    /// Real comparisons (summarize-from-feedback, HH-RLHF, generic pairs) with stored features
    /// (pool setting): `{ kind: comparisons, format: hh-rlhf, path: ..., features: ... }`.
    Comparisons(ComparisonSource),
    /// A real candidate pool (AlpacaEval) with stored response features (pair setting).
    Candidates(CandidateSource),
}

impl BenchmarkSpec {
    /// The benchmark section's own fields (sizes and knobs of a synthetic benchmark; format,
    /// paths and options of real data), before anything is generated or read.
    ///
    /// # Errors
    /// The first bad field, as the benchmark's own `validate` names it.
    pub fn validate(&self) -> Result<(), FieldError> {
        match self {
            BenchmarkSpec::Synthetic(c) => c.validate(),
            BenchmarkSpec::SyntheticPairs(c) => c.validate(),
            BenchmarkSpec::Comparisons(src) => src.validate(),
            BenchmarkSpec::Candidates(src) => src.validate(),
        }
    }
}

/// A whole experiment file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Experiment name; results go to `results/<name>` unless `output_dir` says otherwise.
    pub name: String,
    /// Results directory; absent: `results/<name>` (relative to the working directory).
    #[serde(default)]
    pub output_dir: Option<PathBuf>,
    /// The benchmark; its kind decides the setting (pool or pair).
    pub benchmark: BenchmarkSpec,
    /// The reward-model ensemble; absent: `EnsembleConfig::default()`.
    #[serde(default)]
    pub model: EnsembleConfig,
    /// Pool setting: loop sizes.
    #[serde(rename = "loop", default, skip_serializing_if = "Option::is_none")]
    pub loop_: Option<LoopConfig>,
    /// Pool setting: label → policy, in plot order: `bald: { policy: bald }`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub policies: IndexMap<String, PolicySpec>,
    /// Pair setting: loop sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pair_loop: Option<PairLoopConfig>,
    /// Pair setting: label → pair policy: `drts: { policy: drts, beta: 1.0 }`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub pair_policies: IndexMap<String, PairPolicySpec>,
    /// Pair setting: `reference` (the public code's behaviour) or `corrected`; recorded in every run file.
    #[serde(default)]
    pub pair_mode: PairMode,
    /// One run per (policy, seed).
    pub seeds: Vec<u64>,
    /// How the report summarises the runs; absent: every default.
    #[serde(default)]
    pub report: ReportSection,
    /// The sweep grid point this configuration is (`<grid>/<slug>`); not part of the file, but
    /// part of every run id, so that equal grid points of different grids stay different runs.
    #[serde(skip)]
    pub variant: Option<String>,
}

impl ExperimentConfig {
    /// Reads and checks an experiment file.
    ///
    /// # Errors
    /// The file cannot be read, is not YAML of this schema, or fails a check
    /// ([`ExperimentConfig::check`]).
    pub fn load(path: &Path) -> Result<Experiment, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            field: String::new(),
            message: format!("cannot read the experiment file: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses YAML text (named `path` in errors) and checks it.
    ///
    /// # Errors
    /// As [`ExperimentConfig::load`], without the read.
    pub fn parse(text: &str, path: &Path) -> Result<Experiment, ConfigError> {
        Self::parse_unchecked(text, path)?.check(path)
    }

    /// Parses without the semantic checks: for reading back a `config.resolved.yaml` whose
    /// experiment already ran (from any working directory); [`ExperimentConfig::into_experiment`]
    /// then splits it into its setting.
    ///
    /// # Errors
    /// The text is not YAML of this schema.
    pub fn parse_unchecked(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let text = strip_bom(text);
        let parsed = Self::parse_schema(text, path).map_err(|e| {
            let mut e = type_error::explain(text, path, e);
            // serde's own errors carry their path at the head of the message, not in `field`.
            let at = match e.field.as_str() {
                "" => e.message.split(": ").next().unwrap_or_default(),
                field => field,
            };
            // Hints read the file as YAML once; text that is not YAML gets none.
            let Ok(root) = yaml_value(text, path) else {
                return e;
            };
            if let Some(other) = section_of_other_setting(&root, at) {
                return ConfigError::in_file(path, other);
            }
            if let Some(hint) = format_of_other_kind(&root, &e.field) {
                e.message = e.message.replace(QUICKSTART_HINT, &hint);
            } else if is_pair_file(&root) {
                // A pool section in a pair-setting file: the rules belong under `pair_policies:`.
                let hint = if e.field.starts_with("policies.") {
                    POOL_KEYS_IN_PAIRS_HINT
                } else {
                    PAIRS_HINT
                };
                e.message = e.message.replace(QUICKSTART_HINT, hint);
            }
            e
        })?;
        match ignored::ignored_key(text, path, &parsed) {
            Some(e) => Err(e),
            None => Ok(parsed),
        }
    }

    /// [`ExperimentConfig::parse_unchecked`] of text without a byte-order mark, with serde's own
    /// words (`type_error::explain` rewords them).
    fn parse_schema(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let parsed = if has_merge_key(text) {
            // `<<: *base` merges are applied on the YAML value first (serde alone would read
            // `<<` as an unknown key); errors then carry the field path but no line.
            yaml_value(text, path)
                .and_then(|v| yaml_serde::from_value(v).map_err(|e| yaml_error(&e, path)))
        } else {
            yaml_serde::from_str(text).map_err(|e| yaml_error(&e, path))
        };
        parsed.map_err(|e| locate_policy_error(text, path).unwrap_or(e))
    }
}

/// Where `benchmark.format` (the field of `error_field`) names a format of the other dataset kind
/// (`alpaca-eval` under `kind: comparisons`, `hh-rlhf` under `kind: candidates`): the hint that
/// names the kind that reads it.
fn format_of_other_kind(root: &yaml_serde::Value, error_field: &str) -> Option<String> {
    use activepref_data::sources::{CandidateFormat, ComparisonFormat};
    if error_field != "benchmark.format" {
        return None;
    }
    let benchmark = root.get("benchmark")?;
    let (kind, value) = (benchmark.get("kind")?.as_str()?, benchmark.get("format")?);
    let format = value.as_str()?;
    let (kind, example) = match kind {
        "comparisons" if yaml_serde::from_value::<CandidateFormat>(value.clone()).is_ok() => {
            let example = match format {
                "completions" => "experiments/auf-ultrafeedback.yaml",
                _ => "experiments/auf-alpacaeval.yaml",
            };
            ("candidates", example)
        }
        "candidates" if yaml_serde::from_value::<ComparisonFormat>(value.clone()).is_ok() => {
            let example = match format {
                "summarize-from-feedback" => "experiments/balpm-tldr-reference.yaml",
                _ => "experiments/hh-harmless-minilm.yaml",
            };
            ("comparisons", example)
        }
        _ => return None,
    };
    Some(format!(
        "`{format}` is read by `kind: {kind}`; see {example} for a complete example"
    ))
}

/// Where the schema error at `error_field` (a dotted path) lies in a section of the other setting than the
/// benchmark's (a `loop:` missing keys under `kind: synthetic_pairs`, a `pair_loop:` under
/// `kind: synthetic`): the error a complete such section gets, which says where it belongs,
/// instead of which of its keys is missing. A pool `policies:` entry in a pair file keeps its own
/// hint (the rules' names go under `pair_policies:`).
fn section_of_other_setting(root: &yaml_serde::Value, error_field: &str) -> Option<FieldError> {
    let kind = root.get("benchmark")?.get("kind")?.as_str()?;
    let pool = match kind {
        "synthetic" | "comparisons" => true,
        "synthetic_pairs" | "candidates" => false,
        _ => return None,
    };
    let section = error_field.split(['.', '[']).next()?;
    let (policies, loop_) = match (pool, section) {
        (true, "pair_policies") => (true, false),
        (true, "pair_loop") | (false, "loop") => (false, true),
        _ => return None,
    };
    check::refuse_other_setting(pool, policies, loop_).err()
}

/// True when the experiment file (its YAML value) is a pair-setting file (its benchmark is `synthetic_pairs` or
/// `candidates`, or it has `pair_policies:` or `pair_loop:`), whose example is
/// experiments/auf-pairs.yaml.
fn is_pair_file(root: &yaml_serde::Value) -> bool {
    let kind = root
        .get("benchmark")
        .and_then(|b| b.get("kind"))
        .and_then(|k| k.as_str());
    matches!(kind, Some("synthetic_pairs" | "candidates"))
        || root.get("pair_policies").is_some()
        || root.get("pair_loop").is_some()
}

/// The text without a leading UTF-8 byte-order mark (editors on Windows write one).
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// True when the text uses YAML merge keys (`<<: *base`, also in a flow mapping
/// `{ <<: *base, ... }`): `<<` followed by a colon. A `<<:` inside a string only sends the file
/// through the merging path, which reads the same values.
fn has_merge_key(text: &str) -> bool {
    text.match_indices("<<")
        .any(|(i, _)| text[i + 2..].trim_start_matches(' ').starts_with(':'))
}

/// The YAML value of an experiment file (byte-order mark dropped, merge keys applied).
///
/// # Errors
/// The text is not YAML, or a merge key does not name a mapping.
pub fn yaml_value(text: &str, path: &Path) -> Result<yaml_serde::Value, ConfigError> {
    let mut v: yaml_serde::Value =
        yaml_serde::from_str(strip_bom(text)).map_err(|e| yaml_error(&e, path))?;
    v.apply_merge().map_err(|e| yaml_error(&e, path))?;
    Ok(v)
}

/// The error of the one policy entry or stopping rule that does not parse, named by its label or
/// index (`policies.bald: unknown field `score`, ...`, `report.stopping[2]: missing field
/// `below``): serde reports the whole map's or list's first line.
fn locate_policy_error(text: &str, path: &Path) -> Option<ConfigError> {
    let root = yaml_value(text, path).ok()?;
    if let Some(yaml_serde::Value::Sequence(rules)) =
        root.get("report").and_then(|r| r.get("stopping"))
    {
        for (i, rule) in rules.iter().enumerate() {
            if let Err(e) =
                yaml_serde::from_value::<activepref_loop::stopping::StoppingRule>(rule.clone())
            {
                let mut located = yaml_error(&e, path);
                located.field = format!("report.stopping[{i}]");
                located.message = format!(
                    "{} (see experiments/stopping-synthetic.yaml; `activepref policies` lists every rule's parameters)",
                    without_rust_types(&e.to_string())
                );
                return Some(located);
            }
        }
    }
    for (section, pool) in [("policies", true), ("pair_policies", false)] {
        let Some(yaml_serde::Value::Mapping(m)) = root.get(section) else {
            continue;
        };
        for (label, spec) in m {
            let err = if pool {
                yaml_serde::from_value::<PolicySpec>(spec.clone()).err()
            } else {
                yaml_serde::from_value::<PairPolicySpec>(spec.clone()).err()
            };
            if let Some(e) = err {
                let label = label.as_str().unwrap_or("?");
                let mut located = yaml_error(&e, path);
                located.field = format!("{section}.{label}");
                return Some(located);
            }
        }
    }
    None
}

/// serde's words for a Rust type (`expected internally tagged enum UncertaintyBackend`,
/// `expected struct OracleConfig`) in the file's terms: a map naming its choice, or a map of keys.
fn without_rust_types(text: &str) -> String {
    let mut out = text.to_string();
    for (words, tagged) in [("internally tagged enum ", true), ("struct ", false)] {
        let Some(i) = out.find(&format!("expected {words}")) else {
            continue;
        };
        let start = i + "expected ".len();
        let name_at = start + words.len();
        let end = out[name_at..]
            .find(|c: char| !c.is_alphanumeric() && c != '_')
            .map_or(out.len(), |j| name_at + j);
        let tag = match &out[name_at..end] {
            "PolicySpec" | "PairPolicySpec" => "policy",
            "StoppingRule" => "rule",
            _ => "kind",
        };
        let said = if tagged {
            format!("a map naming its choice, such as `{{ {tag}: ... }}`")
        } else {
            "a map of keys (experiments/*.yaml show each section)".to_string()
        };
        out.replace_range(start..end, &said);
    }
    out
}

/// The hint of a schema error with no better one; a pair-setting file gets [`PAIRS_HINT`].
const QUICKSTART_HINT: &str = "see experiments/quickstart.yaml for a complete example";
/// The hint of a pair-setting file's schema error.
const PAIRS_HINT: &str = "see experiments/auf-pairs.yaml for a complete example";
/// The hint of an error under `policies:` in a pair-setting file.
const POOL_KEYS_IN_PAIRS_HINT: &str = "this benchmark is a pair setting, whose rules go under `pair_policies:` (`activepref policies` lists them); see experiments/auf-pairs.yaml for a complete example";

/// A YAML or schema error of an experiment file as one line, with a hint where serde's own words
/// leave the user guessing.
pub(crate) fn yaml_error(e: &yaml_serde::Error, path: &Path) -> ConfigError {
    let text = without_rust_types(&e.to_string());
    let hint = if text.contains("there are no fields") && text.contains("`score`") {
        "this policy takes no parameters; to rank by another score, use `policy: rank` with `score:` (`activepref policies` lists every policy's parameters)"
    } else if text.contains("there are no fields") {
        "this policy takes no parameters (`activepref policies` lists every policy's parameters)"
    } else if [
        "`per_label`",
        "LabelCost",
        "`prompt_words`",
        "SyntheticLengths",
    ]
    .iter()
    .any(|k| text.contains(k))
    {
        "see experiments/cost-synthetic.yaml for a complete example"
    } else if text.contains("stopping") {
        "see experiments/stopping-synthetic.yaml for a complete example"
    } else {
        QUICKSTART_HINT
    };
    ConfigError {
        file: path.to_path_buf(),
        field: String::new(),
        message: format!("{text} ({hint})"),
    }
}

#[cfg(test)]
mod tests;
